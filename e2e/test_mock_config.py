"""Step Functions Local's mock configuration on a server started with CAIRN_MOCK_CONFIG
(`cairn server`, and `cairn dev` when the suite runs with CAIRN_E2E_STORE=memory):
StartExecution on `…:stateMachine:NAME#CASE` runs the test case, whose mocked states
invoke nothing and read in the history as if the service had answered. The test cases
are conftest.MOCK_CONFIG's."""
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, full_history, make_client, wait_for_end

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:validate-order"


@pytest.fixture(scope="module")
def sfn_mocked(mocked_server):
    return make_client(mocked_server.endpoint)


def machine(sfn, name, definition):
    """Creates (or reuses) the machine `name`: the mock configuration names it."""
    try:
        return sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                        roleArn=ROLE)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))
        return arn


def run_case(sfn, arn, case, payload=None):
    started = sfn.start_execution(stateMachineArn=f"{arn}#{case}",
                                  name=f"{case}-{uuid.uuid4().hex[:8]}",
                                  input=json.dumps(payload or {}))
    assert "#" not in started["executionArn"], "the execution is the machine's own"
    return started["executionArn"], wait_for_end(sfn, started["executionArn"])


def types(sfn, execution_arn):
    return [e["type"] for e in full_history(sfn, execution_arn)]


def test_a_mocked_state_invokes_nothing_and_the_others_call_their_targets(
        sfn_mocked, lambda_fake):
    arn = machine(sfn_mocked, "e2e-mock-hybrid", {
        "StartAt": "Real",
        "States": {
            "Real": {"Type": "Task", "Resource": FUNCTION, "ResultPath": "$.real",
                     "Next": "Mocked"},
            "Mocked": {"Type": "Task", "Resource": FUNCTION, "ResultPath": "$.mocked",
                       "End": True},
        },
    })
    order = {"orderId": f"mock-{uuid.uuid4().hex[:8]}", "items": [{"sku": "a", "qty": 1}]}
    execution, done = run_case(sfn_mocked, arn, "Hybrid", order)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["real"]["validated"] is True
    assert output["mocked"] == {"mocked": True}
    # One call, from Real; Mocked answered without one.
    assert len(lambda_fake.calls("validate-order", order["orderId"])) == 1
    assert types(sfn_mocked, execution).count("LambdaFunctionSucceeded") == 2

    # Without the suffix, the same machine calls its function twice.
    plain = sfn_mocked.start_execution(stateMachineArn=arn, input=json.dumps(order))
    assert wait_for_end(sfn_mocked, plain["executionArn"])["status"] == "SUCCEEDED"
    assert len(lambda_fake.calls("validate-order", order["orderId"])) == 3


def test_invocations_count_across_loop_visits(sfn_mocked):
    arn = machine(sfn_mocked, "e2e-mock-loop", {
        "StartAt": "Poll",
        "States": {
            "Poll": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                     "Parameters": {"FunctionName": "job-status"}, "Next": "Ready?"},
            "Ready?": {"Type": "Choice", "Default": "Poll",
                       "Choices": [{"Variable": "$.ready", "BooleanEquals": True,
                                    "Next": "Done"}]},
            "Done": {"Type": "Succeed"},
        },
    })
    execution, done = run_case(sfn_mocked, arn, "Polling")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"ready": True}
    assert types(sfn_mocked, execution).count("TaskSucceeded") == 3


def test_map_iterations_take_the_next_numbers(sfn_mocked):
    arn = machine(sfn_mocked, "e2e-mock-map", {
        "StartAt": "Each item",
        "States": {"Each item": {
            "Type": "Map", "MaxConcurrency": 1, "End": True,
            "ItemProcessor": {"StartAt": "Each", "States": {"Each": {
                "Type": "Task", "Resource": FUNCTION, "End": True}}},
        }},
    })
    _, done = run_case(sfn_mocked, arn, "Iterations", [1, 2, 3])
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == ["first", "second", "third"]


def test_retries_take_the_next_number_and_a_missing_one_fails_the_task(sfn_mocked):
    arn = machine(sfn_mocked, "e2e-mock-retry", {
        "StartAt": "Call",
        "States": {"Call": {
            "Type": "Task", "Resource": FUNCTION, "End": True,
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2}],
        }},
    })
    execution, done = run_case(sfn_mocked, arn, "Recovers")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"recovered": True}
    assert types(sfn_mocked, execution).count("LambdaFunctionFailed") == 1

    _, done = run_case(sfn_mocked, arn, "Exhausted")
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime"), done
    assert "no response for invocation 1" in done["cause"]


def test_a_mocked_callback_task_ends_with_the_mocked_answer(sfn_mocked):
    arn = machine(sfn_mocked, "e2e-mock-callback", {
        "StartAt": "Ask",
        "States": {"Ask": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "request-approval",
                           "Payload": {"token.$": "$$.Task.Token"}},
            "End": True,
        }},
    })
    _, done = run_case(sfn_mocked, arn, "Answered")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"mocked": True}


def test_what_a_test_case_cannot_run_is_refused(sfn_mocked):
    arn = machine(sfn_mocked, "e2e-mock-hybrid", {
        "StartAt": "Mocked",
        "States": {"Mocked": {"Type": "Task", "Resource": FUNCTION, "End": True}},
    })
    with pytest.raises(ClientError) as error:
        sfn_mocked.start_execution(stateMachineArn=f"{arn}#NoSuchCase")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "NoSuchCase" in error.value.response["Error"]["Message"]

    passing = machine(sfn_mocked, "e2e-mock-pass", {
        "StartAt": "Nothing", "States": {"Nothing": {"Type": "Pass", "End": True}}})
    with pytest.raises(ClientError) as error:
        sfn_mocked.start_execution(stateMachineArn=f"{passing}#NotATask")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "not a Task state" in error.value.response["Error"]["Message"]

    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:e2e-mock-absent#Case"
    with pytest.raises(ClientError) as error:
        sfn_mocked.start_execution(stateMachineArn=missing)
    assert error.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_without_a_mock_configuration_the_suffix_is_part_of_the_name(sfn, pass_machine):
    with pytest.raises(ClientError) as error:
        sfn.start_execution(stateMachineArn=f"{pass_machine}#Case")
    # As AWS answers: the suffix is part of a name no machine has.
    assert error.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
