"""The order workflow in JSONata, one execution per path, as examples/order-processing
runs the JSONPath one: an order that goes through, one that fails validation, one out of
stock (notified, waits, checks again), one whose payment gateway times out twice
(retried), and one whose card is declined. Prints each execution's status and path.

    examples/run.sh order-processing-jsonata
    python run.py --sfn-endpoint URL      # against a Cairn whose Lambda functions are
                                          # examples/order-processing/functions.py

Exits 0 when every execution ended as the README says.
"""
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "order_processing_run", HERE.parent / "order-processing" / "run.py")
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

# The same paths, calls and checks as the JSONPath example; this definition instead, under
# a name of its own so both examples can share one server.
base.DEFINITION = HERE / "order-processing.asl.json"
_state_machine = base.state_machine
base.state_machine = lambda sfn, name="order-processing-jsonata": _state_machine(sfn, name)
run = base.run
EXPECTED = base.EXPECTED


def main():
    code = base.main()
    return code


if __name__ == "__main__":
    sys.exit(main())
