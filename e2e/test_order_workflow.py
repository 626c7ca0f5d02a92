"""The seed's order-processing workflow (shared/seed/workflows/order-processing.asl.json)
run by a real `cairn server` whose Task states call a fake Lambda Invoke API
(fake_lambda.py) over HTTP. Each scenario is one execution whose order decides what the
fake functions do; all five start together so the retry back-offs overlap."""
import json
import uuid
from collections import Counter

import pytest

from conftest import ROLE, SHARED, full_history, wait_for_end

WORKFLOW = SHARED / "seed" / "workflows" / "order-processing.asl.json"

# AWS records a Task whose Resource is a Lambda function ARN with LambdaFunction* events
# (LambdaFunctionScheduled / Started / Succeeded / Failed), and so does Cairn;
# test_lambda_function_arn_tasks_use_lambda_event_types also checks their details.
SCHEDULED, STARTED, SUCCEEDED, FAILED = (
    "LambdaFunctionScheduled",
    "LambdaFunctionStarted",
    "LambdaFunctionSucceeded",
    "LambdaFunctionFailed",
)

TASK_OK = ["TaskStateEntered", SCHEDULED, STARTED, SUCCEEDED, "TaskStateExited"]
TASK_CAUGHT = ["TaskStateEntered", SCHEDULED, STARTED, FAILED, "TaskStateExited"]
FULFIL = ["ParallelStateEntered", "ParallelStateStarted", *TASK_OK * 3,
          "ParallelStateSucceeded", "ParallelStateExited"]
