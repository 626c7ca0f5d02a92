"""The examples in examples/, run as their READMEs describe, against the live server
(and the session's moto server for the AWS services)."""
import importlib.util
import json
import os
import signal
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from fake_lambda import lambda_server  # examples/lambda_server.py

from conftest import (LOG_DIR, REPO, ROLE, _stop, drop_database, full_history, make_client,
                      moto_env, start_server, wait_for_end)

APPROVAL = REPO / "examples" / "human-approval" / "human-approval.asl.json"


def approval_machine(sfn, server, unique):
    definition = json.loads(APPROVAL.read_text())
    # The example's definition names the README's server; this one listens elsewhere.
    task = definition["States"]["WaitForApproval"]
    assert task["Parameters"]["ApiEndpoint"] == "http://127.0.0.1:8083/approval-links"
    task["Parameters"]["ApiEndpoint"] = f"{server.endpoint}/approval-links"
    return sfn.create_state_machine(name=unique("approval"), definition=json.dumps(definition),
                                    roleArn=ROLE)["stateMachineArn"]


def links(sfn, arn, timeout=30):
    """The approve and reject URLs, from the TaskSubmitted event as the README reads them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in full_history(sfn, arn):
            if event["type"] == "TaskSubmitted":
                body = json.loads(event["taskSubmittedEventDetails"]["output"])["ResponseBody"]
                return body["approveUrl"], body["rejectUrl"]
        time.sleep(0.2)
    raise AssertionError(f"{arn} never submitted its approval task")


def fetch(url, form=None):
    data = None if form is None else form.encode()
    request = urllib.request.Request(url, data=data, method="GET" if form is None else "POST")
    if form is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def press(server, url):
    """What the confirmation page's button does: POST the link's fields to /approval."""
    return fetch(f"{server.endpoint}/approval", urllib.parse.urlsplit(url).query)


def test_human_approval_example_approved_through_its_link(sfn, server, unique):
    machine = approval_machine(sfn, server, unique)
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"request": "new laptop", "approverEmail": "lead@example.com"}))["executionArn"]
    approve, reject = links(sfn, arn)
    assert approve.startswith(server.endpoint)
    # Opening the link only asks; the execution keeps waiting.
    status, page = fetch(approve)
    assert status == 200 and "Approve this request?" in page
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    status, page = press(server, approve)
    assert status == 200 and "Approved" in page
    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["approved"] is True
    # The token is spent: the other link is refused and changes nothing.
    status, _ = press(server, reject)
    assert status == 409
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def test_human_approval_example_rejected_through_its_link(sfn, server, unique):
    machine = approval_machine(sfn, server, unique)
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"request": "a yacht", "approverEmail": "lead@example.com"}))["executionArn"]
    _, reject = links(sfn, arn)
    status, page = press(server, reject)
    assert status == 200 and "Rejected" in page
    done = wait_for_end(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["rejection"]["Error"] == "Rejected"
    types = [e["type"] for e in full_history(sfn, arn)]
    assert "TaskFailed" in types
    entered = [e["stateEnteredEventDetails"]["name"] for e in full_history(sfn, arn)
               if e["type"].endswith("StateEntered")]
    assert "RequestDenied" in entered


def example(name, module="run"):
    """examples/NAME/MODULE.py as a module: the code `examples/run.sh NAME` runs."""
    path = REPO / "examples" / name / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name.replace('-', '_')}_{module}",
                                                  path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def test_sdk_integrations_example(server, moto):
    result = example("sdk-integrations").run(server.endpoint, moto.endpoint)
    assert result["status"] == "SUCCEEDED", result
    assert result["item"]["notified"] == {"BOOL": True}
    assert {"orderId": result["orderId"], "status": "shipped"} in result["notifications"]
    # UpdateStatus's result (DynamoDB's answer, SDK metadata included) is the output.
    assert result["output"]["SdkHttpMetadata"]["HttpStatusCode"] == 200


def test_sqs_approval_example(server, moto):
    results = example("sqs-approval").run(server.endpoint, moto.endpoint)
    status, output, last = results["approve"]
    assert (status, last) == ("SUCCEEDED", "ProcessApproved")
    assert output == {"approved": True, "approver": "approver.py"}
    status, output, last = results["reject"]
    assert (status, last) == ("SUCCEEDED", "RequestDenied")
    assert output["rejection"] == {"Error": "Rejected", "Cause": "Rejected by approver.py"}


def kill_hard(srv):
    srv.process.send_signal(signal.SIGKILL)
    srv.process.wait(timeout=30)


def approval_across_a_restart(moto, approve):
    """Issue 5's "done when": an approval pending in SQS survives a SIGKILL of the server
    that started it, and the token from the queue still resumes it on the next server."""
    database = f"cairn_e2e_restart_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    log_path = LOG_DIR / f"{database}.log"
    log_path.write_text("")
    env = moto_env(moto.endpoint)
    run = example("sqs-approval")
    approver = example("sqs-approval", "approver")
    srv = start_server(database, log_path, env)
    try:
        sfn = make_client(srv.endpoint)
        queue_url = run.queue(moto.endpoint)
        machine = run.state_machine(sfn)
        request = f"restart {'approve' if approve else 'reject'} {uuid.uuid4().hex[:6]}"
        arn = run.start(sfn, machine, request)
        sqs = moto.client("sqs")
        # Wait until the request is in the queue (and give it back at once).
        message, body = next(approver.requests(sqs, queue_url, request))
        sqs.change_message_visibility(QueueUrl=queue_url, VisibilityTimeout=0,
                                      ReceiptHandle=message["ReceiptHandle"])
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        # The message can be in the queue a moment before the worker has recorded the
        # send (TaskSubmitted); a kill in between would rightly send it again after the
        # lease expires. The approval is pending once TaskSubmitted is history.
        deadline = time.monotonic() + 30
        while "TaskSubmitted" not in [e["type"] for e in full_history(sfn, arn)]:
            assert time.monotonic() < deadline, "the send was never recorded"
            time.sleep(0.1)

        kill_hard(srv)
        srv = start_server(database, log_path, env)
        sfn = make_client(srv.endpoint)
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"

        answered = approver.answer(sfn, sqs, queue_url, approve, request=request)
        assert [b["taskToken"] for b in answered] == [body["taskToken"]]
        done = wait_for_end(sfn, arn)
        assert done["status"] == "SUCCEEDED", done
        entered = [e["stateEnteredEventDetails"]["name"] for e in full_history(sfn, arn)
                   if e["type"].endswith("StateEntered")]
        assert entered[-1] == ("ProcessApproved" if approve else "RequestDenied"), entered
        # One message, one submission: the restart sent nothing twice.
        types = [e["type"] for e in full_history(sfn, arn)]
        assert types.count("TaskSubmitted") == 1 and types.count("TaskScheduled") == 1
        assert not list(approver.requests(sqs, queue_url, request, timeout=2))
        return json.loads(done["output"])
    finally:
        _stop(srv.process)
        drop_database(database)


@pytest.mark.durable
def test_sqs_approval_survives_a_server_kill_then_approves(moto):
    output = approval_across_a_restart(moto, approve=True)
    assert output == {"approved": True, "approver": "approver.py"}


@pytest.mark.durable
def test_sqs_approval_survives_a_server_kill_then_rejects(moto):
    output = approval_across_a_restart(moto, approve=False)
    assert output["rejection"]["Error"] == "Rejected"


@pytest.fixture(scope="module")
def functions_server(moto):
    """What `examples/run.sh order-processing` and `... map-batch` start: the examples'
    functions (examples/lambda_server.py) and a `cairn server` that calls them. One
    server for both: order-processing's functions through the Lambda Invoke API
    (`AWS_ENDPOINT_URL_LAMBDA`, as run.sh does), map-batch's through function URLs
    (`CAIRN_FUNCTIONS`, the other way the READMEs describe)."""
    # examples/order-events' functions: order-processing's, with a send-confirmation that
    # also takes an order arriving by event (no customer).
    order = example("order-events", "functions").Functions()
    batch = example("map-batch", "functions").Functions()
    order_http, order_url = lambda_server.start(order)
    batch_http, batch_url = lambda_server.start(batch)
    database = f"cairn_e2e_examples_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    log_path = LOG_DIR / f"{database}.log"
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    srv = start_server(database, log_path, {
        "AWS_ENDPOINT_URL_LAMBDA": order_url,
        "CAIRN_FUNCTIONS": ",".join(f"{name}={batch_url}/{name}" for name in batch.names()),
        # map-batch's items from S3 (test_map_batch_reads_its_items_from_s3).
        "AWS_ENDPOINT_URL_S3": moto.endpoint,
    })
    srv.order_functions, srv.batch_functions = order, batch
    try:
        yield srv
    finally:
        _stop(srv.process)
        drop_database(database)
        order_http.shutdown()
        batch_http.shutdown()


def test_order_processing_jsonata_example(functions_server):
    """The same workflow written in JSONata (examples/order-processing-jsonata): the same
    paths and Lambda calls, its outputs shaped by Output expressions and variables."""
    results = example("order-processing-jsonata").run(functions_server.endpoint)
    expected = example("order-processing-jsonata").EXPECTED
    for name, (status, steps) in expected.items():
        assert (results[name]["status"], results[name]["path"]) == (status, steps), \
            (name, results[name])

    ok = results["success"]
    order_id = ok["arn"].rsplit(":", 1)[1]
    # OrderComplete's Output: variables assigned at ValidateOrder, merged with what
    # FulfillOrder's Output made of the Parallel's three results.
    assert ok["output"] == {"orderId": order_id, "items": 2, "paymentId": f"pay-{order_id}",
                            "inventory": {"inventoryUpdated": ["BOOK-1", "PEN-7"]},
                            "confirmationSentTo": "ok@example.com",
                            "trackingNumber": f"TRK-{order_id}"}
    bad = results["invalid"]
    bad_id = bad["arn"].rsplit(":", 1)[1]
    # The Catch's Output put the error beside the order; the Fail's Cause is an expression.
    assert bad["caught"]["Error"] == "ValidationError"
    assert (bad["error"], bad["cause"]) == (
        "OrderProcessingFailed", f"Order {bad_id} could not be processed: ValidationError")
    declined = results["declined"]
    assert declined["cause"].endswith("could not be processed: PaymentDeclined")
    assert results["backorder"]["output"]["inventory"] == {"inventoryUpdated": ["LAMP-3"]}
    flaky_id = results["flaky"]["arn"].rsplit(":", 1)[1]
    attempts = [i for i in functions_server.order_functions.invocations
                if i["function"] == "process-payment" and i["payload"]["orderId"] == flaky_id]
    assert len(attempts) == 3


def test_order_processing_example(functions_server):
    results = example("order-processing").run(functions_server.endpoint)
    fulfil = [("FulfillOrder", 0), ("OrderComplete", 0)]
    ok, bad, bo, flaky, declined = (results[name] for name in
                                    ("success", "invalid", "backorder", "flaky", "declined"))

    assert ok["status"] == "SUCCEEDED", ok
    assert ok["path"] == [("ValidateOrder", 1), ("CheckInventory", 1), ("ProcessPayment", 1),
                          *fulfil]
    order_id = ok["arn"].rsplit(":", 1)[1]
    # The Parallel's output: its three branches' results, in branch order.
    assert ok["output"] == [{"inventoryUpdated": ["BOOK-1", "PEN-7"]},
                            {"confirmationSentTo": "ok@example.com"},
                            {"trackingNumber": f"TRK-{order_id}"}]

    assert bad["status"] == "FAILED"
    assert bad["path"] == [("ValidateOrder", 1), ("OrderFailed", 0)]
    assert (bad["error"], bad["cause"]) == ("OrderProcessingFailed", "Order could not be processed")
    assert bad["caught"]["Error"] == "ValidationError"

    # Out of stock: notified, waited, checked again, then through.
    assert bo["status"] == "SUCCEEDED", bo
    assert bo["path"] == [("ValidateOrder", 1), ("CheckInventory", 1), ("NotifyBackorder", 1),
                          ("WaitForInventory", 0), ("CheckInventory", 1), ("ProcessPayment", 1),
                          *fulfil]
    assert bo["output"][0] == {"inventoryUpdated": ["LAMP-3"]}

    # Two gateway time-outs retried, the third attempt paid.
    assert flaky["status"] == "SUCCEEDED", flaky
    assert flaky["path"] == [("ValidateOrder", 1), ("CheckInventory", 1), ("ProcessPayment", 3),
                             *fulfil]
    flaky_id = flaky["arn"].rsplit(":", 1)[1]
    attempts = [i for i in functions_server.order_functions.invocations
                if i["function"] == "process-payment" and i["payload"]["orderId"] == flaky_id]
    assert len(attempts) == 3

    assert declined["status"] == "FAILED"
    assert declined["path"] == [("ValidateOrder", 1), ("CheckInventory", 1),
                                ("ProcessPayment", 1), ("OrderFailed", 0)]
    assert declined["caught"]["Error"] == "PaymentDeclined"
    assert declined["error"] == "OrderProcessingFailed"


def test_map_batch_example(functions_server):
    result = example("map-batch").run(functions_server.endpoint, size=25)
    assert result["status"] == "SUCCEEDED", result
    types = result["events"]
    assert types.index("MapStateStarted") < types.index("MapRunStarted") \
        < types.index("MapRunSucceeded") < types.index("MapStateSucceeded")
    # A Distributed Map keeps its iterations' events out of the parent's history.
    assert types.count("LambdaFunctionScheduled") == 2  # GetBatch, Aggregate
    batch = result["batch"]
    ids = [f"{batch}-{n:03}" for n in range(25)]
    # The results in item order, whatever order the items finished in.
    assert [r["id"] for r in result["results"]] == ids
    assert [r["square"] for r in result["results"]] == [n * n for n in range(25)]
    output = result["output"]
    assert (output["batchId"], output["count"], output["ids"]) == (batch, 25, ids)
    assert output["sumOfSquares"] == sum(n * n for n in range(25))
    assert result["max_concurrency"] == 10
    assert 1 < output["peakConcurrency"] <= 10, output
    processed = [i for i in functions_server.batch_functions.invocations
                 if i["function"] == "process-item" and i["payload"]["id"].startswith(batch)]
    assert sorted(i["payload"]["id"] for i in processed) == ids  # each item once


def test_map_batch_reads_its_items_from_s3(functions_server, moto, unique):
    """The seed's map-batch with ProcessBatch's items read from S3 (a JSON array, what
    get-batch answers, uploaded first) instead of taken from GetBatch's result; the rest
    of the seed's definition is unchanged."""
    definition = json.loads((REPO / "examples" / "map-batch" / "map-batch.asl.json").read_text())
    process = definition["States"]["ProcessBatch"]
    del process["ItemsPath"]
    process["ItemReader"] = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "seed-batches", "Key.$": "States.Format('{}.json', $.batchId)"},
    }
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="seed-batches")
    batch = f"s3batch-{uuid.uuid4().hex[:6]}"
    items = [{"id": f"{batch}-{n:03}", "n": n, "ms": 50} for n in range(30)]
    s3.put_object(Bucket="seed-batches", Key=f"{batch}.json", Body=json.dumps(items).encode())
    sfn = make_client(functions_server.endpoint)
    machine = sfn.create_state_machine(name=unique("map-batch-s3"), roleArn=ROLE,
                                       definition=json.dumps(definition))["stateMachineArn"]
    # GetBatch still runs (size 1); the Map ignores its result and reads S3's 30 items.
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"batchId": batch, "size": 1}))["executionArn"]
    ended = wait_for_end(sfn, execution, timeout=120)
    assert ended["status"] == "SUCCEEDED", ended
    output = json.loads(ended["output"])
    ids = [item["id"] for item in items]
    assert (output["batchId"], output["count"], output["ids"]) == (batch, 30, ids)
    assert output["sumOfSquares"] == sum(n * n for n in range(30))
    processed = [i for i in functions_server.batch_functions.invocations
                 if i["function"] == "process-item" and i["payload"]["id"].startswith(batch)]
    assert sorted(i["payload"]["id"] for i in processed) == ids  # each item once


