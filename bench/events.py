#!/usr/bin/env python3
"""EventBridge and EventBridge Scheduler on a real `cairn server` (docs/benchmarks.md,
"Events and schedules"), with boto3's `scheduler` and `events` clients:

1. Schedule fire lag with 10,000 schedules: 10,000 one-time `at()` schedules created
   through the Scheduler API, their occurrences spread evenly over --spread seconds
   (about 166 fires a second at the default 60), each starting a Pass machine. Two lags
   per fire, from the occurrence it is for (in the execution's name): to its
   execution's start time (the clock reading of the pass that fired it), and to the
   moment a reader polling the executions table first sees the execution (its commit,
   to within the poll's period). Whole-second `at()` times: every second's schedules
   are due at once.
2. PutEvents to execution started, with 100 rules on the default bus (each matching
   one `detail-type`, each targeting the Pass machine): --events events sent in
   PutEvents calls of 10 entries from --clients threads; events/s from the first call
   to the moment the last of their executions exists, and the PutEvents rate alone.

    target/e2e-venv/bin/python bench/events.py [--cairn target/release/cairn]
        [--schedules 10000] [--spread 60] [--events 5000] [--clients 8]

It starts its own `cairn server` on a fresh database (`CAIRN_TEST_DATABASE_URL`,
default postgres://postgres@127.0.0.1:5432), reads execution rows with psql, and drops
the database at the end.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from startup import free_port  # noqa: E402  (bench/startup.py)

POSTGRES = os.environ.get("CAIRN_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
ROLE = "arn:aws:iam::123456789012:role/bench"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def psql(database, sql):
    return subprocess.run(["psql", f"{POSTGRES}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                          check=True, capture_output=True, text=True).stdout


def start(binary, database):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CAIRN_"))}
    env.update({"DATABASE_URL": f"{POSTGRES}/{database}", "CAIRN_LISTEN": f"127.0.0.1:{port}",
                "RUST_LOG": "warn", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_REGION": "us-east-1"})
    process = subprocess.Popen([binary, "server"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    import urllib.request
    for _ in range(600):
        try:
            with urllib.request.urlopen(endpoint + "/readyz", timeout=2):
                return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("cairn server did not become ready")


def client(service, endpoint):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bench", aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=32))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wait_for(database, machine, count, timeout):
    deadline = time.monotonic() + timeout
    while True:
        n = int(psql(database, f"select count(*) from executions where state_machine_arn = '{machine}'"))
        if n >= count:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"only {n} of {count} executions after {timeout}s")
        time.sleep(0.05)


def fire_lag(endpoint, database, schedules, spread, clients):
    sfn = client("stepfunctions", endpoint)
    scheduler = client("scheduler", endpoint)
    machine = sfn.create_state_machine(name="fire-lag", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    # Creating 10,000 schedules takes a while: the first occurrence is after that.
    per_second = max(1, schedules // spread)
    lead = 30 + schedules // 40
    first = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=lead)

    def create(i):
        when = first + datetime.timedelta(seconds=i // per_second)
        scheduler.create_schedule(
            Name=f"lag-{i:05d}", ScheduleExpression=f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
            FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": machine, "RoleArn": ROLE})

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(create, range(schedules)))
    created = time.monotonic() - began
    if datetime.datetime.now(datetime.timezone.utc) >= first:
        raise SystemExit("creating the schedules took longer than the lead; raise it")
    # A reader's view: when each execution first shows in a poll of the table (the fire's
    # commit, to within a poll's period), beside the fire's own timestamp.
    seen = {}
    polls = []
    deadline = time.monotonic() + lead + spread + 600
    while len(seen) < schedules:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(seen)} of {schedules} executions")
        before = time.time()
        names = psql(database, f"""select name from executions where state_machine_arn = '{machine}'
                                      and started_at >= now() - interval '30 seconds'""").split()
        after = time.time()
        polls.append(after - before)
        for name in names:
            seen.setdefault(name, after)
        time.sleep(0.02)
    rows = psql(database, f"""select extract(epoch from started_at)
                                   - extract(epoch from to_timestamp(right(name, 16), 'YYYYMMDD"T"HH24MISS"Z"'))
                              from executions where state_machine_arn = '{machine}'""")
    lags = [float(x) * 1000 for x in rows.split()]
    visible = [(at - datetime.datetime.strptime(name[-16:], "%Y%m%dT%H%M%SZ")
                .replace(tzinfo=datetime.timezone.utc).timestamp()) * 1000
               for name, at in seen.items()]
    return {
        "schedules": schedules, "fires_per_second": per_second, "created_in_s": round(created, 1),
        "create_per_s": round(schedules / created, 1),
        "lag_ms": {"p50": round(percentile(lags, 50)), "p99": round(percentile(lags, 99)),
                   "max": round(max(lags)), "min": round(min(lags)),
                   "mean": round(statistics.mean(lags))},
        "visible_lag_ms": {"p50": round(percentile(visible, 50)),
                           "p99": round(percentile(visible, 99)), "max": round(max(visible))},
        "poll_period_ms": round(1000 * statistics.mean(polls) + 20),
    }


def put_events_rate(endpoint, database, total, rules, clients):
    sfn = client("stepfunctions", endpoint)
    events = client("events", endpoint)
    machine = sfn.create_state_machine(name="by-event", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    for i in range(rules):
        events.put_rule(Name=f"rule-{i:03d}", EventPattern=json.dumps(
            {"source": ["bench.orders"], "detail-type": [f"type-{i:03d}"],
             "detail": {"amount": [{"numeric": [">", 0]}]}}))
        events.put_targets(Rule=f"rule-{i:03d}", Targets=[{
            "Id": "sfn", "Arn": machine, "RoleArn": ROLE,
            "InputTransformer": {"InputPathsMap": {"id": "$.detail.id"},
                                 "InputTemplate": '{"orderId": <id>}'}}])

    def send(batch):
        answer = events.put_events(Entries=[
            {"Source": "bench.orders", "DetailType": f"type-{i % rules:03d}",
             "Detail": json.dumps({"id": f"o-{i}", "amount": 1 + i % 50})} for i in batch])
        assert answer["FailedEntryCount"] == 0, answer

    batches = [range(i, min(total, i + 10)) for i in range(0, total, 10)]
    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, batches))
    sent = time.monotonic() - began
    done = wait_for(database, machine, total, timeout=600) - began
    return {"events": total, "rules": rules, "clients": clients,
            "put_events_per_s": round(total / sent), "started_per_s": round(total / done),
            "sent_in_s": round(sent, 2), "all_started_in_s": round(done, 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cairn", default=str(REPO / "target" / "debug" / "cairn"))
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--spread", type=int, default=60)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--skip", choices=["schedules", "events"])
    args = parser.parse_args()
    database = f"cairn_bench_events_{os.getpid()}"
    subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f'drop database if exists "{database}"'],
                   check=True, capture_output=True)
    process, endpoint = start(args.cairn, database)
    report = {"binary": args.cairn}
    try:
        if args.skip != "events":
            report["put_events"] = put_events_rate(endpoint, database, args.events, args.rules,
                                                   args.clients)
            print(json.dumps(report["put_events"]), flush=True)
        if args.skip != "schedules":
            report["fire_lag"] = fire_lag(endpoint, database, args.schedules, args.spread,
                                          args.clients)
            print(json.dumps(report["fire_lag"]), flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
        subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc",
                        f'drop database if exists "{database}" with (force)'], capture_output=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
