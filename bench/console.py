#!/usr/bin/env python3
"""The console's speed, two figures (docs/benchmarks.md, "Console"):

1. An execution page with a history of 1,002 events (an inline Map of 249 items, 4
   events each) drawn in headless Chromium: from the start of navigation to the
   moment the page has drawn the graph, the history table, the timeline and the
   state panel (its `cairn:execution-drawn` performance mark), with the time the
   script started and the data arrived (`cairn:execution-fetched`). Median of --runs
   loads, each in a new browser context.
2. ListExecutions through the console's JSON (`POST /console/api/ListExecutions`) on
   100,000 executions of one machine in Postgres: the first page, a page 50,000 deep,
   the last page (25 each, as the console asks), and a walk through all of them in
   pages of 1,000. The executions are inserted with SQL (starting 100,000 through the
   API would measure StartExecution instead).

    target/e2e-venv/bin/python bench/console.py [--cairn target/release/cairn] [--runs 7]

It starts its own `cairn server` on a fresh database (`CAIRN_TEST_DATABASE_URL`,
default postgres://postgres@127.0.0.1:5432) and drops the database at the end. Needs
Playwright's Python client (e2e/requirements.txt) and /usr/bin/chromium.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "e2e"))
sys.path.insert(0, str(REPO / "bench"))
from browser import FLAGS, VIEWPORT, chromium_path  # noqa: E402
from startup import call, free_port  # noqa: E402  (bench/startup.py)

from playwright.sync_api import sync_playwright  # noqa: E402

POSTGRES = os.environ.get("CAIRN_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
ROLE = "arn:aws:iam::123456789012:role/bench"
PREFIX = "arn:aws:states:us-east-1:123456789012"
ITEMS = 249  # 6 + 4 x 249 = 1,002 events


def console(endpoint, operation, body):
    request = urllib.request.Request(
        f"{endpoint}/console/api/{operation}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Cairn-Console": "1"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def psql(database, sql):
    subprocess.run(["psql", f"{POSTGRES}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                   check=True, capture_output=True, text=True)


def start(binary, database):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"{POSTGRES}/{database}",
           "CAIRN_LISTEN": f"127.0.0.1:{port}", "RUST_LOG": "warn"}
    process = subprocess.Popen([binary, "server"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(endpoint + "/readyz", timeout=2):
                return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("cairn server did not become ready")


def page_render(endpoint, runs):
    machine = call(endpoint, "CreateStateMachine", {
        "name": "console-bench-map", "roleArn": ROLE, "definition": json.dumps({
            "StartAt": "Each", "States": {"Each": {
                "Type": "Map", "ItemsPath": "$.items", "End": True,
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}}}}}})
    })["stateMachineArn"]
    arn = call(endpoint, "StartExecution", {"stateMachineArn": machine,
                                           "input": json.dumps({"items": list(range(ITEMS))})})["executionArn"]
    while call(endpoint, "DescribeExecution", {"executionArn": arn})["status"] == "RUNNING":
        time.sleep(0.1)
    events, token = 0, None
    while True:
        page = call(endpoint, "GetExecutionHistory", {"executionArn": arn, "maxResults": 1000,
                                                     **({"nextToken": token} if token else {})})
        events += len(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        for _ in range(runs):
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(f"{endpoint}/console/executions/{arn}")
            page.wait_for_selector("main[data-status='SUCCEEDED']")
            marks = page.evaluate("""() => {
                const at = (name) => performance.getEntriesByName(name)[0].startTime;
                const nav = performance.getEntriesByType('navigation')[0];
                return [nav.domContentLoadedEventEnd, at('cairn:execution-fetched'), at('cairn:execution-drawn')];
            }""")
            rows = page.locator("table.history tbody tr").count()
            assert rows == events, (rows, events)
            times.append(marks)
            context.close()
        browser.close()
    return events, times


def listing(endpoint, database):
    machine = call(endpoint, "CreateStateMachine", {
        "name": "listed", "roleArn": ROLE,
        "definition": json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})})["stateMachineArn"]
    psql(database, f"""
        insert into executions (arn, state_machine_arn, name, definition_id, role_arn, status,
                                input, started_at, stopped_at)
        select '{PREFIX}:execution:listed:e' || lpad(i::text, 6, '0'), '{machine}',
               'e' || lpad(i::text, 6, '0'),
               (select definition_id from state_machines where arn = '{machine}'), '{ROLE}',
               case when i % 100 = 0 then 'FAILED' else 'SUCCEEDED' end, '{{}}',
               timestamptz '2026-01-01' + i * interval '1 second',
               timestamptz '2026-01-01' + i * interval '1 second'
        from generate_series(1, 100000) i;
        analyze executions;""")

    def timed(body, repeat=20):
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            page = console(endpoint, "ListExecutions", body)
            samples.append((time.perf_counter() - t) * 1000)
        return statistics.median(samples), page

    figures = {}
    figures["first page (25)"], page = timed({"stateMachineArn": machine, "maxResults": 25})
    # Walk in pages of 1,000, keeping the token 50,000 deep and the last one.
    tokens, token, walked = {}, None, 0
    t = time.perf_counter()
    while True:
        page = console(endpoint, "ListExecutions", {"stateMachineArn": machine, "maxResults": 1000,
                                                    **({"nextToken": token} if token else {})})
        walked += len(page["executions"])
        token = page.get("nextToken")
        if walked == 50_000:
            tokens["deep"] = token
        if walked == 99_000:
            tokens["last"] = token
        if not token:
            break
    figures["walk of 100,000 in pages of 1,000 (total)"] = (time.perf_counter() - t) * 1000
    assert walked == 100_000, walked
    # A token from a page of 1,000 resumes after that row whatever the next page's size.
    figures["page 50,000 deep (25)"], _ = timed({"stateMachineArn": machine, "maxResults": 25,
                                                 "nextToken": tokens["deep"]})
    figures["last page (25)"], _ = timed({"stateMachineArn": machine, "maxResults": 25,
                                          "nextToken": tokens["last"]})
    figures["FAILED only, first page (25)"], page = timed({"stateMachineArn": machine, "maxResults": 25,
                                                           "statusFilter": "FAILED"})
    assert all(e["status"] == "FAILED" for e in page["executions"])
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cairn", default=str(REPO / "target" / "release" / "cairn"))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    database = f"cairn_bench_console_{os.getpid()}"
    psql("postgres", f'drop database if exists "{database}"')
    process, endpoint = start(args.cairn, database)
    try:
        events, marks = page_render(endpoint, args.runs)
        drawn = [m[2] for m in marks]
        print(f"execution page, {events} events: drawn at median {statistics.median(drawn):.0f} ms, "
              f"slowest {max(drawn):.0f} ms over {len(drawn)} loads "
              f"({', '.join(f'{t:.0f}' for t in drawn)}); of which: script loaded (DOMContentLoaded) "
              f"{statistics.median(m[0] for m in marks):.0f} ms, data fetched "
              f"{statistics.median(m[1] for m in marks):.0f} ms, drawing "
              f"{statistics.median(m[2] - m[1] for m in marks):.0f} ms (medians)")
        for name, ms in listing(endpoint, database).items():
            print(f"ListExecutions via /console/api, 100,000 executions: {name}: {ms:.1f} ms")
    finally:
        process.terminate()
        process.wait(timeout=15)
        psql("postgres", f'drop database if exists "{database}" with (force)')


if __name__ == "__main__":
    main()
