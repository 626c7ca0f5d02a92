"""The order workflow's Lambda functions: the same stand-ins as examples/order-processing
(this example changes the definition's query language, not what the functions do).

    python examples/lambda_server.py examples/order-processing-jsonata/functions.py --port 9000
"""
import importlib.util
from pathlib import Path

_SOURCE = Path(__file__).resolve().parent.parent / "order-processing" / "functions.py"
_spec = importlib.util.spec_from_file_location("order_processing_functions", _SOURCE)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

Functions = _module.Functions
