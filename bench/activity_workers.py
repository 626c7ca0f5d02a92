"""Activity workers against a running Cairn, through boto3.

Starts N executions of a one-state machine whose Task is an activity, waits for the
scheduler to queue every task, then lets W threads (each its own boto3 client) run the
usual worker loop -- GetActivityTask, SendTaskHeartbeat, SendTaskSuccess -- until all N
are done. Prints median/p90 latency per call and tasks drained per second.

    cairn server &                      # DATABASE_URL=... CAIRN_LISTEN=127.0.0.1:8083
    python3 bench/activity_workers.py http://127.0.0.1:8083 300 8
"""

import json
import statistics
import sys
import threading
import time

import boto3
from botocore.config import Config

endpoint, total, pollers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def client():
    return boto3.client(
        "stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bench", aws_secret_access_key="bench",
        config=Config(read_timeout=70, retries={"max_attempts": 0}),
    )


sfn = client()
stamp = int(time.time() * 1000)
activity = sfn.create_activity(name=f"bench-{stamp}")["activityArn"]
machine = sfn.create_state_machine(
    name=f"bench-{stamp}", roleArn="arn:aws:iam::123456789012:role/bench",
    definition=json.dumps({"StartAt": "Work", "States": {"Work": {
        "Type": "Task", "Resource": activity, "HeartbeatSeconds": 60, "End": True}}}),
)["stateMachineArn"]
executions = [
    sfn.start_execution(stateMachineArn=machine, input=json.dumps({"i": i}))["executionArn"]
    for i in range(total)
]
time.sleep(2)

lock = threading.Lock()
latencies = []


def work():
    c = client()
    while True:
        with lock:
            if len(latencies) >= total:
                return
        a = time.time()
        task = c.get_activity_task(activityArn=activity, workerName="bench")
        b = time.time()
        if "taskToken" not in task:
            continue
        c.send_task_heartbeat(taskToken=task["taskToken"])
        d = time.time()
        c.send_task_success(taskToken=task["taskToken"], output=task["input"])
        e = time.time()
        with lock:
            latencies.append((b - a, d - b, e - d))


began = time.time()
for _ in range(pollers):
    threading.Thread(target=work, daemon=True).start()
while True:
    with lock:
        if len(latencies) >= total:
            break
    time.sleep(0.01)
took = time.time() - began
succeeded = sum(
    1 for arn in executions
    if sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
)
for i, call in enumerate(["GetActivityTask", "SendTaskHeartbeat", "SendTaskSuccess"]):
    values = sorted(x[i] for x in latencies)
    print(f"{call}: median {statistics.median(values) * 1000:.0f} ms, "
          f"p90 {values[int(len(values) * 0.9)] * 1000:.0f} ms")
print(json.dumps({"tasks": total, "pollers": pollers, "seconds": round(took, 2),
                  "tasks_per_second": round(total / took, 1), "succeeded": succeeded}))