def test_map_batch_exports_its_results_to_s3(functions_server, moto, unique):
    """The seed's map-batch with a ResultWriter on ProcessBatch (ending there, since
    Aggregate expects the results inline): every item's result is in SUCCEEDED_0.json,
    listed by the manifest the Map's output points at."""
    definition = json.loads((REPO / "examples" / "map-batch" / "map-batch.asl.json").read_text())
    process = definition["States"]["ProcessBatch"]
    process["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                               "Parameters": {"Bucket": "seed-results", "Prefix": "batches"}}
    del process["Next"]
    process["End"] = True
    del definition["States"]["Aggregate"]
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="seed-results")
    sfn = make_client(functions_server.endpoint)
    machine = sfn.create_state_machine(name=unique("map-batch-out"), roleArn=ROLE,
                                       definition=json.dumps(definition))["stateMachineArn"]
    batch = f"outbatch-{uuid.uuid4().hex[:6]}"
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"batchId": batch, "size": 12}))["executionArn"]
    ended = wait_for_end(sfn, execution, timeout=120)
    assert ended["status"] == "SUCCEEDED", ended
    details = json.loads(ended["output"])["results"]["ResultWriterDetails"]
    assert details["Bucket"] == "seed-results"
    manifest = json.loads(s3.get_object(Bucket="seed-results", Key=details["Key"])["Body"].read())
    assert manifest["ResultFiles"]["FAILED"] == [] and manifest["ResultFiles"]["PENDING"] == []
    [succeeded] = manifest["ResultFiles"]["SUCCEEDED"]
    records = json.loads(s3.get_object(Bucket="seed-results", Key=succeeded["Key"])["Body"].read())
    assert len(records) == 12
    assert all(r["Status"] == "SUCCEEDED" for r in records)
    inputs = [json.loads(r["Input"]) for r in records]
    assert [i["n"] for i in inputs] == list(range(12)), inputs


