"""The seed's SDK-integration workflow against DynamoDB and SNS (moto's server, or AWS):
creates the `orders` table holding one order and the `notifications` topic with a queue
subscribed, runs the workflow for that order, and shows what it did.

    examples/run.sh sdk-integrations          # starts moto and cairn, then runs this
    python run.py --sfn-endpoint URL --aws-endpoint URL

Exits 0 when the execution succeeded, the order is marked `notified` and the
notification reached the subscribed queue.
"""
import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import boto3

DEFINITION = Path(__file__).resolve().parent / "sdk-integrations.asl.json"
ROLE = "arn:aws:iam::123456789012:role/cairn"
REGION = "us-east-1"


def client(service, endpoint):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test")


def prepare(aws_endpoint, order_id, status):
    """The `orders` table (key `pk`) with the order, the `notifications` topic, and a new
    queue subscribed to the topic; returns the queue's URL."""
    ddb, sns, sqs = (client(s, aws_endpoint) for s in ("dynamodb", "sns", "sqs"))
    try:
        ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    except ddb.exceptions.ResourceInUseException:
        pass
    ddb.put_item(TableName="orders", Item={"pk": {"S": order_id}, "status": {"S": status}})
    topic = sns.create_topic(Name="notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"notifications-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return queue


def state_machine(sfn):
    name = "sdk-integrations"
    definition = DEFINITION.read_text()
    try:
        return sfn.create_state_machine(name=name, definition=definition,
                                        roleArn=ROLE)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        arn = f"arn:aws:states:{REGION}:123456789012:stateMachine:{name}"
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        return arn


def run(sfn_endpoint, aws_endpoint, order_id=None, status="shipped", timeout=60):
    """Runs the workflow once; returns what happened, for main() to show and tests to check."""
    order_id = order_id or f"order-{uuid.uuid4().hex[:8]}"
    queue = prepare(aws_endpoint, order_id, status)
    sfn = client("stepfunctions", sfn_endpoint)
    arn = sfn.start_execution(stateMachineArn=state_machine(sfn),
                              input=json.dumps({"orderId": order_id}))["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    item = client("dynamodb", aws_endpoint).get_item(
        TableName="orders", Key={"pk": {"S": order_id}}).get("Item", {})
    notifications = []
    sqs = client("sqs", aws_endpoint)
    for _ in range(5):
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1,
                                       MaxNumberOfMessages=10).get("Messages", [])
        notifications += [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
        if notifications:
            break
    return {
        "executionArn": arn,
        "status": described["status"],
        "output": json.loads(described.get("output", "null")),
        "error": described.get("error"),
        "item": item,
        "notifications": notifications,
        "orderId": order_id,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    parser.add_argument("--aws-endpoint", default="http://127.0.0.1:5000")
    args = parser.parse_args()
    result = run(args.sfn_endpoint, args.aws_endpoint)
    print(f"execution     {result['executionArn']}")
    print(f"status        {result['status']}" + (f" ({result['error']})" if result["error"] else ""))
    print(f"order item    {json.dumps(result['item'])}")
    print(f"notification  {json.dumps(result['notifications'])}")
    ok = (result["status"] == "SUCCEEDED"
          and result["item"].get("notified") == {"BOOL": True}
          and {"orderId": result["orderId"], "status": "shipped"} in result["notifications"])
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
