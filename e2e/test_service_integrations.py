"""AWS's optimized service integrations (SQS, SNS, DynamoDB, EventBridge) run by the
session's `cairn server` against moto's server mode, which the server reaches through
AWS_ENDPOINT_URL_SQS/SNS/DYNAMODB/EVENTBRIDGE (see conftest.py). Every test checks through
boto3 on moto that the message, item or event really arrived, and the result or error
as Step Functions shapes it."""
import hashlib
import importlib.util
import json
import time
import uuid

import pytest

from conftest import ACCOUNT, REGION, REPO, ROLE, SHARED, full_history, wait_for_end

SDK_WORKFLOW = SHARED / "seed" / "workflows" / "sdk-integrations.asl.json"


def machine(sfn, name, states, start):
    definition = {"StartAt": start, "States": states}
    return sfn.create_state_machine(name=f"{name}-{uuid.uuid4().hex[:8]}",
                                    definition=json.dumps(definition),
                                    roleArn=ROLE)["stateMachineArn"]


def one_task(sfn, name, resource, parameters, **extra):
    return machine(sfn, name, {"T": {"Type": "Task", "Resource": resource,
                                     "Parameters": parameters, "End": True, **extra}}, "T")


def run(sfn, machine_arn, payload=None):
    arn = sfn.start_execution(stateMachineArn=machine_arn,
                              input=json.dumps(payload or {}))["executionArn"]
    return arn, wait_for_end(sfn, arn)


def failure(sfn, arn):
    for event in full_history(sfn, arn):
        if event["type"] == "TaskFailed":
            details = event["taskFailedEventDetails"]
            return details["error"], details.get("cause", "")
    raise AssertionError(f"{arn} has no TaskFailed event")


def receive(sqs, queue_url, count=1, timeout=20):
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1, MessageAttributeNames=["All"])
        messages += answer.get("Messages", [])
    assert len(messages) >= count, f"{len(messages)} of {count} messages arrived at {queue_url}"
    return messages


def assert_sdk_metadata(result):
    assert result["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert result["SdkResponseMetadata"]["RequestId"]
    headers = result["SdkHttpMetadata"]["HttpHeaders"]
    assert {k.lower() for k in headers} >= {"content-type"}


def new_queue(sqs, prefix, **attributes):
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    sqs.create_queue(QueueName=name, Attributes=attributes)
    # The URL as a workflow written for AWS names it; moto finds the queue by its name.
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}", name


# --- SQS -------------------------------------------------------------------------------


