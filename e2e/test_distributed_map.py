"""Distributed Map through boto3 against a real `cairn server` (and `cairn dev`).

What runs today: a DISTRIBUTED Map over its input (`ItemsPath`) or over items read from
S3 (`ItemReader`, e2e/test_item_reader.py), batched by `ItemBatcher`, its results
exported by `ResultWriter` (e2e/test_result_writer.py), its iterations inside the
parent, `MapRunStarted`/`MapRunSucceeded` in the parent's history. A `ResultWriter` on
an INLINE Map (which would not write) is refused at CreateStateMachine and
ValidateStateMachineDefinition, never accepted and ignored (docs/asl-support.md,
"Map (distributed)")."""
import json
import time

import pytest

from conftest import ROLE, full_history, wait_for_end

WRITER = {"Resource": "arn:aws:states:::s3:putObject",
          "Parameters": {"Bucket": "results", "Prefix": "runs"}}


def distributed_map(**fields):
    state = {
        "Type": "Map", "End": True, "ItemsPath": "$.items",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Double",
            "States": {"Double": {"Type": "Pass", "Parameters": {"n.$": "$"}, "End": True}},
        },
    }
    state.update(fields)
    return json.dumps({"StartAt": "Run", "States": {"Run": state}})


@pytest.mark.parametrize("field,value", [("ResultWriter", WRITER)])
def test_parts_not_built_are_refused_and_nothing_is_stored(sfn, unique, field, value):
    name = unique("dmap-refused")
    definition = json.loads(distributed_map(**{field: value}))
    definition["States"]["Run"]["ItemProcessor"]["ProcessorConfig"] = {"Mode": "INLINE"}
    definition = json.dumps(definition)
    with pytest.raises(sfn.exceptions.InvalidDefinition) as refused:
        sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)
    message = refused.value.response["Error"]["Message"]
    assert f"Cairn does not support a Map's '{field}' yet" in message, message
    assert f"at /States/Run/{field}" in message, message
    assert name not in [m["name"] for m in sfn.list_state_machines()["stateMachines"]]

    checked = sfn.validate_state_machine_definition(definition=definition)
    assert checked["result"] == "FAIL"
    assert [d["location"] for d in checked["diagnostics"]] == [f"/States/Run/{field}"]

    arn = sfn.create_state_machine(
        name=name, definition=distributed_map(), roleArn=ROLE)["stateMachineArn"]
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) \
        == json.loads(distributed_map())


def test_a_distributed_map_over_its_input_runs(sfn, unique):
    arn = sfn.create_state_machine(
        name=unique("dmap-runs"), roleArn=ROLE,
        definition=distributed_map(MaxConcurrency=2, Label="doubling"))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"n": 1}, {"n": 2}, {"n": 3}]
    types = [e["type"] for e in full_history(sfn, execution)]
    assert "MapRunStarted" in types and "MapRunSucceeded" in types, types
    # The iterations' events are not the parent's.
    assert "PassStateEntered" not in types, types


def test_the_map_run_is_described_and_listed(sfn, unique):
    arn = sfn.create_state_machine(
        name=unique("dmap-run"), roleArn=ROLE,
        definition=distributed_map(MaxConcurrency=2, Label="doubling",
                                   ToleratedFailurePercentage=50))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    started = [e for e in full_history(sfn, execution) if e["type"] == "MapRunStarted"]
    run_arn = started[0]["mapRunStartedEventDetails"]["mapRunArn"]
    machine_name = arn.split(":")[-1]
    prefix = arn.split(":stateMachine:")[0]
    assert run_arn.startswith(f"{prefix}:mapRun:{machine_name}/doubling:"), run_arn

    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["mapRunArn"] == run_arn
    assert run["executionArn"] == execution
    assert run["status"] == "SUCCEEDED"
    assert run["maxConcurrency"] == 2
    assert run["toleratedFailurePercentage"] == 50.0
    assert run["toleratedFailureCount"] == 0
    assert run["itemCounts"]["total"] == 3
    assert run["itemCounts"]["succeeded"] == 3
    assert run["itemCounts"]["pending"] == 0 and run["itemCounts"]["running"] == 0
    assert run["executionCounts"]["succeeded"] == 3
    assert run["stopDate"] >= run["startDate"]

    listed = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    assert [r["mapRunArn"] for r in listed] == [run_arn]
    assert listed[0]["executionArn"] == execution
    assert listed[0]["stateMachineArn"] == f"{prefix}:stateMachine:{machine_name}/doubling"

    with pytest.raises(sfn.exceptions.ClientError) as children:
        sfn.list_executions(mapRunArn=run_arn)
    assert children.value.response["Error"]["Code"] == "ValidationException"
    assert "not as child executions yet" in children.value.response["Error"]["Message"]
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.list_executions(mapRunArn=run_arn[:-4] + "0000")
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.describe_map_run(mapRunArn=run_arn[:-4] + "0000")
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_map_run(mapRunArn=execution)
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.list_map_runs(executionArn=execution + "-missing")


