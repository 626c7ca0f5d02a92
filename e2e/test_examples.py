"""The examples in examples/, run as their READMEs describe, against the live server."""
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import REPO, ROLE, full_history, wait_for_end

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
