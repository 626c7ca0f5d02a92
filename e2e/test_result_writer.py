"""A Distributed Map's `ResultWriter` through boto3 against a real `cairn server` (and
`cairn dev`), its files written to moto's S3 server by a worker's task
(`arn:aws:states:::cairn:writeResults`), then read back with boto3."""
import datetime
import json
import uuid

import pytest

from conftest import ROLE, full_history, wait_for_end


def writer_map(writer, **fields):
    """Items from `$.items`; the iteration for 2 fails (error `Two`)."""
    state = {
        "Type": "Map", "End": True, "ItemsPath": "$.items", "ResultWriter": writer,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "Check",
            "States": {
                "Check": {"Type": "Choice", "Default": "Echo", "Choices": [
                    {"Variable": "$", "NumericEquals": 2, "Next": "Fail"}]},
                "Fail": {"Type": "Fail", "Error": "Two", "Cause": "two is bad"},
                "Echo": {"Type": "Pass", "Parameters": {"v.$": "$"}, "End": True},
            },
        },
    }
    state.update(fields)
    return json.dumps({"StartAt": "Run", "States": {"Run": state}})


def export(bucket, **config):
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Parameters": {"Bucket": bucket, "Prefix.$": "$.prefix"}}
    if config:
        writer["WriterConfig"] = config
    return writer


def run(sfn, unique, definition, input):
    arn = sfn.create_state_machine(name=unique("writer"), roleArn=ROLE,
                                   definition=definition)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(input))["executionArn"]
    return execution, wait_for_end(sfn, execution)


def from_source(source, s3, bucket, definition, input):
    """`definition` and `input` as they are (`inline`: the Map's items in `$.items`), or
    with the items put in S3 as JSON Lines and read by an `ItemReader` (`reader`: the
    server keeps them, and the results, as rows, and the writer pages them from there)."""
    if source == "inline":
        return definition, input
    key = f"items-{uuid.uuid4().hex[:8]}.jsonl"
    lines = "".join(json.dumps(item) + "\n" for item in input.pop("items"))
    s3.put_object(Bucket=bucket, Key=key, Body=lines.encode())
    parsed = json.loads(definition)
    state = parsed["States"]["Run"]
    del state["ItemsPath"]
    state["ItemReader"] = {"Resource": "arn:aws:states:::s3:getObject",
                           "ReaderConfig": {"InputType": "JSONL"},
                           "Parameters": {"Bucket": bucket, "Key": key}}
    return json.dumps(parsed), input


def read_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.mark.parametrize("source", ["inline", "reader"])
def test_results_and_manifest_in_aws_shapes(sfn, unique, s3, bucket, source):
    definition, input = from_source(
        source, s3, bucket, writer_map(export(bucket), ToleratedFailureCount=1),
        {"items": [1, 2, 3], "prefix": "runs"})
    execution, ended = run(sfn, unique, definition, input)
    assert ended["status"] == "SUCCEEDED", ended
    output = json.loads(ended["output"])
    map_run = output["MapRunArn"]
    run_id = map_run.rsplit(":", 1)[1]
    details = output["ResultWriterDetails"]
    assert details == {"Bucket": bucket, "Key": f"runs/{run_id}/manifest.json"}

    manifest = read_json(s3, bucket, details["Key"])
    assert manifest["DestinationBucket"] == bucket
    assert manifest["MapRunArn"] == map_run
    files = manifest["ResultFiles"]
    assert [f["Key"] for f in files["SUCCEEDED"]] == [f"runs/{run_id}/SUCCEEDED_0.json"]
    assert [f["Key"] for f in files["FAILED"]] == [f"runs/{run_id}/FAILED_0.json"]
    assert files["PENDING"] == []
    for listed in files["SUCCEEDED"] + files["FAILED"]:
        head = s3.head_object(Bucket=bucket, Key=listed["Key"])
        assert head["ContentLength"] == listed["Size"]

    succeeded = read_json(s3, bucket, f"runs/{run_id}/SUCCEEDED_0.json")
    assert [json.loads(r["Output"]) for r in succeeded] == [{"v": 1}, {"v": 3}]
    assert [r["Status"] for r in succeeded] == ["SUCCEEDED", "SUCCEEDED"]
    assert [json.loads(r["Input"]) for r in succeeded] == [1, 3]
    assert all(r["ExecutionArn"].startswith("arn:aws:states:") for r in succeeded)
    failed = read_json(s3, bucket, f"runs/{run_id}/FAILED_0.json")
    assert len(failed) == 1
    assert failed[0]["Status"] == "FAILED"
    assert failed[0]["Error"] == "Two" and failed[0]["Cause"] == "two is bad"
    assert json.loads(failed[0]["Input"]) == 2

    types = [e["type"] for e in full_history(sfn, execution)]
    assert "MapRunSucceeded" in types, types
    assert not any(t.startswith("Task") for t in types), types


