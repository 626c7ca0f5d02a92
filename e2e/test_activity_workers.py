"""Activity workers and callbacks through boto3: GetActivityTask, SendTaskHeartbeat,
SendTaskSuccess and SendTaskFailure, for an activity Task and for a
`lambda:invoke.waitForTaskToken` Task whose Lambda function (the fake) gets the token."""
import json
import time

import pytest

from conftest import ROLE, full_history, wait_for_end


def activity_machine(sfn, unique):
    activity = sfn.create_activity(name=unique("work"))["activityArn"]
    machine = sfn.create_state_machine(name=unique("uses-activity"), roleArn=ROLE, definition=json.dumps({
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 60,
                            "TimeoutSeconds": 120, "ResultPath": "$.result", "End": True}},
    }))["stateMachineArn"]
    return activity, machine


def test_activity_worker_succeeds(sfn, unique):
    activity, machine = activity_machine(sfn, unique)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"job": 7}')["executionArn"]

    # Long-polls until the scheduler has queued the task.
    task = sfn.get_activity_task(activityArn=activity, workerName="e2e-worker")
    assert task["taskToken"], task
    assert json.loads(task["input"]) == {"job": 7}
    token = task["taskToken"]

    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"done": true}')
    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"job": 7, "result": {"done": True}}
    types = [e["type"] for e in full_history(sfn, arn)]
    assert types == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
                     "ActivitySucceeded", "TaskStateExited", "ExecutionSucceeded"]
    started = next(e for e in full_history(sfn, arn) if e["type"] == "ActivityStarted")
    assert started["activityStartedEventDetails"]["workerName"] == "e2e-worker"

    # A token works once; one never issued is InvalidToken.
    with pytest.raises(sfn.exceptions.TaskTimedOut):
        sfn.send_task_success(taskToken=token, output="{}")
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken="A" * 43, output="{}")


def test_activity_worker_fails_the_task(sfn, unique):
    activity, machine = activity_machine(sfn, unique)
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    token = sfn.get_activity_task(activityArn=activity)["taskToken"]
    with pytest.raises(sfn.exceptions.InvalidOutput):
        sfn.send_task_success(taskToken=token, output="{not json")
    sfn.send_task_failure(taskToken=token, error="Worker.Broken", cause="the e2e worker gave up")
    done = wait_for_end(sfn, arn)
    assert done["status"] == "FAILED"
    assert (done["error"], done["cause"]) == ("Worker.Broken", "the e2e worker gave up")


def test_get_activity_task_of_a_missing_activity(sfn, unique):
    with pytest.raises(sfn.exceptions.ActivityDoesNotExist):
        sfn.get_activity_task(
            activityArn=f"arn:aws:states:us-east-1:123456789012:activity:{unique('none')}")


def test_wait_for_task_token_through_lambda(sfn, unique, lambda_fake):
    machine = sfn.create_state_machine(name=unique("callback"), roleArn=ROLE, definition=json.dumps({
        "StartAt": "Ask",
        "States": {"Ask": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "request-approval",
                           "Payload": {"orderId.$": "$.orderId", "token.$": "$$.Task.Token"}},
            "End": True}},
    }))["stateMachineArn"]
    order_id = unique("approve")
    arn = sfn.start_execution(stateMachineArn=machine,
                              input=json.dumps({"orderId": order_id}))["executionArn"]
    deadline = time.monotonic() + 60
    while not (calls := lambda_fake.calls("request-approval", order_id)) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert calls, "the function that receives the token was invoked"
    token = calls[0]["payload"]["token"]
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"approved": True}
