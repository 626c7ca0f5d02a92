#!/usr/bin/env bash
# Cairn's test command: the console's bundle against its sources, formatting, lints,
# every test in the workspace, the deployment checks (deploy/check.sh), the chaos
# suite's short form (bench/src/chaos), then the end-to-end suite (e2e/): boto3, the AWS
# CLI, the conformance corpus's run.py and the console in Chromium against a real
# `cairn server`, and again against `cairn dev` (the in-memory store).
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says how far into the run it starts, to keep CI's time budget in view.
step() { printf '\n==> %s   [%dm%02ds]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

# The console's bundle (console/dist) is committed and embedded in the binary, so that
# building Cairn needs no Node.js; rebuild it from console/src with the locked packages
# and fail if the committed one differs.
step "console: npm ci && npm run check (console/dist is the build of console/src)"
if ! command -v npm >/dev/null; then
    echo "npm (Node.js 20 or newer) is needed to check the console's bundle" >&2
    exit 1
fi
(cd console && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The Python clients come from PyPI, pinned in e2e/requirements.txt, into a venv of
# their own; it is rebuilt when the requirements change. It comes before cargo test:
# crates/worker/tests/s3_moto.rs starts moto's S3 server from it (or from
# CAIRN_TEST_PYTHON).
venv=target/e2e-venv
if ! cmp -s e2e/requirements.txt "$venv/requirements.installed" 2>/dev/null; then
    step "Python venv $venv (boto3, AWS CLI, pytest, moto, Playwright)"
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
    cp e2e/requirements.txt "$venv/requirements.installed"
fi

step "cargo test"
cargo test --workspace --locked

step "end to end: cargo build -p cairn -p cairn-bench"
cargo build -p cairn -p cairn-bench --locked

# The chaos suite's short form: 3 replicas killed with -9 every few seconds and Postgres
# crashed once under a stream of executions; fails unless nothing is lost or duplicated.
# With --moto (the venv's Python) it starts moto's S3 server and also runs Distributed
# Maps (items from S3, STANDARD children, results to S3), checked item by item; both
# runs also start asynchronous Express executions, each of which must run at least once.
step "chaos: cairn-chaos --duration 40 (3 replicas, kill -9, Postgres crash, Distributed Maps, async Express)"
target/debug/cairn-chaos --cairn target/debug/cairn --duration 40 --rate 10 \
    --moto "$venv/bin/python" \
    --seed "${CAIRN_SHARED_DIR:-../shared}/seed/workflows" --json target/chaos.json

# The same load with Postgres failing over: a primary and a synchronous standby, the
# replicas on a multi-host DATABASE_URL, the primary killed with -9 half-way and the
# standby promoted; 0 lost, 0 duplicated, every replica ready again by itself (~65 s).
step "chaos: cairn-chaos --duration 40 --failover (primary kill -9, standby promoted)"
target/debug/cairn-chaos --cairn target/debug/cairn --duration 40 --rate 10 --failover \
    --moto "$venv/bin/python" \
    --seed "${CAIRN_SHARED_DIR:-../shared}/seed/workflows" --json target/chaos-failover.json \
    --logs target/chaos-failover-logs

step "deploy/check.sh (YAML, Kubernetes schemas, Prometheus rules, /metrics exposition)"
bash deploy/check.sh

# The console's browser tests drive Debian's chromium (Playwright's own browser download
# does not work everywhere this runs).
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        step "end to end: apt-get install chromium (for the console's browser tests)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "chromium is missing: run \`apt-get install -y chromium\` as root" >&2
        exit 1
    fi
fi

step "end to end: pytest e2e (boto3, AWS CLI, conformance run.py, the console in chromium; against cairn server)"
"$venv/bin/python" -m pytest e2e

# The same suite against `cairn dev`: what needs a restart that keeps state is
# deselected (marker `durable`). Last, so its summary line is the last line of the run.
step "end to end: pytest e2e against cairn dev (CAIRN_E2E_STORE=memory)"
CAIRN_E2E_STORE=memory "$venv/bin/python" -m pytest e2e
