"""Distributed Map through boto3 against a real `cairn server` (and `cairn dev`).

What runs today: a DISTRIBUTED Map over its input (`ItemsPath`) or over items read from
S3 (`ItemReader`, e2e/test_item_reader.py), batched by `ItemBatcher`, its results
exported by `ResultWriter` (e2e/test_result_writer.py), each iteration of a STANDARD one a
child execution of its own (listed by `ListExecutions(mapRunArn)`, with its own history),
`MapRunStarted`/`MapRunSucceeded` in the parent's history. A `ResultWriter` on an INLINE
Map (which would not write) is refused at CreateStateMachine and
ValidateStateMachineDefinition, never accepted and ignored (docs/asl-support.md,
"Map (distributed)")."""
import json
import os
import time
import urllib.request

import boto3
import pytest

from conftest import (LOG_DIR, REGION, ROLE, STORE, _stop, full_history,
                      server_database_rows, start_server, wait_for_end)

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


def express_map(processor_state):
    """`Set` assigns `$outer`, then an EXPRESS Distributed Map labelled `each` runs
    `processor_state` for each of `$.items`, then `After` shows the parent's `$$`."""
    return json.dumps({"StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "Run"},
        "Run": {"Type": "Map", "ItemsPath": "$.items", "Label": "each", "Next": "After",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Show", "States": {"Show": processor_state}}},
        "After": {"Type": "Pass", "End": True,
                  "Parameters": {"results.$": "$", "id.$": "$$.Execution.Id"}}}})


def test_an_express_iteration_is_its_own_child_execution_to_the_definition(sfn, unique):
    """EXPRESS iterations run inside the parent, but `$$` in one shows the Express child
    AWS would run, and the parent's variables are out of its reach."""
    show = {"Type": "Pass", "End": True, "Parameters": {
        "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name",
        "input.$": "$$.Execution.Input", "machine.$": "$$.StateMachine.Id"}}
    machine = sfn.create_state_machine(name=unique("dmap-express"), roleArn=ROLE,
                                       definition=express_map(show))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"items": [1, 2]}))["executionArn"]
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    output = json.loads(ended["output"])
    assert output["id"] == execution
    express = machine.replace(":stateMachine:", ":express:", 1) + "/each:"
    for item, result in zip([1, 2], output["results"]):
        assert result["input"] == item
        assert result["machine"] == f"{machine}/each"
        assert result["id"].startswith(express), result
        assert result["id"][len(express):].split(":")[0] == result["name"], result
    assert output["results"][0]["id"] != output["results"][1]["id"]

    reads_outer = {"Type": "Pass", "End": True, "Parameters": {"v.$": "$outer"}}
    machine = sfn.create_state_machine(name=unique("dmap-express-vars"), roleArn=ROLE,
                                       definition=express_map(reads_outer))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"items": [1]}))["executionArn"]
    ended = wait_for_end(sfn, execution)
    assert (ended["status"], ended.get("error")) == ("FAILED", "States.Runtime"), ended


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

    children = sfn.list_executions(mapRunArn=run_arn)["executions"]
    assert len(children) == 3, children
    assert {c["mapRunArn"] for c in children} == {run_arn}
    with pytest.raises(sfn.exceptions.ClientError) as both:
        sfn.list_executions(mapRunArn=run_arn, stateMachineArn=arn)
    assert both.value.response["Error"]["Code"] == "ValidationException"
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
    # The stop reaches the run's children: none is left running.
    children = poll(lambda: sfn.list_executions(mapRunArn=run_arn)["executions"],
                    lambda cs: all(c["status"] != "RUNNING" for c in cs))
    assert [c["status"] for c in children] == ["ABORTED"] * 3, children
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