def test_sqs_send_message_delivers_json_text_and_shapes_the_result(sfn, moto):
    sqs = moto.client("sqs")
    queue_url, name = new_queue(sqs, "send")
    arn_m = one_task(sfn, "sqs-send", "arn:aws:states:::sqs:sendMessage", {
        "QueueUrl": queue_url,
        "MessageBody": {"orderId.$": "$.orderId", "items": [1, 2]},
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "order"}},
        # Not a parameter of the optimized integration: AWS does not send it, nor does Cairn.
        "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String",
                                                       "StringValue": "x"}},
    })
    arn, done = run(sfn, arn_m, {"orderId": "o-1"})
    assert done["status"] == "SUCCEEDED", failure(sfn, arn)
    result = json.loads(done["output"])
    body = json.dumps({"orderId": "o-1", "items": [1, 2]}, separators=(",", ":"))
    assert result["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert result["MessageId"] and "SequenceNumber" not in result
    assert result["MD5OfMessageAttributes"]
    assert_sdk_metadata(result)

    [message] = receive(sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"])
    assert message["Body"] == body
    assert message["MessageId"] == result["MessageId"]
    assert message["MessageAttributes"]["kind"]["StringValue"] == "order"


def test_sqs_fifo_queue_gives_a_sequence_number(sfn, moto):
    sqs = moto.client("sqs")
    queue_url, name = new_queue(sqs, "fifo", FifoQueue="true")
    arn_m = one_task(sfn, "sqs-fifo", "arn:aws:states:::sqs:sendMessage", {
        "QueueUrl": queue_url, "MessageBody": "plain text stays as it is",
        "MessageGroupId": "g1", "MessageDeduplicationId.$": "$$.Execution.Name",
    })
    arn, done = run(sfn, arn_m)
    assert done["status"] == "SUCCEEDED", failure(sfn, arn)
    result = json.loads(done["output"])
    assert result["SequenceNumber"]
    [message] = receive(sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"])
    assert message["Body"] == "plain text stays as it is"


def test_sqs_missing_queue_is_queue_does_not_exist_and_retry_applies(sfn):
    missing = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/missing-{uuid.uuid4().hex[:8]}"
    arn_m = one_task(sfn, "sqs-missing", "arn:aws:states:::sqs:sendMessage",
                     {"QueueUrl": missing, "MessageBody": "x"},
                     Retry=[{"ErrorEquals": ["SQS.QueueDoesNotExistException"],
                             "IntervalSeconds": 1, "MaxAttempts": 1}])
    arn, done = run(sfn, arn_m)
    assert done["status"] == "FAILED"
    assert done["error"] == "SQS.QueueDoesNotExistException"
    error, cause = failure(sfn, arn)
    assert error == "SQS.QueueDoesNotExistException"
    assert "does not exist" in cause and "(Service: AmazonSQS; Status Code: 400;" in cause
    types = [e["type"] for e in full_history(sfn, arn)]
    assert types.count("TaskScheduled") == 2, types  # the first try and one retry


def test_sqs_wait_for_task_token_records_the_send_and_waits(sfn, moto):
    sqs = moto.client("sqs")
    queue_url, name = new_queue(sqs, "callback")
    arn_m = one_task(sfn, "sqs-callback", "arn:aws:states:::sqs:sendMessage.waitForTaskToken", {
        "QueueUrl": queue_url,
        "MessageBody": {"token.$": "$$.Task.Token", "request.$": "$.request"},
    })
    arn = sfn.start_execution(stateMachineArn=arn_m,
                              input=json.dumps({"request": "r-1"}))["executionArn"]
    [message] = receive(sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"])
    body = json.loads(message["Body"])
    assert body["request"] == "r-1"
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    # The message is sent before the worker records TaskSubmitted.
    submitted = []
    deadline = time.monotonic() + 20
    while not submitted and time.monotonic() < deadline:
        submitted = [e for e in full_history(sfn, arn) if e["type"] == "TaskSubmitted"]
        time.sleep(0.1)
    assert len(submitted) == 1
    assert json.loads(submitted[0]["taskSubmittedEventDetails"]["output"])["MessageId"] \
        == message["MessageId"]
    sfn.send_task_success(taskToken=body["token"], output=json.dumps({"approved": True}))
    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"approved": True}


# --- SNS -------------------------------------------------------------------------------


def subscribed_queue(moto, topic_arn):
    sqs, sns = moto.client("sqs"), moto.client("sns")
    name = f"sub-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "false"})
    return url


def test_sns_publish_delivers_json_text_and_gives_message_id(sfn, moto):
    topic_arn = moto.client("sns").create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = subscribed_queue(moto, topic_arn)
    arn_m = one_task(sfn, "sns-publish", "arn:aws:states:::sns:publish", {
        "TopicArn": topic_arn, "Subject": "Order shipped",
        "Message": {"orderId.$": "$.orderId"},
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "order"}},
    })
    arn, done = run(sfn, arn_m, {"orderId": "o-7"})
    assert done["status"] == "SUCCEEDED", failure(sfn, arn)
    result = json.loads(done["output"])
    assert result["MessageId"] and "SequenceNumber" not in result
    assert_sdk_metadata(result)
    [message] = receive(moto.client("sqs"), queue)
    envelope = json.loads(message["Body"])
    assert envelope["MessageId"] == result["MessageId"]
    assert envelope["Message"] == '{"orderId":"o-7"}'
    assert envelope["Subject"] == "Order shipped"
    assert envelope["MessageAttributes"]["kind"]["Value"] == "order"


def test_sns_missing_topic_is_not_found(sfn):
    arn_m = one_task(sfn, "sns-missing", "arn:aws:states:::sns:publish", {
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:missing-{uuid.uuid4().hex[:8]}",
        "Message": "x"})
    arn, done = run(sfn, arn_m)
    assert done["status"] == "FAILED"
    error, cause = failure(sfn, arn)
    assert error == "SNS.NotFoundException"
    assert "(Service: AmazonSNS; Status Code: 404; Error Code: NotFound;" in cause


# --- DynamoDB --------------------------------------------------------------------------


def new_table(moto):
    name = f"items-{uuid.uuid4().hex[:8]}"
    ddb = moto.client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return ddb, name


def test_dynamodb_put_get_update_delete(sfn, moto):
    ddb, table = new_table(moto)
    key = {"pk": {"S.$": "$.id"}}
    states = {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table,
                               "Item": {"pk": {"S.$": "$.id"}, "n": {"N": "1"}}},
                "ResultPath": "$.put", "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": key},
                "ResultPath": "$.get", "Next": "Update"},
        "Update": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem",
                   "Parameters": {"TableName": table, "Key": key,
                                  "UpdateExpression": "SET n = n + :one",
                                  "ExpressionAttributeValues": {":one": {"N": "1"}},
                                  "ReturnValues": "ALL_NEW"},
                   "ResultPath": "$.update", "Next": "Check"},
        "Check": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                  "Parameters": {"TableName": table, "Key": key},
                  "ResultSelector": {"n.$": "$.Item.n.N"},
                  "ResultPath": "$.check", "Next": "Delete"},
        "Delete": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:deleteItem",
                   "Parameters": {"TableName": table, "Key": key, "ReturnValues": "ALL_OLD"},
                   "ResultPath": "$.delete", "End": True},
    }
    arn, done = run(sfn, machine(sfn, "ddb", states, "Put"), {"id": "k-1"})
    assert done["status"] == "SUCCEEDED", failure(sfn, arn)
    out = json.loads(done["output"])
    assert set(out["put"]) == {"SdkHttpMetadata", "SdkResponseMetadata"}
    assert_sdk_metadata(out["put"])
    assert out["get"]["Item"] == {"pk": {"S": "k-1"}, "n": {"N": "1"}}
    assert out["update"]["Attributes"]["n"] == {"N": "2"}
    assert out["check"] == {"n": "2"}
    assert out["delete"]["Attributes"]["n"] == {"N": "2"}
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "k-1"}})


