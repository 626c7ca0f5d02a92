#!/usr/bin/env bash
# Runs one example of examples/ with everything it needs, on this machine, in one command:
# moto's server (SQS, SNS, DynamoDB, EventBridge) and a `cairn server` pointed at it, each
# on a free loopback port, then `examples/NAME/run.py` against the two; both are stopped
# at the end, whatever happens.
#
#   examples/run.sh sdk-integrations
#   examples/run.sh sqs-approval
#
# Needs Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/cairn_examples;
# the server creates the database) and Python 3 (moto and boto3 go into target/e2e-venv,
# from e2e/requirements.txt, as scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: examples/run.sh EXAMPLE   (sdk-integrations, sqs-approval)}
[ -f "examples/$name/run.py" ] || { echo "no examples/$name/run.py" >&2; exit 2; }

venv=target/e2e-venv
if ! cmp -s e2e/requirements.txt "$venv/requirements.installed" 2>/dev/null; then
    echo "==> Python venv $venv (moto, boto3)"
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
    cp e2e/requirements.txt "$venv/requirements.installed"
fi
echo "==> cargo build -p cairn"
cargo build --quiet -p cairn

# Dummy credentials: moto accepts any, and Cairn signs its calls with them. No profile
# files or instance metadata: nothing here can reach real AWS.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    AWS_REGION=us-east-1 AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
    AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # URL: until it answers at all (any HTTP status), for up to 60 s
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.2
    done
    echo "$1 did not answer" >&2; return 1
}

logs=target/examples-logs
mkdir -p "$logs"
moto_port=$(free_port)
"$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
moto_pid=$!
cairn_pid=""
cleanup() {
    [ -n "$cairn_pid" ] && kill "$cairn_pid" 2>/dev/null && wait "$cairn_pid" 2>/dev/null
    kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
    true
}
trap cleanup EXIT
wait_for "http://127.0.0.1:$moto_port/moto-api/"

cairn_port=$(free_port)
AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port" \
AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$moto_port" \
AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$moto_port" \
AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$moto_port" \
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cairn_examples}" \
CAIRN_LISTEN="127.0.0.1:$cairn_port" \
    target/debug/cairn server >"$logs/cairn.log" 2>&1 &
cairn_pid=$!
wait_for "http://127.0.0.1:$cairn_port/readyz"

echo "==> examples/$name/run.py (cairn on :$cairn_port, moto on :$moto_port; logs in $logs)"
"$venv/bin/python" "examples/$name/run.py" \
    --sfn-endpoint "http://127.0.0.1:$cairn_port" --aws-endpoint "http://127.0.0.1:$moto_port"
