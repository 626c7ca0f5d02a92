"""The AWS-recorded conformance corpus (shared/conformance) run by its own run.py against
the live server, the way any Step Functions client would see Cairn.

run.py exits 1 unless every case passes, and the corpus has cases Cairn does not claim
(JSONata, TestState, StartSyncExecution), so its exit status is not the verdict. The bar
is the in-process harness's (crates/asl/tests/conformance.rs): at least 95 % of the
JSONPath cases, that is kind `execution`, and `create_failure` whose recorded error is
`InvalidDefinition`, whose definition (and request) use no JSONata (`"QueryLanguage":
"JSONata"` or a `{% %}` expression). The run prints run.py's own `N passed, M failed`
line for the whole corpus and the JSONPath figure in the terminal summary.

`CAIRN_E2E_CONFORMANCE_JOBS` sets run.py's -j (default 8)."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import CONFORMANCE_KEY, LOG_DIR, SHARED

CORPUS = SHARED / "conformance"
BAR = 0.95


def uses_jsonata(value):
    if isinstance(value, dict):
        return any((k == "QueryLanguage" and v == "JSONata") or "{%" in k or uses_jsonata(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(uses_jsonata(v) for v in value)
    return isinstance(value, str) and "{%" in value


def in_jsonpath_scope(case):
    kind = case.get("kind", "execution")
    if kind == "test_state":
        return False
    if uses_jsonata(case.get("definition")) or uses_jsonata(case.get("request")):
        return False
    if kind == "create_failure":
        return case.get("expected", {}).get("error") == "InvalidDefinition"
    return kind == "execution"


def jsonpath_case_names():
    names = set()
    root = CORPUS / "cases"
    for path in root.rglob("*.json"):
        case = json.loads(path.read_text(encoding="utf-8"))
        if in_jsonpath_scope(case):
            names.add(case.get("name") or str(path.relative_to(root))[:-5])
    return names


@pytest.mark.conformance
def test_conformance_corpus_against_live_server(server, request):
    run_py = CORPUS / "run.py"
    assert run_py.exists(), f"the conformance corpus is missing: {run_py}"
    jobs = os.environ.get("CAIRN_E2E_CONFORMANCE_JOBS", "8")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    report_path = LOG_DIR / "conformance-live.json"
    table_path = LOG_DIR / "conformance-live.txt"
    started = time.monotonic()
    with open(table_path, "w") as table:
        done = subprocess.run(
            [sys.executable, str(run_py), server.endpoint, "-j", jobs, "--json", str(report_path)],
            stdout=table, stderr=subprocess.STDOUT, timeout=1800,
        )
    seconds = time.monotonic() - started
    lines = table_path.read_text().splitlines()
    assert done.returncode in (0, 1), f"run.py failed to run ({done.returncode}):\n" + \
        "\n".join(lines[-30:])
    summary = lines[-1] if lines else "(no output)"

    report = json.loads(report_path.read_text())
    scope = jsonpath_case_names()
    results = [r for r in report["results"] if r["name"] in scope]
    assert len(results) == len(scope), "every JSONPath case ran"
    passed = sum(r["verdict"] == "PASS" for r in results)
    rate = passed / len(results)
    failures = [f"  {r['name']}: {r['problems'][0] if r['problems'] else r['verdict']}"[:240]
                for r in results if r["verdict"] != "PASS"]
    request.config.stash[CONFORMANCE_KEY] = [
        f"run.py (whole corpus, -j {jobs}, {seconds:.0f} s; table in {table_path}):",
        summary,
        f"JSONPath cases in scope: {passed} of {len(results)} passed ({100 * rate:.1f} %), "
        f"bar {100 * BAR:.0f} %",
        *(["JSONPath failures:"] + failures[:40] if failures else []),
        *([f"  ... and {len(failures) - 40} more"] if len(failures) > 40 else []),
    ]
    assert rate >= BAR, f"{passed}/{len(results)} JSONPath cases passed:\n" + "\n".join(failures)