def test_activity_approval_example(server):
    results = example("activity-approval").run(server.endpoint)
    approve, reject, crash = results["approve"], results["reject"], results["crash"]
    assert (approve["status"], approve["last"]) == ("SUCCEEDED", "ProcessApproved")
    # It decided for longer than HeartbeatSeconds; its heartbeats kept the task alive.
    assert approve["output"]["approved"] is True and approve["output"]["heartbeats"] >= 1
    assert approve["activity"] == [("ActivityScheduled", None),
                                   ("ActivityStarted", "approver.py"),
                                   ("ActivitySucceeded", None)]
    assert (reject["status"], reject["last"]) == ("SUCCEEDED", "RequestDenied")
    assert reject["output"]["rejection"]["Error"] == "Rejected"
    assert reject["activity"][-1] == ("ActivityFailed", "Rejected")
    # The dead worker's task timed out on its heartbeat; the retry went to approver.py.
    assert (crash["status"], crash["last"]) == ("SUCCEEDED", "ProcessApproved")
    assert crash["activity"] == [("ActivityScheduled", None),
                                 ("ActivityStarted", "crashed-worker"),
                                 ("ActivityTimedOut", "States.HeartbeatTimeout"),
                                 ("ActivityScheduled", None),
                                 ("ActivityStarted", "approver.py"),
                                 ("ActivitySucceeded", None)]


