"""StartExecution throttling as boto3 meets it: a server of its own with a tiny
StartExecution bucket (CAIRN_START_EXECUTION_BUCKET / _REFILL). Without retries a
burst is partly refused with ThrottlingException; with botocore's standard retry mode
the refused calls are retried (botocore counts ThrottlingException among its throttling
errors) until they get through, and only the admitted starts exist."""
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import conftest

MACHINE = json.dumps({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}})


@pytest.fixture(scope="module")
def throttled_server():
    binary = Path(os.environ.get("CAIRN_BIN", conftest.REPO / "target" / "debug" / "cairn"))
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: run `cargo build -p cairn` first", pytrace=False)
    database = f"cairn_e2e_throttle_{os.getpid()}"
    conftest.drop_database(database)
    conftest.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = conftest.LOG_DIR / f"server-throttle-{os.getpid()}.log"
    port = conftest._free_port()
    env = conftest._clean_env()
    env.update({
        "DATABASE_URL": conftest.database_url(database),
        "CAIRN_LISTEN": f"127.0.0.1:{port}",
        # Two starts at once, one more every half second.
        "CAIRN_START_EXECUTION_BUCKET": "2",
        "CAIRN_START_EXECUTION_REFILL": "2",
        "RUST_LOG": "warn",
    })
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(binary), conftest.subcommand()], env=env, stdout=log,
                                   stderr=subprocess.STDOUT,
                                   preexec_fn=conftest._die_with_parent)
    srv = conftest.Server(f"http://127.0.0.1:{port}", log_path, process)
    if not conftest._wait_ready(srv, timeout=90):
        conftest._stop(process)
        pytest.fail(f"cairn server did not become ready:\n{srv.log_tail()}", pytrace=False)
    yield srv
    conftest._stop(process)
    conftest.drop_database(database)


def client(endpoint, attempts):
    return boto3.session.Session().client(
        "stepfunctions", endpoint_url=endpoint, region_name=conftest.REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}),
    )


def burst(sfn, machine, names):
    def start(name):
        try:
            return name, sfn.start_execution(stateMachineArn=machine, name=name, input="{}")
        except ClientError as e:
            return name, e
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return list(pool.map(start, names))


def listed(sfn, machine):
    names = set()
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        names.update(e["name"] for e in page["executions"])
    return names


def test_a_burst_without_retries_is_partly_throttled(throttled_server, unique):
    sfn = client(throttled_server.endpoint, attempts=1)
    machine = sfn.create_state_machine(name=unique("throttle"), definition=MACHINE,
                                       roleArn=conftest.ROLE)["stateMachineArn"]
    results = burst(sfn, machine, [f"no-retry-{i}" for i in range(8)])
    refused = [(n, r) for n, r in results if isinstance(r, ClientError)]
    admitted = {n for n, r in results if not isinstance(r, ClientError)}
    assert refused, results
    assert admitted, results
    for name, error in refused:
        assert error.response["Error"]["Code"] == "ThrottlingException", (name, error.response)
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Nothing half-written: exactly the admitted starts exist.
    assert listed(sfn, machine) == admitted


def test_botocore_retries_throttled_starts_until_they_get_through(throttled_server, unique):
    sfn = client(throttled_server.endpoint, attempts=10)
    machine = sfn.create_state_machine(name=unique("retried"), definition=MACHINE,
                                       roleArn=conftest.ROLE)["stateMachineArn"]
    names = [f"retried-{i}" for i in range(5)]
    results = burst(sfn, machine, names)
    assert all(not isinstance(r, ClientError) for _, r in results), results
    retried = [n for n, r in results if r["ResponseMetadata"]["RetryAttempts"] > 0]
    assert retried, "a burst over the bucket needed retries"
    assert listed(sfn, machine) == set(names)
