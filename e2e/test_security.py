"""SigV4 authentication and per-key policies, with boto3 and the AWS CLI as clients, against
a `cairn server` (or `cairn dev`) started with API credentials (a file, re-read when it
changes) and policies.

Every refusal is checked for its AWS error, and for changing nothing: what a refused
request would have created or started is looked for afterwards with a full-access key.
"""
import datetime
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
import uuid
from unittest import mock

import boto3
import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (LOG_DIR, PASS_MACHINE, REGION, ROLE, _clean_env, _stop, drop_database,
                      start_server)

FULL = ("CAIRNFULLKEY", "full-secret-0123456789abcdef")
READER = ("CAIRNREADER", "reader-secret-0123456789abcdef")
LIMITED = ("CAIRNLIMITED", "limited-secret-0123456789abcdef")
ROTATED = ("CAIRNROTATED", "rotated-secret-0123456789abcdef")
METRICS_TOKEN = "metrics-token-0123456789abcdef"
SECRETS = [FULL[1], READER[1], LIMITED[1], ROTATED[1], METRICS_TOKEN]
POLICIES = {
    READER[0]: "read-only",
    LIMITED[0]: {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["states:*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "states:StartExecution",
             "Resource": "arn:aws:states:*:*:stateMachine:guarded-*"},
        ],
    },
}


class Signed:
    """A server that requires signatures, its credentials file and its log."""


def credentials_text(*keys):
    return "".join(f"{key}:{secret}\n" for key, secret in keys)


@pytest.fixture(scope="module")
def signed():
    database = f"cairn_e2e_security_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"security-server-{os.getpid()}.log"
    log_path.write_text("")
    credentials = LOG_DIR / f"api-credentials-{os.getpid()}"
    credentials.write_text("# the e2e keys\n" + credentials_text(FULL, READER, LIMITED))
    srv = start_server(database, log_path, {
        "CAIRN_API_CREDENTIALS_FILE": str(credentials),
        "CAIRN_API_POLICIES": json.dumps(POLICIES),
        "CAIRN_METRICS_TOKEN": METRICS_TOKEN,
        # Everything Cairn logs at debug, so the no-secrets check below sees it all.
        "RUST_LOG": "debug,hyper=info,h2=info,tower=info,sqlx=info,reqwest=info,rustls=info",
    })
    state = Signed()
    state.server = srv
    state.endpoint = srv.endpoint
    state.credentials = credentials
    yield state
    _stop(srv.process)
    drop_database(database)
    credentials.unlink(missing_ok=True)


def client(endpoint, key=None, service="stepfunctions", **config):
    kwargs = {}
    if key is None:
        kwargs["config"] = Config(signature_version=UNSIGNED, retries={"max_attempts": 1},
                                  inject_host_prefix=False, **config)
    else:
        kwargs["config"] = Config(retries={"max_attempts": 1}, inject_host_prefix=False, **config)
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = key
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=REGION,
                                          **kwargs)


def refused(call, code):
    with pytest.raises(ClientError) as error:
        call()
    assert error.value.response["Error"]["Code"] == code, error.value.response
    return error.value.response


def machine_names(endpoint):
    return {m["name"] for m in client(endpoint, FULL).list_state_machines()["stateMachines"]}


def test_an_unsigned_request_is_refused_and_changes_nothing(signed):
    name = f"unsigned-{uuid.uuid4().hex[:8]}"
    response = refused(lambda: client(signed.endpoint).create_state_machine(
        name=name, definition=PASS_MACHINE, roleArn=ROLE), "MissingAuthenticationTokenException")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Message"] == "Missing Authentication Token"
    assert name not in machine_names(signed.endpoint)


