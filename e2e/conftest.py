"""Session fixtures of the end-to-end suite: a fake Lambda API, a real `cairn server`
(target/debug/cairn) on a free loopback port with a database of its own, and boto3 /
AWS CLI clients pointed at it.

Environment:
- `CAIRN_BIN`: the binary (default `<repo>/target/debug/cairn`).
- `CAIRN_TEST_DATABASE_URL`: the Postgres server (default postgres://postgres@127.0.0.1:5432);
  the suite's database is `cairn_e2e_<pid>`, dropped before and after.
- `CAIRN_SHARED_DIR`: the shared folder beside the repository (default `<repo>/../shared`).
- `CAIRN_E2E_STORE`: `postgres` (default) runs `cairn server`; `memory` runs `cairn dev`,
  the in-memory store, with `DATABASE_URL` pointing nowhere (it must not be read). Tests
  marked `durable` need a server that keeps its state across a restart; with `memory`
  they are deselected.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

import fake_lambda

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAIRN_SHARED_DIR", REPO.parent / "shared"))
LOG_DIR = REPO / "target" / "e2e-logs"
APPROVAL_KEY = "e2e-approval-key-0123456789abcdefghijklmnopqrstuvwxyz"
POSTGRES = os.environ.get("CAIRN_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
ROLE = "arn:aws:iam::123456789012:role/cairn-e2e"
REGION = "us-east-1"
ACCOUNT = "123456789012"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
STORE = os.environ.get("CAIRN_E2E_STORE", "postgres")
if STORE not in ("postgres", "memory"):
    raise SystemExit(f"CAIRN_E2E_STORE must be postgres or memory, not {STORE!r}")
# What `cairn dev` is given as DATABASE_URL: nothing answers there.
NOWHERE = "postgres://nobody@127.0.0.1:1/not-read"


def subcommand():
    """The `cairn` subcommand that serves the API: `server` (Postgres) or `dev`."""
    return "dev" if STORE == "memory" else "server"


def database_url(database):
    """The DATABASE_URL a server of the suite gets for `database`."""
    return NOWHERE if STORE == "memory" else f"{POSTGRES}/{database}"


def pytest_collection_modifyitems(config, items):
    if STORE != "memory":
        return
    durable = [item for item in items if item.get_closest_marker("durable")]
    if durable:
        config.hook.pytest_deselected(items=durable)
        items[:] = [item for item in items if not item.get_closest_marker("durable")]

# Dummy credentials: Cairn signs its Lambda calls with them and accepts any on its API.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # No profile files from the machine: the dummy credentials above are the only ones.
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}


class Server:
    def __init__(self, endpoint, log_path, process):
        self.endpoint = endpoint
        self.log_path = log_path
        self.process = process

    def log_tail(self, lines=150):
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"(cannot read {self.log_path}: {e})"
        return "\n".join(text[-lines:])


def _psql(sql):
    subprocess.run(
        ["psql", f"{POSTGRES}/postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        check=True, capture_output=True, text=True,
    )


def server_database_rows(sql):
    """The rows (tab-separated text, one a line) `sql` reads in the database of the
    session's Postgres `server`, for tests that check what it stores (`durable` ones)."""
    database = f"cairn_e2e_{os.getpid()}"
    done = subprocess.run(
        ["psql", f"{POSTGRES}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        check=True, capture_output=True, text=True,
    )
    return done.stdout.splitlines()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env():
    """The environment without anything that could point the server or the clients at
    real AWS or another profile."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("DATABASE_URL", "CAIRN_CONFIG")
           and not k.startswith("CAIRN_")}
    env.update(CREDENTIALS)
    return env


@pytest.fixture(scope="session")
def lambda_fake():
    fake, server, url = fake_lambda.start()
    fake.url = url
    yield fake
    server.shutdown()


def start_moto(log_path):
    """moto's server mode (`moto.server`, from the venv's moto[server]) on a free loopback
    port; returns (process, endpoint URL) once it answers."""
    for _ in range(3):
        port = _free_port()
        log = open(log_path, "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=_clean_env(), preexec_fn=_die_with_parent)
        log.close()
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(endpoint + "/moto-api/", timeout=2):
                    return process, endpoint
            except urllib.error.HTTPError:
                return process, endpoint
            except OSError:
                time.sleep(0.2)
        _stop(process)
    pytest.fail(f"moto server did not start; its log:\n{log_path.read_text(errors='replace')}",
                pytrace=False)


def moto_env(endpoint):
    """The variables that point a `cairn server` at moto for SQS, SNS, DynamoDB and
    EventBridge (Lambda stays where AWS_ENDPOINT_URL_LAMBDA says)."""
    return {f"AWS_ENDPOINT_URL_{service}": endpoint
            for service in ("SQS", "SNS", "DYNAMODB", "EVENTBRIDGE", "S3")}


@pytest.fixture(scope="session")
def moto():
    """moto's server, started before the session's `cairn server` (which is pointed at it);
    its `.endpoint` is the URL, `.client(service)` a boto3 client for it."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    process, endpoint = start_moto(LOG_DIR / f"moto-{os.getpid()}.log")

    class Moto:
        pass

    fake = Moto()
    fake.endpoint = endpoint
    fake.client = lambda service: aws_client(service, endpoint)
    yield fake
    _stop(process)


