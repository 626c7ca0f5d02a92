#!/usr/bin/env bash
# Checks deploy/ and helm/: YAML lint, Kubernetes schemas, Prometheus rules and their unit
# tests, the Grafana dashboard, and the /metrics exposition of a live `cairn server` that
# ran executions. Installs what it needs (Debian's prometheus for promtool, yamllint,
# kubernetes-validate from PyPI). Needs Postgres on 127.0.0.1:5432 like the tests do.
# Usage: deploy/check.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
K8S_VERSION="${K8S_VERSION:-1.32.0}"
SERVER_URL="${CAIRN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"

step "tools"
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v yamllint >/dev/null || missing+=(yamllint)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deploy/check.sh needs Debian's ${missing[*]} (promtool, yamllint): install them" >&2
        echo "with 'sudo apt-get install ${missing[*]}', or run this script as root." >&2
        exit 1
    fi
    apt-get update -qq
    # Debian's prometheus package also tries to start its service; policy-rc.d may refuse.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v kubernetes-validate >/dev/null || python3 -m pip install -q kubernetes-validate
promtool --version | head -1
yamllint --version
kubernetes-validate --version

step "yamllint"
yamllint -c deploy/yamllint.yml deploy helm/cairn/Chart.yaml helm/cairn/values.yaml

step "Kubernetes manifests against the $K8S_VERSION schemas (strict)"
kubernetes-validate --strict --quiet -k "$K8S_VERSION" deploy/kubernetes/*.yaml
echo "deploy/kubernetes: $(ls deploy/kubernetes/*.yaml | wc -l) files valid"

step "Helm chart"
if command -v helm >/dev/null; then
    helm lint helm/cairn --set secrets.databaseUrl=postgres://x@db/cairn
    rendered="$(mktemp --suffix=.yaml)"
    helm template cairn helm/cairn --set secrets.databaseUrl=postgres://x@db/cairn \
        --set autoscaling.enabled=true >"$rendered"
    yamllint -c deploy/yamllint.yml -d '{extends: relaxed, rules: {line-length: disable}}' "$rendered"
    kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$rendered"
    echo "helm template output valid"
else
    echo "helm is not installed: the chart was not rendered (only Chart.yaml and values.yaml linted)"
fi
# Without helm: every .Values path the templates read exists in values.yaml.
python3 - <<'PY'
import pathlib, re, yaml
values = yaml.safe_load(open("helm/cairn/values.yaml"))
missing = []
for template in pathlib.Path("helm/cairn/templates").glob("*"):
    for path in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", template.read_text()):
        node = values
        for key in path.strip(".").split("."):
            if not isinstance(node, dict) or key not in node:
                missing.append(f"{template.name}: .Values{path}")
                break
            node = node[key]
assert not missing, f"templates read values that values.yaml lacks: {sorted(set(missing))}"
print("every .Values path in the templates exists in values.yaml")
PY

step "Prometheus rules"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
promtool check config --syntax-only deploy/prometheus/prometheus.yml

step "Grafana dashboard"
python3 - <<'PY'
import json
d = json.load(open("deploy/grafana/dashboards/cairn.json"))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert exprs, "the dashboard has no queries"
print(f'{d["title"]}: {len(d["panels"])} panels, {len(exprs)} queries')
PY

step "live exposition from cairn server"
cargo build --locked -q -p cairn
db="cairn_check_$$"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
work="$(mktemp -d)"
run_as=()
# As in the container image: not root.
if [ "$(id -u)" = 0 ]; then run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
# A Task target: answers every POST with its body, as a Lambda function URL would.
target_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 - "$target_port" <<'PY' &
import http.server, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
PY
target=$!
DATABASE_URL="$SERVER_URL/$db" CAIRN_LISTEN="127.0.0.1:$port" RUST_LOG=warn CAIRN_LOG_FORMAT=json \
    CAIRN_FUNCTIONS="echo=http://127.0.0.1:$target_port/echo" \
    "${run_as[@]}" target/debug/cairn server 2>"$work/server.log" &
server=$!
cleanup() {
    kill "$server" "$target" 2>/dev/null || true
    wait "$server" "$target" 2>/dev/null || true
    psql "$SERVER_URL/postgres" -qc "drop database if exists $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    curl -fs "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.2
done
curl -fsS "$base/readyz"; echo
call() {
    curl -fsS "$base/" -H "X-Amz-Target: AWSStepFunctions.$1" \
        -H 'Content-Type: application/x-amz-json-1.0' -d "$2"
}
create="$(python3 -c 'import json; print(json.dumps({"name": "check",
  "roleArn": "arn:aws:iam::123456789012:role/r",
  "definition": json.dumps({"StartAt": "Call", "States": {"Call": {"Type": "Task",
    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo", "End": True}}})}))')"
machine="$(call CreateStateMachine "$create" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["stateMachineArn"])')"
execution="$(call StartExecution "{\"stateMachineArn\":\"$machine\",\"name\":\"one\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["executionArn"])')"
for _ in $(seq 1 100); do
    status="$(call DescribeExecution "{\"executionArn\":\"$execution\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
    [ "$status" != RUNNING ] && break
    sleep 0.1
done
[ "$status" = SUCCEEDED ] || { echo "execution ended $status"; exit 1; }
curl -fsS "$base/metrics" >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt"
grep -qx "cairn_executions_started_total{state_machine_arn=\"$machine\"} 1" "$work/metrics.txt"
grep -qx "cairn_executions_succeeded_total{state_machine_arn=\"$machine\"} 1" "$work/metrics.txt"
# Every metric the dashboard and the alerts use is exposed.
python3 - "$work/metrics.txt" <<'PY'
import json, re, sys
exposed = {l.split("{")[0].split(" ")[0] for l in open(sys.argv[1]) if not l.startswith("#")}
d = json.load(open("deploy/grafana/dashboards/cairn.json"))
text = " ".join(t["expr"] for p in d["panels"] for t in p.get("targets", []))
text += open("deploy/prometheus/alerts.yml").read()
used = set(re.findall(r"\bcairn_[a-z_]+", text))
missing = sorted(used - exposed)
assert not missing, f"used by the dashboard or alerts but not exposed: {missing}"
print(f"{len(used)} metric names used by the dashboard and alerts, all exposed")
PY
echo "exposition: $(grep -c '^# TYPE' "$work/metrics.txt") metrics, promtool clean"

step "deploy checks passed"