def test_an_unknown_key_is_an_unrecognized_client(signed):
    name = f"unknown-{uuid.uuid4().hex[:8]}"
    response = refused(lambda: client(signed.endpoint, ("NOSUCHKEY", "x")).create_state_machine(
        name=name, definition=PASS_MACHINE, roleArn=ROLE), "UnrecognizedClientException")
    assert response["Error"]["Message"] == "The security token included in the request is invalid."
    assert name not in machine_names(signed.endpoint)


def test_a_wrong_secret_is_an_invalid_signature(signed):
    name = f"wrong-{uuid.uuid4().hex[:8]}"
    response = refused(lambda: client(signed.endpoint, (FULL[0], "not-the-secret"))
                       .create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE),
                       "InvalidSignatureException")
    assert response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided.")
    assert name not in machine_names(signed.endpoint)


@pytest.mark.parametrize("minutes,wording", [(-6, "Signature expired"),
                                             (6, "Signature not yet current")])
def test_a_clock_skew_beyond_five_minutes_is_an_invalid_signature(signed, minutes, wording):
    skewed = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    sfn = client(signed.endpoint, FULL)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: skewed):
        response = refused(sfn.list_state_machines, "InvalidSignatureException")
    assert response["Error"]["Message"].startswith(wording), response["Error"]["Message"]
    within = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        minutes=4 if minutes > 0 else -4)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: within):
        sfn.list_state_machines()


def test_a_good_signature_runs_every_kind_of_operation(signed):
    sfn = client(signed.endpoint, FULL)
    arn = sfn.create_state_machine(name=f"signed-{uuid.uuid4().hex[:8]}", definition=PASS_MACHINE,
                                   roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input='{"who": "signed"}')
    assert sfn.describe_execution(executionArn=execution["executionArn"])["stateMachineArn"] == arn
    # SendTask* carry no resource but a token: signed like the rest.
    refused(lambda: sfn.send_task_success(taskToken="x" * 20, output="{}"), "InvalidToken")
    refused(lambda: client(signed.endpoint).send_task_success(taskToken="x" * 20, output="{}"),
            "MissingAuthenticationTokenException")
    # EventBridge on the same endpoint, signed with its own service name.
    events = client(signed.endpoint, FULL, service="events")
    assert "Rules" in events.list_rules()
    refused(lambda: client(signed.endpoint, service="events").list_rules(),
            "MissingAuthenticationTokenException")


def test_a_presigned_url_is_accepted(signed):
    # botocore's presigner signs an empty body (it moves a body's members into the query,
    # as the query protocol wants): ListStateMachines needs none.
    request = AWSRequest(method="POST", url=signed.endpoint + "/", data=b"", headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
    })
    botocore.auth.SigV4QueryAuth(Credentials(*FULL), "states", REGION, expires=60).add_auth(request)
    assert "X-Amz-Signature=" in request.url and "Authorization" not in request.headers
    headers = dict(request.headers.items())

    def send(url, body=b""):
        r = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(r, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, answer = send(request.url)
    assert status == 200, answer
    assert "stateMachines" in answer
    for url, body in [(request.url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"), b""),
                      (request.url, b'{"maxResults": 1}')]:
        status, answer = send(url, body)
        assert status == 400 and answer["__type"].endswith("#InvalidSignatureException"), answer


def test_the_aws_cli_signs_and_is_refused_with_the_wrong_secret(signed):
    def aws(*args, key):
        env = _clean_env()
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = key
        return subprocess.run(["aws", "--endpoint-url", signed.endpoint, "--output", "json",
                               "stepfunctions", *args], env=env, capture_output=True, text=True,
                              timeout=60)

    good = aws("list-state-machines", key=FULL)
    assert good.returncode == 0, good.stderr
    assert "stateMachines" in json.loads(good.stdout)
    bad = aws("list-state-machines", key=(FULL[0], "wrong"))
    assert bad.returncode != 0
    assert "InvalidSignatureException" in bad.stderr, bad.stderr


def test_a_read_only_key_reads_and_is_refused_every_write(signed):
    full = client(signed.endpoint, FULL)
    arn = full.create_state_machine(name=f"ro-{uuid.uuid4().hex[:8]}", definition=PASS_MACHINE,
                                    roleArn=ROLE)["stateMachineArn"]
    reader = client(signed.endpoint, READER)
    assert reader.describe_state_machine(stateMachineArn=arn)["stateMachineArn"] == arn
    reader.list_state_machines()
    response = refused(lambda: reader.start_execution(stateMachineArn=arn),
                       "AccessDeniedException")
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::123456789012:user/{READER[0]} is not authorized to perform: "
        f"states:StartExecution on resource: {arn} because no identity-based policy allows "
        f"the states:StartExecution action")
    assert full.list_executions(stateMachineArn=arn)["executions"] == []
    name = f"ro-new-{uuid.uuid4().hex[:8]}"
    refused(lambda: reader.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE),
            "AccessDeniedException")
    assert name not in machine_names(signed.endpoint)
    refused(lambda: reader.delete_state_machine(stateMachineArn=arn), "AccessDeniedException")
    assert full.describe_state_machine(stateMachineArn=arn)["status"] == "ACTIVE"
    events = client(signed.endpoint, READER, service="events")
    events.list_rules()
    rule = f"ro-rule-{uuid.uuid4().hex[:8]}"
    refused(lambda: events.put_rule(Name=rule, EventPattern='{"source": ["x"]}'),
            "AccessDeniedException")
    assert rule not in {r["Name"] for r in client(signed.endpoint, FULL, service="events")
                        .list_rules()["Rules"]}


