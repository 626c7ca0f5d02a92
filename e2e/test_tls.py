"""TLS on the API's listener: `cairn server` (or `cairn dev`) with CAIRN_TLS_CERT and
CAIRN_TLS_KEY, reached by boto3 over https with certificate verification on, against a
CA made for the test; the certificate files replaced while it runs are served on the
next connection, with no restart."""
import os
import ssl
import subprocess
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError

from conftest import (LOG_DIR, PASS_MACHINE, REGION, ROLE, REPO, _clean_env, _die_with_parent,
                      _free_port, _stop, database_url, drop_database, subcommand)


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory, name):
    """A CA and a server certificate it signs for localhost and 127.0.0.1."""
    ca_key, ca_cert = directory / f"{name}-ca.key", directory / f"{name}-ca.crt"
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    ext = directory / f"{name}.ext"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", f"/CN={name} test CA", "-keyout", ca_key, "-out", ca_cert)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "2", "-extfile", ext, "-out", cert)
    return ca_cert, cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    first = make_ca(directory, "first")
    second = make_ca(directory, "second")
    served_cert, served_key = directory / "served.crt", directory / "served.key"
    served_cert.write_bytes(first[1].read_bytes())
    served_key.write_bytes(first[2].read_bytes())
    database = f"cairn_e2e_tls_{os.getpid()}"
    drop_database(database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"tls-server-{os.getpid()}.log"
    port = _free_port()
    env = _clean_env()
    env.update({"DATABASE_URL": database_url(database), "CAIRN_LISTEN": f"127.0.0.1:{port}",
                "RUST_LOG": "info", "NO_COLOR": "1",
                "CAIRN_TLS_CERT": str(served_cert), "CAIRN_TLS_KEY": str(served_key)})
    binary = os.environ.get("CAIRN_BIN", str(REPO / "target" / "debug" / "cairn"))
    with open(log_path, "w") as log:
        process = subprocess.Popen([binary, subcommand()], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    endpoint = f"https://localhost:{port}"
    context = ssl.create_default_context(cafile=str(first[0]))
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/readyz", timeout=2, context=context) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"the TLS server did not start: {log_path.read_text()}", pytrace=False)
        time.sleep(0.2)

    class Tls:
        pass

    srv = Tls()
    srv.endpoint, srv.first, srv.second = endpoint, first, second
    srv.served = (served_cert, served_key)
    srv.log_path = log_path
    yield srv
    _stop(process)
    drop_database(database)


def sfn(endpoint, ca):
    return boto3.session.Session().client(
        "stepfunctions", endpoint_url=endpoint, region_name=REGION, verify=str(ca),
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False))


def test_boto3_verifies_the_certificate_and_runs_operations(tls_server):
    client = sfn(tls_server.endpoint, tls_server.first[0])
    arn = client.create_state_machine(name=f"tls-{os.getpid()}", definition=PASS_MACHINE,
                                      roleArn=ROLE)["stateMachineArn"]
    assert client.describe_state_machine(stateMachineArn=arn)["stateMachineArn"] == arn
    # A client that trusts another CA refuses the connection.
    with pytest.raises(SSLError):
        sfn(tls_server.endpoint, tls_server.second[0]).list_state_machines()
    # Plain HTTP on the TLS port gets no answer.
    with pytest.raises(Exception):
        urllib.request.urlopen(tls_server.endpoint.replace("https", "http") + "/healthz", timeout=5)


def test_a_replaced_certificate_is_served_without_a_restart(tls_server):
    cert, key = tls_server.served
    # The key first, then the certificate: in between the pair does not match, and the
    # old one stays in service.
    key.write_bytes(tls_server.second[2].read_bytes())
    cert.write_bytes(tls_server.second[1].read_bytes())
    sfn(tls_server.endpoint, tls_server.second[0]).list_state_machines()
    with pytest.raises(SSLError):
        sfn(tls_server.endpoint, tls_server.first[0]).list_state_machines()
    assert "TLS certificate reloaded" in tls_server.log_path.read_text()
