"""The AWS-recorded conformance corpus (shared/conformance) run by its own run.py against
the live server, the way any Step Functions client would see Cairn.

The scope is the in-process harness's (crates/asl/tests/conformance.rs): kind
`execution`, `test_state` (TestState), and `create_failure` whose recorded error is
`InvalidDefinition`, in both query languages. Every case in scope must pass but those in
`DEVIATIONS`, cases whose recording run.py cannot reproduce (each argued in
docs/asl-support.md). A second run, of the `test_state` cases with `--inspection`, must
pass as well: TestState's `inspectionData` as AWS filled it. The run prints run.py's own
`N passed, M failed` lines and the figures in the terminal summary.

`CAIRN_E2E_CONFORMANCE_JOBS` sets run.py's -j (default 8)."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import CONFORMANCE_KEY, LOG_DIR, SHARED

CORPUS = SHARED / "conformance"
# Cases run.py cannot pass against any faithful implementation, and why.
DEVIATIONS = {
    "test_state/TestStateCaseScenarios__test_state_with_variables_base_expressions":
        "recorded without roleArn ($states.context.Execution.RoleArn is null); run.py sends one",
}


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
        return True
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
    jsonata_results = [r for r in results if r["name"] in jsonata]
    jsonata_passed = sum(r["verdict"] == "PASS" for r in jsonata_results)
    failures = [f"  {r['name']}: {r['problems'][0] if r['problems'] else r['verdict']}"[:240]
                for r in results if r["verdict"] != "PASS" and r["name"] not in DEVIATIONS]
    deviated = [f"  {name}: {DEVIATIONS[name]}" for name in sorted(DEVIATIONS)
                if any(r["name"] == name and r["verdict"] != "PASS" for r in results)]

    # The TestState cases again, their inspectionData compared too.
    inspection_report = LOG_DIR / "conformance-live-inspection.json"
    with open(LOG_DIR / "conformance-live-inspection.txt", "w") as table:
        subprocess.run(
            [sys.executable, str(run_py), server.endpoint, "-j", jobs, "--kind", "test_state",
             "--inspection", "--json", str(inspection_report)],
            stdout=table, stderr=subprocess.STDOUT, timeout=1800,
        )
    inspected = json.loads(inspection_report.read_text())
    inspection_failures = [
        f"  {r['name']}: {r['problems'][0] if r['problems'] else r['verdict']}"[:240]
        for r in inspected["results"] if r["verdict"] != "PASS" and r["name"] not in DEVIATIONS]
    request.config.stash[CONFORMANCE_KEY] = [
        f"run.py (whole corpus, -j {jobs}, {seconds:.0f} s; table in {table_path}):",
        summary,
        f"cases in scope: {passed} of {len(results)} passed; JSONata: {jsonata_passed} of "
        f"{len(jsonata_results)}",
        f"run.py --kind test_state --inspection: {inspected['passed']} passed, "
        f"{inspected['failed']} failed",
        *(["known deviations (docs/asl-support.md):"] + deviated if deviated else []),
        *(["failures:"] + failures[:40] if failures else []),
        *([f"  ... and {len(failures) - 40} more"] if len(failures) > 40 else []),
        *(["inspection failures:"] + inspection_failures[:40] if inspection_failures else []),
    ]
    assert jsonata and len(jsonata_results) == len(jsonata), "every JSONata case ran"
    assert not failures, f"{passed}/{len(results)} cases passed:\n" + "\n".join(failures)
    assert not inspection_failures, \
        "TestState inspectionData differs:\n" + "\n".join(inspection_failures)
