"""The seed's Map batch job: GetBatch lists a batch's items, the Distributed Map
ProcessBatch runs ProcessItem on each (at most MaxConcurrency at once), Aggregate sums the
results. Prints the Map run's events, the results in item order beside the order they
finished in, the most items processed at once, and Aggregate's output.

    examples/run.sh map-batch             # starts the functions and cairn, then runs this
    python run.py --sfn-endpoint URL      # against a Cairn whose Lambda functions are
                                          # examples/map-batch/functions.py

Exits 0 when the execution succeeded with every item's result, in item order, and no
more than MaxConcurrency items were processed at once.
"""
import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
DEFINITION = HERE / "map-batch.asl.json"
ROLE = "arn:aws:iam::123456789012:role/cairn"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
SIZE = 25


def client(endpoint):
    return boto3.session.Session().client(
        "stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def state_machine(sfn, name="map-batch"):
    definition = DEFINITION.read_text()
    try:
        return sfn.create_state_machine(name=name, definition=definition,
                                        roleArn=ROLE)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        return arn


def history(sfn, arn):
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def run(sfn_endpoint, size=SIZE):
    """Runs one batch of `size` items; returns {arn, status, output, error, cause,
    max_concurrency, events (types), results (the Map's, in its order)}."""
    sfn = client(sfn_endpoint)
    machine = state_machine(sfn)
    batch = f"batch-{uuid.uuid4().hex[:6]}"
    arn = sfn.start_execution(stateMachineArn=machine, name=batch, input=json.dumps(
        {"batchId": batch, "size": size}))["executionArn"]
    deadline = time.monotonic() + 120
    while (described := sfn.describe_execution(executionArn=arn))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    events = history(sfn, arn)
    exited = [e for e in events if e["type"] == "MapStateExited"]
    results = (json.loads(exited[0]["stateExitedEventDetails"]["output"])["results"]
               if exited else None)
    definition = json.loads(DEFINITION.read_text())
    return {
        "arn": arn, "batch": batch, "status": described["status"],
        "output": json.loads(described["output"]) if "output" in described else None,
        "error": described.get("error"), "cause": described.get("cause"),
        "max_concurrency": definition["States"]["ProcessBatch"]["MaxConcurrency"],
        "events": [e["type"] for e in events],
        "results": results,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sfn-endpoint", default="http://127.0.0.1:8083")
    parser.add_argument("--size", type=int, default=SIZE)
    args = parser.parse_args()
    result = run(args.sfn_endpoint, args.size)
    print(f"execution     {result['arn']}")
    print(f"status        {result['status']}")
    if result["status"] != "SUCCEEDED":
        print(f"error         {result['error']}: {result['cause']}")
        print("NOT OK")
        return 1
    print(f"events        {' '.join(t for t in result['events'] if t.startswith('Map'))}")
    results = result["results"]
    short = [r["id"].rsplit("-", 1)[1] for r in results]
    finished = [r["id"].rsplit("-", 1)[1]
                for r in sorted(results, key=lambda r: r["finished"])]
    print(f"results       {' '.join(short)}  (item order)")
    print(f"finished      {' '.join(finished)}")
    output = result["output"]
    print(f"concurrency   at most {output['peakConcurrency']} items at once "
          f"(MaxConcurrency {result['max_concurrency']})")
    shown = {k: v for k, v in output.items() if k != "ids"}
    print(f"Aggregate     {json.dumps(shown)}")
    ok = (output["count"] == args.size
          and output["ids"] == [f"{result['batch']}-{n:03}" for n in range(args.size)]
          and output["sumOfSquares"] == sum(n * n for n in range(args.size))
          and output["peakConcurrency"] <= result["max_concurrency"])
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
