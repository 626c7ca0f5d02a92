"""EventBridge Scheduler on Cairn's endpoint, with boto3's `scheduler` client (REST-JSON
paths beside the JSON protocols' `POST /`) and its `events` client: schedules and groups
created, read, listed, updated and deleted; bad expressions and definitions refused with
AWS's errors, changing nothing; an `at()` schedule with `ActionAfterCompletion: DELETE`
starting one execution with the Scheduler's context attributes and then gone; and, with
two `cairn server` replicas on one database, every schedule firing exactly once."""
import datetime
import json
import os
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import (LOG_DIR, REGION, ROLE, STORE, _stop, start_server, wait_for_end)


def client(service, endpoint):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture(scope="module")
def scheduler(server):
    return client("scheduler", server.endpoint)


@pytest.fixture(scope="module")
def events(server):
    return client("events", server.endpoint)


def machine(sfn, unique):
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    return sfn.create_state_machine(name=unique("scheduled"), definition=definition,
                                    roleArn=ROLE)["stateMachineArn"]


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def at_in(seconds):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def gone(scheduler, name, group="default", timeout=60):
    """Waits until the schedule no longer exists (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            scheduler.get_schedule(Name=name, GroupName=group)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            return
        assert time.monotonic() < deadline, f"schedule {name} still there after {timeout}s"
        time.sleep(0.2)


def all_executions(sfn, machine_arn):
    found, token = [], None
    while True:
        page = sfn.list_executions(stateMachineArn=machine_arn, maxResults=1000,
                                   **({"nextToken": token} if token else {}))
        found += page["executions"]
        token = page.get("nextToken")
        if not token:
            return found


def test_schedules_and_groups_are_created_read_listed_updated_and_deleted(sfn, scheduler, unique):
    target = {"Arn": machine(sfn, unique), "RoleArn": ROLE, "Input": '{"from": "scheduler"}',
              "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}}
    group = unique("nightly")
    group_arn = scheduler.create_schedule_group(
        Name=group, Tags=[{"Key": "team", "Value": "orders"}])["ScheduleGroupArn"]
    assert group_arn == f"arn:aws:scheduler:{REGION}:123456789012:schedule-group/{group}"
    assert error_of(scheduler.create_schedule_group, Name=group) == ("ConflictException", 409)
    assert scheduler.get_schedule_group(Name=group)["State"] == "ACTIVE"
    assert scheduler.list_tags_for_resource(ResourceArn=group_arn)["Tags"] == [
        {"Key": "team", "Value": "orders"}]
    scheduler.tag_resource(ResourceArn=group_arn, Tags=[{"Key": "tier", "Value": "1"}])
    scheduler.untag_resource(ResourceArn=group_arn, TagKeys=["team"])
    assert scheduler.list_tags_for_resource(ResourceArn=group_arn)["Tags"] == [
        {"Key": "tier", "Value": "1"}]
    names = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
    assert "default" in names and group in names

    name = unique("nightly-report")
    arn = scheduler.create_schedule(
        Name=name, GroupName=group, ScheduleExpression="cron(0 9 ? * MON-FRI *)",
        ScheduleExpressionTimezone="Europe/Paris", FlexibleTimeWindow={"Mode": "OFF"},
        Target=target, Description="weekday mornings")["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:123456789012:schedule/{group}/{name}"
    got = scheduler.get_schedule(Name=name, GroupName=group)
    assert (got["Arn"], got["Name"], got["GroupName"], got["State"]) == (arn, name, group, "ENABLED")
    assert got["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["Target"] == target
    assert got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert got["ActionAfterCompletion"] == "NONE"
    assert isinstance(got["CreationDate"], datetime.datetime)
    assert error_of(scheduler.create_schedule, Name=name, GroupName=group,
                    ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
                    Target=target) == ("ConflictException", 409)
    # A create retried with its ClientToken (boto3 sends one) answers as the first did.
    retried = {"Name": unique("retried"), "GroupName": group, "ClientToken": unique("token"),
               "ScheduleExpression": "rate(1 day)", "FlexibleTimeWindow": {"Mode": "OFF"},
               "Target": target, "State": "DISABLED"}
    first = scheduler.create_schedule(**retried)["ScheduleArn"]
    assert scheduler.create_schedule(**retried)["ScheduleArn"] == first
    assert error_of(scheduler.create_schedule, **{**retried, "ClientToken": unique("other")}) == (
        "ConflictException", 409)
    assert "ClientToken" not in scheduler.get_schedule(Name=retried["Name"], GroupName=group)
    scheduler.delete_schedule(Name=retried["Name"], GroupName=group)
    # Not in the default group.
    assert error_of(scheduler.get_schedule, Name=name) == ("ResourceNotFoundException", 404)

    scheduler.update_schedule(Name=name, GroupName=group, ScheduleExpression="rate(2 hours)",
                              FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                              Target=target, State="DISABLED")
    updated = scheduler.get_schedule(Name=name, GroupName=group)
    assert (updated["State"], updated["ScheduleExpression"]) == ("DISABLED", "rate(2 hours)")
    assert "Description" not in updated, "an update replaces the whole definition, as on AWS"
    assert updated["CreationDate"] == got["CreationDate"]
    listed = scheduler.list_schedules(GroupName=group, State="DISABLED")["Schedules"]
    assert [(s["Name"], s["Target"]["Arn"]) for s in listed] == [(name, target["Arn"])]
    assert scheduler.list_schedules(GroupName=group, State="ENABLED")["Schedules"] == []
    assert error_of(scheduler.update_schedule, Name=unique("missing"), GroupName=group,
                    ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
                    Target=target) == ("ResourceNotFoundException", 404)

    # Paging: three more in the group, two per page.
    for i in range(3):
        scheduler.create_schedule(Name=f"{name}-{i}", GroupName=group,
                                  ScheduleExpression="rate(1 day)",
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=target,
                                  State="DISABLED")
    paged, token = [], None
    while True:
        page = scheduler.list_schedules(GroupName=group, MaxResults=2,
                                        **({"NextToken": token} if token else {}))
        assert len(page["Schedules"]) <= 2
        paged += [s["Name"] for s in page["Schedules"]]
        token = page.get("NextToken")
        if not token:
            break
    assert paged == sorted([name] + [f"{name}-{i}" for i in range(3)])
    assert [s["Name"] for s in scheduler.list_schedules(
        GroupName=group, NamePrefix=f"{name}-")["Schedules"]] == [f"{name}-{i}" for i in range(3)]

    scheduler.delete_schedule(Name=name, GroupName=group)
    assert error_of(scheduler.delete_schedule, Name=name, GroupName=group) == (
        "ResourceNotFoundException", 404)
    assert error_of(scheduler.delete_schedule_group, Name="default") == ("ValidationException", 400)
    scheduler.delete_schedule_group(Name=group)
    assert error_of(scheduler.get_schedule_group, Name=group) == ("ResourceNotFoundException", 404)
    assert error_of(scheduler.get_schedule, Name=f"{name}-0", GroupName=group) == (
        "ResourceNotFoundException", 404)


BAD_EXPRESSIONS = [
    "rate(1 hours)",
    "rate(0 minutes)",
    "rate(5 weeks)",
    "cron(0 12 * * * *)",        # day-of-month and day-of-week both given
    "cron(0 12 * *)",            # five fields
    "cron(61 12 * * ? *)",
    "at(2030-02-30T10:00:00)",
    "at(2030-01-01 10:00)",
    "every day",
]


@pytest.mark.parametrize("expression", BAD_EXPRESSIONS)
def test_bad_expressions_get_a_validation_exception_and_change_nothing(
        sfn, scheduler, events, unique, expression):
    target = {"Arn": machine(sfn, unique), "RoleArn": ROLE}
    name = unique("bad")
    before = len(scheduler.list_schedules()["Schedules"])
    assert error_of(scheduler.create_schedule, Name=name, ScheduleExpression=expression,
                    FlexibleTimeWindow={"Mode": "OFF"}, Target=target) == (
        "ValidationException", 400)
    assert error_of(scheduler.get_schedule, Name=name) == ("ResourceNotFoundException", 404)
    assert len(scheduler.list_schedules()["Schedules"]) == before
    if not expression.startswith("at("):
        rule = unique("bad-rule")
        with pytest.raises(ClientError) as caught:
            events.put_rule(Name=rule, ScheduleExpression=expression)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        with pytest.raises(ClientError) as caught:
            events.describe_rule(Name=rule)
        assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_bad_definitions_get_aws_errors_and_change_nothing(sfn, scheduler, unique):
    target = {"Arn": machine(sfn, unique), "RoleArn": ROLE}
    name = unique("refused")
    window = {"Mode": "OFF"}
    for kwargs in [
        {"ScheduleExpressionTimezone": "Mars/Olympus_Mons"},
        {"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}},
        {"FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 1441}},
        {"Target": {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "RoleArn": ROLE}},
        {"Target": {**target, "RetryPolicy": {"MaximumRetryAttempts": 186}}},
        {"Target": {**target, "DeadLetterConfig": {"Arn": "arn:aws:sns:us-east-1:1:t"}}},
        {"EndDate": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)},
        {"KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"},
        {"GroupName": unique("no-such-group")},
    ]:
        request = {"Name": name, "ScheduleExpression": "rate(1 hour)",
                   "FlexibleTimeWindow": window, "Target": target, **kwargs}
        code = error_of(scheduler.create_schedule, **request)
        expected = (("ResourceNotFoundException", 404) if "GroupName" in kwargs
                    else ("ValidationException", 400))
        assert code == expected, kwargs
    assert error_of(scheduler.get_schedule, Name=name) == ("ResourceNotFoundException", 404)


def test_a_one_time_schedule_starts_one_execution_with_context_and_is_deleted(
        sfn, scheduler, unique):
    machine_arn = machine(sfn, unique)
    name = unique("one-shot")
    arn = scheduler.create_schedule(
        Name=name, ScheduleExpression=at_in(2), FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": machine_arn, "RoleArn": ROLE,
                "Input": json.dumps({"schedule": "<aws.scheduler.schedule-arn>",
                                     "attempt": "<aws.scheduler.attempt-number>"})},
    )["ScheduleArn"]
    gone(scheduler, name)
    executions = all_executions(sfn, machine_arn)
    assert len(executions) == 1
    ended = wait_for_end(sfn, executions[0]["executionArn"])
    assert ended["status"] == "SUCCEEDED"
    assert json.loads(ended["input"]) == {"schedule": arn, "attempt": "1"}


def test_a_schedule_through_the_universal_sfn_target_starts_its_machine(sfn, scheduler, unique):
    machine_arn = machine(sfn, unique)
    name = unique("universal")
    scheduler.create_schedule(
        Name=name, ScheduleExpression=at_in(1), FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": "arn:aws:scheduler:::aws-sdk:sfn:startExecution", "RoleArn": ROLE,
                "Input": json.dumps({"StateMachineArn": machine_arn,
                                     "Input": json.dumps({"n": 1})})})
    gone(scheduler, name)
    executions = all_executions(sfn, machine_arn)
    assert len(executions) == 1
    assert json.loads(wait_for_end(sfn, executions[0]["executionArn"])["input"]) == {"n": 1}


@pytest.fixture(scope="module")
def second_replica(server):
    """A second `cairn server` on the same database as `server`."""
    if STORE == "memory":
        pytest.skip("replicas share a Postgres database")
    log_path = LOG_DIR / f"server-replica-{os.getpid()}.log"
    log_path.write_text("")
    srv = start_server(f"cairn_e2e_{os.getpid()}", log_path, {})
    yield srv
    _stop(srv.process)


@pytest.mark.durable
def test_schedules_fire_exactly_once_with_two_replicas(sfn, server, second_replica, unique):
    first = client("scheduler", server.endpoint)
    second = client("scheduler", second_replica.endpoint)
    machine_arn = machine(sfn, unique)
    target = {"Arn": machine_arn, "RoleArn": ROLE}
    names = [unique(f"race-{i:02d}") for i in range(30)]
    # Half created through each replica; all due within the same few seconds.
    for i, name in enumerate(names):
        (first if i % 2 else second).create_schedule(
            Name=name, ScheduleExpression=at_in(3 + i % 3), FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE", Target=target)
    # A fire deletes its schedule in the transaction that starts its execution: once every
    # schedule is gone, every fire there will ever be has committed.
    for name in names:
        gone(first, name, timeout=90)
    executions = all_executions(sfn, machine_arn)
    assert len(executions) == len(names), sorted(e["name"] for e in executions)
    started_by = {e["name"].rsplit("-", 2)[0] for e in executions}
    assert started_by == set(names)


def test_terraform_schedule_group_and_schedule_lifecycle(sfn, scheduler, unique):
    """The calls the Terraform AWS provider's aws_scheduler_schedule_group and
    aws_scheduler_schedule make (internal/service/scheduler/schedule_group.go and
    schedule.go), with the members it sends, and what its reads take from the answers."""
    machine_arn = machine(sfn, unique)
    group = unique("tf-group")
    # aws_scheduler_schedule_group: create (tags from the configuration), wait for
    # ACTIVE, read; an update of tags only goes through the tag calls.
    created = scheduler.create_schedule_group(Name=group, Tags=[{"Key": "env", "Value": "dev"}])
    assert created["ScheduleGroupArn"].endswith(f":schedule-group/{group}")
    read = scheduler.get_schedule_group(Name=group)
    assert (read["State"], read["Name"], read["Arn"]) == ("ACTIVE", group, created["ScheduleGroupArn"])
    assert isinstance(read["CreationDate"], datetime.datetime)
    assert isinstance(read["LastModificationDate"], datetime.datetime)
    assert scheduler.list_tags_for_resource(ResourceArn=read["Arn"])["Tags"] == [
        {"Key": "env", "Value": "dev"}]

    # aws_scheduler_schedule: the provider sends the retry_policy block's defaults,
    # schedule_expression_timezone's default, and dates as RFC 3339 parsed to times.
    name = unique("tf-schedule")
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).replace(microsecond=0)
    end = start + datetime.timedelta(days=30)
    target = {"Arn": machine_arn, "RoleArn": ROLE, "Input": json.dumps({"from": "terraform"}),
              "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}}
    arn = scheduler.create_schedule(
        Name=name, GroupName=group, ScheduleExpression="cron(0 8 * * ? *)",
        ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"}, Target=target,
        State="ENABLED", StartDate=start, EndDate=end, ActionAfterCompletion="NONE",
    )["ScheduleArn"]
    # The provider derives its id, "group/name", from the ARN's resource.
    assert arn.split(":", 5)[5].split("/") == ["schedule", group, name]
    got = scheduler.get_schedule(GroupName=group, Name=name)
    assert (got["ActionAfterCompletion"], got["Arn"], got["GroupName"], got["Name"], got["State"]) == (
        "NONE", arn, group, name, "ENABLED")
    assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"]) == ("cron(0 8 * * ? *)", "UTC")
    assert (got["StartDate"], got["EndDate"]) == (start, end)
    assert got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert got["Target"] == target
    assert "Description" not in got and "KmsKeyArn" not in got

    # Update: the whole definition again, with what changed.
    scheduler.update_schedule(
        Name=name, GroupName=group, ScheduleExpression="cron(0 9 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
        Target=target, State="ENABLED", StartDate=start, EndDate=end,
        ActionAfterCompletion="NONE", Description="managed by terraform")
    got = scheduler.get_schedule(GroupName=group, Name=name)
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    assert (got["Description"], got["ScheduleExpressionTimezone"]) == (
        "managed by terraform", "Europe/Paris")

    # Destroy: the schedule (a ResourceNotFoundException counts as gone), then the group,
    # waited on until GetScheduleGroup answers ResourceNotFoundException.
    scheduler.delete_schedule(GroupName=group, Name=name)
    assert error_of(scheduler.delete_schedule, GroupName=group, Name=name) == (
        "ResourceNotFoundException", 404)
    scheduler.delete_schedule_group(Name=group)
    assert error_of(scheduler.get_schedule_group, Name=group) == ("ResourceNotFoundException", 404)


@pytest.mark.durable
def test_a_fire_missed_while_every_replica_was_down_happens_once_at_restart(unique):
    """The only replica is killed before a schedule's time and started again after it:
    the missed occurrence (younger than the target's MaximumEventAgeInSeconds) fires once,
    at restart, and the schedule (ActionAfterCompletion DELETE) is gone with it."""
    from conftest import drop_database
    database = f"cairn_e2e_missed_{os.getpid()}"
    drop_database(database)
    log_path = LOG_DIR / f"{database}.log"
    log_path.write_text("")
    srv = start_server(database, log_path, {})
    try:
        sfn = client("stepfunctions", srv.endpoint)
        machine_arn = machine(sfn, unique)
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=6)
        name = unique("missed")
        client("scheduler", srv.endpoint).create_schedule(
            Name=name, ScheduleExpression=f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
            FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
            Target={"Arn": machine_arn, "RoleArn": ROLE})
        srv.process.kill()
        srv.process.wait()
        assert datetime.datetime.now(datetime.timezone.utc) < when, "killed too late to miss it"
        while datetime.datetime.now(datetime.timezone.utc) < when + datetime.timedelta(seconds=2):
            time.sleep(0.2)
        srv = start_server(database, log_path, {})
        sfn = client("stepfunctions", srv.endpoint)
        gone(client("scheduler", srv.endpoint), name)
        executions = all_executions(sfn, machine_arn)
        assert len(executions) == 1, executions
        # Named for the occurrence it was for, not for when it ran.
        assert executions[0]["name"].endswith(when.strftime("%Y%m%dT%H%M%SZ"))
        assert executions[0]["startDate"] > when
    finally:
        _stop(srv.process)
        drop_database(database)
