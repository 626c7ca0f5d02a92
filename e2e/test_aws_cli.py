"""The AWS CLI (from the suite's venv) against the live server: create-state-machine,
start-execution, describe-execution, get-execution-history, asserting on its JSON."""
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from conftest import CREDENTIALS, ROLE

AWS = Path(sys.executable).parent / "aws"


def aws(server, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS)
    done = subprocess.run(
        [str(AWS), "stepfunctions", "--endpoint-url", server.endpoint, "--output", "json", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, f"aws {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_cli_smoke(server):
    assert AWS.exists(), f"{AWS} is missing: the e2e venv installs awscli"
    name = f"cli-{uuid.uuid4().hex[:8]}"
    definition = json.dumps({
        "StartAt": "Double",
        "States": {"Double": {"Type": "Pass",
                              "Parameters": {"sum.$": "States.MathAdd($.n, $.n)"}, "End": True}},
    })
    created = aws(server, "create-state-machine", "--name", name, "--role-arn", ROLE,
                  "--definition", definition)
    assert created["stateMachineArn"].endswith(f":stateMachine:{name}")
    assert "creationDate" in created

    started = aws(server, "start-execution", "--state-machine-arn", created["stateMachineArn"],
                  "--name", "first", "--input", '{"n": 21}')
    arn = started["executionArn"]
    assert arn.endswith(f":execution:{name}:first")

    deadline = time.monotonic() + 60
    while True:
        described = aws(server, "describe-execution", "--execution-arn", arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"sum": 42}
    assert json.loads(described["input"]) == {"n": 21}

    history = aws(server, "get-execution-history", "--execution-arn", arn)
    assert [e["type"] for e in history["events"]] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    reverse = aws(server, "get-execution-history", "--execution-arn", arn, "--reverse-order",
                  "--no-include-execution-data")
    assert [e["id"] for e in reverse["events"]] == [4, 3, 2, 1]
    assert "output" not in reverse["events"][0]["executionSucceededEventDetails"]


def test_cli_reports_errors(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS)
    done = subprocess.run(
        [str(AWS), "stepfunctions", "--endpoint-url", server.endpoint, "describe-execution",
         "--execution-arn", "arn:aws:states:us-east-1:123456789012:execution:none:none"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    # AWS CLI v1 exits 255 when the service answers an error (v2 uses 254).
    assert done.returncode == 255, done.stderr
    assert "(ExecutionDoesNotExist)" in done.stderr
