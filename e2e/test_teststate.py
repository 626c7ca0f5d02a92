"""TestState through boto3, as a Step Functions user calls it: every status, every
inspection level, mocks and their field validation, an unmocked Lambda Task that calls
the fake Lambda API, an HTTP Task at TRACE against a real HTTP server on loopback, a
state of a whole machine, and the refusals with AWS's error codes."""
import http.server
import json
import threading
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:validate-order"


def run(sfn, definition, **kwargs):
    """TestState on `definition` (a dict), with `input` etc. as dicts where JSON."""
    for key in ("input", "variables", "context"):
        if key in kwargs and not isinstance(kwargs[key], str):
            kwargs[key] = json.dumps(kwargs[key])
    return sfn.test_state(definition=json.dumps(definition), **kwargs)


def refused(sfn, definition, **kwargs):
    with pytest.raises(ClientError) as error:
        run(sfn, definition, **kwargs)
    return error.value.response["Error"]


def test_every_status(sfn):
    done = run(sfn, {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "Next": "After"},
               input={"a": 0})
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"a": 0, "r": {"x": 1}}
    assert done["nextState"] == "After"

    failed = run(sfn, {"Type": "Fail", "Error": "Nope", "Cause": "because"})
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Nope", "because")
    assert "output" not in failed

    task = {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f"},
        "Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 2, "IntervalSeconds": 2}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}],
        "End": True,
    }
    retriable = run(sfn, task, inspectionLevel="DEBUG",
                    mock={"errorOutput": {"error": "Busy", "cause": "try later"}})
    assert retriable["status"] == "RETRIABLE"
    assert retriable["inspectionData"]["errorDetails"] == {
        "retryIndex": 0, "retryBackoffIntervalSeconds": 2}
    assert "nextState" not in retriable

    exhausted = run(sfn, task, inspectionLevel="DEBUG",
                    mock={"errorOutput": {"error": "Busy", "cause": "try later"}},
                    stateConfiguration={"retrierRetryCount": 2})
    assert exhausted["status"] == "CAUGHT_ERROR"
    assert exhausted["nextState"] == "Handle"
    assert json.loads(exhausted["output"]) == {"Error": "Busy", "Cause": "try later"}
    assert exhausted["inspectionData"]["errorDetails"] == {"retryIndex": 0, "catchIndex": 0}


def test_inspection_levels(sfn):
    state = {"Type": "Pass", "InputPath": "$.in", "Parameters": {"v.$": "$.v"},
             "ResultPath": "$.out", "OutputPath": "$.out", "End": True}
    payload = {"in": {"v": 5}}
    info = run(sfn, state, input=payload)
    assert "inspectionData" not in info
    for level in ("DEBUG", "TRACE"):
        data = run(sfn, state, input=payload, inspectionLevel=level)["inspectionData"]
        shown = {k: json.loads(v) for k, v in data.items()}
        assert shown == {
            "input": payload,
            "afterInputPath": {"v": 5},
            "afterParameters": {"v": 5},
            "afterResultSelector": {"v": 5},
            "afterResultPath": {"in": {"v": 5}, "out": {"v": 5}},
        }


def test_an_unmocked_lambda_task_calls_the_function_and_a_mocked_one_does_not(
        sfn, lambda_fake):
    order = {"orderId": f"ts-{uuid.uuid4().hex[:8]}", "items": [{"sku": "a", "qty": 1}]}
    state = {"Type": "Task", "Resource": FUNCTION, "Next": "CheckInventory"}
    answer = run(sfn, state, input=order, roleArn=ROLE, inspectionLevel="DEBUG")
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {**order, "validated": True}
    assert json.loads(answer["inspectionData"]["result"]) == {**order, "validated": True}
    assert len(lambda_fake.calls("validate-order", order["orderId"])) == 1

    # The function's own error, as the worker reports it.
    bad = {"orderId": f"ts-{uuid.uuid4().hex[:8]}", "items": [{"sku": "a", "qty": 0}]}
    failed = run(sfn, state, input=bad, roleArn=ROLE)
    assert (failed["status"], failed["error"]) == ("FAILED", "ValidationError")

    mocked = {"orderId": f"ts-{uuid.uuid4().hex[:8]}", "items": []}
    answer = run(sfn, state, input=mocked, mock={"result": json.dumps({"mocked": True})})
    assert json.loads(answer["output"]) == {"mocked": True}
    assert lambda_fake.calls("validate-order", mocked["orderId"]) == []


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        answer = json.dumps({"echo": json.loads(body), "path": self.path}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("x-served-by", "e2e")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_http_task_at_trace_shows_its_request_and_response(sfn, echo_server):
    state = {
        "Type": "Task", "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint": f"{echo_server}/orders", "Method": "POST",
                       "Headers": {"x-order": "42"}, "RequestBody": {"n.$": "$.n"}},
        "ResultSelector": {"code.$": "$.StatusCode", "echo.$": "$.ResponseBody.echo"},
        "End": True,
    }
    answer = run(sfn, state, input={"n": 7}, roleArn=ROLE, inspectionLevel="TRACE")
    assert answer["status"] == "SUCCEEDED", answer
    assert json.loads(answer["output"]) == {"code": 201, "echo": {"n": 7}}
    request = answer["inspectionData"]["request"]
    assert request["method"] == "POST"
    assert request["url"] == f"{echo_server}/orders"
    assert request["protocol"] == "http"
    assert json.loads(request["body"]) == {"n": 7}
    assert "x-order: 42" in request["headers"]
    response = answer["inspectionData"]["response"]
    assert (response["statusCode"], response["statusMessage"]) == ("201", "Created")
    assert "x-served-by: e2e" in response["headers"]
    assert json.loads(response["body"]) == {"echo": {"n": 7}, "path": "/orders"}

    # DEBUG shows the data flow, not the exchange.
    debug = run(sfn, state, input={"n": 7}, roleArn=ROLE, inspectionLevel="DEBUG")
    assert "request" not in debug["inspectionData"]
    assert json.loads(debug["inspectionData"]["afterParameters"])["RequestBody"] == {"n": 7}