@pytest.mark.parametrize("writer", [False, True], ids=["returned", "result-writer"])
def test_a_redrive_of_a_map_whose_items_are_rows(sfn, unique, s3, bucket, writer):
    """Items read from S3 (kept as rows, as are the results), STANDARD children one at a
    time, each an activity task the test answers: item 1 succeeds, item 2 fails (the
    Map fails, item 3 never starts). The redrive runs the failed child again and starts
    the pending one, from the same rows; the child that succeeded is not run again."""
    activity = sfn.create_activity(name=unique("rows-work"))["activityArn"]
    key = f"rows-{unique('items')}.jsonl"
    s3.put_object(Bucket=bucket, Key=key,
                  Body="".join(json.dumps({"n": n}) + "\n" for n in (1, 2, 3)).encode())
    definition = json.loads(distributed_map(MaxConcurrency=1))
    state = definition["States"]["Run"]
    del state["ItemsPath"]
    state["ItemReader"] = {"Resource": "arn:aws:states:::s3:getObject",
                           "ReaderConfig": {"InputType": "JSONL"},
                           "Parameters": {"Bucket": bucket, "Key": key}}
    state["ItemProcessor"].update(
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}}})
    prefix = unique("redriven")
    if writer:
        state["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                                 "Parameters": {"Bucket": bucket, "Prefix": prefix}}
    arn = sfn.create_state_machine(name=unique("rows-redrive"), roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    def take():
        task = sfn.get_activity_task(activityArn=activity, workerName="e2e")
        assert task.get("taskToken"), "a task for the next item"
        return task, json.loads(task["input"])

    def succeed(task, item):
        sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"done": item}))

    task, item = take()
    assert item == {"n": 1}
    succeed(task, item)
    task, item = take()
    assert item == {"n": 2}
    sfn.send_task_failure(taskToken=task["taskToken"], error="Flaky", cause="try again")
    failed = wait_for_end(sfn, execution)
    assert failed["status"] == "FAILED", failed
    run_arn = sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    run_id = run_arn.rsplit(":", 1)[1]
    counts = sfn.describe_map_run(mapRunArn=run_arn)["itemCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (3, 1, 1), counts
    first_children = {c["executionArn"]: c for c in all_children(sfn, run_arn)}
    assert len(first_children) == 2, first_children
    if STORE == "postgres":
        # The failed Map kept its rows for the redrive: the three items, item 1's result.
        assert stored_rows(execution, kind=0) == ["0", "1", "2"]
        assert "0" in stored_rows(execution, kind=1)
    if writer:
        files = read_s3_json(s3, bucket, f"{prefix}/{run_id}/manifest.json")["ResultFiles"]
        assert [len(read_s3_json(s3, bucket, f["Key"])) for f in files["SUCCEEDED"]] == [1]
        assert [len(read_s3_json(s3, bucket, f["Key"])) for f in files["FAILED"]] == [1]
        assert [len(read_s3_json(s3, bucket, f["Key"])) for f in files["PENDING"]] == [1]

    # The redrive takes the items from the rows: the object is not read again.
    s3.delete_object(Bucket=bucket, Key=key)
    sfn.redrive_execution(executionArn=execution)
    task, item = take()
    assert item == {"n": 2}, "the failed item runs first, and only it of those that ran"
    succeed(task, item)
    task, item = take()
    assert item == {"n": 3}, "then the item that never started"
    succeed(task, item)
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    assert ended["redriveCount"] == 1, ended

    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "SUCCEEDED" and run["redriveCount"] == 1, run
    assert (run["itemCounts"]["succeeded"], run["itemCounts"]["failed"]) == (3, 0), run
    children = {c["executionArn"]: sfn.describe_execution(executionArn=c["executionArn"])
                for c in all_children(sfn, run_arn)}
    assert len(children) == 3, children
    by_item = {json.loads(c["input"])["n"]: c for c in children.values()}
    assert all(c["status"] == "SUCCEEDED" for c in children.values()), children
    # Item 1's child ran once, item 2's was redriven (the same execution), item 3's is new.
    assert by_item[1]["redriveCount"] == 0
    assert by_item[1]["stopDate"] == first_children[by_item[1]["executionArn"]]["stopDate"]
    assert by_item[2]["redriveCount"] == 1
    assert by_item[2]["executionArn"] in first_children
    assert by_item[3]["redriveCount"] == 0
    assert by_item[3]["executionArn"] not in first_children

    if STORE == "postgres":
        assert stored_rows(execution, kind=0) == [] and stored_rows(execution, kind=1) == [], \
            "the rows go once the Map succeeds"

    output = json.loads(ended["output"])
    if not writer:
        assert output == [{"done": {"n": n}} for n in (1, 2, 3)], output
        return
    assert output["ResultWriterDetails"] == {"Bucket": bucket,
                                             "Key": f"{prefix}/{run_id}/manifest.json"}, output
    files = read_s3_json(s3, bucket, output["ResultWriterDetails"]["Key"])["ResultFiles"]
    assert not files["FAILED"] and not files["PENDING"], files
    records = [r for f in files["SUCCEEDED"] for r in read_s3_json(s3, bucket, f["Key"])]
    assert [json.loads(r["Input"]) for r in records] == [{"n": n} for n in (1, 2, 3)], records
    assert [json.loads(r["Output"]) for r in records] == \
        [{"done": {"n": n}} for n in (1, 2, 3)], records
    assert all(r["Status"] == "SUCCEEDED" for r in records), records
    assert run["itemCounts"]["resultsWritten"] == 3, run


@pytest.mark.parametrize("source", ["inline", "reader"])
def test_a_stopped_map_redrives_the_children_stopped_with_it(sfn, unique, s3, bucket, source):
    """The parent is stopped while two STANDARD children wait on their tasks: both
    children are stopped with it, and a redrive of the parent redrives them (their tasks
    are asked for again), then starts the item never started — from the rows, when an
    ItemReader read the items."""
    activity = sfn.create_activity(name=unique("rows-held"))["activityArn"]
    key = f"rows-{unique('items')}.jsonl"
    s3.put_object(Bucket=bucket, Key=key,
                  Body="".join(json.dumps({"n": n}) + "\n" for n in (1, 2, 3)).encode())
    definition = json.loads(distributed_map(MaxConcurrency=2))
    state = definition["States"]["Run"]
    if source == "reader":
        del state["ItemsPath"]
        state["ItemReader"] = {"Resource": "arn:aws:states:::s3:getObject",
                               "ReaderConfig": {"InputType": "JSONL"},
                               "Parameters": {"Bucket": bucket, "Key": key}}
    state["ItemProcessor"].update(
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}}})
    arn = sfn.create_state_machine(name=unique("rows-stop"), roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(
        {"items": [{"n": n} for n in (1, 2, 3)]}))["executionArn"]

    def take():
        task = sfn.get_activity_task(activityArn=activity, workerName="e2e")
        assert task.get("taskToken"), "a task for the next item"
        return task, json.loads(task["input"])

    held = sorted(take()[1]["n"] for _ in range(2))
    assert held == [1, 2], held
    sfn.stop_execution(executionArn=execution, error="Halt", cause="stopped by the test")
    stopped = wait_for_end(sfn, execution)
    assert stopped["status"] == "ABORTED", stopped
    run_arn = sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    deadline = time.monotonic() + 30
    while True:
        first = all_children(sfn, run_arn)
        if sorted(c["status"] for c in first) == ["ABORTED", "ABORTED"]:
            break
        assert time.monotonic() < deadline, first
        time.sleep(0.1)

    sfn.redrive_execution(executionArn=execution)
    again = [take(), take()]
    assert sorted(item["n"] for _, item in again) == [1, 2], again
    for task, item in again:
        sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"done": item}))
    task, item = take()
    assert item == {"n": 3}
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"done": item}))
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"done": {"n": n}} for n in (1, 2, 3)]
    children = [sfn.describe_execution(executionArn=c["executionArn"])
                for c in all_children(sfn, run_arn)]
    assert sorted((json.loads(c["input"])["n"], c["status"], c["redriveCount"])
                  for c in children) == [(1, "SUCCEEDED", 1), (2, "SUCCEEDED", 1),
                                         (3, "SUCCEEDED", 0)], children


