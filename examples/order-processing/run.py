"""The seed's order-processing workflow, one execution per path: an order that goes
through, one that fails validation, one out of stock (notified, waits, checks again),
one whose payment gateway times out twice (retried), and one whose card is declined.
Prints each execution's status and the path it took.

    examples/run.sh order-processing      # starts the functions and cairn, then runs this
    python run.py --sfn-endpoint URL      # against a Cairn whose Lambda functions are
                                          # examples/order-processing/functions.py

Exits 0 when every execution ended as the README says.
"""
import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
DEFINITION = HERE / "order-processing.asl.json"
ROLE = "arn:aws:iam::123456789012:role/cairn"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

# What each path should end as: its status, and the states it entered at the top level,
# each with how many times it called its Lambda function (retries included).
EXPECTED = {
    "success": ("SUCCEEDED", [("ValidateOrder", 1), ("CheckInventory", 1),
                              ("ProcessPayment", 1), ("FulfillOrder", 0),
                              ("OrderComplete", 0)]),
    "invalid": ("FAILED", [("ValidateOrder", 1), ("OrderFailed", 0)]),
    "backorder": ("SUCCEEDED", [("ValidateOrder", 1), ("CheckInventory", 1),
                                ("NotifyBackorder", 1), ("WaitForInventory", 0),
                                ("CheckInventory", 1), ("ProcessPayment", 1),
                                ("FulfillOrder", 0), ("OrderComplete", 0)]),
    "flaky": ("SUCCEEDED", [("ValidateOrder", 1), ("CheckInventory", 1),
                            ("ProcessPayment", 3), ("FulfillOrder", 0),
                            ("OrderComplete", 0)]),
    "declined": ("FAILED", [("ValidateOrder", 1), ("CheckInventory", 1),
                            ("ProcessPayment", 1), ("OrderFailed", 0)]),
}


def client(endpoint):
    return boto3.session.Session().client(
        "stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def orders(suffix):
    """One order per path; functions.py decides what happens from the order itself."""
    def order(order_id, items=None, card="ok"):
        return {"orderId": f"{order_id}-{suffix}",
                "customer": {"email": f"{order_id}@example.com"},
                "items": items or [{"sku": "BOOK-1", "qty": 2}, {"sku": "PEN-7", "qty": 1}],
                "payment": {"card": card}}
    return {
        "success": order("ok"),
        "invalid": order("bad", items=[{"sku": "BOOK-1", "qty": 0}]),
        "backorder": order("bo", items=[{"sku": "LAMP-3", "qty": 1, "backorder": True}]),
        "flaky": order("flaky", card="flaky"),
        "declined": order("declined", card="declined"),
    }


def state_machine(sfn, name="order-processing"):
    definition = DEFINITION.read_text()
    try:
        return sfn.create_state_machine(name=name, definition=definition,
                                        roleArn=ROLE)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        return arn


def history(sfn, arn):
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def path(events, states):
    """The top-level states entered, in order, each as (name, Lambda calls made there):
    a Task's retries count, a Parallel's branches do not. Also the error a Catch put in
    `$.error`, as the Fail state received it (None if none)."""
    entered, caught = [], None
    for event in events:
        if event["type"].endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            if details["name"] in states:
                entered.append([details["name"], 0])
                if states[details["name"]]["Type"] == "Fail":
                    caught = json.loads(details["input"]).get("error")
        elif event["type"] == "LambdaFunctionScheduled" and entered \
                and states[entered[-1][0]]["Type"] == "Task":
            entered[-1][1] += 1
    return [tuple(step) for step in entered], caught


def wait(sfn, arns, timeout=120):
    deadline = time.monotonic() + timeout
    described = {}
    for name, arn in arns.items():
        while (d := sfn.describe_execution(executionArn=arn))["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        described[name] = d
    return described


def run(sfn_endpoint):
    """Starts the five executions together and waits for them; returns, per path,
    {arn, status, output, error, cause, path: [(state, Lambda calls)], caught}."""
    sfn = client(sfn_endpoint)
    machine = state_machine(sfn)
    states = json.loads(DEFINITION.read_text())["States"]
    suffix = uuid.uuid4().hex[:6]
    arns = {name: sfn.start_execution(stateMachineArn=machine, name=order["orderId"],
                                      input=json.dumps(order))["executionArn"]
            for name, order in orders(suffix).items()}
    results = {}
    for name, described in wait(sfn, arns).items():
        steps, caught = path(history(sfn, arns[name]), states)
        results[name] = {
            "arn": arns[name], "status": described["status"],
            "output": json.loads(described["output"]) if "output" in described else None,
            "error": described.get("error"), "cause": described.get("cause"),
            "path": steps, "caught": caught,
        }
    return results


def show(name, result):
    steps = [f"{state} ({calls} calls)" if calls > 1 else state
             for state, calls in result["path"]]
    print(f"{name:10} {result['status']:10} {' -> '.join(steps)}")
    if result["status"] == "SUCCEEDED":
        print(f"{'':21} output {json.dumps(result['output'])}")
    else:
        print(f"{'':21} caught {result['caught']['Error']}, then "
              f"{result['error']}: {result['cause']}")


def as_expected(result, expected):
    status, steps = expected
    return (result["status"], result["path"]) == (status, steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    args = parser.parse_args()
    results = run(args.sfn_endpoint)
    for name, result in results.items():
        show(name, result)
    ok = all(as_expected(results[name], expected) for name, expected in EXPECTED.items())
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
