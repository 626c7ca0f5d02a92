"""What any client sees of the protocol: operations Cairn does not have, unknown targets,
and the AWS JSON 1.0 error shape on the wire. A module for a new group of operations
uses the fixtures in conftest.py (`server`, `sfn`, `unique`, `lambda_fake`) and
`conftest.wait_for_end` / `full_history`; test_coverage.py checks it calls each one."""
import json
import re
import urllib.error
import urllib.request
from pathlib import Path


def raw_call(server, target, body):
    request = urllib.request.Request(
        server.endpoint + "/", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def not_yet_operations():
    """The Step Functions operations docs/api-support.md lists as not built yet (its
    table of them comes first, before the EventBridge sections)."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "api-support.md").read_text()
    step_functions = doc.split("\n## EventBridge")[0]
    return {match[1] for match in re.finditer(r"^\| ([A-Za-z]+) \| not yet \|",
                                               step_functions, re.MULTILINE)}


def test_every_operation_of_the_model_is_answered_or_named(sfn, server):
    """Every operation in boto3's Step Functions model is answered; one Cairn does not
    have yet (as docs/api-support.md says) is refused by name."""
    not_yet = not_yet_operations()
    operations = sfn.meta.service_model.operation_names
    assert not_yet <= set(operations), not_yet - set(operations)
    for operation in operations:
        status, body = raw_call(server, f"AWSStepFunctions.{operation}", {})
        unknown = body.get("__type", "").endswith("UnknownOperationException")
        if operation in not_yet:
            assert (status, unknown) == (400, True), (operation, body)
            assert operation in body["message"]
        else:
            assert not unknown, (operation, body)


def test_unknown_target_on_the_wire(server):
    status, body = raw_call(server, "AWSStepFunctions.FlyToTheMoon", {})
    assert status == 400
    assert body["__type"].endswith("UnknownOperationException")
    assert "FlyToTheMoon" in body["message"]


def test_error_shape_on_the_wire(server):
    status, body = raw_call(server, "AWSStepFunctions.DescribeExecution",
                            {"executionArn": "not-an-arn"})
    assert status == 400
    assert body["__type"] == "com.amazonaws.swf.service.v2.model#InvalidArn"
    assert body["message"]
    status, body = raw_call(server, "AWSStepFunctions.DescribeExecution", {})
    assert status == 400
    assert body["__type"].endswith("ValidationException")
