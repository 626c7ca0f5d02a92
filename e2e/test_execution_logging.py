"""Execution logging as a machine's loggingConfiguration asks: the history events its
level includes (AWS's table: ALL, ERROR, FATAL, OFF), written to the server's standard
output as JSON lines shaped as CloudWatch Logs execution events, with or without the
execution data; for Standard and for Express executions."""
import json
import time

import pytest

from conftest import ROLE, wait_for_end

LOG_GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:/cairn/e2e:*"
# A Pass, then a Fail: every level has something to show.
PASS_THEN_FAIL = json.dumps({"StartAt": "P", "States": {
    "P": {"Type": "Pass", "Result": {"secret": "s3"}, "Next": "F"},
    "F": {"Type": "Fail", "Error": "Boom", "Cause": "on purpose"}}})
EVERY_EVENT = ["ExecutionStarted", "PassStateEntered", "PassStateExited", "FailStateEntered",
               "ExecutionFailed"]
BY_LEVEL = {
    "ALL": EVERY_EVENT,
    "ERROR": ["FailStateEntered", "ExecutionFailed"],
    "FATAL": ["ExecutionFailed"],
    "OFF": [],
}


def logging(level, include):
    config = {"level": level, "includeExecutionData": include}
    if level != "OFF":
        config["destinations"] = [{"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP}}]
    return config


def log_lines(server, arn):
    lines = []
    for text in server.log_path.read_text(errors="replace").splitlines():
        if not text.startswith("{"):
            continue
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("execution_arn") == arn:
            lines.append(line)
    return lines


def wait_for_line(server, arn, event_type, timeout=30):
    """The execution's log lines once one of `event_type` is among them (the deadline is
    only a hang guard: lines are written just after the commit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(server, arn)
        if any(line["type"] == event_type for line in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no {event_type} line for {arn}; lines: {log_lines(server, arn)}")


def run_failing(sfn, unique, level, include, machine_type="STANDARD"):
    return sfn.create_state_machine(
        name=unique(f"log-{level.lower()}"), roleArn=ROLE, definition=PASS_THEN_FAIL,
        type=machine_type, loggingConfiguration=logging(level, include))["stateMachineArn"]


@pytest.mark.parametrize("level,include", [("ALL", True), ("ALL", False), ("ERROR", True),
                                           ("FATAL", False)])
def test_a_standard_execution_logs_the_events_of_its_level(sfn, server, unique, level, include):
    machine = run_failing(sfn, unique, level, include)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"card": "4111"}')["executionArn"]
    assert wait_for_end(sfn, arn)["status"] == "FAILED"
    lines = wait_for_line(server, arn, "ExecutionFailed")
    assert [line["type"] for line in lines] == BY_LEVEL[level]

    history = {e["id"]: e for e in sfn.get_execution_history(executionArn=arn)["events"]}
    for line in lines:
        assert set(line) == {"id", "type", "details", "previous_event_id", "event_timestamp",
                             "execution_arn"}
        event = history[int(line["id"])]
        assert event["type"] == line["type"]
        assert int(line["previous_event_id"]) == event["previousEventId"]
        assert int(line["event_timestamp"]) == int(event["timestamp"].timestamp() * 1000)
    failed = lines[-1]
    assert failed["details"] == {"error": "Boom", "cause": "on purpose"}
    if level == "ALL":
        started = lines[0]["details"]
        assert started["roleArn"] == ROLE
        if include:
            assert json.loads(started["input"]) == {"card": "4111"}
            assert started["inputDetails"] == {"truncated": False}
            assert json.loads(lines[2]["details"]["output"]) == {"secret": "s3"}
        else:
            assert "input" not in started and "inputDetails" not in started
            assert "output" not in lines[2]["details"]


def test_logging_off_writes_nothing(sfn, server, unique):
    quiet = run_failing(sfn, unique, "OFF", True)
    arn = sfn.start_execution(stateMachineArn=quiet)["executionArn"]
    assert wait_for_end(sfn, arn)["status"] == "FAILED"
    # A logged execution started after it ended: once its lines are out, the quiet one's
    # would have been too.
    marker = run_failing(sfn, unique, "FATAL", False)
    marker_arn = sfn.start_execution(stateMachineArn=marker)["executionArn"]
    wait_for_end(sfn, marker_arn)
    wait_for_line(server, marker_arn, "ExecutionFailed")
    assert log_lines(server, arn) == []


def test_updating_the_configuration_turns_logging_on(sfn, server, unique):
    machine = run_failing(sfn, unique, "OFF", False)
    sfn.update_state_machine(stateMachineArn=machine, loggingConfiguration=logging("ERROR", False))
    described = sfn.describe_state_machine(stateMachineArn=machine)
    assert described["loggingConfiguration"]["level"] == "ERROR"
    # The scheduler reads a machine's configuration again within seconds: run until an
    # execution is logged.
    deadline = time.monotonic() + 30
    while True:
        arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        wait_for_end(sfn, arn)
        time.sleep(0.5)
        if log_lines(server, arn):
            break
        assert time.monotonic() < deadline, "the new logging configuration never took effect"
    assert [line["type"] for line in log_lines(server, arn)] == BY_LEVEL["ERROR"]


@pytest.mark.parametrize("level", ["ALL", "ERROR", "FATAL", "OFF"])
def test_an_express_execution_logs_the_events_of_its_level(sfn, server, unique, level):
    machine = run_failing(sfn, unique, level, True, machine_type="EXPRESS")
    answer = sfn.start_sync_execution(stateMachineArn=machine, input='{"card": "4111"}')
    assert answer["status"] == "FAILED"
    arn = answer["executionArn"]
    if level == "OFF":
        marker = run_failing(sfn, unique, "FATAL", False, machine_type="EXPRESS")
        marker_arn = sfn.start_sync_execution(stateMachineArn=marker)["executionArn"]
        wait_for_line(server, marker_arn, "ExecutionFailed")
        assert log_lines(server, arn) == []
        return
    lines = wait_for_line(server, arn, "ExecutionFailed")
    assert [line["type"] for line in lines] == BY_LEVEL[level]
    assert [int(line["id"]) for line in lines] == sorted(int(line["id"]) for line in lines)
    if level == "ALL":
        assert json.loads(lines[0]["details"]["input"]) == {"card": "4111"}
        assert [line["previous_event_id"] for line in lines[:2]] == ["0", "1"]
