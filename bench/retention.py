#!/usr/bin/env python3
"""Retention: deleting closed executions' rows (what Cairn does) against dropping a time
partition of their history (what a history partitioned by time would allow), on the same
data, alone and beside a `tasks3` run (docs/benchmarks.md, "Retention: rows or
partitions").

    target/e2e-venv/bin/python bench/retention.py [--cairn target/debug/cairn]
        [--bench target/debug/cairn-bench] [--executions 20000] [--history-copies 1]
        [--tasks3 1500]

1. A `cairn server` on a fresh database applies the real schema (its migrations) and runs
   one execution of a ten-Pass machine (22 history events, in the batches the scheduler
   writes: one row); the server is stopped. --history-copies K gives every copy K times
   those rows (4 makes as many history rows as a `tasks3` execution has).
2. A second history table, `history_by_start`, is the real `history_batches` plus the
   execution's start time, partitioned by it (declarative partitioning, one partition
   per day) — the layout that lets retention drop a day at once.
3. For each way, --executions copies of the seed execution, ended 100 days ago, are made
   (execution rows and history, in one transaction), then removed:
   - rows: the statements of the retention job (`PgStore::purge_closed`), 500
     executions per transaction, in a loop until none is left;
   - partition: `DETACH PARTITION` + `DROP TABLE` of the day's history partition, then
     the same loop for everything else (the execution rows and the tables keyed by
     execution, as the executions table is not partitioned).
   Each is timed, with the WAL it wrote (pg_current_wal_lsn before and after).
4. With --tasks3 N: `cairn-bench tasks3 --executions N` alone, then again with each way
   started beside it (on this Postgres, another database) --delay seconds after the
   bench's measured run began. The WAL figure beside it includes the bench's.

Writes a JSON summary to stdout and a table to stderr. Drops its database at the end.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from events import client, start  # noqa: E402  (bench/events.py: a server on a database)

POSTGRES = os.environ.get("CAIRN_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
ROLE = "arn:aws:iam::123456789012:role/bench"
TEN_PASSES = {"StartAt": "P1", "States": {
    f"P{i}": ({"Type": "Pass", "Result": {"step": i, "note": "x" * 40}, "ResultPath": f"$.p{i}"}
              | ({"End": True} if i == 10 else {"Next": f"P{i + 1}"}))
    for i in range(1, 11)}}

# The tables the retention job deletes from by execution ARN, after the execution rows
# (crates/store/src/postgres/retention.rs).
BY_EXECUTION = ["inbox", "tasks", "task_tokens", "activity_tasks", "stored_map_values",
                "execution_redrives", "execution_test_cases", "mocked_invocations", "map_runs"]


def psql(database, sql):
    return subprocess.run(["psql", f"{POSTGRES}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def seed(binary, database):
    """Applies the migrations with a real server and runs one execution; returns its ARN."""
    process, endpoint = start(binary, database)
    try:
        sfn = client("stepfunctions", endpoint)
        machine = sfn.create_state_machine(name="aged", roleArn=ROLE,
                                           definition=json.dumps(TEN_PASSES))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, name="seed",
                                        input=json.dumps({"n": 1}))["executionArn"]
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
            time.sleep(0.1)
        return execution
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


PARTITIONED = """
create table history_by_start (like history_batches, started_at timestamptz not null)
    partition by range (started_at);
alter table history_by_start add primary key (execution_arn, first_id, started_at);
"""


def make(database, execution, count, way, rows):
    """`count` copies of `execution` that ended 100 days ago, history in the table `way`
    keeps it in; returns the day partition's name for `partition`."""
    day = psql(database, f"select (started_at - interval '100 days')::date from executions where arn = '{execution}'")
    partition = "history_day_" + day.replace("-", "_")
    insert_history = (
        f"""insert into history_batches (execution_arn, first_id, last_id, events)
            select execution_arn || '-' || i, first_id + j * 1000, last_id + j * 1000, events
            from history_batches, generate_series(1, {count}) i, generate_series(0, {rows - 1}) j
            where execution_arn = '{execution}';"""
        if way == "rows" else
        f"""create table {partition} partition of history_by_start
                for values from ('{day}') to (date '{day}' + 1);
            insert into history_by_start (execution_arn, first_id, last_id, events, started_at)
            select execution_arn || '-' || i, first_id + j * 1000, last_id + j * 1000, events,
                   (select started_at - interval '100 days' from executions where arn = '{execution}')
            from history_batches, generate_series(1, {count}) i, generate_series(0, {rows - 1}) j
            where execution_arn = '{execution}';""")
    psql(database, f"""begin;
        insert into executions (arn, state_machine_arn, name, definition_id, role_arn, status, input,
                                output, started_at, stopped_at, snapshot, version, history_length)
        select arn || '-' || i, state_machine_arn, name || '-' || i, definition_id, role_arn, status,
               input, output, started_at - interval '100 days', stopped_at - interval '100 days',
               snapshot, version, history_length
        from executions, generate_series(1, {count}) i where arn = '{execution}';
        {insert_history}
        commit;""")
    psql(database, "vacuum analyze")
    psql(database, "checkpoint")
    return partition


def purge_loop(with_history):
    """The retention job's statements, one transaction per 500 executions, in a loop."""
    deletes = "\n".join(
        f"delete from {table} where execution_arn = any(arns);"
        for table in (["history_batches"] if with_history else []) + BY_EXECUTION)
    return f"""do $$
        declare arns text[];
        begin
          loop
            with gone as (
              delete from executions
              where arn in (select arn from executions
                            where status <> 'RUNNING' and stopped_at < now() - interval '30 days'
                            order by stopped_at limit 500 for update skip locked)
              returning arn)
            select coalesce(array_agg(arn), '{{}}') into arns from gone;
            exit when cardinality(arns) = 0;
            {deletes}
            commit;
          end loop;
        end $$;"""


