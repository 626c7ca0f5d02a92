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


def test_sqs_approval_survives_a_server_kill_then_approves(moto):
    output = approval_across_a_restart(moto, approve=True)
    assert output == {"approved": True, "approver": "approver.py"}


def test_sqs_approval_survives_a_server_kill_then_rejects(moto):
    output = approval_across_a_restart(moto, approve=False)
    assert output["rejection"]["Error"] == "Rejected"