def test_dynamodb_failed_condition_and_missing_table(sfn, moto):
    ddb, table = new_table(moto)
    ddb.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    arn_m = one_task(sfn, "ddb-cond", "arn:aws:states:::dynamodb:putItem", {
        "TableName": table, "Item": {"pk": {"S": "taken"}, "x": {"S": "new"}},
        "ConditionExpression": "attribute_not_exists(pk)"})
    arn, done = run(sfn, arn_m)
    assert done["status"] == "FAILED"
    error, cause = failure(sfn, arn)
    assert error == "DynamoDB.ConditionalCheckFailedException"
    assert "(Service: AmazonDynamoDBv2; Status Code: 400; Error Code: " \
           "ConditionalCheckFailedException;" in cause
    # The failed put changed nothing.
    assert "x" not in ddb.get_item(TableName=table, Key={"pk": {"S": "taken"}})["Item"]

    caught = machine(sfn, "ddb-missing", {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
              "Parameters": {"TableName": f"missing-{uuid.uuid4().hex[:8]}",
                             "Key": {"pk": {"S": "a"}}},
              "Catch": [{"ErrorEquals": ["DynamoDB.ResourceNotFoundException"],
                         "ResultPath": "$.error", "Next": "Caught"}],
              "End": True},
        "Caught": {"Type": "Pass", "End": True}}, "T")
    arn, done = run(sfn, caught)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["error"]["Error"] == "DynamoDB.ResourceNotFoundException"


# --- EventBridge -----------------------------------------------------------------------


