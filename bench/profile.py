#!/usr/bin/env python3
"""Where an execution's time goes: Cairn's side and Postgres's side of one cairn-bench run.

    python3 bench/profile.py --setup                 # once: a Postgres cluster with pg_stat_statements
    python3 bench/profile.py tasks3 -- --executions 2000
    python3 bench/profile.py express3 --callgrind -- --executions 2000

It runs `cairn-bench WORKLOAD` against a Postgres cluster that loads pg_stat_statements
(`--setup` makes one with Debian's tools on port 5450: the main cluster is left alone),
with the server under a profiler, and prints per execution:

- Cairn's CPU by crate, from `perf record` samples of the server process (default), or
  its instructions by crate from `valgrind --tool=callgrind` (`--callgrind`: 20-50x
  slower, but instruction counts do not move with the machine's load);
- Postgres's CPU (perf samples of the backends) and, from pg_stat_statements, each
  statement's calls and execution time per execution.

Each symbol is charged to the crate its name starts with (self time: release builds have
no frame pointers, so call chains are not followed); the kernel and libc are their own rows.
Needs target/release/cairn and target/release/cairn-bench, perf, and for --callgrind valgrind.
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

PROFILE_PORT = 5450
CLUSTER = "prof"


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, text=True, **kwargs)


def psql(url, sql):
    out = sh("psql", url, "-Atqc", sql, capture_output=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def setup():
    """A cluster on PROFILE_PORT with pg_stat_statements loaded (idempotent)."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    conf = f"/etc/postgresql/{version}/{CLUSTER}"
    if not os.path.isdir(conf):
        sh("pg_createcluster", version, CLUSTER, "--port", str(PROFILE_PORT), "--", "--auth=trust")
    with open(f"{conf}/conf.d/50-profile.conf", "w") as f:
        f.write(
            "listen_addresses = '127.0.0.1'\n"
            "shared_preload_libraries = 'pg_stat_statements'\n"
            "pg_stat_statements.track = all\n"
            "max_connections = 200\n"
            # As the main cluster runs here: durable commits, no autovacuum mid-run.
            "fsync = on\nautovacuum = off\n"
        )
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, CLUSTER, "restart"], check=True)
    url = f"postgres://postgres@127.0.0.1:{PROFILE_PORT}/postgres"
    psql(url, "create extension if not exists pg_stat_statements")
    print(f"profiling cluster ready: {url}")


def crate_of(symbol, dso):
    """The row a sample or a function's cost is charged to."""
    if dso and ("kernel" in dso or dso.startswith("[")):
        return "kernel"
    if dso and re.search(r"libc[.-]|ld-linux", dso):
        return "libc (memcpy, malloc, syscalls)"
    s = symbol or ""
    # Rust's legacy mangling demangled: `<a::b as c::d>::e` or `a::b::c`.
    s = s.lstrip("<&*")
    m = re.match(r"(?:dyn |impl )?([a-zA-Z_][a-zA-Z0-9_]*)::", s)
    if m:
        crate = m.group(1)
        return "std (alloc, core, hashbrown)" if crate in ("std", "alloc", "core", "hashbrown") else crate
    if not s or s.startswith("0x") or s == "[unknown]":
        return "unresolved"
    return "other: " + s.split("(")[0][:40]


def backends_of(postmaster, seen, stop):
    """Collects the profiling cluster's backend pids until `stop` is set: the samples of
    other clusters' postgres processes on this machine are not this run's."""
    while not stop.is_set():
        out = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout
        seen.update(int(p) for p in out.split())
        stop.wait(0.05)


def perf_breakdown(data, pids):
    """CPU samples per row, for the processes in `pids`."""
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "comm,pid,ip,sym,dso"],
        capture_output=True, text=True, errors="replace",
    ).stdout
    rows = collections.Counter()
    symbols = collections.Counter()
    total = 0
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+(\d+)\s+[0-9a-f]+\s+(.*?)\s*\((.*)\)\s*$", line)
        if not m:
            continue
        comm, pid, sym, dso = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        if pid not in pids:
            continue
        total += 1
        row = crate_of(sym, dso)
        rows[row] += 1
        symbols[(row, sym)] += 1
    return total, rows, symbols