def stored_rows(execution, kind):
    """The indexes of the execution's stored Map values of `kind` (0 items, 1 results)."""
    quoted = execution.replace("'", "''")
    return server_database_rows(f"select idx from stored_map_values where execution_arn = "
                                f"'{quoted}' and kind = {kind} order by idx")


def read_s3_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def all_children(sfn, run_arn, **filters):
    """Every child of the Map Run, through ListExecutions' pages of 20."""
    children, token = [], None
    while True:
        page = sfn.list_executions(mapRunArn=run_arn, maxResults=20,
                                   **({"nextToken": token} if token else {}), **filters)
        children += page["executions"]
        token = page.get("nextToken")
        if not token:
            return children


def most_at_once(children):
    """The most children running at one instant, from their start and stop dates (a
    child counts from its start until its stop, exclusive)."""
    moments = [(c["startDate"], 1) for c in children] + [(c["stopDate"], -1) for c in children]
    running = most = 0
    for _, change in sorted(moments, key=lambda m: (m[0], m[1])):
        running += change
        most = max(most, running)
    return most


def test_fifty_children_at_a_concurrency_of_five(sfn, unique):
    definition = json.loads(distributed_map(MaxConcurrency=5, Label="fifty",
                                            ItemSelector={"n.$": "$$.Map.Item.Value"}))
    definition["States"]["Run"]["ItemProcessor"]["States"] = {
        "Double": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
                   "End": True}}
    arn = sfn.create_state_machine(name=unique("dmap-fifty"), roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": list(range(50))}))["executionArn"]
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"doubled": 2 * n} for n in range(50)], \
        "results in the items' order"

    run_arn = sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    children = all_children(sfn, run_arn)
    assert len(children) == 50 and len({c["executionArn"] for c in children}) == 50
    machine_name = arn.split(":")[-1]
    prefix = arn.split(":stateMachine:")[0]
    assert {c["stateMachineArn"] for c in children} == \
        {f"{prefix}:stateMachine:{machine_name}/fifty"}
    assert all(c["executionArn"].startswith(f"{prefix}:execution:{machine_name}/fifty:")
               for c in children)
    assert {c["status"] for c in children} == {"SUCCEEDED"}
    assert most_at_once(children) <= 5, "MaxConcurrency held"

    child = sfn.describe_execution(executionArn=children[0]["executionArn"])
    assert child["mapRunArn"] == run_arn
    assert child["stateMachineArn"] == f"{prefix}:stateMachine:{machine_name}/fifty"
    n = json.loads(child["input"])["n"]
    assert json.loads(child["output"]) == {"doubled": 2 * n}, "the item after ItemSelector in, the result out"
    types = [e["type"] for e in full_history(sfn, child["executionArn"])]
    assert types == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                     "ExecutionSucceeded"], types

    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "SUCCEEDED"
    assert run["executionCounts"]["succeeded"] == 50 and run["executionCounts"]["total"] == 50, run
    # A machine's executions are its own, not its Map Runs' children.
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["executionArn"] for e in listed] == [execution]


