"""Cairn beside its peers on this machine and this Postgres: the same workload on each,
the figures and the ratio side by side. Run through bench/peers.sh, which builds Cairn
and this script's venv.

- A 3-step durable workflow: Cairn's `tasks3` (3 Task states, each an HTTP call to a
  local target) against DBOS Transact (a @DBOS.workflow of 3 @DBOS.step functions,
  checkpointed in the same Postgres). The DBOS steps do no I/O at all, which favours DBOS.
- 3 Pass states through the Step Functions API: Cairn's `pass3` (Standard, durable)
  against moto's server with its ASL execution turned on (in memory, nothing durable).
- Postgres's own limit: pgbench, single-row insert commits/s at 8 clients, beside the
  commits/s Cairn makes while running `tasks3`.
"""
import argparse
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(postgres, sql, database="postgres"):
    subprocess.run(["psql", f"{postgres}/{database}", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def cairn_bench(workload, executions, postgres):
    """Runs cairn-bench and returns its JSON report."""
    out = subprocess.run(
        [str(REPO / "target/release/cairn-bench"), workload, "--executions", str(executions),
         "--cairn", str(REPO / "target/release/cairn"), "--postgres", postgres],
        check=True, stdout=subprocess.PIPE, text=True).stdout
    report = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    print(f"  cairn {workload}: {report['executions_per_second']:.0f} exec/s, "
          f"{report['commits_per_execution']:.2f} commits/exec", file=sys.stderr)
    return report


def dbos_three_steps(executions, postgres):
    """Executions/s of a 3-step DBOS workflow, every one started at once and awaited."""
    from dbos import DBOS

    database = f"dbos_peers_{os.getpid()}"
    DBOS(config={"name": "cairn-peers", "system_database_url": f"{postgres}/{database}",
                 "log_level": "WARNING"})

    @DBOS.step()
    def validate(order):
        return {**order, "validated": True}

    @DBOS.step()
    def charge(order):
        return {**order, "charged": True}

    @DBOS.step()
    def ship(order):
        return {**order, "shipped": True}

    @DBOS.workflow()
    def order_pipeline(order):
        return ship(charge(validate(order)))

    DBOS.launch()
    try:
        # Warm up: the first workflow creates the schema's caches and connections.
        DBOS.start_workflow(order_pipeline, {"order": -1}).get_result()
        began = time.monotonic()
        handles = [DBOS.start_workflow(order_pipeline, {"order": i}) for i in range(executions)]
        results = [h.get_result() for h in handles]
        seconds = time.monotonic() - began
        assert all(r["shipped"] for r in results)
    finally:
        DBOS.destroy()
        psql(postgres, f"drop database if exists {database} with (force)")
    rate = executions / seconds
    print(f"  DBOS 3 steps: {rate:.0f} exec/s", file=sys.stderr)
    return rate


def moto_three_pass(executions, moto_server):
    """Executions/s of 3 Pass states on moto's server, started then polled to the end."""
    import boto3

    port = free_port()
    server = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        config = urllib.request.Request(
            f"{endpoint}/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode())
        urllib.request.urlopen(config, timeout=5)
        sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        definition = {"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Result": 2, "ResultPath": "$.b", "Next": "C"},
            "C": {"Type": "Pass", "Result": 3, "ResultPath": "$.c", "End": True}}}
        machine = sfn.create_state_machine(
            name="pass3", definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/peers")["stateMachineArn"]

        def start(i):
            return sfn.start_execution(stateMachineArn=machine, name=f"e{i}",
                                       input=json.dumps({"order": i}))["executionArn"]

        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            arns = list(pool.map(start, range(executions)))
        # Poll lightly (one paged listing, then a pause) so the polling takes little
        # from moto's own execution threads.
        while True:
            done, failed, token = 0, 0, None
            while True:
                page = sfn.list_executions(stateMachineArn=machine, maxResults=1000,
                                           **({"nextToken": token} if token else {}))
                for e in page["executions"]:
                    done += e["status"] == "SUCCEEDED"
                    failed += e["status"] not in ("SUCCEEDED", "RUNNING")
                token = page.get("nextToken")
                if not token:
                    break
            if failed:
                raise RuntimeError(f"{failed} moto executions did not succeed")
            if done == len(arns):
                break
            if time.monotonic() - began > 600:
                raise RuntimeError(f"{len(arns) - done} moto executions still running after 10 min")
            time.sleep(0.05)
        seconds = time.monotonic() - began
    finally:
        server.terminate()
        server.wait()
    rate = executions / seconds
    print(f"  moto 3 Pass: {rate:.0f} exec/s", file=sys.stderr)
    return rate


def pgbench_inserts(postgres, seconds):
    """Commits/s of single-row inserts at 8 clients: Postgres's own ceiling here."""
    database = f"pgbench_peers_{os.getpid()}"
    psql(postgres, f"create database {database}")
    try:
        psql(postgres, "create table t (id bigserial primary key, v int)", database)
        script = REPO / "target" / "pgbench-insert.sql"
        script.write_text("insert into t (v) values (1);\n")
        out = subprocess.run(["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(seconds),
                              "-f", str(script), f"{postgres}/{database}"],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
    finally:
        psql(postgres, f"drop database if exists {database} with (force)")
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    print(f"  pgbench inserts: {tps:.0f} commits/s", file=sys.stderr)
    return tps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=2000,
                        help="executions per workload and peer (default 2000)")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="the Postgres server every participant uses, without a database")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--moto-server", default=str(Path(sys.executable).parent / "moto_server"))
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    postgres = args.postgres.rstrip("/")

    print("measuring (each participant alone on the machine, one after the other):",
          file=sys.stderr)
    tasks3 = cairn_bench("tasks3", args.executions, postgres)
    pass3 = cairn_bench("pass3", args.executions, postgres)
    dbos = dbos_three_steps(args.executions, postgres)
    moto = moto_three_pass(args.executions, args.moto_server)
    pgbench = pgbench_inserts(postgres, args.pgbench_seconds)
    cairn_commits = tasks3["executions_per_second"] * tasks3["commits_per_execution"]

    rows = [
        ("3-step durable workflow, exec/s", "Cairn tasks3", tasks3["executions_per_second"],
         "DBOS Transact", dbos),
        ("3 Pass states via the SFN API, exec/s", "Cairn pass3", pass3["executions_per_second"],
         "moto server", moto),
        ("Postgres commits/s", "Cairn tasks3", cairn_commits, "pgbench inserts, 8 clients",
         pgbench),
    ]
    print(f"\n{'comparison':<40} {'Cairn':>10} {'peer':>10} {'Cairn/peer':>11}  peer")
    for name, _, ours, peer_name, theirs in rows:
        print(f"{name:<40} {ours:>10.0f} {theirs:>10.0f} {ours / theirs:>10.2f}x  {peer_name}")
    report = {
        "executions": args.executions,
        "cairn_tasks3_exec_per_s": tasks3["executions_per_second"],
        "dbos_3_steps_exec_per_s": dbos,
        "cairn_pass3_exec_per_s": pass3["executions_per_second"],
        "moto_3_pass_exec_per_s": moto,
        "cairn_tasks3_commits_per_s": cairn_commits,
        "pgbench_insert_commits_per_s": pgbench,
    }
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