@pytest.fixture(scope="session")
def s3(moto):
    """A boto3 S3 client for moto's server (Distributed Maps' items and result files)."""
    return moto.client("s3")


@pytest.fixture
def bucket(s3):
    """A new, empty bucket in moto's S3, its name unique to the test."""
    name = f"dmap-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def aws_client(service, endpoint):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test")


def start_server(database, log_path, extra_env, on_start=None):
    """A `cairn server` on a free loopback port with the database `database` (created by
    the server), and `extra_env` on top of the clean environment; returns its Server once
    /readyz answers. `on_start(server)` is called as soon as the process exists."""
    binary = Path(os.environ.get("CAIRN_BIN", REPO / "target" / "debug" / "cairn"))
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: run `cargo build -p cairn` first", pytrace=False)
    last_error = None
    # The port is chosen free and then handed over, so another process could take it in
    # between: try again on another port if the server cannot bind.
    for _ in range(3):
        port = _free_port()
        env = _clean_env()
        env.update({
            "DATABASE_URL": database_url(database),
            "CAIRN_LISTEN": f"127.0.0.1:{port}",
            "RUST_LOG": os.environ.get("CAIRN_E2E_RUST_LOG", "info"),
            "NO_COLOR": "1",
            **{k: v.replace("{port}", str(port)) for k, v in extra_env.items()},
        })
        log = open(log_path, "a")
        process = subprocess.Popen([str(binary), subcommand()], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        log.close()
        srv = Server(f"http://127.0.0.1:{port}", log_path, process)
        if on_start:
            on_start(srv)
        if _wait_ready(srv, timeout=90):
            return srv
        last_error = srv.log_tail()
        _stop(process)
        if "listening on" not in last_error:
            pytest.fail(f"cairn server did not become ready; its log:\n{last_error}", pytrace=False)
    pytest.fail(f"cairn server could not bind a port; its log:\n{last_error}", pytrace=False)


def drop_database(database):
    if STORE == "memory":
        return
    try:
        _psql(f'drop database if exists "{database}" with (force)')
    except subprocess.CalledProcessError as e:
        print(f"could not drop {database}: {e.stderr}")


@pytest.fixture(scope="session")
def server(lambda_fake, moto, request):
    database = f"cairn_e2e_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"server-{os.getpid()}.log"
    log_path.write_text("")
    srv = start_server(database, log_path, {
        "AWS_ENDPOINT_URL_LAMBDA": lambda_fake.url,
        **moto_env(moto.endpoint),
        # Approval links on (examples/human-approval); a test-only key.
        "CAIRN_APPROVAL_KEY": APPROVAL_KEY,
        "CAIRN_PUBLIC_URL": "http://127.0.0.1:{port}",
    }, on_start=lambda srv: request.config.stash.__setitem__(SERVER_KEY, srv))
    yield srv
    _stop(srv.process)
    drop_database(database)


# The mock configuration of `mocked_server`: examples/order-processing-mocked's test
# cases, and those of test_mock_config.py's machines.
MOCK_CONFIG = json.loads((REPO / "examples" / "order-processing-mocked"
                          / "MockConfigFile.json").read_text())
MOCK_CONFIG["StateMachines"].update({
    "e2e-mock-hybrid": {"TestCases": {"Hybrid": {"Mocked": "Fixed"}}},
    "e2e-mock-loop": {"TestCases": {"Polling": {"Poll": "NotYetNotYetReady"}}},
    "e2e-mock-map": {"TestCases": {"Iterations": {"Each": "FirstSecondThird"}}},
    "e2e-mock-retry": {"TestCases": {"Exhausted": {"Call": "FailsOnce"},
                                     "Recovers": {"Call": "FailsThenAnswers"}}},
    "e2e-mock-callback": {"TestCases": {"Answered": {"Ask": "Fixed"}}},
    "e2e-mock-pass": {"TestCases": {"NotATask": {"Nothing": "Fixed"}}},
})
MOCK_CONFIG["MockedResponses"].update({
    "Fixed": {"0-99": {"Return": {"mocked": True}}},
    "NotYetNotYetReady": {"0-1": {"Return": {"ready": False}}, "2": {"Return": {"ready": True}}},
    "FirstSecondThird": {"0": {"Return": "first"}, "1": {"Return": "second"},
                         "2": {"Return": "third"}},
    "FailsOnce": {"0": {"Throw": {"Error": "Flaky", "Cause": "once"}}},
    "FailsThenAnswers": {"0": {"Throw": {"Error": "Flaky", "Cause": "once"}},
                         "1": {"Return": {"recovered": True}}},
})


@pytest.fixture(scope="session")
def mocked_server(lambda_fake, request):
    """A second server, started with CAIRN_MOCK_CONFIG (see MOCK_CONFIG), its Lambda API
    the session's fake, so that states no test case mocks call real functions."""
    database = f"cairn_e2e_mocks_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"mocked-server-{os.getpid()}.log"
    log_path.write_text("")
    config_path = LOG_DIR / f"mock-config-{os.getpid()}.json"
    config_path.write_text(json.dumps(MOCK_CONFIG, indent=2))
    srv = start_server(database, log_path, {
        "AWS_ENDPOINT_URL_LAMBDA": lambda_fake.url,
        "CAIRN_MOCK_CONFIG": str(config_path),
    })
    yield srv
    _stop(srv.process)
    drop_database(database)


def _die_with_parent():
    """In the child before exec: SIGTERM it when pytest dies, however pytest dies, so no
    server outlives its run (Linux's PR_SET_PDEATHSIG; elsewhere nothing)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _wait_ready(srv, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(srv.endpoint + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _stop(process):
    """SIGTERM, then SIGKILL after 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


SERVER_KEY = pytest.StashKey()
CONFORMANCE_KEY = pytest.StashKey()


def make_client(endpoint):
    return boto3.session.Session().client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        # The host prefix boto3 puts on StartSyncExecution/TestState (`sync-`) would not
        # resolve on loopback; no retries, so an error surfaces as the server sent it.
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1, "mode": "standard"},
                      read_timeout=70),
    )