def callgrind_breakdown(path):
    """Instructions per row (exclusive), from callgrind_annotate."""
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--show-percs=no", path],
        capture_output=True, text=True, errors="replace",
    ).stdout
    rows = collections.Counter()
    symbols = collections.Counter()
    total = 0
    for line in out.splitlines():
        # `1,234  file:function [object]`
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?([^:\s]*):(.*?)(?: \[(.*)\])?$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        count = int(m.group(1).replace(",", ""))
        function, dso = m.group(3).strip(), m.group(4) or ""
        row = crate_of(function, dso)
        rows[row] += count
        symbols[(row, function)] += count
        total += count
    return total, rows, symbols


def print_rows(title, total, rows, executions, unit, per_unit, symbols=None):
    print(f"\n{title}")
    if not total:
        print("  (no samples)")
        return
    for row, n in rows.most_common(14):
        print(f"  {100 * n / total:5.1f} %  {n * per_unit / executions:10.2f} {unit}/execution  {row}")
        if symbols and row in ("kernel", "libc (memcpy, malloc, syscalls)"):
            inside = [(sym, k) for (r, sym), k in symbols.most_common() if r == row][:6]
            print("           " + ", ".join(f"{sym} {100 * k / n:.0f} %" for sym, k in inside))


def run_bench(args, bench_args, postgres, work, tag, profiler):
    """One cairn-bench run with the server started through `profiler` (a shell prefix);
    returns its report and the server's and the backends' pids."""
    pidfile = os.path.join(work, f"server-{tag}.pid")
    wrapper = os.path.join(work, f"cairn-{tag}")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\necho $$ >> "{pidfile}"\nexec {profiler} "{os.path.abspath(args.cairn)}" "$@"\n')
    os.chmod(wrapper, 0o755)
    data_directory = psql(postgres + "/postgres", "show data_directory")[0][0]
    postmaster = int(open(os.path.join(data_directory, "postmaster.pid")).readline())
    backends, stop = set(), threading.Event()
    watcher = threading.Thread(target=backends_of, args=(postmaster, backends, stop))
    watcher.start()
    # perf and pg_stat_statements cover the measured run only, not the set-up (database,
    # migrations, machine) around it: the bench prints a line where it starts and ends.
    bench = subprocess.Popen(
        [args.bench, args.workload, "--cairn", wrapper, "--postgres", postgres, *bench_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    perf = None
    errors = []
    for line in bench.stderr:
        errors.append(line)
        if line.startswith("==> measured run:"):
            psql(postgres + "/postgres", "select pg_stat_statements_reset()")
            if not args.callgrind:
                perf = subprocess.Popen(
                    ["perf", "record", "-a", "-F", str(args.frequency), "-o", os.path.join(work, "perf.data")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
        elif line.startswith("==> measured run over") and perf:
            perf.send_signal(2)
            perf.wait()
    stdout = bench.stdout.read()
    bench.wait()
    stop.set()
    watcher.join()
    if bench.returncode != 0:
        print(stdout, "".join(errors[-20:]), sep="\n")
        sys.exit("cairn-bench failed")
    report = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    executions = report["executions"]
    print(f"{args.workload}: {executions} executions, {report['executions_per_second']:.0f}/s"
          f"{' (under valgrind)' if args.callgrind else ''}; "
          f"server CPU {report['server_cpu_seconds'] / executions * 1e6:.1f} µs/execution, "
          f"{report['commits_per_execution']:.2f} commits/execution")
    pids = {int(p) for p in open(pidfile).read().split()}
    return report, pids, backends


def sample(args, bench_args, postgres, work):
    report, pids, backends = run_bench(args, bench_args, postgres, work, "perf", "")
    executions = report["executions"]
    data = os.path.join(work, "perf.data")
    total, rows, symbols = perf_breakdown(data, pids)
    # Charge the server CPU time the bench measured in proportion to the samples.
    per_sample = report["server_cpu_seconds"] * 1e6 / total if total else 0
    print_rows(f"Cairn server CPU by crate (self), {total} samples", total, rows, executions, "µs", per_sample, symbols)
    total, rows, symbols = perf_breakdown(data, backends)
    print_rows(f"Postgres CPU by function's home, {total} samples at {args.frequency}/s",
               total, rows, executions, "µs", 1e6 / args.frequency, symbols)
    return executions


def callgrind(args, bench_args, postgres, work):
    """Instructions per execution by crate: the difference between a run of N executions
    and one of N/5 over the difference in executions, so that what a server does once
    (start-up: migrations, certificates; shutdown) cancels out. Callgrind's counts are
    per process from start to exit: zeroing them mid-run would leave the functions on
    the stack at that moment with their inclusive costs."""
    executions = 2000
    if "--executions" in bench_args:
        executions = int(bench_args[bench_args.index("--executions") + 1])
    rest = [a for k, a in enumerate(bench_args)
            if a != "--executions" and (k == 0 or bench_args[k - 1] != "--executions")]
    counts = {}
    for tag, n in (("small", max(1, executions // 5)), ("large", executions)):
        out = os.path.join(work, f"callgrind-{tag}")
        _, pids, _ = run_bench(args, [*rest, "--executions", str(n)], postgres, work, tag,
                               f"valgrind --tool=callgrind --callgrind-out-file={out}")
        counts[tag] = (n, callgrind_breakdown(out))
    (n_small, (t_small, r_small, s_small)), (n_large, (t_large, r_large, s_large)) = counts["small"], counts["large"]
    runs = n_large - n_small
    rows = collections.Counter({k: r_large[k] - r_small.get(k, 0) for k in r_large})
    symbols = collections.Counter({k: s_large[k] - s_small.get(k, 0) for k in s_large})
    total = sum(v for v in rows.values() if v > 0)
    print_rows(f"Cairn server: {(t_large - t_small) / runs:,.0f} instructions/execution "
               f"(runs of {n_large} and {n_small}: the difference), by crate (self)",
               total, collections.Counter({k: v for k, v in rows.items() if v > 0}), runs, "instructions", 1, symbols)
    return n_large


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", nargs="?")
    parser.add_argument("--setup", action="store_true", help="make the profiling cluster and exit")
    parser.add_argument("--callgrind", action="store_true", help="count instructions with valgrind instead of sampling")
    parser.add_argument("--cairn", default="target/release/cairn")
    parser.add_argument("--bench", default=os.environ.get("CAIRN_BENCH", "target/release/cairn-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the profiles (perf.data, callgrind.*) and print where")
    parser.add_argument("--frequency", type=int, default=2999, help="perf samples per second per CPU")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    bench_args = argv[split + 1:]
    if args.setup:
        return setup()
    if not args.workload:
        parser.error("a workload (tasks3, express3, pass10, ...) or --setup")
    postgres = f"postgres://postgres@127.0.0.1:{PROFILE_PORT}"
    try:
        psql(postgres + "/postgres", "select pg_stat_statements_reset()")
    except subprocess.CalledProcessError:
        sys.exit(f"no pg_stat_statements on port {PROFILE_PORT}: run `python3 bench/profile.py --setup` first")

    work = tempfile.mkdtemp(prefix="cairn-profile-")
    if args.callgrind:
        executions = callgrind(args, bench_args, postgres, work)
    else:
        executions = sample(args, bench_args, postgres, work)
    statements = psql(
        postgres + "/postgres",
        "select calls, total_exec_time, regexp_replace(left(query, 90), '\\s+', ' ', 'g') "
        f"from pg_stat_statements where calls >= {executions} / 100 order by total_exec_time desc limit 15",
    )
    spent = sum(float(s[1]) for s in statements)
    print(f"\nPostgres statement time: {spent * 1000 / executions:.1f} µs/execution (top 15 statements)")
    for calls, ms, query in statements:
        print(f"  {int(calls) / executions:6.2f} calls  {float(ms) * 1000 / executions:8.1f} µs  {query}")
    if args.keep:
        print(f"\nprofiles kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
