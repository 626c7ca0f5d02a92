#!/usr/bin/env python3
"""A STANDARD Distributed Map's child executions at scale: one execution whose Map runs
N items (a Pass state each) as N child executions at MaxConcurrency C, on a fresh
database of the local Postgres, through one `cairn server`.

    python3 bench/map_children.py [--cairn target/debug/cairn] [--items 10000] \
        [--concurrency 1000] [--server postgres://postgres@127.0.0.1:5432]

Prints the wall time from StartExecution to the parent's end, children per second, and
Postgres commits per child (the database's `xact_commit` in `pg_stat_database`, read
before the start and after the end: every transaction of the run, the API's, the
schedulers' and the polls' included). Standard library and `psql` only.
"""
import argparse
import json
import os
import socket
import subprocess
import time
import urllib.request

ROLE = "arn:aws:iam::123456789012:role/bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(endpoint, operation, body):
    request = urllib.request.Request(
        endpoint, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0",
                 "X-Amz-Target": f"AWSStepFunctions.{operation}"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def psql(server, database, sql):
    return subprocess.run(["psql", f"{server}/{database}", "-tAc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def commits(server, database):
    return int(psql(server, "postgres",
                    f"select xact_commit from pg_stat_database where datname = '{database}'"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cairn", default="target/debug/cairn")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1_000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    database = f"cairn_bench_children_{os.getpid()}"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "AWS_"))}
    env.update({"DATABASE_URL": f"{args.server}/{database}",
                "CAIRN_LISTEN": f"127.0.0.1:{port}", "RUST_LOG": "warn"})
    log = open(f"/tmp/{database}.log", "w")
    process = subprocess.Popen([args.cairn, "server"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/readyz", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never became ready"
                time.sleep(0.2)
        definition = {"StartAt": "Fan", "States": {"Fan": {
            "Type": "Map", "End": True, "MaxConcurrency": args.concurrency,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Work",
                "States": {"Work": {"Type": "Pass", "Parameters": {"n.$": "$"}, "End": True}}}}}}
        machine = call(endpoint, "CreateStateMachine", {
            "name": "children", "roleArn": ROLE,
            "definition": json.dumps(definition)})["stateMachineArn"]
        before = commits(args.server, database)
        started = time.monotonic()
        execution = call(endpoint, "StartExecution", {
            "stateMachineArn": machine,
            "input": json.dumps(list(range(args.items)))})["executionArn"]
        while True:
            described = call(endpoint, "DescribeExecution", {"executionArn": execution})
            if described["status"] != "RUNNING":
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        after = commits(args.server, database)
        assert described["status"] == "SUCCEEDED", described
        output = json.loads(described["output"])
        assert output == [{"n": n} for n in range(args.items)], "every result, in order"
        run = call(endpoint, "ListMapRuns", {"executionArn": execution})["mapRuns"][0]
        counts = call(endpoint, "DescribeMapRun",
                      {"mapRunArn": run["mapRunArn"]})["executionCounts"]
        print(json.dumps({
            "items": args.items, "max_concurrency": args.concurrency,
            "seconds": round(elapsed, 2),
            "children_per_second": round(args.items / elapsed, 1),
            "commits": after - before,
            "commits_per_child": round((after - before) / args.items, 2),
            "execution_counts": counts}, indent=2))
    finally:
        process.terminate()
        process.wait(timeout=30)
        psql(args.server, "postgres", f'drop database if exists "{database}" with (force)')


if __name__ == "__main__":
    main()
