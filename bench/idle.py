#!/usr/bin/env python3
"""What an idle replica costs: a `cairn server` on the local Postgres (and `cairn dev`)
with nothing to do, watched for a while — its CPU time, its thread wake-ups and the
transactions it makes Postgres run — extrapolated to one hour.

    python3 bench/idle.py [--cairn target/release/cairn] [--seconds 120]

A replica that polls in a busy loop shows up here as CPU seconds per hour and as
thousands of Postgres transactions per hour. Standard library only; needs psql.
"""
import argparse
import glob
import os
import subprocess
import time

from startup import call, free_port, ROLE, MACHINE

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    # utime and stime are fields 14 and 15 of /proc/PID/stat, after the parenthesised name.
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wakeups(pid):
    """Context switches of every thread: each is a thread that went to sleep or was
    preempted, so an idle process's count is how often it woke."""
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            for line in open(status):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended between the listing and the read
    return total


def transactions(postgres, database):
    out = subprocess.run(
        ["psql", f"{postgres}/postgres", "-Atqc",
         "select pg_stat_clear_snapshot(); select xact_commit + xact_rollback "
         f"from pg_stat_database where datname = '{database}'"],
        check=True, capture_output=True, text=True).stdout.split()
    return int(out[-1]) if out else 0


def watch(binary, subcommand, env, seconds, postgres=None, database=None):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**env, "CAIRN_LISTEN": f"127.0.0.1:{port}", "RUST_LOG": "warn"}
    process = subprocess.Popen([binary, subcommand], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                call(endpoint, "ListStateMachines", {})
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"cairn {subcommand} did not answer in 30 s")
        # A machine exists, as on any real deployment; then nothing happens.
        call(endpoint, "CreateStateMachine",
             {"name": "idle", "definition": MACHINE, "roleArn": ROLE})
        time.sleep(5)  # start-up work (migrations, first claims) is not idleness
        cpu0, wake0 = cpu_seconds(process.pid), wakeups(process.pid)
        tx0 = transactions(postgres, database) if database else 0
        time.sleep(seconds)
        cpu = cpu_seconds(process.pid) - cpu0
        woke = wakeups(process.pid) - wake0
        tx = transactions(postgres, database) - tx0 if database else 0
    finally:
        process.terminate()
        process.wait(timeout=15)
    per_hour = 3600 / seconds
    line = (f"cairn {subcommand:<6} idle {seconds} s: CPU {cpu * per_hour:7.2f} s/hour, "
            f"{woke * per_hour / 3600:7.1f} wake-ups/s")
    if database:
        line += f", {tx * per_hour:8.0f} Postgres transactions/hour"
    print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cairn", default="target/release/cairn")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("CAIRN_") and k != "DATABASE_URL"}
    env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    database = f"cairn_bench_idle_{os.getpid()}"
    try:
        watch(args.cairn, "server", {**env, "DATABASE_URL": f"{args.postgres}/{database}"},
              args.seconds, args.postgres, database)
    finally:
        subprocess.run(["psql", f"{args.postgres}/postgres", "-qc",
                        f'drop database if exists "{database}" with (force)'],
                       check=False, capture_output=True)
    watch(args.cairn, "dev", env, args.seconds)


if __name__ == "__main__":
    main()
