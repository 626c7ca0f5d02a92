"""RedriveExecution through boto3 and the AWS CLI: a failed Parallel redriven runs only
its failed branch again, the redrive fields of DescribeExecution and ListExecutions,
the ExecutionRedriven event, the client token, the refusals, and the
ExecutionsRedriven metric."""
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, full_history, wait_for_end
from test_aws_cli import aws


def two_activities(first, second):
    return json.dumps({
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": "ready", "ResultPath": "$.prepared",
                        "Next": "Both"},
            "Both": {"Type": "Parallel", "End": True, "Branches": [
                {"StartAt": "First", "States": {"First": {
                    "Type": "Task", "Resource": first, "End": True}}},
                {"StartAt": "Second", "States": {"Second": {
                    "Type": "Task", "Resource": second, "End": True}}},
            ]},
        },
    })


@pytest.fixture
def activities(sfn, unique):
    return (sfn.create_activity(name=unique("first"))["activityArn"],
            sfn.create_activity(name=unique("second"))["activityArn"])


def take(sfn, activity):
    task = sfn.get_activity_task(activityArn=activity, workerName="e2e")
    assert task.get("taskToken"), f"no task on {activity}"
    return task


def test_a_failed_branch_is_redriven_alone(sfn, unique, activities):
    first, second = activities
    machine = sfn.create_state_machine(name=unique("redrive"), roleArn=ROLE,
                                       definition=two_activities(first, second))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"order": 7}))["executionArn"]
    sfn.send_task_success(taskToken=take(sfn, first)["taskToken"], output='"first done"')
    failing = take(sfn, second)
    sfn.send_task_failure(taskToken=failing["taskToken"], error="Flaky", cause="try again")
    failed = wait_for_end(sfn, arn)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "Flaky"
    assert (failed["redriveCount"], failed["redriveStatus"]) == (0, "REDRIVABLE")
    assert "redriveStatusReason" not in failed and "redriveDate" not in failed

    redriven = sfn.redrive_execution(executionArn=arn)
    running = sfn.describe_execution(executionArn=arn)
    assert running["status"] == "RUNNING"
    assert running["redriveCount"] == 1
    assert running["redriveDate"] == redriven["redriveDate"]
    assert "stopDate" not in running and "error" not in running
    assert running["redriveStatus"] == "NOT_REDRIVABLE"
    assert running["redriveStatusReason"] == "Execution is RUNNING and cannot be redriven"

    # Only the failed branch runs again, with the input it had.
    again = take(sfn, second)
    assert json.loads(again["input"]) == json.loads(failing["input"]) == \
        {"order": 7, "prepared": "ready"}
    sfn.send_task_success(taskToken=again["taskToken"], output='"second done"')
    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == ["first done", "second done"]
    assert done["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"

    events = full_history(sfn, arn)
    types = [e["type"] for e in events]
    assert types.count("ActivityScheduled") == 3, types
    assert types.count("PassStateEntered") == 1, "Prepare is not run again"
    redrive_event = events[types.index("ExecutionRedriven")]
    assert types[types.index("ExecutionRedriven") - 1] == "ExecutionFailed"
    assert redrive_event["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))

    listed = sfn.list_executions(stateMachineArn=machine, redriveFilter="REDRIVEN")["executions"]
    assert [(e["executionArn"], e["redriveCount"]) for e in listed] == [(arn, 1)]
    assert listed[0]["redriveDate"] == redriven["redriveDate"]
    assert sfn.list_executions(stateMachineArn=machine,
                               redriveFilter="NOT_REDRIVEN")["executions"] == []

    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=arn)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    assert "SUCCEEDED" in refused.value.response["Error"]["Message"]


def test_a_client_token_redrives_once(sfn, unique, activities):
    first, second = activities
    machine = sfn.create_state_machine(name=unique("token"), roleArn=ROLE,
                                       definition=two_activities(first, second))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    sfn.stop_execution(executionArn=arn, error="Operator", cause="not now")
    assert wait_for_end(sfn, arn)["status"] == "ABORTED"
    one = sfn.redrive_execution(executionArn=arn, clientToken="redrive-once")
    two = sfn.redrive_execution(executionArn=arn, clientToken="redrive-once")
    assert one["redriveDate"] == two["redriveDate"]
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=arn, clientToken="another")
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    # Both branches were cut short by the stop: both run again.
    for activity in (first, second):
        sfn.send_task_success(taskToken=take(sfn, activity)["taskToken"], output="1")
    assert wait_for_end(sfn, arn)["status"] == "SUCCEEDED"


def test_refusals_change_nothing(sfn, pass_machine, unique):
    done = sfn.start_execution(stateMachineArn=pass_machine, input='{"who": "x"}')["executionArn"]
    assert wait_for_end(sfn, done)["status"] == "SUCCEEDED"
    for kwargs, code in [
        ({"executionArn": done}, "ExecutionNotRedrivable"),
        ({"executionArn": done.replace(done.rsplit(":", 1)[1], "nobody")}, "ExecutionDoesNotExist"),
        ({"executionArn": "not-an-arn"}, "InvalidArn"),
        ({"executionArn": done, "clientToken": "x" * 65}, "ValidationException"),
    ]:
        with pytest.raises(ClientError) as refused:
            sfn.redrive_execution(**kwargs)
        assert refused.value.response["Error"]["Code"] == code, kwargs
    after = sfn.describe_execution(executionArn=done)
    assert (after["status"], after["redriveCount"]) == ("SUCCEEDED", 0)


def test_the_cli_redrives_and_the_metric_counts(server, sfn, unique, activities):
    first, second = activities
    machine = sfn.create_state_machine(name=unique("cli"), roleArn=ROLE,
                                       definition=two_activities(first, second))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    sfn.stop_execution(executionArn=arn)
    wait_for_end(sfn, arn)
    answer = aws(server, "redrive-execution", "--execution-arn", arn)
    assert "redriveDate" in answer
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    with urllib.request.urlopen(f"{server.endpoint}/metrics") as response:
        metrics = response.read().decode()
    lines = [line for line in metrics.splitlines()
             if line.startswith("cairn_executions_redriven") and machine in line]
    assert lines and float(lines[0].rsplit(" ", 1)[1]) == 1.0, lines
    sfn.stop_execution(executionArn=arn)