def test_a_failing_child_counts_toward_the_tolerance(sfn, unique):
    definition = json.loads(distributed_map(MaxConcurrency=2, ToleratedFailureCount=1))
    definition["States"]["Run"]["ItemProcessor"].update({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$", "NumericEquals": 2, "Next": "Broken"}], "Default": "Fine"},
        "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "item two"},
        "Fine": {"Type": "Pass", "End": True}}})
    arn = sfn.create_state_machine(name=unique("dmap-tolerate"), roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    output = json.loads(ended["output"])
    assert output[0] == 1 and output[2] == 3, output
    assert output[1]["Error"] == "Broken", output
    run_arn = sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    failed = all_children(sfn, run_arn, statusFilter="FAILED")
    assert len(failed) == 1 and json.loads(
        sfn.describe_execution(executionArn=failed[0]["executionArn"])["input"]) == 2
    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert (run["executionCounts"]["failed"], run["executionCounts"]["succeeded"]) == (1, 2), run

    # Two failures are more than one: the run fails, and the Map with it.
    again = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": [2, 2, 1]}))["executionArn"]
    ended = wait_for_end(sfn, again)
    assert ended["status"] == "FAILED", ended
    assert ended["error"] == "States.ExceedToleratedFailureThreshold", ended
    types = [e["type"] for e in full_history(sfn, again)]
    assert "MapRunFailed" in types, types


@pytest.fixture(scope="module")
def second_replica(server):
    """A second `cairn server` on the same database as `server`."""
    if STORE == "memory":
        pytest.skip("replicas share a Postgres database")
    log_path = LOG_DIR / f"server-dmap-replica-{os.getpid()}.log"
    log_path.write_text("")
    srv = start_server(f"cairn_e2e_{os.getpid()}", log_path, {})
    yield srv
    _stop(srv.process)


def children_succeeded(srv, labelled_machine):
    """How many of the labelled machine's executions (a Map Run's children) this
    replica's schedulers ended as SUCCEEDED (its AWS/States metrics)."""
    with urllib.request.urlopen(f"{srv.endpoint}/metrics") as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith("cairn_executions_succeeded_total{") \
                and f'state_machine_arn="{labelled_machine}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.durable
def test_two_replicas_advance_one_maps_children_under_its_max_concurrency(
        sfn, server, second_replica, unique):
    other = boto3.session.Session().client(
        "stepfunctions", endpoint_url=second_replica.endpoint, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test")
    definition = json.loads(distributed_map(MaxConcurrency=4, Label="shared"))
    # A second's wait: each child is claimed again when its timer is due, by either replica.
    definition["States"]["Run"]["ItemProcessor"]["States"] = {
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Double"},
        "Double": {"Type": "Pass", "Parameters": {"n.$": "$"}, "End": True}}
    definition["States"]["Run"]["ItemProcessor"]["StartAt"] = "Pause"
    arn = sfn.create_state_machine(name=unique("dmap-replicas"), roleArn=ROLE,
                                   definition=json.dumps(definition))["stateMachineArn"]
    execution = other.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": list(range(40))}))["executionArn"]
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"n": n} for n in range(40)]
    run_arn = sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    children = all_children(other, run_arn)
    assert len(children) == 40 and {c["status"] for c in children} == {"SUCCEEDED"}
    assert most_at_once(children) <= 4, "MaxConcurrency held across the replicas"
    labelled = children[0]["stateMachineArn"]
    by_first, by_second = children_succeeded(server, labelled), children_succeeded(second_replica, labelled)
    assert by_first + by_second == 40, (by_first, by_second)
    assert by_first > 0 and by_second > 0, f"both replicas ended children: {by_first}, {by_second}"
