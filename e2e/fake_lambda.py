"""A small stand-in for the AWS Lambda Invoke API, serving the seed order workflow's
functions over real HTTP on loopback.

Cairn reaches it through `AWS_ENDPOINT_URL_LAMBDA` and calls
`POST /2015-03-31/functions/<name or ARN>/invocations` (SigV4-signed; the signature is
not checked here) with the state's input as the JSON body. A function's result is its
JSON payload with status 200; a function error is status 200 with
`X-Amz-Function-Error: Unhandled` and `{"errorType": ..., "errorMessage": ...}`, as the
real service answers (see crates/worker/src/lambda.rs).

What each function does is decided by the order it is given, so every scenario of the
workflow is one execution with its own order id:
- an item with `qty` <= 0 fails validate-order with `ValidationError`;
- an item with `"backorder": true` is out of stock at the first check-inventory of that
  order (`OutOfStockError`) and in stock at the next;
- `payment.card == "flaky"` times out (`PaymentGatewayTimeout`) at the first two
  process-payment calls of that order; `"declined"` is always `PaymentDeclined`.
"""
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")


class FunctionError(Exception):
    """Raised by a fake function: becomes an `X-Amz-Function-Error` answer."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class FakeLambda:
    """The functions, their per-order state and a log of every invocation."""

    def __init__(self):
        self._lock = threading.Lock()
        self.invocations = []  # dicts: function, payload, headers
        self._calls = {}  # (function, order id) -> count
        self._orders = {}  # order id -> last order check-inventory saw

    # ---- bookkeeping
    def _count(self, function, order_id):
        with self._lock:
            key = (function, order_id)
            self._calls[key] = self._calls.get(key, 0) + 1
            return self._calls[key]

    def calls(self, function, order_id=None):
        """The invocations of `function` (for one order, when given)."""
        with self._lock:
            return [
                i for i in self.invocations
                if i["function"] == function
                and (order_id is None or _order_id(i["payload"]) == order_id)
            ]

    def invoke(self, function, payload, headers):
        with self._lock:
            self.invocations.append({"function": function, "payload": payload, "headers": headers})
        handler = getattr(self, "fn_" + function.replace("-", "_"), None)
        if handler is None:
            raise KeyError(function)
        return handler(payload)

    # ---- the functions of order-processing.asl.json
    def fn_validate_order(self, order):
        for item in order.get("items", []):
            if item.get("qty", 0) <= 0:
                raise FunctionError(
                    "ValidationError",
                    f"order {order['orderId']}: quantity of {item['sku']} must be positive",
                )
        if not order.get("items"):
            raise FunctionError("ValidationError", f"order {order['orderId']} has no items")
        return {**order, "validated": True}

    def fn_check_inventory(self, order):
        checks = self._count("check-inventory", order["orderId"])
        with self._lock:
            self._orders[order["orderId"]] = order
        short = [i["sku"] for i in order["items"] if i.get("backorder")]
        if short and checks == 1:
            raise FunctionError(
                "OutOfStockError", f"order {order['orderId']}: {', '.join(short)} out of stock"
            )
        return {**order, "reserved": [i["sku"] for i in order["items"]]}

    def fn_notify_backorder(self, caught):
        # The workflow's Catch has no ResultPath, so this function gets the error output
        # ({"Error", "Cause"}) and not the order: find the order through the cause, as a
        # backorder service that knows its orders would.
        cause = json.loads(caught["Cause"])
        order_id = re.match(r"order (\S+):", cause["errorMessage"]).group(1)
        with self._lock:
            order = self._orders[order_id]
        return {**order, "backorderNotified": True}

    def fn_process_payment(self, order):
        attempt = self._count("process-payment", order["orderId"])
        card = order.get("payment", {}).get("card")
        if card == "declined":
            raise FunctionError("PaymentDeclined", f"card for order {order['orderId']} declined")
        if card == "flaky" and attempt <= 2:
            raise FunctionError("PaymentGatewayTimeout", f"gateway timed out (attempt {attempt})")
        return {**order, "paymentId": f"pay-{order['orderId']}"}

    def fn_update_inventory(self, order):
        return {"inventoryUpdated": [i["sku"] for i in order["items"]]}

    def fn_send_confirmation(self, order):
        return {"confirmationSentTo": order["customer"]["email"]}

    def fn_initiate_shipping(self, order):
        return {"trackingNumber": f"TRK-{order['orderId']}"}

    # ---- for `.waitForTaskToken`: takes the token (the test answers for it) and returns
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


def _function_name(path_part):
    """`validate-order` or `arn:aws:lambda:us-east-1:123456789012:function:validate-order`."""
    name = urllib.parse.unquote(path_part)
    if name.startswith("arn:"):
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]  # drop a qualifier


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeLambda/1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        fake = self.server.fake
        match = INVOKE_PATH.match(urllib.parse.urlsplit(self.path).path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if not match:
            return self._send(404, {"message": f"no route {self.path}"},
                              {"x-amzn-ErrorType": "ResourceNotFoundException"})
        function = _function_name(match.group("function"))
        try:
            payload = json.loads(body or b"null")
            result = fake.invoke(function, payload, dict(self.headers))
        except FunctionError as e:
            return self._send(200, {"errorType": e.error_type, "errorMessage": e.message},
                              {"X-Amz-Function-Error": "Unhandled"})
        except KeyError:
            return self._send(404, {"Type": "User", "message": f"Function not found: {function}"},
                              {"x-amzn-ErrorType": "ResourceNotFoundException"})
        except Exception as e:  # a bug in a fake function: report it as Lambda would
            return self._send(200, {"errorType": type(e).__name__, "errorMessage": str(e)},
                              {"X-Amz-Function-Error": "Unhandled"})
        self._send(200, result, {"X-Amz-Executed-Version": "$LATEST"})

    def _send(self, status, body, headers):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # keep pytest's output clean
        pass


def start():
    """Starts the fake on a free loopback port; returns (fake, server, url)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.fake = FakeLambda()
    threading.Thread(target=server.serve_forever, name="fake-lambda", daemon=True).start()
    host, port = server.server_address
    return server.fake, server, f"http://{host}:{port}"
