"""A Distributed Map's `ItemReader`, `ItemSelector` and `ItemBatcher` through boto3
against a real `cairn server` (and `cairn dev`), its items in moto's S3 server (the
session's `moto` fixture; the server reaches it through `AWS_ENDPOINT_URL_S3`).

The reader runs as a worker's task, through the same S3 client that talks to AWS; the
Map then iterates the items it read. Each test's Map is one Pass state, so its output
is the items (or batches) in order."""
import json
import time

import pytest

from conftest import ROLE, full_history, server_database_rows, wait_for_end


def reader_map(reader=None, **fields):
    state = {
        "Type": "Map", "End": True,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "Echo",
            "States": {"Echo": {"Type": "Pass", "End": True}},
        },
    }
    if reader is not None:
        state["ItemReader"] = reader
    state.update(fields)
    return json.dumps({"StartAt": "Run", "States": {"Run": state}})


def run(sfn, unique, definition, input=None):
    arn = sfn.create_state_machine(name=unique("reader"), roleArn=ROLE,
                                   definition=definition)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn,
                                    input=json.dumps(input or {}))["executionArn"]
    return execution, wait_for_end(sfn, execution)


def get_object(bucket, input_type, **config):
    return {"Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": input_type, **config},
            "Parameters": {"Bucket": bucket, "Key.$": "$.key"}}


def test_csv_with_its_header_in_the_first_row(sfn, unique, s3, bucket):
    s3.put_object(Bucket=bucket, Key="rows.csv",
                  Body=b"id,name,note\n1,alpha,\"a, quoted\"\n2,beta,plain\n")
    execution, ended = run(sfn, unique, reader_map(
        get_object(bucket, "CSV", CSVHeaderLocation="FIRST_ROW")), {"key": "rows.csv"})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [
        {"id": "1", "name": "alpha", "note": "a, quoted"},
        {"id": "2", "name": "beta", "note": "plain"},
    ]
    types = [e["type"] for e in full_history(sfn, execution)]
    assert "MapRunStarted" in types and "MapRunSucceeded" in types, types
    # The read is the Map's own doing: no task of the definition's shows in history.
    assert not any(t.startswith("Task") for t in types), types


def test_csv_with_given_headers_and_a_semicolon(sfn, unique, s3, bucket):
    s3.put_object(Bucket=bucket, Key="rows.csv", Body=b"1;alpha\n2;beta\n3;gamma\n")
    _, ended = run(sfn, unique, reader_map(get_object(
        bucket, "CSV", CSVHeaderLocation="GIVEN", CSVHeaders=["id", "name"],
        CSVDelimiter="SEMICOLON")), {"key": "rows.csv"})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [
        {"id": "1", "name": "alpha"}, {"id": "2", "name": "beta"}, {"id": "3", "name": "gamma"},
    ]


def test_a_json_array(sfn, unique, s3, bucket):
    items = [{"n": n, "tags": ["x"] * n} for n in range(5)]
    s3.put_object(Bucket=bucket, Key="items.json", Body=json.dumps(items).encode())
    _, ended = run(sfn, unique, reader_map(get_object(bucket, "JSON")), {"key": "items.json"})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == items


def test_json_lines_with_max_items(sfn, unique, s3, bucket):
    lines = "\n".join(json.dumps({"line": n}) for n in range(10)) + "\n"
    s3.put_object(Bucket=bucket, Key="items.jsonl", Body=lines.encode())
    _, ended = run(sfn, unique, reader_map(get_object(bucket, "JSONL", MaxItems=3)),
                   {"key": "items.jsonl"})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"line": 0}, {"line": 1}, {"line": 2}]


def test_max_items_path(sfn, unique, s3, bucket):
    lines = "\n".join(json.dumps({"line": n}) for n in range(10))
    s3.put_object(Bucket=bucket, Key="items.jsonl", Body=lines.encode())
    _, ended = run(sfn, unique, reader_map(get_object(bucket, "JSONL", MaxItemsPath="$.most")),
                   {"key": "items.jsonl", "most": 4})
    assert ended["status"] == "SUCCEEDED", ended
    assert [i["line"] for i in json.loads(ended["output"])] == [0, 1, 2, 3]


def test_list_objects_v2_pages_past_a_thousand_keys(sfn, unique, s3, bucket):
    count = 1005
    for n in range(count):
        s3.put_object(Bucket=bucket, Key=f"in/{n:05}.txt", Body=b"x" * (n % 7))
    s3.put_object(Bucket=bucket, Key="other/outside.txt", Body=b"no")
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2",
              "Parameters": {"Bucket": bucket, "Prefix": "in/"}}
    _, ended = run(sfn, unique, reader_map(reader, MaxConcurrency=100))
    assert ended["status"] == "SUCCEEDED", ended
    items = json.loads(ended["output"])
    assert [i["Key"] for i in items] == [f"in/{n:05}.txt" for n in range(count)]
    # Each item as Step Functions shapes a listed object.
    first = items[1]
    assert set(first) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}, first
    assert first["Size"] == 1 and first["StorageClass"] == "STANDARD"
    assert first["Etag"].startswith('"') and isinstance(first["LastModified"], int)


