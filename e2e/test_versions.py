"""Versions, aliases and DeleteStateMachine through boto3, and the exact call sequence the
Terraform AWS provider's aws_sfn_state_machine and aws_sfn_alias resources make (create,
read, update, delete, with the plan-time ValidateStateMachineDefinition and the delete
poll), replayed call for call."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, wait_for_end, full_history


def result_machine(result):
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result,
                                                        "End": True}}})


WAITING = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600,
                                                       "End": True}}})


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def run(sfn, arn):
    started = sfn.start_execution(stateMachineArn=arn)
    return wait_for_end(sfn, started["executionArn"])


def test_versions_publish_list_describe_and_delete(sfn, unique):
    created = sfn.create_state_machine(name=unique("ver"), definition=result_machine("one"),
                                       roleArn=ROLE, publish=True, versionDescription="first")
    arn = created["stateMachineArn"]
    assert created["stateMachineVersionArn"] == f"{arn}:1"
    assert "revisionId" not in sfn.describe_state_machine(stateMachineArn=arn)

    updated = sfn.update_state_machine(stateMachineArn=arn, definition=result_machine("two"),
                                       publish=True, versionDescription="second")
    assert updated["stateMachineVersionArn"] == f"{arn}:2"
    revision = updated["revisionId"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["revisionId"] == revision

    # Publishing the same revision again answers its version.
    again = sfn.publish_state_machine_version(stateMachineArn=arn, revisionId=revision)
    assert again["stateMachineVersionArn"] == f"{arn}:2"
    with pytest.raises(sfn.exceptions.ConflictException):
        sfn.publish_state_machine_version(stateMachineArn=arn, revisionId="INITIAL")

    version_one = sfn.describe_state_machine(stateMachineArn=f"{arn}:1")
    assert version_one["stateMachineArn"] == f"{arn}:1"
    assert json.loads(version_one["definition"]) == json.loads(result_machine("one"))
    assert version_one["description"] == "first"
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [f"{arn}:2", f"{arn}:1"]
    first = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=1)
    second = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=1,
                                             nextToken=first["nextToken"])
    paged = [v["stateMachineVersionArn"]
             for v in first["stateMachineVersions"] + second["stateMachineVersions"]]
    assert paged == [f"{arn}:2", f"{arn}:1"]
    assert "nextToken" not in second

    # A version runs its own definition, whatever the machine has now.
    assert json.loads(run(sfn, f"{arn}:1")["output"]) == "one"

    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:2")
    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:2")  # no such: success
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=f"{arn}:2")
    sfn.update_state_machine(stateMachineArn=arn, definition=result_machine("three"))
    third = sfn.publish_state_machine_version(stateMachineArn=arn, description="third")
    assert third["stateMachineVersionArn"] == f"{arn}:3", "numbers are never reused"


def test_aliases_route_starts_and_guard_their_versions(sfn, unique):
    arn = sfn.create_state_machine(name=unique("alias"), definition=result_machine("one"),
                                   roleArn=ROLE, publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=result_machine("two"),
                             publish=True)
    alias = sfn.create_state_machine_alias(
        name="live", description="production",
        routingConfiguration=[{"stateMachineVersionArn": f"{arn}:1", "weight": 100}],
    )["stateMachineAliasArn"]
    assert alias == f"{arn}:live"

    ended = run(sfn, alias)
    assert json.loads(ended["output"]) == "one"
    assert ended["stateMachineAliasArn"] == alias
    assert ended["stateMachineVersionArn"] == f"{arn}:1"
    for_execution = sfn.describe_state_machine_for_execution(executionArn=ended["executionArn"])
    assert json.loads(for_execution["definition"]) == json.loads(result_machine("one"))
    through_alias = sfn.list_executions(stateMachineArn=alias)["executions"]
    assert [e["executionArn"] for e in through_alias] == [ended["executionArn"]]
    assert through_alias[0]["stateMachineAliasArn"] == alias

    with pytest.raises(sfn.exceptions.ConflictException) as e:
        sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:1")
    assert "live" in e.value.response["Error"]["Message"]
    with pytest.raises(sfn.exceptions.ValidationException):
        sfn.create_state_machine_alias(name="half", routingConfiguration=[
            {"stateMachineVersionArn": f"{arn}:1", "weight": 60},
            {"stateMachineVersionArn": f"{arn}:2", "weight": 30}])

    # A canary: both versions run, by weight.
    sfn.update_state_machine_alias(stateMachineAliasArn=alias, routingConfiguration=[
        {"stateMachineVersionArn": f"{arn}:1", "weight": 50},
        {"stateMachineVersionArn": f"{arn}:2", "weight": 50}])
    started = [sfn.start_execution(stateMachineArn=alias)["executionArn"] for _ in range(30)]
    versions = {sfn.describe_execution(executionArn=s)["stateMachineVersionArn"]
                for s in started}
    assert versions == {f"{arn}:1", f"{arn}:2"}

    described = sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    assert described["description"] == "production"
    assert [r["weight"] for r in described["routingConfiguration"]] == [50, 50]
    listed = sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"]
    assert [a["stateMachineAliasArn"] for a in listed] == [alias]

    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)  # no such: success
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:1")


def test_delete_stops_running_executions_then_the_machine_is_gone(sfn, unique):
    arn = sfn.create_state_machine(name=unique("doomed"), definition=WAITING,
                                   roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    sfn.delete_state_machine(stateMachineArn=arn)
    ended = wait_for_end(sfn, execution)
    assert ended["status"] == "ABORTED"
    assert full_history(sfn, execution)[-1]["type"] == "ExecutionAborted"
    deadline = time.monotonic() + 30
    while True:
        try:
            status = sfn.describe_state_machine(stateMachineArn=arn)["status"]
        except sfn.exceptions.StateMachineDoesNotExist:
            break
        assert status == "DELETING"
        assert time.monotonic() < deadline, "the machine was never deleted"
        time.sleep(0.1)
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn)
    assert code(e) == "StateMachineDoesNotExist"


def test_terraform_state_machine_and_alias_lifecycle(sfn, unique):
    """aws_sfn_state_machine then aws_sfn_alias, as the provider calls them."""
    name = unique("tf")
    logging = {"level": "OFF", "includeExecutionData": False}
    tracing = {"enabled": False}
    # plan: the definition is validated
    assert sfn.validate_state_machine_definition(
        definition=result_machine("v1"), type="STANDARD")["result"] == "OK"
    # apply: create (publish), then read: describe, tags, versions
    created = sfn.create_state_machine(
        name=name, definition=result_machine("v1"), roleArn=ROLE, type="STANDARD",
        publish=True, tags=[{"key": "managed-by", "value": "terraform"}],
        loggingConfiguration=logging, tracingConfiguration=tracing)
    arn = created["stateMachineArn"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["status"] == "ACTIVE"
    assert described["loggingConfiguration"] == logging
    assert described["tracingConfiguration"] == tracing
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "managed-by", "value": "terraform"}]
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    latest = versions[0]["stateMachineVersionArn"]
    assert latest == f"{arn}:1"

    # aws_sfn_alias: create with an empty description, then read
    alias = sfn.create_state_machine_alias(
        name="tf_alias", description="",
        routingConfiguration=[{"stateMachineVersionArn": latest, "weight": 100}],
    )["stateMachineAliasArn"]
    assert sfn.describe_state_machine_alias(stateMachineAliasArn=alias)["routingConfiguration"] \
        == [{"stateMachineVersionArn": latest, "weight": 100}]

    # a second apply with a new definition: validate, update (definition and role always,
    # an empty versionDescription with publish), the consistency poll, read again
    assert sfn.validate_state_machine_definition(
        definition=result_machine("v2"), type="STANDARD")["result"] == "OK"
    sfn.update_state_machine(stateMachineArn=arn, definition=result_machine("v2"),
                             roleArn=ROLE, publish=True, versionDescription="",
                             loggingConfiguration={
                                 "level": "ALL", "includeExecutionData": True,
                                 "destinations": [{"cloudWatchLogsLogGroup": {
                                     "logGroupArn": "arn:aws:logs:us-east-1:123456789012"
                                                    ":log-group:tf:*"}}]},
                             tracingConfiguration={"enabled": True})
    after = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(after["definition"]) == json.loads(result_machine("v2"))
    assert after["loggingConfiguration"]["level"] == "ALL"
    assert after["tracingConfiguration"] == {"enabled": True}
    latest = sfn.list_state_machine_versions(
        stateMachineArn=arn)["stateMachineVersions"][0]["stateMachineVersionArn"]
    assert latest == f"{arn}:2"
    # The same apply again changes nothing: update with publish answers version 2.
    repeat = sfn.update_state_machine(stateMachineArn=arn, definition=result_machine("v2"),
                                      roleArn=ROLE, publish=True, versionDescription="")
    assert repeat["stateMachineVersionArn"] == f"{arn}:2"
    sfn.update_state_machine_alias(
        stateMachineAliasArn=alias,
        routingConfiguration=[{"stateMachineVersionArn": latest, "weight": 100}])
    assert json.loads(run(sfn, alias)["output"]) == "v2"

    # destroy: the alias, then the machine, polling until it is gone
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=arn)
