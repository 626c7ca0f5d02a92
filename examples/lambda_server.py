"""Python functions served as Lambda functions on loopback, for the examples (and, through
e2e/fake_lambda.py, the end-to-end tests). Standard library only.

One HTTP server answers both ways Cairn calls a function (docs/configuration.md):
- the Lambda Invoke API, `POST /2015-03-31/functions/<name or ARN>/invocations`, which
  Cairn calls SigV4-signed when `AWS_ENDPOINT_URL_LAMBDA` points here (the signature is
  not checked);
- a function URL, `POST /<name>`, for `CAIRN_FUNCTIONS="name=http://host:port/name,..."`.

Either way the body is the JSON payload. A result is answered 200 with the JSON result; a
function's exception (`FunctionError`) is answered 200 with `X-Amz-Function-Error:
Unhandled` and `{"errorType", "errorMessage"}`, as the Lambda service does; Cairn fails
the task with `errorType` as the error name.

    python examples/lambda_server.py examples/map-batch/functions.py --port 9000

serves the functions of that file (its `Functions` class) until interrupted.
"""
import argparse
import importlib.util
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")
URL_PATH = re.compile(r"^/(?P<function>[A-Za-z0-9_-]+)/?$")


class FunctionError(Exception):
    """Raised by a function: the task fails with `error_type` as its error."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class Functions:
    """A set of functions: method `fn_validate_order` is the function `validate-order`.
    Every invocation is logged in `invocations` (function, payload, headers)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.invocations = []

    def invoke(self, function, payload, headers):
        handler = getattr(self, "fn_" + function.replace("-", "_"), None)
        if handler is None:
            raise KeyError(function)
        with self.lock:
            self.invocations.append({"function": function, "payload": payload,
                                     "headers": headers})
        return handler(payload)

    def names(self):
        return sorted(n[3:].replace("_", "-") for n in dir(self) if n.startswith("fn_"))


def function_name(path_part):
    """`validate-order`, `validate-order:prod` or
    `arn:aws:lambda:us-east-1:123456789012:function:validate-order`: `validate-order`."""
    name = urllib.parse.unquote(path_part)
    if name.startswith("arn:"):
        name = name.split(":function:", 1)[-1]
    return name.split(":", 1)[0]


class _Handler(BaseHTTPRequestHandler):
    server_version = "CairnExampleFunctions/1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        path = urllib.parse.urlsplit(self.path).path
        match = INVOKE_PATH.match(path) or URL_PATH.match(path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not match:
            return self._send(404, {"message": f"no route {self.path}"},
                              {"x-amzn-ErrorType": "ResourceNotFoundException"})
        function = function_name(match.group("function"))
        try:
            payload = json.loads(body or b"null")
            result = self.server.functions.invoke(function, payload, dict(self.headers))
        except FunctionError as e:
            return self._send(200, {"errorType": e.error_type, "errorMessage": e.message},
                              {"X-Amz-Function-Error": "Unhandled"})
        except KeyError:
            return self._send(404, {"Type": "User", "message": f"Function not found: {function}"},
                              {"x-amzn-ErrorType": "ResourceNotFoundException"})
        except Exception as e:  # a bug in a function: reported as Lambda reports it
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

    def log_message(self, format, *args):  # quiet: the examples print what matters
        pass


def start(functions, host="127.0.0.1", port=0):
    """Serves `functions` on a thread; returns (server, base URL). `server.shutdown()`
    stops it."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.functions = functions
    threading.Thread(target=server.serve_forever, name="functions", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    return server, f"http://{bound_host}:{bound_port}"


def load(path):
    """The `Functions` class of the Python file at `path`."""
    spec = importlib.util.spec_from_file_location(f"functions_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Functions


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("functions", help="a Python file defining a Functions class")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    functions = load(args.functions)()
    server, url = start(functions, args.host, args.port)
    print(f"serving {', '.join(functions.names())} on {url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    # Run as the module `lambda_server`, the one the functions' files import, so that
    # their FunctionError is the class the handler catches.
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
    import lambda_server

    sys.exit(lambda_server.main())
