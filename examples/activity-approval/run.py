"""The seed's human-approval workflow with the approval as an Activity: creates the
`approval` activity and state machine, then runs three requests past approver.py —
one approved after thinking longer than HeartbeatSeconds (its heartbeats keep the task
alive), one rejected, and one whose first worker takes the task and dies (the heartbeat
timeout hands the request back to the activity, and approver.py approves the retry).
Prints how each ended and its activity events.

    examples/run.sh activity-approval       # starts cairn, then runs this
    python run.py --sfn-endpoint URL

Exits 0 when each request ended as the README says.
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

DEFINITION = HERE / "activity-approval.asl.json"
ROLE = "arn:aws:iam::123456789012:role/cairn"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
THINK = 6  # seconds: longer than the state's HeartbeatSeconds (5)


def state_machine(sfn, name="activity-approval"):
    activity = sfn.create_activity(name=approver.ACTIVITY)["activityArn"]
    assert activity == approver.ACTIVITY_ARN, activity
    definition = DEFINITION.read_text()
    try:
        return sfn.create_state_machine(name=name, definition=definition,
                                        roleArn=ROLE)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        # A request left waiting by an interrupted earlier run would be the next task
        # the approver gets: stop it (its activity task goes with it).
        for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=arn, statusFilter="RUNNING"):
            for execution in page["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"],
                                   cause="left over from an earlier run of run.py")
        return arn


def start(sfn, machine, request):
    return sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"request": request, "approverEmail": "lead@example.com"}))["executionArn"]


def outcome(sfn, arn, timeout=60):
    """{status, output, last (state entered), activity: [(event type, worker or error)]}
    once the execution has ended."""
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events
               if e["type"].endswith("StateEntered")]
    activity = []
    for e in events:
        if e["type"] == "ActivityStarted":
            activity.append((e["type"], e["activityStartedEventDetails"]["workerName"]))
        elif e["type"] in ("ActivityTimedOut", "ActivityFailed"):
            details = e.get("activityTimedOutEventDetails") or e.get("activityFailedEventDetails")
            activity.append((e["type"], details.get("error")))
        elif e["type"].startswith("Activity"):
            activity.append((e["type"], None))
    return {"status": described["status"],
            "output": json.loads(described["output"]) if "output" in described else None,
            "last": entered[-1] if entered else None, "activity": activity}


def run(sfn_endpoint, think=THINK):
    sfn = approver.client(sfn_endpoint)
    machine = state_machine(sfn)
    tag = uuid.uuid4().hex[:6]
    results = {}

    arn = start(sfn, machine, f"new laptop #{tag}")
    approver.work(sfn, approver.automatic(True, think), count=1)
    results["approve"] = outcome(sfn, arn)

    arn = start(sfn, machine, f"a yacht #{tag}")
    approver.work(sfn, approver.automatic(False, 0), count=1)
    results["reject"] = outcome(sfn, arn)

    arn = start(sfn, machine, f"a desk #{tag}")
    # A worker takes the task and dies: no heartbeat, no answer.
    assert approver.next_task(sfn, "crashed-worker") is not None
    # Five seconds later the heartbeat times out; the Retry schedules the activity
    # again, and this poll gets it.
    approver.work(sfn, approver.automatic(True, 0), count=1)
    results["crash"] = outcome(sfn, arn)
    return results


EXPECTED_LAST = {"approve": "ProcessApproved", "reject": "RequestDenied",
                 "crash": "ProcessApproved"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    args = parser.parse_args()
    results = run(args.sfn_endpoint)
    for name, result in results.items():
        print(f"{name:8} {result['status']:10} last state {result['last']}: "
              f"{json.dumps(result['output'])}")
        steps = [f"{kind}({detail})" if detail else kind for kind, detail in result["activity"]]
        print(f"{'':19} {' '.join(steps)}")
    ok = all(results[name]["status"] == "SUCCEEDED" and results[name]["last"] == last
             for name, last in EXPECTED_LAST.items())
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
