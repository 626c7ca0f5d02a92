"""The AWS-recorded conformance corpus (shared/conformance) run by its own run.py against
the live server, the way any Step Functions client would see Cairn.

run.py exits 1 unless every case passes, and the corpus has cases Cairn does not claim
(TestState), so its exit status is not the verdict. The scope is the in-process
harness's (crates/asl/tests/conformance.rs): kind `execution`, and `create_failure` whose
recorded error is `InvalidDefinition`, in both query languages. Every JSONata case
(`"QueryLanguage": "JSONata"` or a `{% %}` expression) must pass, and at least 99 % of the
whole scope. The run prints run.py's own `N passed, M failed` line for the whole corpus
and the figures in the terminal summary.

`CAIRN_E2E_CONFORMANCE_JOBS` sets run.py's -j (default 8)."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import CONFORMANCE_KEY, LOG_DIR, SHARED

CORPUS = SHARED / "conformance"
BAR = 0.99


def uses_jsonata(value):
    if isinstance(value, dict):
        return any((k == "QueryLanguage" and v == "JSONata") or "{%" in k or uses_jsonata(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(uses_jsonata(v) for v in value)
    return isinstance(value, str) and "{%" in value


def in_scope(case):
    kind = case.get("kind", "execution")
    if kind == "test_state":
        return False
    if kind == "create_failure":
        return case.get("expected", {}).get("error") == "InvalidDefinition"
    return kind == "execution"


def case_names():
    """The names of the cases in scope, and of those among them that use JSONata."""
    names, jsonata = set(), set()
    root = CORPUS / "cases"
    for path in root.rglob("*.json"):
        case = json.loads(path.read_text(encoding="utf-8"))
        if in_scope(case):
            name = case.get("name") or str(path.relative_to(root))[:-5]
            names.add(name)
            if uses_jsonata(case.get("definition")) or uses_jsonata(case.get("request")):
                jsonata.add(name)
    return names, jsonata


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
    scope, jsonata = case_names()
    results = [r for r in report["results"] if r["name"] in scope]
    assert len(results) == len(scope), "every case in scope ran"
    passed = sum(r["verdict"] == "PASS" for r in results)
    rate = passed / len(results)
    jsonata_results = [r for r in results if r["name"] in jsonata]
    jsonata_passed = sum(r["verdict"] == "PASS" for r in jsonata_results)
    failures = [f"  {r['name']}: {r['problems'][0] if r['problems'] else r['verdict']}"[:240]
                for r in results if r["verdict"] != "PASS"]
    request.config.stash[CONFORMANCE_KEY] = [
        f"run.py (whole corpus, -j {jobs}, {seconds:.0f} s; table in {table_path}):",
        summary,
        f"cases in scope: {passed} of {len(results)} passed ({100 * rate:.1f} %), "
        f"bar {100 * BAR:.0f} %; JSONata: {jsonata_passed} of {len(jsonata_results)} "
        "(all must pass)",
        *(["failures:"] + failures[:40] if failures else []),
        *([f"  ... and {len(failures) - 40} more"] if len(failures) > 40 else []),
    ]
    assert jsonata and len(jsonata_results) == len(jsonata), "every JSONata case ran"
    assert jsonata_passed == len(jsonata_results), \
        f"{jsonata_passed}/{len(jsonata_results)} JSONata cases passed:\n" + "\n".join(failures)
    assert rate >= BAR, f"{passed}/{len(results)} cases passed:\n" + "\n".join(failures)
