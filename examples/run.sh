#!/usr/bin/env bash
# Runs one example of examples/ with everything it needs, on this machine, in one command:
# what the example calls, each on a free loopback port — moto's server (SQS, SNS,
# DynamoDB, EventBridge) for the examples that use AWS services, the example's Lambda
# functions (examples/NAME/functions.py served by examples/lambda_server.py, reached
# through the Lambda Invoke API) for those that have any — then a `cairn server` pointed
# at them (with `CAIRN_MOCK_CONFIG` when the example has a MockConfigFile.json), then
# `examples/NAME/run.py` against it; all are stopped at the end, whatever happens.
#
#   examples/run.sh order-processing
#   examples/run.sh order-processing-jsonata
#   examples/run.sh order-processing-mocked
#   examples/run.sh order-events
#   examples/run.sh map-batch
#   examples/run.sh activity-approval
#   examples/run.sh sqs-approval
#   examples/run.sh sdk-integrations
#
# Uses Postgres when there is one (DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/cairn_examples; the server creates the database), and
# `cairn dev` (everything in memory) otherwise, or when CAIRN_STORE=memory. Needs Python 3
# (moto and boto3 go into target/e2e-venv, from e2e/requirements.txt, as scripts/test.sh
# does).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: examples/run.sh EXAMPLE   (order-processing, order-processing-jsonata, order-processing-mocked, order-events, map-batch, activity-approval, sqs-approval, sdk-integrations)}
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
pids=()
cleanup() {  # the server first, then what it calls
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null && wait "${pids[i]}" 2>/dev/null
    done
    true
}
trap cleanup EXIT

server_env=()
run_args=()
case "$name" in
    sdk-integrations | sqs-approval)  # they call AWS services: moto stands in for them
        moto_port=$(free_port)
        "$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
        pids+=($!)
        wait_for "http://127.0.0.1:$moto_port/moto-api/"
        for service in SQS SNS DYNAMODB EVENTBRIDGE; do
            server_env+=("AWS_ENDPOINT_URL_$service=http://127.0.0.1:$moto_port")
        done
        run_args+=(--aws-endpoint "http://127.0.0.1:$moto_port")
        echo "==> moto on :$moto_port"
        ;;
esac
if [ -f "examples/$name/functions.py" ]; then
    functions_port=$(free_port)
    "$venv/bin/python" examples/lambda_server.py "examples/$name/functions.py" \
        --port "$functions_port" >"$logs/functions.log" 2>&1 &
    pids+=($!)
    wait_for "http://127.0.0.1:$functions_port/"
    server_env+=("AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$functions_port")
    echo "==> $(head -1 "$logs/functions.log")"
fi

if [ -f "examples/$name/MockConfigFile.json" ]; then
    server_env+=("CAIRN_MOCK_CONFIG=$PWD/examples/$name/MockConfigFile.json")
    echo "==> mock configuration examples/$name/MockConfigFile.json"
fi

subcommand=server
if [ "${CAIRN_STORE:-}" = memory ] || { [ -z "${DATABASE_URL:-}" ] &&
    ! { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }; }; then
    subcommand=dev
    echo "==> no Postgres: cairn dev, in memory (nothing survives a restart)"
fi
cairn_port=$(free_port)
env ${server_env[@]+"${server_env[@]}"} \
    DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cairn_examples}" \
    CAIRN_LISTEN="127.0.0.1:$cairn_port" \
    target/debug/cairn "$subcommand" >"$logs/cairn.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$cairn_port/readyz"

echo "==> examples/$name/run.py (cairn on :$cairn_port; logs in $logs)"
"$venv/bin/python" "examples/$name/run.py" --sfn-endpoint "http://127.0.0.1:$cairn_port" \
    ${run_args[@]+"${run_args[@]}"}
