"""CloudFormation, CDK and SAM against Cairn: the calls the AWS::StepFunctions resource
handlers make, replayed call for call through boto3.

CDK and SAM both deploy through CloudFormation: CDK synthesizes
AWS::StepFunctions::StateMachine (its DefinitionString resolved by CloudFormation before
the handler sees it), and SAM's AWS::Serverless::StateMachine becomes a StateMachine, a
StateMachineVersion and, with AutoPublishAlias and DeploymentPreference, a
StateMachineAlias that shifts traffic. So the handlers of those three resource types
(aws-cloudformation/aws-cloudformation-resource-providers-stepfunctions, read for this
test; docs/terraform.md says what each sends) are what Cairn must answer:

- StateMachine create: DescribeStateMachine of the ARN it will have (must be
  StateMachineDoesNotExist), then CreateStateMachine with the definition the handler
  built (a `Definition` object is written by Jackson with its keys sorted and its
  pretty printer's ` : `; `DefinitionSubstitutions` are replaced as `${key}` text),
  the template's, the stack's and the system `aws:cloudformation:*` tags, the type,
  loggingConfiguration and tracingConfiguration. Read: DescribeStateMachine and
  ListTagsForResource. Update: UpdateStateMachine (ARN, role, definition, logging,
  tracing), then UntagResource / TagResource for the tags that changed. Delete:
  DescribeStateMachine, DeleteStateMachine, then DescribeStateMachine until it is gone.
- StateMachineVersion create: ListStateMachineVersions (maxResults 1), and when there is
  one, DescribeStateMachine of the machine and of that version to see whether the
  current revision is published already; then PublishStateMachineVersion with the
  machine's revision id (`INITIAL` before any update) and the description. Read:
  DescribeStateMachine of the version. Delete: DescribeStateMachine of the version,
  DeleteStateMachineVersion.
- StateMachineAlias create: DescribeStateMachineAlias (must be ResourceNotFound), then
  CreateStateMachineAlias. Update with a DeploymentPreference (CANARY, LINEAR): the
  current routing from DescribeStateMachineAlias must route to one version; each shift is
  an UpdateStateMachineAlias after a DescribeStateMachineAlias that finds the routing the
  last shift left (drift fails the deployment). Delete: DescribeStateMachineAlias,
  DeleteStateMachineAlias.
"""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, ROLE, wait_for_end

STACK_TAGS = {
    "aws:cloudformation:stack-name": "orders",
    "aws:cloudformation:logical-id": "OrderStateMachine",
    "aws:cloudformation:stack-id": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/orders/"
                                   "5d1c2f30-0000-11ef-8000-0a1b2c3d4e5f",
}
LOGGING = {
    "level": "ERROR", "includeExecutionData": True,
    "destinations": [{"cloudWatchLogsLogGroup": {
        "logGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/states/orders:*"}}],
}


def jackson_pretty(value, indent=0):
    """What the handler's Jackson ObjectMapper writes for a `Definition` object: keys
    sorted (ORDER_MAP_ENTRIES_BY_KEYS), two-space indents, `"key" : value`."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{ }"
        items = [f'{inner}{json.dumps(k)} : {jackson_pretty(v, indent + 1)}'
                 for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        items = [f"{inner}{jackson_pretty(v, indent + 1)}" for v in value]
        return "[ " + ", ".join(i.strip() for i in items) + " ]"
    return json.dumps(value)


def substitute(definition, substitutions):
    """DefinitionSubstitutions as the handler applies them: `${key}` text replaced by the
    value's string form, repeatedly (StringUtils.replaceEachRepeatedly)."""
    for _ in range(10):
        before = definition
        for key, value in substitutions.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            definition = definition.replace("${" + key + "}", text)
        if definition == before:
            return definition
    return definition