def test_eventbridge_put_events_delivers_and_adds_resources(sfn, moto):
    events, sqs = moto.client("events"), moto.client("sqs")
    source = f"cairn.test.{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    rule = f"r-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
    arn_m = one_task(sfn, "events", "arn:aws:states:::events:putEvents", {
        "Entries": [{"Source": source, "DetailType": "OrderShipped",
                     "Detail": {"orderId.$": "$.orderId"},
                     "Resources": ["arn:aws:sqs:us-east-1:123456789012:mine"]}]})
    arn, done = run(sfn, arn_m, {"orderId": "o-9"})
    assert done["status"] == "SUCCEEDED", failure(sfn, arn)
    result = json.loads(done["output"])
    assert result["FailedEntryCount"] == 0
    assert len(result["Entries"]) == 1 and result["Entries"][0]["EventId"]
    assert "SdkHttpMetadata" not in result
    [message] = receive(sqs, url)
    event = json.loads(message["Body"])
    assert event["source"] == source and event["detail-type"] == "OrderShipped"
    assert event["detail"] == {"orderId": "o-9"}
    assert event["resources"] == ["arn:aws:sqs:us-east-1:123456789012:mine", arn_m, arn]


def test_eventbridge_missing_bus_is_resource_not_found(sfn):
    arn_m = one_task(sfn, "events-missing", "arn:aws:states:::events:putEvents", {
        "Entries": [{"Source": "s", "DetailType": "d", "Detail": {},
                     "EventBusName": f"missing-{uuid.uuid4().hex[:8]}"}]})
    arn, done = run(sfn, arn_m)
    assert done["status"] == "FAILED"
    error, cause = failure(sfn, arn)
    assert error == "EventBridge.ResourceNotFoundException"
    assert "(Service: AmazonEventBridge; Status Code: 400;" in cause


# --- Unsupported -----------------------------------------------------------------------


@pytest.mark.parametrize("resource", [
    "arn:aws:states:::aws-sdk:sqs:receiveMessage",
    "arn:aws:states:::sqs:sendMessageBatch",
])
def test_other_actions_stay_unsupported(sfn, resource):
    try:
        arn_m = one_task(sfn, "unsupported", resource, {"QueueUrl": "q"})
    except sfn.exceptions.InvalidDefinition:
        return  # refused when the machine is created, as AWS refuses unknown actions
    arn, done = run(sfn, arn_m)
    assert done["status"] == "FAILED"
    error, cause = failure(sfn, arn)
    assert error == "States.TaskFailed" and cause.startswith("resource not supported"), cause


# --- The seed's workflow ---------------------------------------------------------------


def prepare_orders(moto, order_id, status):
    """The seed's `orders` table holding the order and its `notifications` topic with a
    new queue subscribed (the example's own set-up); returns that queue's URL."""
    spec = importlib.util.spec_from_file_location(
        "sdk_integrations_example", REPO / "examples" / "sdk-integrations" / "run.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example.prepare(moto.endpoint, order_id, status)


def test_seed_sdk_integrations_workflow_as_written(sfn, moto):
    """The seed's definition, unchanged. Its SendNotification state has no ResultPath, so
    the SNS result replaces the state's output and UpdateStatus's `$.orderId` finds
    nothing: AWS fails such an execution with States.Runtime at UpdateStatus, after the
    read and the notification, and so does Cairn. examples/sdk-integrations runs the
    seed with that one field added (test_examples.py)."""
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    queue = prepare_orders(moto, order_id, "shipped")
    arn_m = sfn.create_state_machine(name=f"sdk-integrations-{uuid.uuid4().hex[:8]}",
                                     definition=SDK_WORKFLOW.read_text(),
                                     roleArn=ROLE)["stateMachineArn"]
    arn, done = run(sfn, arn_m, {"orderId": order_id})
    assert done["status"] == "FAILED"
    assert done["error"] == "States.Runtime"
    assert "'UpdateStatus'" in done["cause"] and "$.orderId" in done["cause"], done["cause"]
    # GetItem and Publish ran against moto; the update never did.
    messages = receive(moto.client("sqs"), queue)
    notes = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
    assert {"orderId": order_id, "status": "shipped"} in notes
    item = moto.client("dynamodb").get_item(TableName="orders",
                                            Key={"pk": {"S": order_id}})["Item"]
    assert "notified" not in item
    entered = [e["stateEnteredEventDetails"]["name"] for e in full_history(sfn, arn)
               if e["type"] == "TaskStateEntered"]
    assert entered == ["QueryDynamoDB", "SendNotification", "UpdateStatus"]
