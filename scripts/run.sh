#!/usr/bin/env bash
# Sets up and runs Cairn on this machine: checks for Postgres (starting the local
# cluster if it is installed but down), builds Cairn and runs `cairn server`, which
# creates its database and applies migrations itself.
#
#   scripts/run.sh                 # API on http://127.0.0.1:8083
#   scripts/run.sh --listen 0.0.0.0:8083
#
# DATABASE_URL picks the database (default postgres://postgres@127.0.0.1:5432/cairn).
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cairn}"

if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        echo "==> starting the local Postgres cluster"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    fi
fi
if ! command -v pg_isready >/dev/null; then
    echo "Postgres was not found. Install it (Debian/Ubuntu: sudo apt-get install postgresql)" >&2
    echo "or point DATABASE_URL at a Postgres server you have." >&2
fi

echo "==> building cairn (release)"
cargo build --release -p cairn
echo "==> cairn server (Ctrl-C stops it cleanly)"
exec target/release/cairn server "$@"