def poll(what, check, timeout=60):
    """Calls `what` until `check` holds of its answer (a hang guard, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = what()
        if check(answer):
            return answer
        assert time.monotonic() < deadline, f"never came to pass: {answer}"
        time.sleep(0.1)


def test_update_map_run_raises_the_concurrency_and_stop_aborts_the_run(sfn, unique):
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    definition = json.loads(distributed_map(MaxConcurrency=1))
    definition["States"]["Run"]["ItemProcessor"].update(waiting)
    arn = sfn.create_state_machine(name=unique("dmap-update"), roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    runs = poll(lambda: sfn.list_map_runs(executionArn=execution)["mapRuns"], bool)
    run_arn = runs[0]["mapRunArn"]
    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "RUNNING" and run["maxConcurrency"] == 1
    assert (run["itemCounts"]["running"], run["itemCounts"]["pending"]) == (1, 2), run

    with pytest.raises(sfn.exceptions.ClientError) as nothing:
        sfn.update_map_run(mapRunArn=run_arn)
    assert nothing.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(sfn.exceptions.ClientError) as beyond:
        sfn.update_map_run(mapRunArn=run_arn, toleratedFailurePercentage=101)
    assert beyond.value.response["Error"]["Code"] == "ValidationException"
    assert sfn.describe_map_run(mapRunArn=run_arn)["maxConcurrency"] == 1, "nothing changed"

    sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=3, toleratedFailureCount=2)
    run = poll(lambda: sfn.describe_map_run(mapRunArn=run_arn),
               lambda r: r["itemCounts"]["running"] == 3)
    assert run["maxConcurrency"] == 3 and run["toleratedFailureCount"] == 2, run
    assert run["itemCounts"]["pending"] == 0

    sfn.stop_execution(executionArn=execution, error="Operator.Stop")
    assert wait_for_end(sfn, execution)["status"] == "ABORTED"
    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "ABORTED", run
    assert (run["itemCounts"]["aborted"], run["itemCounts"]["running"]) == (3, 0), run
    assert "stopDate" in run
    with pytest.raises(sfn.exceptions.ClientError) as ended:
        sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=5)
    assert ended.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.update_map_run(mapRunArn=run_arn[:-4] + "0000", maxConcurrency=5)


def test_a_redrive_runs_the_failed_iterations_of_the_same_map_run(sfn, unique):
    activity = sfn.create_activity(name=unique("dmap-work"))["activityArn"]
    definition = json.loads(distributed_map(MaxConcurrency=1))
    definition["States"]["Run"]["ItemProcessor"].update(
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}}})
    arn = sfn.create_state_machine(name=unique("dmap-redrive"), roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": [1, 2]}))["executionArn"]

    def take():
        task = sfn.get_activity_task(activityArn=activity, workerName="e2e")
        assert task.get("taskToken"), "a task for the next item"
        return task

    first = take()
    sfn.send_task_success(taskToken=first["taskToken"], output=json.dumps({"item": json.loads(first["input"])}))
    second = take()
    sfn.send_task_failure(taskToken=second["taskToken"], error="Flaky", cause="try again")
    failed = wait_for_end(sfn, execution)
    assert failed["status"] == "FAILED", failed
    run_arn = sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "FAILED" and run["redriveCount"] == 0, run
    assert (run["itemCounts"]["succeeded"], run["itemCounts"]["failed"]) == (1, 1), run

    sfn.redrive_execution(executionArn=execution)
    again = take()
    assert json.loads(again["input"]) == json.loads(second["input"]), "only the failed item runs again"
    sfn.send_task_success(taskToken=again["taskToken"], output=json.dumps({"item": json.loads(again["input"])}))
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"item": 1}, {"item": 2}]
    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "SUCCEEDED" and run["redriveCount"] == 1, run
    assert "redriveDate" in run
    assert (run["itemCounts"]["succeeded"], run["itemCounts"]["failed"]) == (2, 0), run
    redriven = [e for e in full_history(sfn, execution) if e["type"] == "MapRunRedriven"]
    assert [e["mapRunRedrivenEventDetails"] for e in redriven] == \
        [{"mapRunArn": run_arn, "redriveCount": 1}]
    assert [r["mapRunArn"] for r in sfn.list_map_runs(executionArn=execution)["mapRuns"]] == [run_arn]