def test_an_explicit_deny_on_a_resource_pattern_wins(signed):
    limited = client(signed.endpoint, LIMITED)
    guarded = limited.create_state_machine(name=f"guarded-{uuid.uuid4().hex[:8]}",
                                           definition=PASS_MACHINE, roleArn=ROLE)["stateMachineArn"]
    other = limited.create_state_machine(name=f"open-{uuid.uuid4().hex[:8]}",
                                         definition=PASS_MACHINE, roleArn=ROLE)["stateMachineArn"]
    response = refused(lambda: limited.start_execution(stateMachineArn=guarded),
                       "AccessDeniedException")
    assert response["Error"]["Message"].endswith("with an explicit deny in an identity-based policy")
    assert limited.list_executions(stateMachineArn=guarded)["executions"] == []
    limited.start_execution(stateMachineArn=other)


def test_the_credentials_file_is_reread_when_it_changes(signed):
    rotated = client(signed.endpoint, ROTATED)
    refused(rotated.list_state_machines, "UnrecognizedClientException")
    signed.credentials.write_text(credentials_text(FULL, READER, LIMITED, ROTATED))
    rotated.list_state_machines()
    signed.credentials.write_text(credentials_text(FULL, READER, LIMITED))
    refused(rotated.list_state_machines, "UnrecognizedClientException")
    client(signed.endpoint, FULL).list_state_machines()


