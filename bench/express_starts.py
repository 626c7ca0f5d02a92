#!/usr/bin/env python3
"""StartExecution on an EXPRESS machine: how many per second one `cairn server` accepts,
and how many runs it leaves recorded afterwards (none once they have ended).

    python3 bench/express_starts.py [--cairn target/debug/cairn] [--seconds 10] [--clients 8]

Starts a `cairn server` on a fresh database of the local Postgres, creates an EXPRESS
machine of one Pass state, and has `--clients` processes call StartExecution (unsigned,
keep-alive HTTP) as fast as the server answers for `--seconds`. Each asynchronous start
writes its run's record before it answers (at least once; concurrent starts share one
insert) and the replica deletes the records of ended runs once per renew period; the
script prints the starts per second and the records left after the drain.
Standard library only; needs psql.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import time

from startup import MACHINE, ROLE, call, free_port

POSTGRES = os.environ.get("CAIRN_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")


def client(port, machine, seconds, results):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-amz-json-1.0",
               "X-Amz-Target": "AWSStepFunctions.StartExecution"}
    body = json.dumps({"stateMachineArn": machine, "input": "{\"n\": 1}"})
    done = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.request("POST", "/", body=body, headers=headers)
        reply = connection.getresponse()
        reply.read()
        if reply.status == 200:
            done += 1
        else:
            failed += 1
    results.put((done, failed))


def psql(database, sql):
    return subprocess.run(["psql", f"{POSTGRES}/{database}", "-Atqc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cairn", default="target/debug/cairn")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    database = f"cairn_bench_express_{os.getpid()}"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "AWS_"))},
           "DATABASE_URL": f"{POSTGRES}/{database}", "CAIRN_LISTEN": f"127.0.0.1:{port}",
           "RUST_LOG": "warn"}
    process = subprocess.Popen([args.cairn, "server"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                call(endpoint, "ListStateMachines", {})
                break
            except OSError:
                time.sleep(0.1)
        machine = call(endpoint, "CreateStateMachine", {
            "name": "express-starts", "definition": MACHINE, "roleArn": ROLE,
            "type": "EXPRESS"})["stateMachineArn"]
        results = multiprocessing.Queue()
        workers = [multiprocessing.Process(target=client,
                                           args=(port, machine, args.seconds, results))
                   for _ in range(args.clients)]
        began = time.monotonic()
        for w in workers:
            w.start()
        totals = [results.get() for _ in workers]
        elapsed = time.monotonic() - began
        for w in workers:
            w.join()
        done = sum(t[0] for t in totals)
        failed = sum(t[1] for t in totals)
        # Ended runs' rows go with each replica's next pass (every 10 s by default).
        time.sleep(12)
        try:
            left = psql(database, "select count(*) from express_runs")
        except subprocess.CalledProcessError:
            left = "n/a (no express_runs table)"
        print(f"{args.cairn}: {done} starts in {elapsed:.1f} s = {done / elapsed:.0f}/s "
              f"({failed} failed, {args.clients} clients); records left: {left}")
    finally:
        process.terminate()
        process.wait()
        subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc",
                        f"drop database if exists {database} with (force)"],
                       capture_output=True)


if __name__ == "__main__":
    main()