def template_definition():
    """The `Definition` of a template (as CDK's DefinitionBody or SAM's Definition
    writes it), with `${...}` substitutions."""
    return {
        "Comment": "${Comment}",
        "StartAt": "Greet",
        "States": {
            "Greet": {"Type": "Pass", "Result": {"greeting": "${Greeting}", "attempts": 3,
                                                 "enabled": True}, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }


def expect_error(code, call, **kwargs):
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    assert error.value.response["Error"]["Code"] == code, error.value.response
    return error.value.response


def read_machine(sfn, arn):
    """The StateMachine handler's read: describe, then its tags."""
    described = sfn.describe_state_machine(stateMachineArn=arn)
    tags = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=arn)["tags"]}
    return described, tags


def publish_version(sfn, machine, description):
    """The StateMachineVersion handler's create."""
    latest = sfn.list_state_machine_versions(stateMachineArn=machine, maxResults=1)
    listed = latest["stateMachineVersions"]
    if listed:
        current = sfn.describe_state_machine(stateMachineArn=machine).get("revisionId", "INITIAL")
        published = sfn.describe_state_machine(
            stateMachineArn=listed[0]["stateMachineVersionArn"]).get("revisionId", "INITIAL")
        assert current != published, "the handler refuses to publish a revision twice"
    revision = sfn.describe_state_machine(stateMachineArn=machine).get("revisionId", "INITIAL")
    version = sfn.publish_state_machine_version(
        stateMachineArn=machine, revisionId=revision, description=description)
    arn = version["stateMachineVersionArn"]
    read = sfn.describe_state_machine(stateMachineArn=arn)
    assert read["description"] == description
    return arn


def routing(sfn, alias):
    return {r["stateMachineVersionArn"]: r["weight"]
            for r in sfn.describe_state_machine_alias(stateMachineAliasArn=alias)["routingConfiguration"]}


def shift(sfn, alias, expected, new):
    """One step of a gradual deployment: the handler checks the alias still routes as
    its last step left it, then updates the routing."""
    assert routing(sfn, alias) == expected, "drift fails the deployment"
    sfn.update_state_machine_alias(
        stateMachineAliasArn=alias,
        routingConfiguration=[{"stateMachineVersionArn": v, "weight": w} for v, w in new.items()])
    return new


def run(sfn, target):
    arn = sfn.start_execution(stateMachineArn=target)["executionArn"]
    return wait_for_end(sfn, arn)


