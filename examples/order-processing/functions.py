"""The Lambda functions of the seed's order workflow, as small Python stand-ins served by
examples/lambda_server.py (the end-to-end suite's fake Lambda, e2e/fake_lambda.py, serves
these same functions).

What each function does is decided by the order it is given, so every path of the
workflow is one execution with its own order id:
- an item with `qty` <= 0 fails validate-order with `ValidationError`;
- an item with `"backorder": true` is out of stock at the first check-inventory of that
  order (`OutOfStockError`) and in stock at the next;
- `payment.card == "flaky"` times out (`PaymentGatewayTimeout`) at the first two
  process-payment calls of that order; `"declined"` is always `PaymentDeclined`.

    python examples/lambda_server.py examples/order-processing/functions.py --port 9000
"""
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lambda_server import FunctionError  # noqa: E402
from lambda_server import Functions as Served  # noqa: E402


class Functions(Served):
    """validate-order, check-inventory, notify-backorder, process-payment,
    update-inventory, send-confirmation, initiate-shipping."""

    def __init__(self):
        super().__init__()
        self._calls = {}  # (function, order id) -> count
        self._orders = {}  # order id -> the order check-inventory saw last

    def count(self, function, order_id):
        """Counts this call of `function` for the order; returns the count so far."""
        with self.lock:
            key = (function, order_id)
            self._calls[key] = self._calls.get(key, 0) + 1
            return self._calls[key]

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
        checks = self.count("check-inventory", order["orderId"])
        with self.lock:
            self._orders[order["orderId"]] = order
        short = [i["sku"] for i in order["items"] if i.get("backorder")]
        if short and checks == 1:
            raise FunctionError(
                "OutOfStockError", f"order {order['orderId']}: {', '.join(short)} out of stock"
            )
        return {**order, "reserved": [i["sku"] for i in order["items"]]}

    def fn_notify_backorder(self, caught):
        # The workflow's Catch has no ResultPath, so this function gets the error output
        # ({"Error", "Cause"}) and not the order: it finds the order through the cause,
        # as a backorder service that knows its orders would.
        cause = json.loads(caught["Cause"])
        order_id = re.match(r"order (\S+):", cause["errorMessage"]).group(1)
        with self.lock:
            order = self._orders[order_id]
        return {**order, "backorderNotified": True}

    def fn_process_payment(self, order):
        attempt = self.count("process-payment", order["orderId"])
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
