"""The approver of examples/activity-approval: an activity worker. It long-polls
GetActivityTask on the `approval` activity, decides on each request it gets — asking you
in the terminal, or by its flag — while a thread sends SendTaskHeartbeat every
`--heartbeat-every` seconds (the state's HeartbeatSeconds is 5: a worker that falls
silent longer than that is taken for dead), then answers: SendTaskSuccess
`{"approved": true, "approver": …, "heartbeats": …}` to approve, SendTaskFailure with
error `Rejected` to reject.

    python approver.py                       # ask in the terminal, for each request
    python approver.py --approve [--think 6] [--count N]
    python approver.py --reject

`--think` is how long an automatic decision takes (heartbeats go on meanwhile);
`--count` how many requests to answer before exiting (default: until interrupted).
"""
import argparse
import json
import sys
import threading
import time

import boto3
from botocore.config import Config

ACTIVITY = "approval"
ACTIVITY_ARN = "arn:aws:states:us-east-1:123456789012:activity:approval"


def client(endpoint):
    # GetActivityTask holds the request up to 60 s: the read timeout must be longer.
    return boto3.session.Session().client(
        "stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(read_timeout=70, retries={"max_attempts": 1, "mode": "standard"}))


def next_task(sfn, worker_name, activity_arn=ACTIVITY_ARN, timeout=120):
    """The next request: GetActivityTask's answer ({taskToken, input}), or None if none
    came within `timeout` seconds (each poll waits up to 60 s and may answer empty)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = sfn.get_activity_task(activityArn=activity_arn, workerName=worker_name)
        if task.get("taskToken"):
            return task
    return None


class Heartbeat:
    """SendTaskHeartbeat every `every` seconds on a thread until the block ends; stops
    early if the task is gone (answered elsewhere, or timed out)."""

    def __init__(self, sfn, token, every):
        self.sfn, self.token, self.every = sfn, token, every
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def _beat(self):
        while not self._stop.wait(self.every):
            try:
                self.sfn.send_task_heartbeat(taskToken=self.token)
                self.sent += 1
            except (self.sfn.exceptions.TaskTimedOut, self.sfn.exceptions.InvalidToken):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def ask(request):
    """A human decides, in the terminal."""
    line = input(f"Approve {request['request']!r} for {request['approverEmail']}? [y/N] ")
    return line.strip().lower() in ("y", "yes"), "said no in the terminal"


def automatic(approve, think):
    def decide(_request):
        time.sleep(think)
        return approve, f"{'approved' if approve else 'rejected'} by flag"
    return decide


def answer(sfn, task, decide, worker_name, heartbeat_every=1.0):
    """Decides on one task (heartbeating meanwhile) and answers it; returns
    (approved, the request, heartbeats sent)."""
    token, request = task["taskToken"], json.loads(task["input"])
    with Heartbeat(sfn, token, heartbeat_every) as heartbeat:
        approved, reason = decide(request)
    if approved:
        sfn.send_task_success(taskToken=token, output=json.dumps(
            {"approved": True, "approver": worker_name, "heartbeats": heartbeat.sent}))
    else:
        sfn.send_task_failure(taskToken=token, error="Rejected",
                              cause=f"Rejected by {worker_name}: {reason}")
    return approved, request, heartbeat.sent


def work(sfn, decide, count=None, worker_name="approver.py", heartbeat_every=1.0,
         timeout=120):
    """Answers `count` requests (None: until interrupted); returns what answer() did
    for each."""
    done = []
    while count is None or len(done) < count:
        task = next_task(sfn, worker_name, timeout=timeout)
        if task is None:
            if count is None:
                continue
            break
        done.append(answer(sfn, task, decide, worker_name, heartbeat_every))
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--approve", action="store_true")
    decision.add_argument("--reject", action="store_true")
    parser.add_argument("--think", type=float, default=0.0)
    parser.add_argument("--count", type=int)
    parser.add_argument("--heartbeat-every", type=float, default=1.0)
    parser.add_argument("--worker-name", default="approver.py")
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    args = parser.parse_args()
    sfn = client(args.sfn_endpoint)
    sfn.create_activity(name=ACTIVITY)  # idempotent: the ARN the definition names
    decide = ask if not (args.approve or args.reject) else automatic(args.approve, args.think)
    print(f"polling {ACTIVITY_ARN} as {args.worker_name}", flush=True)
    try:
        for approved, request, beats in work(sfn, decide, args.count, args.worker_name,
                                             args.heartbeat_every):
            print(f"{'approved' if approved else 'rejected'}: {request['request']} "
                  f"(for {request['approverEmail']}; {beats} heartbeats)", flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
