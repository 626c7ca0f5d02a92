#!/usr/bin/env bash
# Regenerates `.sqlx/`, the query data sqlx's macros check SQL against when building
# offline (the default, set in .cargo/config.toml). Run it after changing a query:
# it migrates a scratch database on the Postgres the tests use, builds every target
# with the macros online so each query is described by that database and its data
# written to `.sqlx/`, and drops the scratch database.
#
#   scripts/sqlx-prepare.sh        (CAIRN_TEST_DATABASE_URL picks the server)
set -euo pipefail
cd "$(dirname "$0")/.."

server="${CAIRN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db="cairn_sqlx_prepare_$$"
psql "$server/postgres" -qc "create database $db"
trap 'psql "$server/postgres" -qc "drop database if exists $db" >/dev/null' EXIT
for migration in migrations/*.sql; do
    psql "$server/$db" -q -v ON_ERROR_STOP=1 -f "$migration" >/dev/null
done
# The table sqlx's migrator keeps (the readiness check reads it).
psql "$server/$db" -q -v ON_ERROR_STOP=1 -c "create table _sqlx_migrations (
    version bigint primary key, description text not null,
    installed_on timestamptz not null default now(), success boolean not null,
    checksum bytea not null, execution_time bigint not null)"

rm -f .sqlx/query-*.json
# Every crate with queries is rebuilt, so that every query is described again.
cargo clean -p cairn-store
SQLX_OFFLINE=false DATABASE_URL="$server/$db" SQLX_OFFLINE_DIR="$PWD/.sqlx" \
    cargo check --workspace --all-targets --quiet
echo "==> .sqlx: $(ls .sqlx | wc -l) queries"
