"""Activities (create idempotent by name, describe, list, delete) and tags on state
machines and activities, through boto3."""
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, PASS_MACHINE, REGION, ROLE


def test_activity_lifecycle(sfn, unique):
    name = unique("activity")
    created = sfn.create_activity(name=name)
    arn = created["activityArn"]
    assert arn == f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{name}"
    assert sfn.create_activity(name=name)["activityArn"] == arn  # idempotent by name

    described = sfn.describe_activity(activityArn=arn)
    assert described["name"] == name
    assert described["creationDate"] == created["creationDate"]

    listed = [a for p in sfn.get_paginator("list_activities").paginate(
        PaginationConfig={"PageSize": 1}) for a in p["activities"]]
    assert [a["activityArn"] for a in listed].count(arn) == 1

    sfn.delete_activity(activityArn=arn)
    with pytest.raises(sfn.exceptions.ActivityDoesNotExist):
        sfn.describe_activity(activityArn=arn)
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_activity(activityArn="arn:aws:states:us-east-1:123456789012:nothing")


def tags_of(sfn, arn):
    return sorted((t["key"], t["value"]) for t in sfn.list_tags_for_resource(resourceArn=arn)["tags"])


@pytest.mark.parametrize("kind", ["stateMachine", "activity"])
def test_tags(sfn, unique, kind):
    if kind == "stateMachine":
        arn = sfn.create_state_machine(name=unique("tagged"), definition=PASS_MACHINE, roleArn=ROLE,
                                       tags=[{"key": "team", "value": "core"}])["stateMachineArn"]
    else:
        arn = sfn.create_activity(name=unique("tagged"),
                                  tags=[{"key": "team", "value": "core"}])["activityArn"]
    assert tags_of(sfn, arn) == [("team", "core")]

    sfn.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "test"},
                                            {"key": "team", "value": "platform"}])
    assert tags_of(sfn, arn) == [("env", "test"), ("team", "platform")]

    sfn.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert tags_of(sfn, arn) == [("env", "test")]

    with pytest.raises(ClientError) as e:
        sfn.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    assert e.value.response["Error"]["Code"] == "TooManyTags"
    assert tags_of(sfn, arn) == [("env", "test")], "a refused request changes nothing"

    missing = arn + "-gone"
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.list_tags_for_resource(resourceArn=missing)
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.tag_resource(resourceArn=missing, tags=[{"key": "a", "value": "b"}])