def test_jsonl_compact(sfn, unique, s3, bucket):
    _, ended = run(sfn, unique,
                   writer_map(export(bucket, OutputType="JSONL", Transformation="COMPACT")),
                   {"items": [1, 3], "prefix": "lines/"})
    assert ended["status"] == "SUCCEEDED", ended
    output = json.loads(ended["output"])
    run_id = output["MapRunArn"].rsplit(":", 1)[1]
    assert output["ResultWriterDetails"]["Key"] == f"lines/{run_id}/manifest.json"
    body = s3.get_object(Bucket=bucket, Key=f"lines/{run_id}/SUCCEEDED_0.jsonl")["Body"].read()
    assert [json.loads(line) for line in body.decode().splitlines()] == [{"v": 1}, {"v": 3}]


def test_an_unwritable_bucket_is_result_writer_failed_and_caught(sfn, unique):
    definition = json.loads(writer_map(export(f"missing-{uuid.uuid4().hex[:10]}")))
    state = definition["States"]["Run"]
    del state["End"]
    state["Next"] = "Done"
    state["Catch"] = [{"ErrorEquals": ["States.ResultWriterFailed"], "Next": "Done",
                       "ResultPath": "$.error"}]
    definition["States"]["Done"] = {"Type": "Pass", "End": True}
    _, ended = run(sfn, unique, json.dumps(definition), {"items": [1, 3], "prefix": "p"})
    assert ended["status"] == "SUCCEEDED", ended
    error = json.loads(ended["output"])["error"]
    assert error["Error"] == "States.ResultWriterFailed", error
    assert "NoSuchBucket" in error["Cause"], error