def test_batches_of_items_read(sfn, unique, s3, bucket):
    items = [{"n": n} for n in range(5)]
    s3.put_object(Bucket=bucket, Key="items.json", Body=json.dumps(items).encode())
    batcher = {"MaxItemsPerBatch": 2, "BatchInput": {"source.$": "$.key", "fixed": 1}}
    _, ended = run(sfn, unique, reader_map(get_object(bucket, "JSON"), ItemBatcher=batcher),
                   {"key": "items.json"})
    assert ended["status"] == "SUCCEEDED", ended
    batch_input = {"source": "items.json", "fixed": 1}
    assert json.loads(ended["output"]) == [
        {"BatchInput": batch_input, "Items": [{"n": 0}, {"n": 1}]},
        {"BatchInput": batch_input, "Items": [{"n": 2}, {"n": 3}]},
        {"BatchInput": batch_input, "Items": [{"n": 4}]},
    ]


def test_items_read_are_selected_then_batched_into_each_childs_input(sfn, unique, s3, bucket):
    """As AWS orders the fields: each item read is selected (its own index in the file as
    `$$.Map.Item.Index`), then the selected items are batched. The server's worker writes
    the batches of raw items as rows; each child execution's input is its batch selected."""
    lines = "".join(json.dumps({"n": n, "skip": "me"}) + "\n" for n in range(7))
    s3.put_object(Bucket=bucket, Key="sel.jsonl", Body=lines.encode())
    definition = reader_map(
        get_object(bucket, "JSONL"),
        MaxConcurrency=2,
        ItemSelector={"at.$": "$$.Map.Item.Index", "n.$": "$$.Map.Item.Value.n",
                      "key.$": "$.key"},
        ItemBatcher={"MaxItemsPerBatch": 3, "BatchInput": {"source.$": "$.key"}})
    definition = json.loads(definition)
    definition["States"]["Run"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = \
        "STANDARD"
    execution, ended = run(sfn, unique, json.dumps(definition), {"key": "sel.jsonl"})
    assert ended["status"] == "SUCCEEDED", ended

    def batch(first, last):
        return {"BatchInput": {"source": "sel.jsonl"},
                "Items": [{"at": i, "n": i, "key": "sel.jsonl"} for i in range(first, last)]}

    expected = [batch(0, 3), batch(3, 6), batch(6, 7)]
    assert json.loads(ended["output"]) == expected
    [map_run] = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    children = sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]
    inputs = [json.loads(sfn.describe_execution(executionArn=c["executionArn"])["input"])
              for c in children]
    assert sorted(inputs, key=lambda i: i["Items"][0]["at"]) == expected


def test_batches_of_inline_items_by_bytes(sfn, unique):
    items = [{"word": w} for w in ["aaaa", "bb", "c", "dddddd", "e"]]
    # {"Items":[]} is 12 bytes; each item is 12 to 17 more (and a comma): batches of 2, 2, 1.
    batcher = {"MaxInputBytesPerBatchPath": "$.bytes"}
    _, ended = run(sfn, unique, reader_map(ItemsPath="$.items", ItemBatcher=batcher),
                   {"items": items, "bytes": 50})
    assert ended["status"] == "SUCCEEDED", ended
    batches = json.loads(ended["output"])
    assert [i for b in batches for i in b["Items"]] == items
    assert all(len(json.dumps(b, separators=(",", ":"))) <= 50 for b in batches), batches
    assert len(batches) == 3, batches


def test_a_missing_object_fails_the_map_with_item_reader_failed(sfn, unique, bucket):
    _, ended = run(sfn, unique, reader_map(get_object(bucket, "JSON")), {"key": "absent.json"})
    assert ended["status"] == "FAILED", ended
    assert ended["error"] == "States.ItemReaderFailed", ended
    assert "NoSuchKey" in ended["cause"] and "Status Code: 404" in ended["cause"], ended


def test_a_reader_failure_is_caught(sfn, unique, bucket):
    definition = json.loads(reader_map(get_object(bucket, "JSON")))
    run_state = definition["States"]["Run"]
    del run_state["End"]
    run_state["Next"] = "Caught"
    run_state["Catch"] = [{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Caught",
                           "ResultPath": "$.error"}]
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    _, ended = run(sfn, unique, json.dumps(definition), {"key": "absent.json"})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"])["error"]["Error"] == "States.ItemReaderFailed"