SUCCEED = ["SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]
ORDER_FAILED = ["FailStateEntered", "ExecutionFailed"]


def order(order_id, items=None, card="ok"):
    return {
        "orderId": order_id,
        "customer": {"email": f"{order_id}@example.com"},
        "items": items or [{"sku": "BOOK-1", "qty": 2}, {"sku": "PEN-7", "qty": 1}],
        "payment": {"card": card},
    }


@pytest.fixture(scope="module")
def scenarios(sfn, lambda_fake):
    definition = json.loads(WORKFLOW.read_text())
    # The seed waits an hour for new stock before checking again; the test's copy waits
    # 2 seconds so the backorder path runs in the suite's time. Everything else, the
    # payment Retry's 5 s interval and 2.0 back-off included, is the seed's.
    assert definition["States"]["WaitForInventory"]["Seconds"] == 3600
    definition["States"]["WaitForInventory"]["Seconds"] = 2
    suffix = uuid.uuid4().int & 0xFFFFFF
    machine = sfn.create_state_machine(name=f"order-processing-{suffix:06x}",
                                       definition=json.dumps(definition),
                                       roleArn=ROLE)["stateMachineArn"]
    orders = {
        "success": order(f"ok-{suffix:06x}"),
        "invalid": order(f"bad-{suffix:06x}", items=[{"sku": "BOOK-1", "qty": 0}]),
        "backorder": order(f"bo-{suffix:06x}",
                           items=[{"sku": "LAMP-3", "qty": 1, "backorder": True}]),
        "flaky": order(f"flaky-{suffix:06x}", card="flaky"),
        "declined": order(f"declined-{suffix:06x}", card="declined"),
    }
    started = {}
    for scenario, o in orders.items():
        started[scenario] = (sfn.start_execution(stateMachineArn=machine, name=o["orderId"],
                                                 input=json.dumps(o))["executionArn"], o)
    return started


def run(sfn, scenarios, scenario):
    arn, o = scenarios[scenario]
    return arn, o, wait_for_end(sfn, arn, timeout=90), full_history(sfn, arn)


def assert_types(events, expected):
    """Event types in order, except inside the Parallel state, whose three branches
    interleave as they finish: there only the multiset is fixed."""
    types = [e["type"] for e in events]
    if "ParallelStateStarted" not in expected:
        assert types == expected
        return
    start, end = expected.index("ParallelStateStarted"), expected.index("ParallelStateSucceeded")
    assert "ParallelStateStarted" in types and "ParallelStateSucceeded" in types, types
    got_start, got_end = types.index("ParallelStateStarted"), types.index("ParallelStateSucceeded")
    assert types[:got_start + 1] == expected[:start + 1]
    assert types[got_end:] == expected[end:]
    assert Counter(types[got_start + 1:got_end]) == Counter(expected[start + 1:end])


def entered(events):
    return [e["stateEnteredEventDetails"]["name"] for e in events
            if e["type"].endswith("StateEntered")]


def test_success(sfn, scenarios, lambda_fake):
    arn, o, done, events = run(sfn, scenarios, "success")
    assert done["status"] == "SUCCEEDED", done
    # The Parallel state's output is its branches' outputs in branch order.
    assert json.loads(done["output"]) == [
        {"inventoryUpdated": ["BOOK-1", "PEN-7"]},
        {"confirmationSentTo": o["customer"]["email"]},
        {"trackingNumber": f"TRK-{o['orderId']}"},
    ]
    assert_types(events, ["ExecutionStarted", *TASK_OK * 3, *FULFIL, *SUCCEED])
    names = entered(events)
    assert names[:4] == ["ValidateOrder", "CheckInventory", "ProcessPayment", "FulfillOrder"]
    assert sorted(names[4:7]) == ["InitiateShipping", "SendConfirmation", "UpdateInventory"]
    assert names[7:] == ["OrderComplete"]
    # Each function ran once, with the previous state's output as its payload.
    payment = lambda_fake.calls("process-payment", o["orderId"])
    assert len(payment) == 1
    assert payment[0]["payload"] == {**o, "validated": True, "reserved": ["BOOK-1", "PEN-7"]}
    key = {k.lower(): v for k, v in payment[0]["headers"].items()}
    assert key["x-cairn-idempotency-key"].startswith(arn + "/ProcessPayment/")
    assert key["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")


def test_validation_error_is_caught(sfn, scenarios, lambda_fake):
    arn, o, done, events = run(sfn, scenarios, "invalid")
    assert done["status"] == "FAILED"
    assert done["error"] == "OrderProcessingFailed"
    assert done["cause"] == "Order could not be processed"
    assert_types(events, ["ExecutionStarted", *TASK_CAUGHT, *ORDER_FAILED])
    assert entered(events) == ["ValidateOrder", "OrderFailed"]
    failed = next(e for e in events if e["type"] == FAILED)
    details = failed[FAILED[0].lower() + FAILED[1:] + "EventDetails"]
    assert details["error"] == "ValidationError"
    assert json.loads(details["cause"])["errorType"] == "ValidationError"
    # The Catch's ResultPath put the error beside the order.
    fail_input = json.loads(events[-2]["stateEnteredEventDetails"]["input"])
    assert fail_input["orderId"] == o["orderId"]
    assert fail_input["error"]["Error"] == "ValidationError"
    assert lambda_fake.calls("check-inventory", o["orderId"]) == []


def test_out_of_stock_waits_and_checks_again(sfn, scenarios, lambda_fake):
    arn, o, done, events = run(sfn, scenarios, "backorder")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])[2] == {"trackingNumber": f"TRK-{o['orderId']}"}
    assert_types(events, ["ExecutionStarted", *TASK_OK, *TASK_CAUGHT, *TASK_OK,
                          "WaitStateEntered", "WaitStateExited", *TASK_OK, *TASK_OK,
                          *FULFIL, *SUCCEED])
    assert entered(events)[:6] == ["ValidateOrder", "CheckInventory", "NotifyBackorder",
                                   "WaitForInventory", "CheckInventory", "ProcessPayment"]
    # The Catch has no ResultPath: NotifyBackorder gets the error output itself.
    notify = lambda_fake.calls("notify-backorder", o["orderId"])
    assert len(notify) == 1
    caught = notify[0]["payload"]
    assert set(caught) == {"Error", "Cause"}
    assert caught["Error"] == "OutOfStockError"
    assert json.loads(caught["Cause"])["errorType"] == "OutOfStockError"
    assert len(lambda_fake.calls("check-inventory", o["orderId"])) == 2
    # The (shortened) Wait really waited.
    wait_in = next(e for e in events if e["type"] == "WaitStateEntered")["timestamp"]
    wait_out = next(e for e in events if e["type"] == "WaitStateExited")["timestamp"]
    assert (wait_out - wait_in).total_seconds() >= 1.9