def test_a_stack_creates_updates_shifts_traffic_and_deletes(sfn, unique):
    name = unique("cfn-orders")
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"

    # StateMachine create.
    expect_error("StateMachineDoesNotExist", sfn.describe_state_machine, stateMachineArn=arn)
    substitutions = {"Comment": "orders v1", "Greeting": "hello", "Unused": 42}
    definition = substitute(jackson_pretty(template_definition()), substitutions)
    assert '"Comment" : "orders v1"' in definition
    template_tags = {"team": "payments", "cost-center": "42"}
    created = sfn.create_state_machine(
        name=name, roleArn=ROLE, definition=definition, type="STANDARD",
        tags=[{"key": k, "value": v} for k, v in {**template_tags, **STACK_TAGS}.items()],
        loggingConfiguration=LOGGING, tracingConfiguration={"enabled": True})
    assert created["stateMachineArn"] == arn
    described, tags = read_machine(sfn, arn)
    assert described["definition"] == definition, "kept as sent, ` : ` and all"
    assert described["loggingConfiguration"] == LOGGING
    assert described["tracingConfiguration"] == {"enabled": True}
    assert "revisionId" not in described, "the handler records INITIAL itself"
    assert tags == {**template_tags, **STACK_TAGS}
    assert json.loads(run(sfn, arn)["output"]) == {"greeting": "hello", "attempts": 3,
                                                   "enabled": True}

    # StateMachineVersion and StateMachineAlias create (SAM's AutoPublishAlias).
    v1 = publish_version(sfn, arn, "first")
    assert v1 == f"{arn}:1"
    alias = f"{arn}:live"
    expect_error("ResourceNotFound", sfn.describe_state_machine_alias, stateMachineAliasArn=alias)
    created_alias = sfn.create_state_machine_alias(
        name="live", description="SAM's alias",
        routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}])
    assert created_alias["stateMachineAliasArn"] == alias

    # A second deploy: UpdateStateMachine, then the tags that changed.
    substitutions["Greeting"] = "bonjour"
    substitutions["Comment"] = "orders v2"
    definition = substitute(jackson_pretty(template_definition()), substitutions)
    updated = sfn.update_state_machine(
        stateMachineArn=arn, roleArn=ROLE, definition=definition,
        loggingConfiguration=LOGGING, tracingConfiguration={"enabled": False})
    assert updated["revisionId"]
    new_template_tags = {"team": "payments", "owner": "ops"}
    previous = {**template_tags, **STACK_TAGS}
    current = {**new_template_tags, **STACK_TAGS}
    removed = [k for k, v in previous.items() if current.get(k) != v]
    added = [{"key": k, "value": v} for k, v in current.items() if previous.get(k) != v]
    sfn.untag_resource(resourceArn=arn, tagKeys=removed)
    sfn.tag_resource(resourceArn=arn, tags=added)
    described, tags = read_machine(sfn, arn)
    assert described["revisionId"] == updated["revisionId"]
    assert described["tracingConfiguration"] == {"enabled": False}
    assert tags == current

    # The new revision is published, then the alias shifts to it as a CANARY 10% then
    # 100%, the deployment a SAM DeploymentPreference asks for.
    v2 = publish_version(sfn, arn, "second")
    assert v2 == f"{arn}:2"
    expect_error("ConflictException", sfn.publish_state_machine_version,
                 stateMachineArn=arn, revisionId="not-the-current-revision")
    before = routing(sfn, alias)
    assert before == {v1: 100}, "a gradual deployment starts from one version"
    step = shift(sfn, alias, before, {v2: 10, v1: 90})
    ran = {json.loads(run(sfn, alias)["output"])["greeting"] for _ in range(60)}
    assert "hello" in ran, "90 % of starts still run version 1"
    step = shift(sfn, alias, step, {v2: 100})
    assert json.loads(run(sfn, alias)["output"])["greeting"] == "bonjour"
    # A LINEAR 50 % deployment back to version 1, and the drift check it makes.
    step = shift(sfn, alias, step, {v1: 50, v2: 50})
    sfn.update_state_machine_alias(  # someone else moves the alias meanwhile
        stateMachineAliasArn=alias,
        routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}])
    with pytest.raises(AssertionError):
        shift(sfn, alias, step, {v1: 100})

    # Stack delete: alias, versions, machine, polling until it is gone.
    sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    for version in (v2, v1):
        sfn.describe_state_machine(stateMachineArn=version)
        sfn.delete_state_machine_version(stateMachineVersionArn=version)
    sfn.describe_state_machine(stateMachineArn=arn)
    sfn.delete_state_machine(stateMachineArn=arn)
    deadline = time.monotonic() + 30
    while True:
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "StateMachineDoesNotExist"
            break
        assert time.monotonic() < deadline, "the machine never went"
        time.sleep(0.2)


def test_what_the_handlers_turn_into_stack_errors(sfn, unique):
    """The handlers map InvalidArn, InvalidDefinition, InvalidLoggingConfiguration and
    InvalidName to an invalid request, and StateMachineAlreadyExists to AlreadyExists:
    Cairn must answer those codes."""
    name = unique("cfn-errors")
    good = jackson_pretty({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    expect_error("InvalidDefinition", sfn.create_state_machine, name=name, roleArn=ROLE,
                 definition=substitute(jackson_pretty({"StartAt": "${Missing}", "States": {}}), {}))
    expect_error("InvalidName", sfn.create_state_machine, name="has space", roleArn=ROLE,
                 definition=good)
    expect_error("InvalidLoggingConfiguration", sfn.create_state_machine, name=name,
                 roleArn=ROLE, definition=good,
                 loggingConfiguration={"level": "ALL", "includeExecutionData": False})
    arn = sfn.create_state_machine(name=name, roleArn=ROLE, definition=good)["stateMachineArn"]
    # The handler's existence check finds it, so a second stack fails to create it.
    assert sfn.describe_state_machine(stateMachineArn=arn)["name"] == name
    expect_error("InvalidArn", sfn.describe_state_machine_alias,
                 stateMachineAliasArn=f"{arn}:bad alias")
    sfn.delete_state_machine(stateMachineArn=arn)