def test_an_inline_map_with_a_reader_is_refused(sfn, unique, bucket):
    definition = json.loads(reader_map(get_object(bucket, "JSON")))
    definition["States"]["Run"]["ItemProcessor"]["ProcessorConfig"] = {"Mode": "INLINE"}
    with pytest.raises(sfn.exceptions.InvalidDefinition) as refused:
        sfn.create_state_machine(name=unique("reader-inline"), roleArn=ROLE,
                                 definition=json.dumps(definition))
    assert "Cairn does not support a Map's 'ItemReader' yet" in \
        refused.value.response["Error"]["Message"]


def test_a_jsonata_map_reads_with_arguments_and_max_items(sfn, unique, s3, bucket):
    lines = "\n".join(json.dumps({"line": n}) for n in range(6))
    s3.put_object(Bucket=bucket, Key="j.jsonl", Body=lines.encode())
    definition = {"QueryLanguage": "JSONata", "StartAt": "Run", "States": {"Run": {
        "Type": "Map", "End": True,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "JSONL",
                                        "MaxItems": "{% $states.input.most %}"},
                       "Arguments": {"Bucket": bucket, "Key": "{% $states.input.key %}"}},
        "ItemBatcher": {"MaxItemsPerBatch": "{% 2 %}", "BatchInput": {"k": "{% $states.input.key %}"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}},
    }}}
    _, ended = run(sfn, unique, json.dumps(definition), {"key": "j.jsonl", "most": 5})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [
        {"BatchInput": {"k": "j.jsonl"}, "Items": [{"line": 0}, {"line": 1}]},
        {"BatchInput": {"k": "j.jsonl"}, "Items": [{"line": 2}, {"line": 3}]},
        {"BatchInput": {"k": "j.jsonl"}, "Items": [{"line": 4}]},
    ]


def test_an_s3_inventory_manifest(sfn, unique, s3, bucket):
    import gzip
    s3.put_object(Bucket=bucket, Key="inv/data/1.csv.gz", Body=gzip.compress(
        b'"src","photos/a.jpg","100"\n"src","photos/b.jpg","200"\n'))
    s3.put_object(Bucket=bucket, Key="inv/data/2.csv.gz", Body=gzip.compress(
        b'"src","photos/c, d.jpg","300"\n'))
    manifest = {"sourceBucket": "src", "destinationBucket": f"arn:aws:s3:::{bucket}",
                "version": "2016-11-30", "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
                "files": [{"key": "inv/data/1.csv.gz", "size": 1, "MD5checksum": "x"},
                          {"key": "inv/data/2.csv.gz", "size": 1, "MD5checksum": "y"}]}
    s3.put_object(Bucket=bucket, Key="inv/manifest.json", Body=json.dumps(manifest).encode())
    _, ended = run(sfn, unique, reader_map(get_object(bucket, "MANIFEST",
                                                      ManifestType="S3_INVENTORY")),
                   {"key": "inv/manifest.json"})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [
        {"Bucket": "src", "Key": "photos/a.jpg", "Size": "100"},
        {"Bucket": "src", "Key": "photos/b.jpg", "Size": "200"},
        {"Bucket": "src", "Key": "photos/c, d.jpg", "Size": "300"},
    ]


@pytest.mark.durable
def test_items_read_are_stored_as_rows_not_in_the_snapshot(sfn, unique, s3, bucket):
    """The reader writes the items into the Map's stored values and answers only their
    count: while the Map runs, the rows are there and the execution's snapshot holds
    no more than the items it has started or buffered."""
    lines = "".join(json.dumps({"n": n, "tag": "rowmark"}) + "\n" for n in range(60))
    s3.put_object(Bucket=bucket, Key="rows.jsonl", Body=lines.encode())
    definition = json.dumps({"StartAt": "Run", "States": {"Run": {
        "Type": "Map", "End": True, "MaxConcurrency": 2,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "JSONL"},
                       "Parameters": {"Bucket": bucket, "Key": "rows.jsonl"}},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Hold",
            "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}},
        },
    }}})
    arn = sfn.create_state_machine(name=unique("rows"), roleArn=ROLE,
                                   definition=definition)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    quoted = execution.replace("'", "''")
    rows = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = server_database_rows(
            f"select idx, value::text from stored_map_values "
            f"where execution_arn = '{quoted}' and kind = 0 order by idx")
        started = [e for e in full_history(sfn, execution)
                   if e["type"] == "MapRunStarted"]
        if len(rows) == 60 and started:
            break
        time.sleep(0.2)
    assert len(rows) == 60, rows
    assert [json.loads(r.split("|", 1)[1]) for r in rows] == \
        [{"n": n, "tag": "rowmark"} for n in range(60)]
    [snapshot] = server_database_rows(
        f"select snapshot::text from executions where arn = '{quoted}'")
    # At most a buffer (16) and the running iterations (2) of the 60 items.
    assert snapshot.count("rowmark") <= 18, snapshot
    [run] = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]
    assert counts["total"] == 60, counts
    sfn.stop_execution(executionArn=execution)
    assert wait_for_end(sfn, execution)["status"] == "ABORTED"
