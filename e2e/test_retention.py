"""Retention and the execution time cap, against a server of their own: with
CAIRN_RETENTION=2s a closed execution, its history and its task token are deleted
(DescribeExecution, GetExecutionHistory, RedriveExecution and SendTaskSuccess then answer
as AWS does for ones that do not exist) while a running one is kept however old; with
CAIRN_MAX_EXECUTION_TIME=2s an execution waiting longer times out with States.Timeout, as
AWS times out executions past its one year."""
import json
import os
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import (LOG_DIR, ROLE, database_url, drop_database, full_history, make_client,
                      start_server, wait_for_end, _stop)

WAIT_AN_HOUR = json.dumps({"StartAt": "W", "States": {
    "W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def own_server(label, extra_env):
    database = f"cairn_e2e_{label}_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{label}-server-{os.getpid()}.log"
    log_path.write_text("")
    return database, start_server(database, log_path, extra_env)


@pytest.fixture(scope="module")
def retained():
    database, srv = own_server("retention", {
        "CAIRN_RETENTION": "2s", "CAIRN_RETENTION_INTERVAL": "1s"})
    yield make_client(srv.endpoint), srv.endpoint
    _stop(srv.process)
    drop_database(database)


@pytest.fixture(scope="module")
def capped():
    database, srv = own_server("cap", {"CAIRN_MAX_EXECUTION_TIME": "2s"})
    yield make_client(srv.endpoint)
    _stop(srv.process)
    drop_database(database)


def error_code(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def wait_until_gone(sfn, arn, timeout=60):
    """Polls DescribeExecution until it answers ExecutionDoesNotExist (the deadline is
    only a hang guard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sfn.describe_execution(executionArn=arn)
        except ClientError as e:
            if e.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return
            raise
        time.sleep(0.2)
    raise AssertionError(f"{arn} was not deleted within {timeout}s")


def test_closed_executions_are_deleted_and_running_ones_kept(retained, unique):
    sfn, endpoint = retained
    activity = sfn.create_activity(name=unique("retained"))["activityArn"]
    waits = sfn.create_state_machine(
        name=unique("waits"), roleArn=ROLE,
        definition=json.dumps({"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": activity, "End": True}}}))["stateMachineArn"]
    passes = sfn.create_state_machine(name=unique("passes"), roleArn=ROLE,
                                      definition=PASS)["stateMachineArn"]

    running = sfn.start_execution(stateMachineArn=waits, name="running")["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="e2e")
    assert task.get("taskToken")
    done = sfn.start_execution(stateMachineArn=passes, name="done")["executionArn"]
    assert wait_for_end(sfn, done)["status"] == "SUCCEEDED"
    wait_until_gone(sfn, done)
    assert error_code(lambda: sfn.get_execution_history(executionArn=done)) == \
        "ExecutionDoesNotExist"
    listed = sfn.list_executions(stateMachineArn=passes)["executions"]
    assert listed == []
    # Its name is free again, as AWS frees it once the execution is gone.
    again = sfn.start_execution(stateMachineArn=passes, name="done")["executionArn"]
    assert again == done

    # Still running, however long past the retention: kept whole.
    described = sfn.describe_execution(executionArn=running)
    assert described["status"] == "RUNNING"
    types = [e["type"] for e in full_history(sfn, running)]
    assert types[0] == "ExecutionStarted" and "ActivityStarted" in types

    sfn.stop_execution(executionArn=running, error="Stopped")
    assert wait_for_end(sfn, running)["status"] == "ABORTED"
    # The token of a stopped execution answers TaskTimedOut while the execution is kept...
    assert error_code(lambda: sfn.send_task_success(taskToken=task["taskToken"],
                                                    output="{}")) == "TaskTimedOut"
    wait_until_gone(sfn, running)
    # ... and InvalidToken once it is gone; the execution cannot be redriven either.
    assert error_code(lambda: sfn.send_task_success(taskToken=task["taskToken"],
                                                    output="{}")) == "InvalidToken"
    assert error_code(lambda: sfn.redrive_execution(executionArn=running)) == \
        "ExecutionDoesNotExist"
    with urllib.request.urlopen(f"{endpoint}/metrics") as response:
        metrics = response.read().decode()
    purged = [line for line in metrics.splitlines()
              if line.startswith("cairn_executions_purged_total")]
    assert purged and float(purged[0].split()[-1]) >= 2, purged


def test_an_execution_past_the_cap_times_out_with_states_timeout(capped, unique):
    sfn = capped
    machine = sfn.create_state_machine(name=unique("long"), roleArn=ROLE,
                                       definition=WAIT_AN_HOUR)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    ended = wait_for_end(sfn, arn)
    assert ended["status"] == "TIMED_OUT"
    assert ended["error"] == "States.Timeout"
    events = full_history(sfn, arn)
    assert events[-1]["type"] == "ExecutionTimedOut"
    assert events[-1]["executionTimedOutEventDetails"]["error"] == "States.Timeout"
    assert "WaitStateExited" not in [e["type"] for e in events]