@pytest.fixture(scope="session")
def sfn(server):
    return make_client(server.endpoint)


@pytest.fixture
def unique():
    """A name unique in the suite's database: `<prefix>-<8 hex>`."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


PASS_MACHINE = json.dumps({
    "StartAt": "Greet",
    "States": {
        "Greet": {"Type": "Pass", "Parameters": {"greeting.$": "States.Format('hello {}', $.who)"},
                  "ResultPath": "$.out", "End": True},
    },
})


@pytest.fixture
def pass_machine(sfn, unique):
    """A Pass-only state machine; returns its ARN."""
    return sfn.create_state_machine(name=unique("pass"), definition=PASS_MACHINE,
                                    roleArn=ROLE)["stateMachineArn"]


def wait_for_end(sfn, execution_arn, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still {described['status']} after {timeout}s")
        time.sleep(0.1)


def full_history(sfn, execution_arn, **kwargs):
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}), **kwargs)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = config.stash.get(CONFORMANCE_KEY, None)
    if lines:
        terminalreporter.section("conformance corpus against the live server")
        for line in lines:
            terminalreporter.write_line(line)
    srv = config.stash.get(SERVER_KEY, None)
    failed = terminalreporter.stats.get("failed") or terminalreporter.stats.get("error")
    if srv is not None and failed:
        terminalreporter.section(f"cairn server log (last lines of {srv.log_path})")
        terminalreporter.write_line(srv.log_tail())
