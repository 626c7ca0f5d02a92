"""State machines through boto3: create (idempotent), describe, update, delete, list with
paging, ValidateStateMachineDefinition, and the errors AWS answers for each."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, PASS_MACHINE, REGION, ROLE, wait_for_end

OTHER_DEFINITION = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_create_describe_update_delete(sfn, unique):
    name = unique("crud")
    created = sfn.create_state_machine(
        name=name, definition=PASS_MACHINE, roleArn=ROLE,
        tags=[{"key": "team", "value": "core"}],
    )
    arn = created["stateMachineArn"]
    assert arn == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
    assert created["creationDate"].tzinfo is not None

    # The same request again returns the same machine (AWS's idempotency rule).
    again = sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE)
    assert again["stateMachineArn"] == arn
    assert again["creationDate"] == created["creationDate"]
    with pytest.raises(sfn.exceptions.StateMachineAlreadyExists):
        sfn.create_state_machine(name=name, definition=OTHER_DEFINITION, roleArn=ROLE)

    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["name"] == name
    assert described["status"] == "ACTIVE"
    assert described["type"] == "STANDARD"
    assert described["roleArn"] == ROLE
    assert json.loads(described["definition"]) == json.loads(PASS_MACHINE)
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}

    updated = sfn.update_state_machine(stateMachineArn=arn, definition=OTHER_DEFINITION)
    assert updated["updateDate"] >= created["creationDate"]
    assert updated["revisionId"]
    after = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(after["definition"]) == json.loads(OTHER_DEFINITION)
    assert after["revisionId"] == updated["revisionId"]

    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist) as e:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert arn in e.value.response["Error"]["Message"]


def test_express_type_is_kept(sfn, unique):
    arn = sfn.create_state_machine(name=unique("express"), definition=PASS_MACHINE,
                                   roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["type"] == "EXPRESS"


def test_list_state_machines_pages(sfn, unique):
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE)

    seen, token, pages = [], None, 0
    while True:
        page = sfn.list_state_machines(maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["stateMachines"]) <= 2
        seen += page["stateMachines"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    listed = [m["name"] for m in seen]
    assert len(listed) == len(set(listed)), "a machine was listed twice across pages"
    ours = [n for n in listed if n.startswith(prefix)]
    assert ours == names, "listed in name (ARN) order, every one exactly once"
    assert pages >= 3
    entry = next(m for m in seen if m["name"] == names[0])
    assert set(entry) >= {"stateMachineArn", "name", "type", "creationDate"}

    # boto3's paginator drives the same tokens.
    paginated = [m["name"] for p in sfn.get_paginator("list_state_machines").paginate(
        PaginationConfig={"PageSize": 3}) for m in p["stateMachines"]]
    assert [n for n in paginated if n.startswith(prefix)] == names

    with pytest.raises(ClientError) as e:
        sfn.list_state_machines(nextToken="not-a-token")
    assert error_code(e) == "InvalidToken"


def test_validate_state_machine_definition(sfn):
    ok = sfn.validate_state_machine_definition(definition=PASS_MACHINE)
    assert ok["result"] == "OK"
    assert ok["diagnostics"] == []

    bad = json.dumps({"StartAt": "Missing", "States": {"P": {"Type": "Pass", "End": True}}})
    result = sfn.validate_state_machine_definition(definition=bad)
    assert result["result"] == "FAIL"
    assert result["diagnostics"], result
    first = result["diagnostics"][0]
    assert first["severity"] == "ERROR"
    # AWS documents only `result` as stable; codes and wording may change.
    assert first["code"]
    assert "Missing" in first["message"]


def test_validate_state_machine_definition_understands_jsonata(sfn):
    machine = {"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"total": "{% $sum($states.input.values) %}"},
              "Assign": {"seen": "{% $count($states.input.values) %}"}, "End": True}}}
    ok = sfn.validate_state_machine_definition(definition=json.dumps(machine))
    assert (ok["result"], ok["diagnostics"]) == ("OK", [])

    machine["States"]["P"]["Output"] = {"total": "{% $sum($states.input.values %}"}
    bad = sfn.validate_state_machine_definition(definition=json.dumps(machine))
    assert bad["result"] == "FAIL"
    assert [(d["code"], d["location"]) for d in bad["diagnostics"]] == \
        [("INVALID_JSONATA_EXPRESSION", "/States/P/Output/total")]

    machine["States"]["P"]["Output"] = "{% phone %}"
    bad = sfn.validate_state_machine_definition(definition=json.dumps(machine))
    assert [(d["code"], d["message"]) for d in bad["diagnostics"]] == [
        ("UNSUPPORTED_JSONATA_EXPRESSION",
         "Reference to 'phone' at the top level is not supported.")]


def test_jsonata_machines_run_standard_and_express(sfn, unique):
    machine = json.dumps({"QueryLanguage": "JSONata", "StartAt": "Sum", "States": {
        "Sum": {"Type": "Pass", "Assign": {"n": "{% $count($states.input.values) %}"},
                "Output": "{% $sum($states.input.values) %}", "Next": "Shape"},
        "Shape": {"Type": "Pass", "QueryLanguage": "JSONata",
                  "Output": {"total": "{% $states.input %}", "count": "{% $n %}",
                             "name": "{% $states.context.Execution.Name %}"},
                  "End": True}}})
    standard = sfn.create_state_machine(name=unique("jsonata"), definition=machine,
                                        roleArn=ROLE)["stateMachineArn"]
    express = sfn.create_state_machine(name=unique("jsonata-sync"), definition=machine,
                                       roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=standard, name="std",
                              input=json.dumps({"values": [1, 2, 3]}))["executionArn"]
    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"total": 6, "count": 3, "name": "std"}
    done = sfn.start_sync_execution(stateMachineArn=express, name="sync",
                                    input=json.dumps({"values": [4, 5]}))
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"total": 9, "count": 2, "name": "sync"}

    # An expression that yields nothing fails the state as AWS fails it.
    failing = json.dumps({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"x": "{% $states.input.missing %}"}, "End": True}}})
    machine = sfn.create_state_machine(name=unique("jsonata-fail"), definition=failing,
                                       roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    done = wait_for_end(sfn, arn)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.QueryEvaluationError"
    assert done["cause"] == (
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "The JSONata expression '$states.input.missing' specified for the field 'Output/x' "
        "returned nothing (undefined).")
    events = sfn.get_execution_history(executionArn=arn)["events"]
    failed = [e for e in events if e["type"] == "EvaluationFailed"]
    assert len(failed) == 1
    details = failed[0]["evaluationFailedEventDetails"]
    assert (details["state"], details["location"], details["error"]) == \
        ("P", "Output/x", "States.QueryEvaluationError")


def test_invalid_definition_is_refused(sfn, unique):
    bad = json.dumps({"StartAt": "Missing", "States": {"P": {"Type": "Pass", "End": True}}})
    name = unique("invalid")
    with pytest.raises(sfn.exceptions.InvalidDefinition) as e:
        sfn.create_state_machine(name=name, definition=bad, roleArn=ROLE)
    assert "Missing" in e.value.response["Error"]["Message"]
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.create_state_machine(name=name, definition="{not json", roleArn=ROLE)
    # Nothing was created.
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(
            stateMachineArn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}")


def test_state_machine_errors(sfn, unique):
    missing = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{unique('nope')}"
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=missing)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.update_state_machine(stateMachineArn=missing, definition=PASS_MACHINE)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.start_execution(stateMachineArn=missing)
    for malformed in ("not-an-arn", f"arn:aws:states:{REGION}:{ACCOUNT}:execution:x:y"):
        with pytest.raises(sfn.exceptions.InvalidArn):
            sfn.describe_state_machine(stateMachineArn=malformed)
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.create_state_machine(name="bad name", definition=PASS_MACHINE, roleArn=ROLE)
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name="x" * 81, definition=PASS_MACHINE, roleArn=ROLE)
    assert error_code(e) == "ValidationException"
    assert "Member must have length less than or equal to 80" in e.value.response["Error"]["Message"]