@pytest.mark.parametrize("source", ["inline", "reader"])
def test_a_run_failed_beyond_its_tolerance_writes_its_files_then_fails(sfn, unique, s3, bucket,
                                                                     source):
    # STANDARD children one at a time: 1 succeeds, 2 fails past a tolerance of none, and
    # 3 and 4 never start (PENDING). The files are written, then the Map fails.
    definition = json.loads(writer_map(export(bucket), ToleratedFailureCount=0,
                                       MaxConcurrency=1))
    definition["States"]["Run"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    definition, input = from_source(source, s3, bucket, json.dumps(definition),
                                    {"items": [1, 2, 3, 4], "prefix": "failed"})
    execution, ended = run(sfn, unique, definition, input)
    assert ended["status"] == "FAILED", ended
    assert ended["error"] == "States.ExceedToleratedFailureThreshold", ended

    events = full_history(sfn, execution)
    started = next(e for e in events if e["type"] == "MapRunStarted")
    map_run = started["mapRunStartedEventDetails"]["mapRunArn"]
    run_id = map_run.rsplit(":", 1)[1]
    types = [e["type"] for e in events]
    assert types.index("MapRunFailed") < types.index("MapStateFailed"), types
    assert not any(t.startswith("Task") for t in types), types

    manifest = read_json(s3, bucket, f"failed/{run_id}/manifest.json")
    assert manifest["MapRunArn"] == map_run
    files = manifest["ResultFiles"]
    assert [f["Key"] for f in files["SUCCEEDED"]] == [f"failed/{run_id}/SUCCEEDED_0.json"]
    assert [f["Key"] for f in files["FAILED"]] == [f"failed/{run_id}/FAILED_0.json"]
    assert [f["Key"] for f in files["PENDING"]] == [f"failed/{run_id}/PENDING_0.json"]

    failed = read_json(s3, bucket, f"failed/{run_id}/FAILED_0.json")
    assert len(failed) == 1, failed
    # The failed run's files were written too: its two items that ran count.
    described = sfn.describe_map_run(mapRunArn=map_run)
    assert described["status"] == "FAILED", described
    assert described["itemCounts"]["resultsWritten"] == 2, described
    assert failed[0]["Status"] == "FAILED"
    assert failed[0]["Error"] == "Two" and failed[0]["Cause"] == "two is bad"
    assert json.loads(failed[0]["Input"]) == 2
    succeeded = read_json(s3, bucket, f"failed/{run_id}/SUCCEEDED_0.json")
    assert [json.loads(r["Output"]) for r in succeeded] == [{"v": 1}]
    pending = read_json(s3, bucket, f"failed/{run_id}/PENDING_0.json")
    assert [json.loads(r["Input"]) for r in pending] == [3, 4]


def aws_date(text):
    """A date as the result files write it: `2024-05-01T12:00:00.123Z`."""
    assert text.endswith("Z") and len(text.split(".")[-1]) == 4, text
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_standard_children_records_name_each_child_with_its_own_dates(sfn, unique, s3, bucket):
    # Each record of a STANDARD child names that child (its ARN and name, as
    # ListExecutions of the Map Run lists it) and carries its own start and stop, as
    # DescribeExecution of the child says, to the millisecond the files keep.
    definition = json.loads(writer_map(export(bucket), ToleratedFailureCount=1,
                                       MaxConcurrency=2))
    definition["States"]["Run"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    _, ended = run(sfn, unique, json.dumps(definition),
                   {"items": [1, 2, 3, 4], "prefix": "children"})
    assert ended["status"] == "SUCCEEDED", ended
    output = json.loads(ended["output"])
    map_run = output["MapRunArn"]
    run_id = map_run.rsplit(":", 1)[1]

    children = sfn.list_executions(mapRunArn=map_run)["executions"]
    assert len(children) == 4, children
    by_arn = {c["executionArn"]: sfn.describe_execution(executionArn=c["executionArn"])
              for c in children}

    succeeded = read_json(s3, bucket, f"children/{run_id}/SUCCEEDED_0.json")
    failed = read_json(s3, bucket, f"children/{run_id}/FAILED_0.json")
    assert [json.loads(r["Input"]) for r in succeeded] == [1, 3, 4]
    assert [json.loads(r["Input"]) for r in failed] == [2]
    records = succeeded + failed
    assert sorted(r["ExecutionArn"] for r in records) == sorted(by_arn), records
    for record in records:
        child = by_arn[record["ExecutionArn"]]
        assert record["Name"] == child["name"] == record["ExecutionArn"].rsplit(":", 1)[1]
        assert record["Status"] == child["status"]
        assert json.loads(record["Input"]) == json.loads(child["input"])
        start, stop = aws_date(record["StartDate"]), aws_date(record["StopDate"])
        # The files keep milliseconds; DescribeExecution may say more.
        assert abs((start - child["startDate"]).total_seconds()) < 0.001, (record, child)
        assert abs((stop - child["stopDate"]).total_seconds()) < 0.001, (record, child)
        assert start <= stop

    # resultsWritten: the items whose records were written (3 succeeded, 1 failed).
    described = sfn.describe_map_run(mapRunArn=map_run)
    assert described["itemCounts"]["resultsWritten"] == 4, described
    assert described["executionCounts"]["resultsWritten"] == 4, described


def test_results_written_is_zero_without_a_result_writer(sfn, unique):
    # AWS: "the count of items whose results were written by ResultWriter".
    definition = json.loads(writer_map({}, ToleratedFailureCount=1))
    del definition["States"]["Run"]["ResultWriter"]
    execution, ended = run(sfn, unique, json.dumps(definition), {"items": [1, 2, 3]})
    assert ended["status"] == "SUCCEEDED", ended
    map_run = sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    described = sfn.describe_map_run(mapRunArn=map_run)
    assert described["itemCounts"]["succeeded"] == 2, described
    assert described["itemCounts"]["resultsWritten"] == 0, described
