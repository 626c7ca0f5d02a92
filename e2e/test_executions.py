"""Executions through boto3: start (idempotent by name), describe, list with a status
filter and pages, stop, history (order, pages, includeExecutionData) and
DescribeStateMachineForExecution."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, PASS_MACHINE, REGION, ROLE, full_history, wait_for_end

WAITING_MACHINE = json.dumps({
    "StartAt": "Hold",
    "States": {"Hold": {"Type": "Wait", "Seconds": 600, "End": True}},
})


def test_start_describe_and_history(sfn, pass_machine, unique):
    name = unique("run")
    started = sfn.start_execution(stateMachineArn=pass_machine, name=name,
                                  input=json.dumps({"who": "e2e"}))
    arn = started["executionArn"]
    machine_name = pass_machine.rsplit(":", 1)[1]
    assert arn == f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine_name}:{name}"

    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert done["name"] == name
    assert done["stateMachineArn"] == pass_machine
    assert done["startDate"] == started["startDate"]
    assert done["stopDate"] >= done["startDate"]
    assert json.loads(done["input"]) == {"who": "e2e"}
    assert json.loads(done["output"]) == {"who": "e2e", "out": {"greeting": "hello e2e"}}

    events = full_history(sfn, arn)
    assert [e["type"] for e in events] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded",
    ]
    assert [e["id"] for e in events] == [1, 2, 3, 4]
    assert [e["previousEventId"] for e in events] == [0, 1, 2, 3]
    started_details = events[0]["executionStartedEventDetails"]
    assert json.loads(started_details["input"]) == {"who": "e2e"}
    assert started_details["roleArn"] == ROLE
    assert events[1]["stateEnteredEventDetails"]["name"] == "Greet"
    assert json.loads(events[3]["executionSucceededEventDetails"]["output"]) == \
        json.loads(done["output"])

    # reverseOrder: newest first.
    reverse = sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
    assert [e["id"] for e in reverse] == [4, 3, 2, 1]

    # Pages of one event, forwards and backwards, cover the history exactly once.
    for reverse_order, want in ((False, [1, 2, 3, 4]), (True, [4, 3, 2, 1])):
        ids, token = [], None
        while True:
            page = sfn.get_execution_history(executionArn=arn, maxResults=1,
                                             reverseOrder=reverse_order,
                                             **({"nextToken": token} if token else {}))
            assert len(page["events"]) == 1
            ids += [e["id"] for e in page["events"]]
            token = page.get("nextToken")
            if not token:
                break
        assert ids == want

    # includeExecutionData=false drops inputs and outputs, keeps the rest.
    lean = sfn.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]
    assert [e["type"] for e in lean] == [e["type"] for e in events]
    assert "input" not in lean[0]["executionStartedEventDetails"]
    assert lean[0]["executionStartedEventDetails"]["roleArn"] == ROLE
    assert "output" not in lean[3]["executionSucceededEventDetails"]
    assert lean[1]["stateEnteredEventDetails"]["name"] == "Greet"

    for_execution = sfn.describe_state_machine_for_execution(executionArn=arn)
    assert for_execution["stateMachineArn"] == pass_machine
    assert for_execution["name"] == machine_name
    assert json.loads(for_execution["definition"]) == json.loads(PASS_MACHINE)
    assert for_execution["roleArn"] == ROLE


def test_describe_state_machine_for_execution_keeps_the_definition_it_ran(sfn, unique):
    machine = sfn.create_state_machine(name=unique("pinned"), definition=WAITING_MACHINE,
                                       roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    sfn.update_state_machine(stateMachineArn=machine, definition=PASS_MACHINE)
    ran = sfn.describe_state_machine_for_execution(executionArn=arn)
    assert json.loads(ran["definition"]) == json.loads(WAITING_MACHINE)
    sfn.stop_execution(executionArn=arn)


def test_start_execution_is_idempotent_by_name_and_input(sfn, unique):
    machine = sfn.create_state_machine(name=unique("idem"), definition=WAITING_MACHINE,
                                       roleArn=ROLE)["stateMachineArn"]
    name = unique("same")
    first = sfn.start_execution(stateMachineArn=machine, name=name, input='{"a":1}')
    # Same name, same input, still running: the same execution (AWS's rule).
    second = sfn.start_execution(stateMachineArn=machine, name=name, input='{"a":1}')
    assert second["executionArn"] == first["executionArn"]
    assert second["startDate"] == first["startDate"]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists) as e:
        sfn.start_execution(stateMachineArn=machine, name=name, input='{"a":2}')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [x["executionArn"] for x in listed] == [first["executionArn"]]

    # Once it has ended, even the same input is refused.
    sfn.stop_execution(executionArn=first["executionArn"])
    assert sfn.describe_execution(executionArn=first["executionArn"])["status"] == "ABORTED"
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name=name, input='{"a":1}')


def test_invalid_execution_input(sfn, pass_machine):
    with pytest.raises(sfn.exceptions.InvalidExecutionInput):
        sfn.start_execution(stateMachineArn=pass_machine, input="{not json")


def test_stop_execution(sfn, unique):
    machine = sfn.create_state_machine(name=unique("stop"), definition=WAITING_MACHINE,
                                       roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    stopped = sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by the e2e suite")
    # As on AWS, the execution is ABORTED once StopExecution has answered, with the
    # stop date it answered.
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "ABORTED"
    assert described["error"] == "Operator"
    assert described["cause"] == "stopped by the e2e suite"
    assert described["stopDate"] == stopped["stopDate"]
    types = [e["type"] for e in full_history(sfn, arn)]
    assert types[0] == "ExecutionStarted"
    assert types[-1] == "ExecutionAborted"
    # Stopping it again answers its stop date and changes nothing.
    again = sfn.stop_execution(executionArn=arn)
    assert again["stopDate"] == described["stopDate"]


def test_list_executions_filter_and_pages(sfn, unique):
    definition = json.dumps({
        "StartAt": "Route",
        "States": {
            # Both fields are always given: a Choice rule on a missing path is a
            # States.Runtime failure on AWS, not a non-match.
            "Route": {"Type": "Choice", "Default": "Hold",
                      "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"},
                                  {"Variable": "$.quick", "BooleanEquals": True, "Next": "Done"}]},
            "Hold": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
            "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "asked to fail"},
            "Done": {"Type": "Succeed"},
        },
    })
    machine = sfn.create_state_machine(name=unique("list"), definition=definition,
                                       roleArn=ROLE)["stateMachineArn"]
    quick = [sfn.start_execution(stateMachineArn=machine, input='{"fail": false, "quick": true}')["executionArn"]
             for _ in range(3)]
    failing = sfn.start_execution(stateMachineArn=machine, input='{"fail": true, "quick": false}')["executionArn"]
    running = sfn.start_execution(stateMachineArn=machine, input='{"fail": false, "quick": false}')["executionArn"]
    for arn in quick + [failing]:
        wait_for_end(sfn, arn)

    def listed(**kwargs):
        return [x["executionArn"] for x in
                sfn.list_executions(stateMachineArn=machine, **kwargs)["executions"]]

    everything = listed()
    assert sorted(everything) == sorted(quick + [failing, running])
    # Newest first (AWS's order).
    assert everything[0] == running
    assert sorted(listed(statusFilter="SUCCEEDED")) == sorted(quick)
    assert listed(statusFilter="FAILED") == [failing]
    assert listed(statusFilter="RUNNING") == [running]
    assert listed(statusFilter="TIMED_OUT") == []

    entry = sfn.list_executions(stateMachineArn=machine, statusFilter="FAILED")["executions"][0]
    assert entry["status"] == "FAILED"
    assert entry["stateMachineArn"] == machine
    assert "stopDate" in entry

    pages, token = [], None
    while True:
        page = sfn.list_executions(stateMachineArn=machine, maxResults=2,
                                   **({"nextToken": token} if token else {}))
        pages.append([x["executionArn"] for x in page["executions"]])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [a for p in pages for a in p] == everything

    with pytest.raises(ClientError) as e:
        sfn.list_executions(stateMachineArn=machine, statusFilter="BOGUS")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    sfn.stop_execution(executionArn=running)


def test_execution_errors(sfn, pass_machine, unique):
    machine_name = pass_machine.rsplit(":", 1)[1]
    missing = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine_name}:{unique('nope')}"
    for call in (sfn.describe_execution, sfn.stop_execution, sfn.get_execution_history,
                 sfn.describe_state_machine_for_execution):
        with pytest.raises(sfn.exceptions.ExecutionDoesNotExist) as e:
            call(executionArn=missing)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    for malformed in ("arn:aws:states:nowhere", pass_machine):
        with pytest.raises(sfn.exceptions.InvalidArn):
            sfn.describe_execution(executionArn=malformed)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.list_executions(
            stateMachineArn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{unique('nope')}")
