#!/usr/bin/env python3
"""A Distributed Map over a CSV in S3: moto's S3 server and a `cairn server` on the local
Postgres (a fresh database), a CSV of N rows put in S3, a machine whose Distributed Map
(`ItemReader` s3:getObject CSV, EXPRESS children) runs one Pass state per row and counts
its results (`ResultSelector`, so the output stays small). Prints:

- items/s: rows over the execution's run time (StartExecution to its end, as
  DescribeExecution's startDate/stopDate give it);
- time to the first iteration: from the execution's start to its MapRunStarted event
  (the Map starts its iterations in the advance that records it, once the items are read);
- peak server RSS: VmHWM of the server's /proc/PID/status at the end (the process's
  peak, start-up included);
- WAL per item: pg_current_wal_lsn before the start and after the end, over the rows
  (WAL of the whole cluster in that time; nothing else should run);
- the longest DescribeExecution: the bench polls it every 0.2 s while the execution
  runs and times each answer (waiting up to 10 minutes for one), so a server that stops
  answering API calls while it advances the execution shows here.

    target/e2e-venv/bin/python bench/dmap_s3.py [--rows 100000] [--cairn target/debug/cairn]
        [--result-writer]

With `--result-writer` the Map exports its results to S3 (`ResultWriter`, JSONL,
COMPACT) instead of returning them: its output is then the manifest's location, and the
run checks the manifest lists one SUCCEEDED file. Without it the Map returns every
result (counted by `ResultSelector`), which the server must hold at the end.

Needs target/e2e-venv (boto3, moto[server]) and psql; the server's database is dropped
at the end.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import uuid

import boto3

from startup import call, free_port

ROLE = "arn:aws:iam::123456789012:role/bench"
POSTGRES = os.environ.get("CAIRN_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_REGION": "us-east-1"}


def psql(sql, database="postgres"):
    return subprocess.run(["psql", f"{POSTGRES}/{database}", "-Atqc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def wait_http(url, seconds=60):
    import urllib.request
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {seconds} s")


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def csv_body(rows):
    lines = ["id,name,amount,note"]
    lines += [f"{n},item-{n},{n * 7 % 1000}.{n % 100:02},\"row {n}, quoted\"" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cairn", default="target/debug/cairn")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--result-writer", action="store_true")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "CAIRN_")) and k != "DATABASE_URL"}
    env.update(CREDENTIALS)
    moto_port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(moto_port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    s3_endpoint = f"http://127.0.0.1:{moto_port}"
    database = f"cairn_bench_dmap_{uuid.uuid4().hex[:8]}"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = None
    try:
        wait_http(s3_endpoint + "/moto-api/")
        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
        s3.create_bucket(Bucket="bench")
        body = csv_body(args.rows)
        s3.put_object(Bucket="bench", Key="rows.csv", Body=body)

        server = subprocess.Popen(
            [args.cairn, "server"],
            env={**env, "DATABASE_URL": f"{POSTGRES}/{database}",
                 "CAIRN_LISTEN": f"127.0.0.1:{port}", "AWS_ENDPOINT_URL_S3": s3_endpoint,
                 "RUST_LOG": "warn"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(endpoint + "/readyz", 120)
        definition = {"StartAt": "Rows", "States": {"Rows": {
            "Type": "Map", "End": True, "MaxConcurrency": args.concurrency,
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                           "ReaderConfig": {"InputType": "CSV",
                                            "CSVHeaderLocation": "FIRST_ROW"},
                           "Parameters": {"Bucket": "bench", "Key": "rows.csv"}},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                  "ExecutionType": "EXPRESS"},
                              "StartAt": "Touch",
                              "States": {"Touch": {"Type": "Pass", "End": True}}},
            "ResultSelector": {"count.$": "States.ArrayLength($)"},
        }}}
        if args.result_writer:
            state = definition["States"]["Rows"]
            del state["ResultSelector"]
            state["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                                     "Parameters": {"Bucket": "bench", "Prefix": "out"},
                                     "WriterConfig": {"OutputType": "JSONL",
                                                      "Transformation": "COMPACT"}}
        machine = call(endpoint, "CreateStateMachine", {
            "name": "dmap-s3", "definition": json.dumps(definition),
            "roleArn": ROLE})["stateMachineArn"]
        wal_before = psql("select pg_current_wal_lsn()")
        execution = call(endpoint, "StartExecution", {
            "stateMachineArn": machine, "input": "{}"})["executionArn"]
        slowest = 0.0
        while True:
            asked = time.monotonic()
            described = call(endpoint, "DescribeExecution", {"executionArn": execution},
                             timeout=600)
            slowest = max(slowest, time.monotonic() - asked)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.2)
        wal_after = psql("select pg_current_wal_lsn()")
        rss = peak_rss_mb(server.pid)
        wal = int(psql(f"select pg_wal_lsn_diff('{wal_after}', '{wal_before}')"))
        history = call(endpoint, "GetExecutionHistory",
                       {"executionArn": execution, "maxResults": 1000})["events"]
        start = described["startDate"]
        run_seconds = described["stopDate"] - start
        map_run = [e for e in history if e["type"] == "MapRunStarted"]
        first = map_run[0]["timestamp"] - start if map_run else float("nan")
        if described["status"] != "SUCCEEDED":
            raise SystemExit(f"the execution ended {described['status']}: "
                             f"{described.get('error')} {described.get('cause')}")
        output = json.loads(described["output"])
        if args.result_writer:
            key = output["ResultWriterDetails"]["Key"]
            manifest = json.loads(s3.get_object(Bucket="bench", Key=key)["Body"].read())
            files = manifest["ResultFiles"]
            assert len(files["SUCCEEDED"]) == 1 and not files["FAILED"], manifest
        else:
            assert output["count"] == args.rows, (output["count"], args.rows)
        writer = ", ResultWriter" if args.result_writer else ""
        print(f"rows {args.rows} ({len(body) / 1e6:.1f} MB CSV){writer}, MaxConcurrency "
              f"{args.concurrency}: {run_seconds:.2f} s, {args.rows / run_seconds:,.0f} items/s, "
              f"first iteration after {first:.2f} s, peak server RSS {rss:.0f} MB, "
              f"WAL {wal / 1e6:.1f} MB = {wal / args.rows:,.0f} bytes/item, "
              f"longest DescribeExecution {slowest:.2f} s")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        moto.terminate()
        moto.wait(timeout=30)
        psql(f'drop database if exists "{database}" with (force)')


if __name__ == "__main__":
    main()
