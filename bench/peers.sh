#!/usr/bin/env bash
# Cairn beside its peers on this machine and this Postgres: DBOS Transact (3-step
# workflow), moto's server (3 Pass states) and pgbench (Postgres's own commit ceiling).
# Usage: bench/peers.sh [--executions N] [--postgres URL] [--json FILE]
# Needs: cargo, python3, psql and pgbench; the Postgres at --postgres
# (default postgres://postgres@127.0.0.1:5432) with rights to create databases.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo build --release -p cairn -p cairn-bench" >&2
cargo build --release --locked -p cairn -p cairn-bench

venv=target/peers-venv
if ! cmp -s bench/peers-requirements.txt "$venv/requirements.installed" 2>/dev/null; then
    echo "==> Python venv $venv (DBOS, moto, boto3 from PyPI)" >&2
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/peers-requirements.txt
    cp bench/peers-requirements.txt "$venv/requirements.installed"
fi
exec "$venv/bin/python" bench/peers.py "$@"