def test_mock_field_validation_modes(sfn):
    state = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
             "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"},
             "End": True}
    error = refused(sfn, state, mock={"result": "{}"})
    assert error["Code"] == "ValidationException"
    assert error["Message"] == \
        "Mock result schema validation error: Required field 'ExecutionArn' is missing"
    present = run(sfn, state, mock={"result": "{}", "fieldValidationMode": "PRESENT"})
    assert present["status"] == "SUCCEEDED"
    error = refused(sfn, state, mock={"result": json.dumps({"StartDate": 1}),
                                      "fieldValidationMode": "PRESENT"})
    assert error["Message"] == \
        "Mock result schema validation error: Field 'StartDate' must be a string"
    none = run(sfn, state, mock={"result": json.dumps({"StartDate": 1}),
                                 "fieldValidationMode": "NONE"})
    assert json.loads(none["output"]) == {"StartDate": 1}


def test_a_state_of_a_machine_with_variables_and_context(sfn):
    machine = {
        "QueryLanguage": "JSONata",
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Next": "Second"},
            "Second": {"Type": "Pass",
                       "Assign": {"total": "{% $base + $states.input.n %}"},
                       "Output": {"who": "{% $states.context.Execution.Name %}",
                                  "sum": "{% $base + $states.input.n %}"},
                       "End": True},
        },
    }
    answer = run(sfn, machine, stateName="Second", input={"n": 2}, variables={"base": 40},
                 context={"Execution": {"Name": "given"}}, inspectionLevel="TRACE")
    assert json.loads(answer["output"]) == {"who": "given", "sum": 42}
    assert "nextState" not in answer
    assert json.loads(answer["inspectionData"]["variables"]) == {"base": 40, "total": 42}
    first = run(sfn, machine, stateName="First", input={"n": 2})
    assert first["nextState"] == "Second"


def test_map_and_parallel_with_mocks(sfn):
    parallel = {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]}
    answer = run(sfn, parallel, mock={"result": "[1, 2]"})
    assert json.loads(answer["output"]) == [1, 2]
    mapped = {"Type": "Map", "ItemsPath": "$.items", "ToleratedFailureCount": 0, "End": True,
              "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}
    answer = run(sfn, mapped, input={"items": [1, 2]}, mock={"result": "[3, 4]"},
                 stateConfiguration={"mapIterationFailureCount": 1})
    assert (answer["status"], answer["error"]) == \
        ("FAILED", "States.ExceedToleratedFailureThreshold")


@pytest.mark.parametrize("case", [
    ("a mock on a Pass state", {"Type": "Pass", "End": True},
     {"mock": {"result": "{}"}}, "ValidationException",
     "State type 'Pass' is not supported when a mock is specified"),
    ("a Map without a mock", {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}, {},
     "InvalidDefinition", "TestState API does not support Map or Parallel states"),
    ("a Task without a role", {"Type": "Task", "Resource": FUNCTION, "End": True}, {},
     "ValidationException", "RoleArn must be specified when testing a Task state"),
    ("both a result and an error", {"Type": "Task", "Resource": FUNCTION, "End": True},
     {"mock": {"result": "{}", "errorOutput": {"error": "E"}}}, "ValidationException",
     "A test mock should have only one of the following fields: [result, errorOutput]."),
    ("a state not in the machine", {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
     {"stateName": "B"}, "ValidationException", "State not found in definition"),
    ("an invalid state", {"Type": "Pass", "End": True, "Bogus": 1}, {},
     "InvalidDefinition", "Field 'Bogus' is not supported"),
    ("input that is not JSON", {"Type": "Pass", "End": True}, {"input": "{nope"},
     "InvalidExecutionInput", "Invalid State Machine Execution Input"),
    ("an unknown inspection level", {"Type": "Pass", "End": True},
     {"inspectionLevel": "LOUD"}, "ValidationException", "inspectionLevel"),
], ids=lambda case: case[0])
def test_refusals(sfn, case):
    _, definition, kwargs, code, message = case
    error = refused(sfn, definition, **kwargs)
    assert error["Code"] == code
    assert message in error["Message"]
