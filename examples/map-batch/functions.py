"""The Lambda functions of the seed's Map batch job, as small Python stand-ins served by
examples/lambda_server.py:

- get-batch `{"batchId", "size"}` → the batch's items, `[{"id", "n", "ms"}, …]`;
- process-item `{"id", "n", "ms"}` → `{"id", "square", "started", "finished"}` after
  working `ms` milliseconds (the items take different times, so they finish out of
  order); `started`/`finished` are this server's clock, in seconds;
- aggregate-results, the Map's whole output `{…, "items", "results"}` → a summary: how
  many results, their sum, the ids in result order, and the most items that were being
  processed at one moment (from the results' `started`/`finished`).

    python examples/lambda_server.py examples/map-batch/functions.py --port 9000
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lambda_server import FunctionError  # noqa: E402
from lambda_server import Functions as Served  # noqa: E402


def work_ms(n):
    """How long item `n` takes: 100 to 460 ms, in an order unlike the items'."""
    return 100 + (n * 7 % 10) * 40


def peak_concurrency(results):
    """The most intervals [started, finished) that overlap at one moment."""
    edges = sorted([(r["started"], 1) for r in results] + [(r["finished"], -1) for r in results],
                   key=lambda edge: (edge[0], edge[1]))  # an end before a start at a tie
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


class Functions(Served):
    """get-batch, process-item, aggregate-results."""

    def fn_get_batch(self, request):
        size = request.get("size")
        if not isinstance(size, int) or not 0 <= size <= 1000:
            raise FunctionError("InvalidBatch", f"size must be an integer 0..1000, got {size!r}")
        return [{"id": f"{request['batchId']}-{n:03}", "n": n, "ms": work_ms(n)}
                for n in range(size)]

    def fn_process_item(self, item):
        started = time.monotonic()
        time.sleep(item["ms"] / 1000)
        return {"id": item["id"], "square": item["n"] ** 2,
                "started": round(started, 4), "finished": round(time.monotonic(), 4)}

    def fn_aggregate_results(self, state):
        results = state["results"]
        return {
            "batchId": state["batchId"],
            "count": len(results),
            "sumOfSquares": sum(r["square"] for r in results),
            "ids": [r["id"] for r in results],
            "peakConcurrency": peak_concurrency(results),
        }
