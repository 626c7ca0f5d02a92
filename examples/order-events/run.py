"""The seed's order workflow started by its EventBridge rule: the rule and input
transformer of the seed's Terraform (`aws_cloudwatch_event_rule.order_created`,
`aws_cloudwatch_event_target.step_functions`), made with boto3's `events` client on
Cairn's endpoint; then one "Order Created" event that the rule matches and one "Order
Shipped" event that it does not. Prints the one execution the first started: its input
(as the transformer rendered it), its status and its output.

    examples/run.sh order-events         # starts the functions and cairn, then runs this
    python run.py --sfn-endpoint URL     # against a Cairn whose Lambda functions are
                                         # examples/order-events/functions.py

Exits 0 when exactly one execution started, with the seed's input, and succeeded.
"""
import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
DEFINITION = HERE.parent / "order-processing" / "order-processing.asl.json"
ROLE = "arn:aws:iam::123456789012:role/cairn"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
# The seed's input_template, as Terraform's heredoc sends it.
TEMPLATE = '{\n"orderId": <orderId>,\n"items": <items>,\n"source": "eventbridge"\n}\n'


def client(service, endpoint):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test")


def run(endpoint):
    """Creates the machine and the rule, sends the two events, and returns
    (the order id sent, the executions the machine has, the first one described)."""
    sfn, events = client("stepfunctions", endpoint), client("events", endpoint)
    suffix = uuid.uuid4().hex[:6]
    machine = sfn.create_state_machine(name=f"order-processing-{suffix}", roleArn=ROLE,
                                       definition=DEFINITION.read_text())["stateMachineArn"]
    rule = f"order-created-{suffix}"
    events.put_rule(Name=rule, EventPattern=json.dumps(
        {"source": ["myapp.orders"], "detail-type": ["Order Created"]}))
    events.put_targets(Rule=rule, Targets=[{
        "Id": "step-functions", "Arn": machine, "RoleArn": ROLE,
        "InputTransformer": {"InputPathsMap": {"orderId": "$.detail.orderId",
                                               "items": "$.detail.items"},
                             "InputTemplate": TEMPLATE}}])
    order_id = f"evt-{suffix}"
    items = [{"sku": "BOOK-1", "qty": 2}, {"sku": "PEN-7", "qty": 1}]
    sent = events.put_events(Entries=[
        {"Source": "myapp.orders", "DetailType": "Order Created",
         "Detail": json.dumps({"orderId": order_id, "items": items})},
        {"Source": "myapp.orders", "DetailType": "Order Shipped",
         "Detail": json.dumps({"orderId": order_id})},
    ])
    assert sent["FailedEntryCount"] == 0, sent
    deadline = time.monotonic() + 60
    while not (found := sfn.list_executions(stateMachineArn=machine)["executions"]):
        if time.monotonic() > deadline:
            return order_id, [], None
        time.sleep(0.2)
    arn = found[0]["executionArn"]
    while (described := sfn.describe_execution(executionArn=arn))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return order_id, sfn.list_executions(stateMachineArn=machine)["executions"], described


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    args = parser.parse_args()
    order_id, executions, described = run(args.sfn_endpoint)
    print(f"events sent: Order Created ({order_id}), Order Shipped; executions started: "
          f"{len(executions)}")
    if described is None:
        print("NOT OK: no execution started")
        return 1
    print(f"execution  {described['name']}")
    print(f"input      {json.dumps(json.loads(described['input']))}")
    print(f"status     {described['status']}")
    print(f"output     {described.get('output')}")
    expected = {"orderId": order_id, "items": [{"sku": "BOOK-1", "qty": 2},
                                               {"sku": "PEN-7", "qty": 1}],
                "source": "eventbridge"}
    ok = (len(executions) == 1 and json.loads(described["input"]) == expected
          and described["status"] == "SUCCEEDED")
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
