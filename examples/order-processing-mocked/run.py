"""The seed's order workflow tested with mocked Lambda functions, as Step Functions Local
users test theirs: each path of the workflow is a test case of MockConfigFile.json, and
no function is ever called.

1. `cairn run --mock-config MockConfigFile.json --test-case CASE` on the seed's own
   definition (its hour-long wait and its retry back-offs pass on the virtual clock);
2. the same test cases on a server started with `CAIRN_MOCK_CONFIG`, each through
   StartExecution on `…:stateMachine:order-processing#CASE`.

    examples/run.sh order-processing-mocked    # starts cairn with CAIRN_MOCK_CONFIG, then this
    python run.py --sfn-endpoint URL           # against a Cairn started with CAIRN_MOCK_CONFIG

Prints each run's status and path; exits 0 when every one ended as the README says.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIG = HERE / "MockConfigFile.json"
SEED = Path(os.environ.get("CAIRN_SHARED_DIR", REPO.parent / "shared")) \
    / "seed" / "workflows" / "order-processing.asl.json"
CAIRN = Path(os.environ.get("CAIRN_BIN", REPO / "target" / "debug" / "cairn"))


def _order_example():
    """examples/order-processing/run.py: its machine, history and path reading."""
    spec = importlib.util.spec_from_file_location(
        "order_processing_run", REPO / "examples" / "order-processing" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ORDER = _order_example()

# Each test case is one path of examples/order-processing, and ends as it does there:
# the same status, the same top-level states, the same number of Lambda calls.
CASES = {
    "HappyPath": "success",
    "InvalidOrder": "invalid",
    "Backorder": "backorder",
    "FlakyPayment": "flaky",
    "DeclinedCard": "declined",
}
EXPECTED = {case: ORDER.EXPECTED[path] for case, path in CASES.items()}


def local(definition=SEED):
    """Every test case through `cairn run`; per case {status, path, history}."""
    states = json.loads(definition.read_text())["States"]
    results = {}
    for case in CASES:
        done = subprocess.run(
            [str(CAIRN), "run", "--mock-config", str(CONFIG), "--test-case", case,
             "--input", json.dumps({"orderId": f"local-{case}"}), str(definition)],
            capture_output=True, text=True, timeout=120)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"cairn run failed ({done.returncode}): {done.stderr}")
        report = json.loads(done.stdout)
        # `cairn run` prints its history events as {event_type, details}; read them as
        # GetExecutionHistory's.
        events = [{"type": e["event_type"], "stateEnteredEventDetails": e["details"]}
                  for e in report["history"]]
        steps, _ = ORDER.path(events, states)
        results[case] = {"status": report["status"], "path": steps,
                         "exit": done.returncode, "history": report["history"]}
    return results


def server(sfn_endpoint):
    """Every test case started on the server at once; per case {arn, status, path}."""
    sfn = ORDER.client(sfn_endpoint)
    machine = ORDER.state_machine(sfn)
    states = json.loads(ORDER.DEFINITION.read_text())["States"]
    suffix = uuid.uuid4().hex[:6]
    arns = {case: sfn.start_execution(stateMachineArn=f"{machine}#{case}",
                                      name=f"{case}-{suffix}",
                                      input=json.dumps({"orderId": f"{case}-{suffix}"})
                                      )["executionArn"]
            for case in CASES}
    results = {}
    for case, described in ORDER.wait(sfn, arns).items():
        steps, _ = ORDER.path(ORDER.history(sfn, arns[case]), states)
        results[case] = {"arn": arns[case], "status": described["status"], "path": steps,
                         "output": json.loads(described["output"])
                         if "output" in described else None}
    return results


def show(where, results):
    ok = True
    for case, result in results.items():
        steps = [f"{state} ({calls} calls)" if calls > 1 else state
                 for state, calls in result["path"]]
        good = (result["status"], result["path"]) == EXPECTED[case]
        ok &= good
        print(f"{where:7} {case:13} {result['status']:10} {' -> '.join(steps)}"
              f"{'' if good else '   <-- NOT AS EXPECTED'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    args = parser.parse_args()
    ok = show("local", local())
    ok &= show("server", server(args.sfn_endpoint))
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