def remove(database, way, partition):
    """Removes what `make` made; returns (seconds, WAL bytes). The seconds are the
    statements' own (psql's \\timing), without psql's start-up."""
    statements = [purge_loop(with_history=(way == "rows"))]
    if way == "partition":
        statements[:0] = [f"alter table history_by_start detach partition {partition};",
                          f"drop table {partition};"]
    start_lsn = psql(database, "select pg_current_wal_lsn()")
    script = "\\timing on\n" + "\n".join(statements) + "\n"
    out = subprocess.run(["psql", f"{POSTGRES}/{database}", "-v", "ON_ERROR_STOP=1", "-qAt"],
                         input=script, check=True, capture_output=True, text=True).stdout
    seconds = sum(float(ms) for ms in re.findall(r"^Time: ([0-9.]+) ms", out, re.M)) / 1000
    wal = int(psql(database, f"select pg_wal_lsn_diff(pg_current_wal_lsn(), '{start_lsn}')"))
    left = int(psql(database, "select count(*) from executions where stopped_at < now() - interval '30 days'"))
    assert left == 0, f"{left} executions left after {way}"
    return seconds, wal


class Tasks3:
    """A `cairn-bench tasks3` run in the background; `measuring` is set when its measured
    run begins (its "==> measured run" line on stderr)."""

    def __init__(self, bench, binary, count):
        self.process = subprocess.Popen(
            [bench, "tasks3", "--executions", str(count), "--cairn", binary, "--postgres", POSTGRES],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.measuring = threading.Event()
        self.errors = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.errors.append(line)
            if line.startswith("==> measured run:"):
                self.measuring.set()

    def exec_per_second(self):
        out = self.process.stdout.read()
        self.process.wait()
        self.reader.join()
        if self.process.returncode != 0:
            raise SystemExit(f"cairn-bench failed: {''.join(self.errors)[-2000:]}")
        for line in out.splitlines():
            if line.startswith("tasks3 "):
                return float(line.split()[3])
        raise SystemExit(f"no tasks3 line in: {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cairn", default="target/debug/cairn")
    parser.add_argument("--bench", default="target/debug/cairn-bench")
    parser.add_argument("--executions", type=int, default=20000)
    parser.add_argument("--tasks3", type=int, default=0)
    parser.add_argument("--history-copies", type=int, default=1,
                        help="copies of the seed's history rows per execution (4 makes as many rows as tasks3's)")
    parser.add_argument("--delay", type=float, default=1.0,
                        help="seconds between the start of the bench's measured run and the removal")
    args = parser.parse_args()
    database = f"cairn_bench_retention_{os.getpid()}"
    psql("postgres", f"create database {database}")
    try:
        execution = seed(args.cairn, database)
        psql(database, PARTITIONED)
        events = int(psql(database, f"select history_length from executions where arn = '{execution}'"))
        batches = int(psql(database, f"select count(*) from history_batches where execution_arn = '{execution}'"))
        events, batches = events * args.history_copies, batches * args.history_copies
        report = {"executions": args.executions, "history_events_each": events,
                  "history_rows_each": batches, "alone": {}, "beside_tasks3": {}}
        print(f"{args.executions} executions of {events} history events in {batches} rows each", file=sys.stderr)
        for way in ("rows", "partition"):
            partition = make(database, execution, args.executions, way, args.history_copies)
            seconds, wal = remove(database, way, partition)
            report["alone"][way] = {"seconds": seconds, "executions_per_second": args.executions / seconds,
                                    "wal_bytes": wal, "wal_bytes_per_execution": wal / args.executions}
            print(f"{way:9} alone: {args.executions} in {seconds:.2f} s = {args.executions / seconds:,.0f}/s, "
                  f"WAL {wal / 1e6:.1f} MB ({wal / args.executions:,.0f} B/execution)", file=sys.stderr)
        if args.tasks3:
            report["beside_tasks3"]["none"] = {"tasks3_exec_per_second": Tasks3(
                args.bench, args.cairn, args.tasks3).exec_per_second()}
            print(f"tasks3 alone: {report['beside_tasks3']['none']['tasks3_exec_per_second']:.0f} exec/s",
                  file=sys.stderr)
            for way in ("rows", "partition"):
                partition = make(database, execution, args.executions, way, args.history_copies)
                bench = Tasks3(args.bench, args.cairn, args.tasks3)
                if not bench.measuring.wait(timeout=600):
                    raise SystemExit("cairn-bench never began its measured run")
                time.sleep(args.delay)
                seconds, wal = remove(database, way, partition)
                rate = bench.exec_per_second()
                report["beside_tasks3"][way] = {"seconds": seconds, "executions_per_second": args.executions / seconds,
                                                "wal_bytes": wal, "tasks3_exec_per_second": rate}
                print(f"{way:9} beside tasks3: {args.executions} in {seconds:.2f} s = "
                      f"{args.executions / seconds:,.0f}/s, WAL {wal / 1e6:.1f} MB; tasks3 {rate:.0f} exec/s",
                      file=sys.stderr)
        print(json.dumps(report, indent=2))
    finally:
        psql("postgres", f"drop database if exists {database} with (force)")


if __name__ == "__main__":
    main()
