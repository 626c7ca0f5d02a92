#!/usr/bin/env bash
# Compares two builds of cairn on one workload, the only comparison this noisy machine
# allows: runs of the old and the new binary alternate (old, new, old, new, ...), so both
# see the same background load, and the ratio new/old is reported per pair with its
# median and spread.
#
#   bench/compare.sh OLD_BIN NEW_BIN WORKLOAD [ROUNDS] [-- cairn-bench options]
#   bench/compare.sh /tmp/cairn-old target/release/cairn express3 5 -- --executions 4000
#
# Needs target/release/cairn-bench (cargo build --release -p cairn-bench) or CAIRN_BENCH
# pointing at one. Prints, per metric, the median of each build and the median new/old
# ratio with its range over the pairs (executions/s: above 1 is faster; server CPU, commits
# and WAL per execution: below 1 is cheaper).
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
old=$1 new=$2 workload=$3
shift 3
rounds=5
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    rounds=$1
    shift
fi
[ "${1:-}" = "--" ] && shift
bench=${CAIRN_BENCH:-target/release/cairn-bench}
for binary in "$old" "$new" "$bench"; do
    [ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 2; }
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
    for side in old new; do
        binary=$old
        [ "$side" = new ] && binary=$new
        printf '==> round %d/%d: %s (%s)\n' "$round" "$rounds" "$side" "$binary" >&2
        # The report is the one JSON line cairn-bench prints last.
        report=$("$bench" "$workload" --cairn "$binary" "$@" | grep '^{' | tail -1)
        printf '%s\t%s\n' "$side" "$report" >>"$results"
    done
done

python3 - "$results" "$workload" "$rounds" <<'PY'
import json
import statistics
import sys

path, workload, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {"old": [], "new": []}
for line in open(path):
    side, report = line.rstrip("\n").split("\t", 1)
    runs[side].append(json.loads(report))

metrics = {
    "executions/s": lambda r: r["executions_per_second"],
    "server CPU µs/execution": lambda r: r["server_cpu_seconds"] / r["executions"] * 1e6,
    "commits/execution": lambda r: r["commits_per_execution"],
    "write xacts/execution": lambda r: r.get("write_transactions_per_execution", 0),
    "WAL bytes/execution": lambda r: r["wal_bytes_per_execution"],
    "p50 ms": lambda r: r["latency_ms"]["p50"],
    "p99 ms": lambda r: r["latency_ms"]["p99"],
}
print(f"{workload}: {rounds} rounds, old and new alternating")
print(f"{'metric':<26} {'old (median)':>13} {'new (median)':>13} {'new/old':>8}  range of new/old")
for name, read in metrics.items():
    old = [read(r) for r in runs["old"]]
    new = [read(r) for r in runs["new"]]
    ratios = [n / o for o, n in zip(old, new) if o]
    if not ratios:
        continue
    print(
        f"{name:<26} {statistics.median(old):>13.2f} {statistics.median(new):>13.2f} "
        f"{statistics.median(ratios):>8.3f}  {min(ratios):.3f} – {max(ratios):.3f}"
    )
PY
