#!/usr/bin/env bash
# Sets up and runs Cairn on this machine: builds it, then runs `cairn server` on
# Postgres when there is one (DATABASE_URL, or the local server on 127.0.0.1:5432,
# started if it is installed but stopped; the server creates its database and applies
# the migrations itself), and otherwise `cairn dev`, which keeps everything in memory.
#
#   scripts/run.sh                 # API on http://127.0.0.1:8083
#   scripts/run.sh --listen 0.0.0.0:8083
#   CAIRN_STORE=memory scripts/run.sh     # cairn dev even when Postgres is there
#
# DATABASE_URL picks the database (default postgres://postgres@127.0.0.1:5432/cairn).
set -euo pipefail
cd "$(dirname "$0")/.."

postgres_answers() {
    command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q
}

store=postgres
if [ "${CAIRN_STORE:-}" = memory ]; then
    store=memory
elif [ -z "${DATABASE_URL:-}" ] && ! postgres_answers; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        echo "==> starting the local Postgres cluster"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
        for _ in $(seq 1 20); do postgres_answers && break; sleep 0.5; done
    fi
    postgres_answers || store=memory
fi

echo "==> building cairn (release)"
cargo build --release -p cairn

if [ "$store" = memory ]; then
    cat <<'EOT'
==> No Postgres: running `cairn dev`, which keeps every execution in this process's
    memory. Nothing survives a restart. For durable executions install Postgres
    (Debian/Ubuntu: sudo apt-get install postgresql) or set DATABASE_URL, and run this
    again.
EOT
    exec target/release/cairn dev "$@"
fi
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cairn}"
echo "==> cairn server on Postgres (Ctrl-C stops it cleanly)"
exec target/release/cairn server "$@"