def test_order_processing_mocked_example(mocked_server, lambda_fake):
    """examples/order-processing-mocked: every test case through `cairn run` on the seed's
    definition, then on a server started with its mock configuration; no function is
    called either way."""
    mocked = example("order-processing-mocked")
    for where, results in (("local", mocked.local()),
                           ("server", mocked.server(mocked_server.endpoint))):
        for case, (status, steps) in mocked.EXPECTED.items():
            assert (results[case]["status"], results[case]["path"]) == (status, steps), \
                (where, case, results[case])
    local = mocked.local()
    assert local["HappyPath"]["exit"] == 0 and local["DeclinedCard"]["exit"] == 1
    assert [e["event_type"] for e in local["InvalidOrder"]["history"]][:5] == [
        "ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
        "LambdaFunctionStarted", "LambdaFunctionFailed"]
    # No function saw any of the test cases' orders.
    seen = [i["payload"].get("orderId", "") for i in lambda_fake.invocations
            if isinstance(i["payload"], dict)]
    assert not [o for o in seen if str(o).startswith(tuple(mocked.CASES))], seen


def test_order_events_example(functions_server):
    """examples/order-events: the seed's rule and input transformer start the seed's order
    workflow once, with the transformer's input; the non-matching event starts nothing."""
    order_id, executions, described = example("order-events").run(functions_server.endpoint)
    assert len(executions) == 1, executions
    assert json.loads(described["input"]) == {
        "orderId": order_id, "items": [{"sku": "BOOK-1", "qty": 2}, {"sku": "PEN-7", "qty": 1}],
        "source": "eventbridge"}
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [
        {"inventoryUpdated": ["BOOK-1", "PEN-7"]}, {"confirmationSkipped": "eventbridge"},
        {"trackingNumber": f"TRK-{order_id}"}]