def test_payment_gateway_timeout_is_retried(sfn, scenarios, lambda_fake):
    arn, o, done, events = run(sfn, scenarios, "flaky")
    assert done["status"] == "SUCCEEDED", done
    payment_task = ["TaskStateEntered", SCHEDULED, STARTED, FAILED, SCHEDULED, STARTED, FAILED,
                    SCHEDULED, STARTED, SUCCEEDED, "TaskStateExited"]
    assert_types(events, ["ExecutionStarted", *TASK_OK * 2, *payment_task, *FULFIL, *SUCCEED])
    calls = lambda_fake.calls("process-payment", o["orderId"])
    assert len(calls) == 3, "two timeouts, then the third attempt succeeds"
    keys = [{k.lower(): v for k, v in c["headers"].items()}["x-cairn-idempotency-key"]
            for c in calls]
    assert len(set(keys)) == 3, f"each attempt has its own idempotency key: {keys}"
    failures = [e for e in events if e["type"] == FAILED]
    assert [json.loads(f[FAILED[0].lower() + FAILED[1:] + "EventDetails"]["cause"])["errorType"]
            for f in failures] == ["PaymentGatewayTimeout"] * 2
    # Retry back-off: IntervalSeconds 5, BackoffRate 2.0 -> 5 s, then 10 s.
    # The attempt after each failure is the next TaskScheduled (history is in order).
    rescheduled = [next(e for e in events if e["type"] == SCHEDULED and e["id"] > f["id"])
                   for f in failures]
    assert all(e["previousEventId"] == f["id"] for f, e in zip(failures, rescheduled))
    gaps = [(s["timestamp"] - f["timestamp"]).total_seconds() for f, s in zip(failures, rescheduled)]
    assert 4.9 <= gaps[0] < 9, gaps
    assert 9.9 <= gaps[1] < 15, gaps


def test_payment_declined_is_caught(sfn, scenarios, lambda_fake):
    arn, o, done, events = run(sfn, scenarios, "declined")
    assert done["status"] == "FAILED"
    assert done["error"] == "OrderProcessingFailed"
    assert_types(events, ["ExecutionStarted", *TASK_OK * 2, *TASK_CAUGHT, *ORDER_FAILED])
    assert entered(events) == ["ValidateOrder", "CheckInventory", "ProcessPayment", "OrderFailed"]
    # PaymentDeclined is not retried (the Retry names only PaymentGatewayTimeout).
    assert len(lambda_fake.calls("process-payment", o["orderId"])) == 1
    fail_input = json.loads(events[-2]["stateEnteredEventDetails"]["input"])
    assert fail_input["error"]["Error"] == "PaymentDeclined"
    assert fail_input["reserved"] == ["BOOK-1", "PEN-7"]


def test_lambda_function_arn_tasks_use_lambda_event_types(sfn, scenarios):
    _, _, _, events = run(sfn, scenarios, "success")
    types = [e["type"] for e in events]
    assert types[1:6] == ["TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
                          "LambdaFunctionSucceeded", "TaskStateExited"]
    scheduled = events[2]["lambdaFunctionScheduledEventDetails"]
    assert scheduled["resource"] == "arn:aws:lambda:us-east-1:123456789012:function:validate-order"
