"""Nested executions through boto3: a parent whose Task state runs a child with
`arn:aws:states:::states:startExecution.sync:2` waits for it and takes DescribeExecution's
answer with the child's Input and Output as JSON; a failed child fails the task with
`States.TaskFailed`; the history records TaskSubmitted with the child's ARN."""
import json

from conftest import ROLE, full_history, wait_for_end

CHILD = json.dumps({
    "StartAt": "Pause",
    "States": {
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Triple"},
        "Triple": {"Type": "Pass",
                   "Parameters": {"tripled.$": "States.MathAdd(States.MathAdd($.n, $.n), $.n)",
                                  "parent.$": "$.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"},
                   "End": True},
    },
})

FAILING_CHILD = json.dumps({
    "StartAt": "Refuse",
    "States": {"Refuse": {"Type": "Fail", "Error": "Order.Refused", "Cause": "out of stock"}},
})


def parent_of(child_arn, name):
    return json.dumps({
        "StartAt": "RunChild",
        "States": {
            "RunChild": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {
                    "StateMachineArn": child_arn,
                    "Name": name,
                    "Input": {"n.$": "$.n",
                              "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"},
                },
                "ResultSelector": {"status.$": "$.Status", "output.$": "$.Output",
                                   "child.$": "$.ExecutionArn", "input.$": "$.Input"},
                "End": True,
            },
        },
    })


def test_sync2_runs_the_child_and_returns_its_output_as_json(sfn, unique):
    child = sfn.create_state_machine(name=unique("child"), definition=CHILD,
                                     roleArn=ROLE)["stateMachineArn"]
    kid = unique("kid")
    parent = sfn.create_state_machine(name=unique("parent"), definition=parent_of(child, kid),
                                      roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=parent,
                                    input=json.dumps({"n": 14}))["executionArn"]
    done = wait_for_end(sfn, execution)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    child_execution = child.replace(":stateMachine:", ":execution:") + ":" + kid
    assert output == {
        "status": "SUCCEEDED",
        "output": {"tripled": 42, "parent": execution},
        "child": child_execution,
        "input": {"n": 14, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": execution},
    }

    described = sfn.describe_execution(executionArn=child_execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == output["output"]

    events = full_history(sfn, execution)
    assert [e["type"] for e in events] == [
        "ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
        "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded",
    ]
    scheduled = events[2]["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"]) == \
        ("states", "startExecution.sync:2")
    submitted = json.loads(events[4]["taskSubmittedEventDetails"]["output"])
    assert submitted["ExecutionArn"] == child_execution
    assert isinstance(submitted["StartDate"], int)


def test_sync2_child_failure_is_states_task_failed(sfn, unique):
    child = sfn.create_state_machine(name=unique("child"), definition=FAILING_CHILD,
                                     roleArn=ROLE)["stateMachineArn"]
    parent = sfn.create_state_machine(name=unique("parent"),
                                      definition=parent_of(child, unique("kid")),
                                      roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=parent,
                                    input=json.dumps({"n": 1}))["executionArn"]
    done = wait_for_end(sfn, execution)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.TaskFailed"
    cause = json.loads(done["cause"])
    assert (cause["Status"], cause["Error"], cause["Cause"]) == \
        ("FAILED", "Order.Refused", "out of stock")
