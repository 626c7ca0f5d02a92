"""A small stand-in for the AWS Lambda Invoke API, serving the seed order workflow's
functions over real HTTP on loopback.

Cairn reaches it through `AWS_ENDPOINT_URL_LAMBDA` and calls
`POST /2015-03-31/functions/<name or ARN>/invocations` (SigV4-signed; the signature is
not checked here) with the state's input as the JSON body. A function's result is its
JSON payload with status 200; a function error is status 200 with
`X-Amz-Function-Error: Unhandled` and `{"errorType": ..., "errorMessage": ...}`, as the
real service answers (see crates/worker/src/lambda.rs).

The server and the order functions are the ones `examples/order-processing` runs
(examples/lambda_server.py, examples/order-processing/functions.py): what each function
does is decided by the order it is given (see that file), so every scenario of the
workflow is one execution with its own order id. This fake adds `request-approval` and a
per-order view of the invocations.
"""
import importlib.util
import re
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import lambda_server  # noqa: E402  (examples/lambda_server.py)


def _order_functions():
    path = EXAMPLES / "order-processing" / "functions.py"
    spec = importlib.util.spec_from_file_location("order_processing_functions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Functions


class FakeLambda(_order_functions()):
    """The order functions, `request-approval`, and a log of every invocation."""

    def calls(self, function, order_id=None):
        """The invocations of `function` (for one order, when given)."""
        with self.lock:
            return [
                i for i in self.invocations
                if i["function"] == function
                and (order_id is None or _order_id(i["payload"]) == order_id)
            ]

    # For `.waitForTaskToken`: takes the token (the test answers for it) and returns.
    def fn_request_approval(self, request):
        return {"queued": request.get("orderId")}


def _order_id(payload):
    if isinstance(payload, dict):
        if "orderId" in payload:
            return payload["orderId"]
        if "Cause" in payload:
            match = re.search(r"order (\S+):", payload["Cause"])
            return match.group(1) if match else None
    return None


def start():
    """Starts the fake on a free loopback port; returns (fake, server, url)."""
    fake = FakeLambda()
    server, url = lambda_server.start(fake)
    return fake, server, url
