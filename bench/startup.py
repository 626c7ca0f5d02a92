#!/usr/bin/env python3
"""Start-up to first answer: how long `cairn dev` (and, for comparison, `cairn server`
on the local Postgres) takes from the exec of the process to its first 200 on
`/readyz`, and then to its first StartSyncExecution answer.

    python3 bench/startup.py [--cairn target/release/cairn] [--runs 20] [--server]

Prints the median and the slowest run of each, in milliseconds. Standard library only.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request

MACHINE = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(endpoint, operation, body, timeout=10):
    request = urllib.request.Request(
        endpoint, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0",
                 "X-Amz-Target": f"AWSStepFunctions.{operation}"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read())


def one_run(binary, subcommand, env):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**env, "CAIRN_LISTEN": f"127.0.0.1:{port}", "RUST_LOG": "warn"}
    began = time.monotonic()
    process = subprocess.Popen([binary, subcommand], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"cairn {subcommand} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(endpoint + "/readyz", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.001)
        ready = time.monotonic() - began
        name = f"startup-{port}"
        arn = call(endpoint, "CreateStateMachine", {
            "name": name, "definition": MACHINE, "roleArn": ROLE, "type": "EXPRESS",
        })["stateMachineArn"]
        answer = call(endpoint, "StartSyncExecution", {"stateMachineArn": arn, "input": "{}"})
        if answer.get("status") != "SUCCEEDED":
            raise SystemExit(f"the first execution did not succeed: {answer}")
        first_execution = time.monotonic() - began
        return ready, first_execution
    finally:
        process.terminate()
        process.wait(timeout=15)


def report(label, runs):
    ready = [r * 1000 for r, _ in runs]
    first = [f * 1000 for _, f in runs]
    print(f"{label:<14} ready: median {statistics.median(ready):7.1f} ms, slowest {max(ready):7.1f} ms"
          f" | first execution: median {statistics.median(first):7.1f} ms, slowest {max(first):7.1f} ms"
          f" ({len(runs)} runs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cairn", default="target/release/cairn")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--server", action="store_true",
                        help="also measure cairn server on the local Postgres")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("CAIRN_") and k != "DATABASE_URL"}
    env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    report("cairn dev", [one_run(args.cairn, "dev", env) for _ in range(args.runs)])
    if args.server:
        database = f"cairn_bench_startup_{os.getpid()}"
        server_env = {**env, "DATABASE_URL": f"{args.postgres}/{database}"}
        try:
            # The first start creates and migrates the database; the runs measure the
            # starts after it, as a restart would.
            one_run(args.cairn, "server", server_env)
            report("cairn server", [one_run(args.cairn, "server", server_env)
                                    for _ in range(args.runs)])
        finally:
            subprocess.run(["psql", f"{args.postgres}/postgres", "-qc",
                            f'drop database if exists "{database}" with (force)'],
                           check=False, capture_output=True)


if __name__ == "__main__":
    main()
