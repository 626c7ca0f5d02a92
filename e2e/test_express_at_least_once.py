"""Asynchronous Express executions at least once (issue 20, item 4).

AWS: asynchronous Express workflows run at least once; "Idempotency is not automatically
managed. Starting multiple workflows with the same name results in concurrent
executions." StartExecution on an EXPRESS machine records the run before it answers; the
replica that accepted it renews its lease while it runs and deletes the record at the
end; when that replica dies, another takes the run over once the lease has expired and
runs it again from the start with the same ARN and input.
"""
import json
import os
import subprocess
import threading
import time
import urllib.request

import pytest

import lambda_server
from conftest import (LOG_DIR, POSTGRES, ROLE, STORE, _stop, drop_database, make_client,
                      start_server)

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:"


class Recorder(lambda_server.Functions):
    """`hold` blocks its first call until released (the replica making it is killed
    meanwhile) and answers later calls at once; `land` is the side effect the test
    looks for; every call is logged with its payload and headers."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def calls(self, function, key):
        with self.lock:
            return [i["payload"] for i in self.invocations
                    if i["function"] == function and i["payload"].get("key") == key]

    def fn_hold(self, payload):
        if len(self.calls("hold", payload.get("key"))) == 1:
            self.release.wait(timeout=120)
        return {"key": payload.get("key"), "held": True}

    def fn_land(self, payload):
        return {"landed": payload.get("key")}


MACHINE = json.dumps({
    "StartAt": "Hold",
    "States": {
        "Hold": {"Type": "Task", "Resource": FUNCTION + "hold", "Next": "Land"},
        "Land": {"Type": "Task", "Resource": FUNCTION + "land",
                 "Parameters": {"key.$": "$.key", "execution.$": "$$.Execution.Id",
                                "started.$": "$$.Execution.StartTime"},
                 "End": True},
    },
})


def eventually(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def in_flight(database):
    """How many Express runs the database holds."""
    done = subprocess.run(
        ["psql", f"{POSTGRES}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc",
         "select count(*) from express_runs"],
        check=True, capture_output=True, text=True)
    return int(done.stdout.strip())


@pytest.fixture()
def recorder():
    functions = Recorder()
    server, url = lambda_server.start(functions)
    functions.url = url
    yield functions
    functions.release.set()
    server.shutdown()


@pytest.mark.durable
def test_a_run_whose_replica_is_killed_runs_again_on_the_other(recorder, unique):
    if STORE == "memory":
        pytest.skip("replicas share a Postgres database")
    database = f"cairn_e2e_express_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {"AWS_ENDPOINT_URL_LAMBDA": recorder.url, "CAIRN_EXPRESS_LEASE": "2s"}
    logs = [LOG_DIR / f"{database}-{n}.log" for n in ("a", "b")]
    for log in logs:
        log.write_text("")
    accepting = start_server(database, logs[0], env)
    other = start_server(database, logs[1], env)
    try:
        sfn = make_client(accepting.endpoint)
        machine = sfn.create_state_machine(name=unique("express-alo"), definition=MACHINE,
                                           roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
        key = unique("key")
        started = sfn.start_execution(stateMachineArn=machine, name="once",
                                      input=json.dumps({"key": key}))
        arn = started["executionArn"]
        # Recorded before StartExecution answered.
        assert in_flight(database) == 1
        eventually(lambda: recorder.calls("hold", key), "the first Hold call never came")
        accepting.process.kill()  # SIGKILL: no goodbye, the lease just stops being renewed
        accepting.process.wait()

        landed = eventually(lambda: recorder.calls("land", key),
                            "the other replica never ran the execution", timeout=90)
        assert len(recorder.calls("hold", key)) == 2, "run again from the start"
        assert len(landed) == 1
        # The same execution: its ARN and start time, not a new one.
        assert landed[0]["execution"] == arn
        started_at = started["startDate"].isoformat().replace("+00:00", "")
        assert landed[0]["started"].startswith(started_at[:19]), (landed[0], started_at)
        eventually(lambda: in_flight(database) == 0, "the record outlived the run")
        log = logs[1].read_text(errors="replace")
        assert "taken over" in log and arn in log, log[-3000:]
        with urllib.request.urlopen(other.endpoint + "/metrics") as response:
            metrics = response.read().decode()
        takeovers = [float(line.split()[-1]) for line in metrics.splitlines()
                     if line.startswith("cairn_express_takeovers_total")]
        assert takeovers == [1.0], takeovers
    finally:
        recorder.release.set()
        _stop(accepting.process)
        _stop(other.process)
        drop_database(database)


def test_the_same_name_and_input_start_two_express_executions(sfn, unique, lambda_fake):
    """Express StartExecution is not idempotent by name, as AWS: two runs, two ARNs."""
    machine = sfn.create_state_machine(name=unique("express-names"), roleArn=ROLE,
                                       type="EXPRESS", definition=json.dumps({
                                           "StartAt": "Validate", "States": {"Validate": {
                                               "Type": "Task",
                                               "Resource": FUNCTION + "validate-order",
                                               "End": True}}}))["stateMachineArn"]
    order_id = unique("twice")
    order = json.dumps({"orderId": order_id, "items": [{"sku": "A", "qty": 1}]})
    first = sfn.start_execution(stateMachineArn=machine, name="same", input=order)
    second = sfn.start_execution(stateMachineArn=machine, name="same", input=order)
    assert first["executionArn"] != second["executionArn"]
    for started in (first, second):
        assert started["executionArn"].startswith(
            machine.replace(":stateMachine:", ":express:") + ":same:")
    eventually(lambda: len(lambda_fake.calls("validate-order", order_id)) == 2,
               "both executions ran")