def test_probes_stay_open_metrics_take_their_token_and_the_console_is_closed(signed):
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(signed.endpoint + path, timeout=10) as answer:
            assert answer.status == 200, path
    for headers in ({}, {"Authorization": "Bearer wrong-token"}):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(urllib.request.Request(signed.endpoint + "/metrics",
                                                          headers=headers), timeout=10)
        assert error.value.code == 401
    scrape = urllib.request.Request(signed.endpoint + "/metrics",
                                    headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(scrape, timeout=10) as answer:
        assert answer.status == 200
        assert b"cairn_" in answer.read()
    request = urllib.request.Request(
        signed.endpoint + "/console/api/ListStateMachines", data=b"{}", method="POST",
        headers={"Content-Type": "application/json", "X-Cairn-Console": "1"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 403
    assert json.loads(error.value.read())["__type"].endswith("#AccessDeniedException")


def raw(signed, headers, body=b"{}"):
    request = urllib.request.Request(signed.endpoint + "/", data=body, method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_malformed_authorization_is_an_incomplete_signature(signed):
    base = {"Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
            "X-Amz-Date": "20261207T000000Z"}
    for authorization in ["AWS4-HMAC-SHA256 Credential=CAIRNFULLKEY/20261207/us-east-1/states/aws4_request",
                          "Bearer something", "AWS4-HMAC-SHA256 garbage"]:
        status, body = raw(signed, {**base, "Authorization": authorization})
        assert status == 400 and body["__type"].endswith("#IncompleteSignatureException"), body


def test_the_sync_host_prefix_is_signed_as_sent(signed):
    """botocore signs StartSyncExecution for `sync-<host>`; the Host header carries it."""
    port = signed.endpoint.rsplit(":", 1)[1]
    for host, expected in [(f"sync-localhost:{port}", 200), (f"localhost:{port}", 400)]:
        request = AWSRequest(method="POST", url=f"http://sync-localhost:{port}/", data=b"{}",
                             headers={"Content-Type": "application/x-amz-json-1.0",
                                      "X-Amz-Target": "AWSStepFunctions.ListStateMachines"})
        botocore.auth.SigV4Auth(Credentials(*FULL), "states", REGION).add_auth(request)
        headers = dict(request.headers.items())
        headers["Host"] = host
        status, body = raw(signed, headers)
        assert status == expected, (host, body)


def test_the_schedulers_rest_paths_are_signed_too(signed):
    """EventBridge Scheduler's REST-JSON routes (/schedules, /schedule-groups, /tags) check
    signatures and policies as POST / does."""
    group = f"sec-{uuid.uuid4().hex[:8]}"
    refused(lambda: client(signed.endpoint, service="scheduler").create_schedule_group(Name=group),
            "MissingAuthenticationTokenException")
    refused(lambda: client(signed.endpoint, (FULL[0], "wrong"), service="scheduler")
            .create_schedule_group(Name=group), "InvalidSignatureException")
    reader = client(signed.endpoint, READER, service="scheduler")
    reader.list_schedule_groups()
    refused(lambda: reader.create_schedule_group(Name=group), "AccessDeniedException")
    full = client(signed.endpoint, FULL, service="scheduler")
    assert group not in {g["Name"] for g in full.list_schedule_groups()["ScheduleGroups"]}
    full.create_schedule_group(Name=group)
    assert full.get_schedule_group(Name=group)["Name"] == group
    refused(lambda: reader.delete_schedule_group(Name=group), "AccessDeniedException")
    assert full.get_schedule_group(Name=group)["State"] == "ACTIVE"


def test_without_credentials_the_server_says_the_api_is_open(server):
    """The suite's own server has no API credentials: it accepts any signature and says
    at start that the API is open."""
    log = server.log_path.read_text(errors="replace")
    assert "the API is open: no access keys are configured" in log
    client(server.endpoint, ("anything", "at-all")).list_state_machines()
    client(server.endpoint).list_state_machines()


def test_no_secret_or_signature_reaches_the_log(signed):
    """Runs last in the module: the log then holds every request above, good and bad."""
    sfn = client(signed.endpoint, FULL)
    sfn.list_state_machines()
    refused(lambda: client(signed.endpoint, (FULL[0], "a-wrong-secret-value")).list_state_machines(),
            "InvalidSignatureException")
    log = signed.server.log_path.read_text(errors="replace")
    assert "the API verifies SigV4 signatures" in log
    assert "request refused" in log, "the refusals are logged (at debug)"
    for secret in SECRETS + ["a-wrong-secret-value"]:
        assert secret not in log, f"a secret reached the log: {secret}"
    assert "Signature=" not in log and "X-Amz-Signature" not in log
    assert "Credential=" not in log, "no Authorization header is logged"
    assert not re.search(r"[0-9a-f]{64}", log), "no signature (64 hex digits) is logged"
