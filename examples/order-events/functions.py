"""examples/order-processing's functions, for orders that arrive by event: the seed's
input transformer keeps only `orderId` and `items` (and adds `"source": "eventbridge"`),
so there is no customer to confirm to; send-confirmation says so instead of failing.

    python examples/lambda_server.py examples/order-events/functions.py --port 9000
"""
import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parent.parent / "order-processing" / "functions.py"
_spec = importlib.util.spec_from_file_location("order_processing_functions", _path)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)


class Functions(_module.Functions):
    def fn_send_confirmation(self, order):
        email = order.get("customer", {}).get("email")
        return {"confirmationSentTo": email} if email else {"confirmationSkipped": order.get("source")}
