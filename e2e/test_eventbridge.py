"""EventBridge on Cairn's endpoint, with boto3's `events` client: the seed's rule and
input transformer start the order workflow once with the expected input, an event no
rule matches starts nothing, bad patterns are refused with AWS's error and change
nothing, and an undeliverable event reaches its dead-letter queue (moto's SQS)."""
import json
import time

import boto3
import pytest

from conftest import REGION, ROLE, SHARED, wait_for_end

SEED_TEMPLATE = '{\n"orderId": <orderId>,\n"items": <items>,\n"source": "eventbridge"\n}\n'


@pytest.fixture(scope="module")
def events(server):
    return boto3.session.Session().client(
        "events", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test")


def executions_of(sfn, machine, count, timeout=30):
    """The machine's executions once there are `count` (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = sfn.list_executions(stateMachineArn=machine)["executions"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def seed_machine(sfn, unique):
    # The seed's order workflow, its long waits and retries as the seed gives them: the
    # test only looks at how it starts.
    definition = (SHARED / "seed" / "workflows" / "order-processing.asl.json").read_text()
    return sfn.create_state_machine(name=unique("orders"), definition=definition,
                                    roleArn=ROLE)["stateMachineArn"]


def test_the_seed_rule_starts_one_execution_with_the_transformed_input(sfn, events, unique):
    machine = seed_machine(sfn, unique)
    rule = unique("order-created")
    events.put_rule(Name=rule, EventPattern=json.dumps(
        {"source": ["myapp.orders"], "detail-type": ["Order Created"]}))
    events.put_targets(Rule=rule, Targets=[{
        "Id": "step-functions", "Arn": machine, "RoleArn": ROLE,
        "InputTransformer": {"InputPathsMap": {"orderId": "$.detail.orderId",
                                               "items": "$.detail.items"},
                             "InputTemplate": SEED_TEMPLATE}}])
    items = [{"sku": "A-1", "quantity": 2}]
    answer = events.put_events(Entries=[
        {"Source": "myapp.orders", "DetailType": "Order Created",
         "Detail": json.dumps({"orderId": "o-42", "items": items})},
        {"Source": "myapp.orders", "DetailType": "Order Shipped", "Detail": "{}"},
    ])
    assert answer["FailedEntryCount"] == 0
    assert all("EventId" in e for e in answer["Entries"])
    found = executions_of(sfn, machine, 1)
    assert len(found) == 1
    described = sfn.describe_execution(executionArn=found[0]["executionArn"])
    assert json.loads(described["input"]) == {"orderId": "o-42", "items": items,
                                               "source": "eventbridge"}
    # Nothing else arrives: the second event matched no rule.
    time.sleep(1)
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    # A rule with targets is not deleted (AWS's refusal), and is once they are removed.
    with pytest.raises(events.exceptions.ClientError) as refused:
        events.delete_rule(Name=rule)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    events.remove_targets(Rule=rule, Ids=["step-functions"])
    events.delete_rule(Name=rule)
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_rule(Name=rule)


def test_a_target_without_input_gets_the_event_envelope(sfn, events, pass_machine, unique):
    rule = unique("envelope")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [rule]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": pass_machine, "RoleArn": ROLE}])
    event_id = events.put_events(Entries=[{"Source": rule, "DetailType": "d",
                                           "Detail": json.dumps({"who": "x"})}])["Entries"][0]["EventId"]
    found = executions_of(sfn, pass_machine, 1)
    envelope = json.loads(sfn.describe_execution(executionArn=found[0]["executionArn"])["input"])
    assert envelope["id"] == event_id
    assert envelope["source"] == rule and envelope["detail"] == {"who": "x"}
    assert set(envelope) == {"version", "id", "detail-type", "source", "account", "time",
                             "region", "resources", "detail"}


def test_bad_patterns_and_targets_are_refused_and_change_nothing(events, unique):
    rule = unique("bad")
    for pattern in ['{"source": "x"}', "not json", "{}", '{"a": [{"numeric": ["<", 1, ">", 5]}]}']:
        with pytest.raises(events.exceptions.InvalidEventPatternException):
            events.put_rule(Name=rule, EventPattern=pattern)
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_rule(Name=rule)
    events.put_rule(Name=rule, EventPattern='{"source": ["x"]}')
    with pytest.raises(events.exceptions.ClientError) as refused:
        events.put_targets(Rule=rule, Targets=[{
            "Id": "lambda", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "not supported" in refused.value.response["Error"]["Message"]
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == []
    with pytest.raises(events.exceptions.ClientError) as refused:
        events.put_rule(Name=rule, ScheduleExpression="rate(5 minute)")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert events.describe_rule(Name=rule)["EventPattern"] == '{"source": ["x"]}'


def test_an_undeliverable_event_reaches_its_dead_letter_queue(events, moto, unique):
    sqs = moto.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    rule = unique("missing-target")
    missing = f"arn:aws:states:{REGION}:123456789012:stateMachine:{unique('gone')}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [rule]}))
    events.put_targets(Rule=rule, Targets=[{
        "Id": "gone", "Arn": missing, "RoleArn": ROLE,
        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
        "DeadLetterConfig": {"Arn": queue_arn}}])
    event_id = events.put_events(Entries=[{"Source": rule, "DetailType": "d",
                                           "Detail": "{}"}])["Entries"][0]["EventId"]
    deadline = time.monotonic() + 30
    messages = []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"]).get("Messages", [])
    assert messages, "the event reached the dead-letter queue"
    body = json.loads(messages[0]["Body"])
    assert body["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "StateMachineDoesNotExist"
    assert attributes["TARGET_ARN"] == missing
    assert attributes["RULE_ARN"].endswith(f"rule/{rule}")


@pytest.fixture(scope="module")
def self_bus_server():
    """A `cairn server` whose EventBridge endpoint (AWS_ENDPOINT_URL_EVENTBRIDGE) is itself,
    so `events:putEvents` Tasks reach its own bus."""
    import os

    from conftest import LOG_DIR, _stop, drop_database, start_server
    database = f"cairn_e2e_selfbus_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{database}.log"
    log_path.write_text("")
    srv = start_server(database, log_path,
                       {"AWS_ENDPOINT_URL_EVENTBRIDGE": "http://127.0.0.1:{port}"})
    yield srv
    _stop(srv.process)
    drop_database(database)


def test_a_put_events_task_starts_a_workflow_through_cairns_own_bus(self_bus_server, unique):
    endpoint = self_bus_server.endpoint
    session = boto3.session.Session()
    sfn = session.client("stepfunctions", endpoint_url=endpoint, region_name=REGION,
                         aws_access_key_id="test", aws_secret_access_key="test")
    bus = session.client("events", endpoint_url=endpoint, region_name=REGION,
                         aws_access_key_id="test", aws_secret_access_key="test")
    child = sfn.create_state_machine(name=unique("child"), roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    parent = sfn.create_state_machine(name=unique("parent"), roleArn=ROLE, definition=json.dumps({
        "StartAt": "Announce", "States": {"Announce": {
            "Type": "Task", "Resource": "arn:aws:states:::events:putEvents",
            "Parameters": {"Entries": [{"Source": "cairn.parent", "DetailType": "Work Requested",
                                        "Detail": {"job.$": "$.job"}}]},
            "End": True}}}))["stateMachineArn"]
    rule = unique("work-requested")
    bus.put_rule(Name=rule, EventPattern=json.dumps(
        {"source": ["cairn.parent"], "detail-type": ["Work Requested"]}))
    bus.put_targets(Rule=rule, Targets=[{"Id": "child", "Arn": child, "RoleArn": ROLE,
                                         "InputPath": "$.detail"}])
    started = sfn.start_execution(stateMachineArn=parent, input=json.dumps({"job": 7}))
    ended = wait_for_end(sfn, started["executionArn"])
    assert ended["status"] == "SUCCEEDED", ended
    answer = json.loads(ended["output"])
    assert answer["FailedEntryCount"] == 0 and len(answer["Entries"]) == 1
    found = executions_of(sfn, child, 1)
    assert len(found) == 1
    child_run = wait_for_end(sfn, found[0]["executionArn"])
    assert json.loads(child_run["input"]) == {"job": 7}
    # The child's execution is named from the event Cairn's bus gave the parent's entry.
    assert found[0]["name"].startswith(answer["Entries"][0]["EventId"])
