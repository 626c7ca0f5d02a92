"""The seed's human-approval workflow with approval through SQS: creates the
`approval-queue`, starts one request and approves it with approver.py, starts another
and rejects it, and shows how each ended.

    examples/run.sh sqs-approval              # starts moto and cairn, then runs this
    python run.py --sfn-endpoint URL --aws-endpoint URL

Exits 0 when the approved request ended in ProcessApproved and the rejected one in
RequestDenied, both SUCCEEDED.
"""
import argparse
import importlib.util
import json
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _beside(name):
    """The module NAME.py beside this file, under a name of its own: other examples
    have an approver.py too, and `import approver` would take whichever came first."""
    spec = importlib.util.spec_from_file_location(f"{HERE.name.replace('-', '_')}_{name}",
                                                  HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


approver = _beside("approver")

DEFINITION = HERE / "sqs-approval.asl.json"
ROLE = "arn:aws:iam::123456789012:role/cairn"


def state_machine(sfn, name="sqs-approval"):
    definition = DEFINITION.read_text()
    try:
        return sfn.create_state_machine(name=name, definition=definition,
                                        roleArn=ROLE)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        return arn


def queue(aws_endpoint):
    """The queue the definition names (moto finds it by its name, `approval-queue`)."""
    approver.client("sqs", aws_endpoint).create_queue(QueueName="approval-queue")
    return approver.QUEUE_URL


def start(sfn, machine, request):
    return sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"request": request, "approverEmail": "lead@example.com"}))["executionArn"]


def outcome(sfn, arn, timeout=60):
    """(status, output, the last state entered) once the execution has ended."""
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000,
                                       reverseOrder=True)["events"]
    last = next((e["stateEnteredEventDetails"]["name"] for e in events
                 if e["type"].endswith("StateEntered")), None)
    return described["status"], json.loads(described.get("output", "null")), last


def run(sfn_endpoint, aws_endpoint):
    sfn = approver.client("stepfunctions", sfn_endpoint)
    sqs = approver.client("sqs", aws_endpoint)
    queue_url = queue(aws_endpoint)
    machine = state_machine(sfn)
    results = {}
    for decision, request in (("approve", "new laptop"), ("reject", "a yacht")):
        request = f"{request} #{uuid.uuid4().hex[:6]}"
        arn = start(sfn, machine, request)
        approver.answer(sfn, sqs, queue_url, decision == "approve", request=request)
        results[decision] = outcome(sfn, arn)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    parser.add_argument("--aws-endpoint", default="http://127.0.0.1:5000")
    args = parser.parse_args()
    results = run(args.sfn_endpoint, args.aws_endpoint)
    for decision, (status, output, last) in results.items():
        print(f"{decision:8} {status:10} last state {last}: {json.dumps(output)}")
    ok = (results["approve"][0] == "SUCCEEDED" and results["approve"][2] == "ProcessApproved"
          and results["reject"][0] == "SUCCEEDED" and results["reject"][2] == "RequestDenied")
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
