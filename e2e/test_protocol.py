"""What any client sees of the protocol: operations Cairn does not have, unknown targets,
and the AWS JSON 1.0 error shape on the wire. A module for a new group of operations
uses the fixtures in conftest.py (`server`, `sfn`, `unique`, `lambda_fake`) and
`conftest.wait_for_end` / `full_history`; test_coverage.py checks it calls each one."""
import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


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


def test_unsupported_operation_is_named(sfn, pass_machine):
    # RedriveExecution is in the model but Cairn has no redrive yet.
    execution = pass_machine.replace(":stateMachine:", ":execution:") + ":nope"
    with pytest.raises(ClientError) as e:
        sfn.redrive_execution(executionArn=execution)
    error = e.value.response["Error"]
    assert error["Code"] == "UnknownOperationException"
    assert "RedriveExecution" in error["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


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
