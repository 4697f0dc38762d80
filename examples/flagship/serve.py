"""Serve a trained classifier over HTTP (standard library server, torch for inference).

Loads a torch.export archive (model.pt2, written by train.py) and answers:
    POST /predict   {"inputs": [[64 pixels in 0..1], ...]}
                    -> {"predictions": [3, 8], "labels": ["3", "8"], "probabilities": [[...], ...],
                        "model": {"run": "version_2", "hparams": {...}, "best_val_acc": 0.97, ...}}
    GET  /          model information and request count
    GET  /health    {"ok": true}
Every answer names the model that gave it ("model"), so a client behind a proxy that swaps
servers can tell which one answered.

Run it by hand:
    python serve.py --model model.pt2 --port 8000
    curl -s localhost:8000/predict -H 'content-type: application/json' -d @samples.json
The port defaults to $PORT (set by lightning-local for a Work with a port); --port 0 picks a
free one. The actual address is printed as "serving <model> on http://HOST:PORT".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import torch
except ImportError as err:
    sys.exit(f"serve.py: {err}. Run `bash scripts/setup-flagship.sh` and use examples/flagship/.venv/bin/python.")

MAX_BODY_BYTES = 1 << 20
MAX_ROWS = 10_000


class BadRequest(Exception):
    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class Model:
    """The exported network plus the metadata train.py stored beside it."""

    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise SystemExit(f"serve.py: model file {path!r} does not exist; train first (python train.py) or pass --model")
        extra = {"meta.json": ""}
        try:
            self.module = torch.export.load(path, extra_files=extra).module()
        except Exception as err:
            raise SystemExit(f"serve.py: {path!r} is not a torch.export archive written by train.py: {err}") from err
        meta = json.loads(extra["meta.json"] or "{}")
        self.path = path
        self.classes: list[str] = meta.get("classes") or []
        self.input_dim: int = int(meta.get("input_dim", 64))
        self.meta = meta
        # What each answer says about the model (not the class list: that is in GET /).
        self.card = {k: meta[k] for k in ("run", "hparams", "best_val_acc", "trained_at") if k in meta}
        self.lock = threading.Lock()  # one inference at a time keeps torch's thread pool calm
        self.requests = 0

    def predict(self, body: object) -> dict[str, object]:
        if not isinstance(body, dict) or "inputs" not in body:
            raise BadRequest(f'expected a JSON object {{"inputs": [[{self.input_dim} numbers], ...]}}')
        rows = body["inputs"]
        if not isinstance(rows, list) or not rows:
            raise BadRequest('"inputs" must be a non-empty list of rows')
        if len(rows) > MAX_ROWS:
            raise BadRequest(f'"inputs" has {len(rows)} rows; at most {MAX_ROWS} per request', HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        for i, row in enumerate(rows):
            if (
                not isinstance(row, list)
                or len(row) != self.input_dim
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in row)
            ):
                raise BadRequest(f"inputs[{i}] must be a list of {self.input_dim} finite numbers, got {json.dumps(row)[:80]}")
        with self.lock, torch.inference_mode():
            probs = torch.softmax(self.module(torch.tensor(rows, dtype=torch.float32)), dim=1)
            self.requests += 1
        preds = probs.argmax(dim=1).tolist()
        return {
            "predictions": preds,
            "labels": [self.classes[p] if p < len(self.classes) else str(p) for p in preds],
            "probabilities": [[round(p, 6) for p in row] for row in probs.tolist()],
            "model": self.card,
        }


def make_handler(model: Model) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "flagship-serve/1"

        def do_GET(self) -> None:
            if self.path == "/health":
                self.send_json(HTTPStatus.OK, {"ok": True})
            elif self.path == "/":
                self.send_json(
                    HTTPStatus.OK,
                    {
                        "file": os.path.basename(model.path),
                        "model": model.card,
                        "classes": model.classes,
                        "input_dim": model.input_dim,
                        "image_shape": model.meta.get("image_shape"),
                        "input_scale": model.meta.get("input_scale"),
                        "requests": model.requests,
                        "usage": f'POST /predict {{"inputs": [[{model.input_dim} numbers], ...]}}',
                    },
                )
            else:
                self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no route GET {self.path}; try POST /predict"})

        def do_POST(self) -> None:
            if self.path != "/predict":
                self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no route POST {self.path}; try POST /predict"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0:
                    raise BadRequest("empty body; send JSON with a Content-Length")
                if length > MAX_BODY_BYTES:
                    raise BadRequest(f"body of {length} bytes exceeds {MAX_BODY_BYTES}", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                try:
                    body = json.loads(self.rfile.read(length))
                except (ValueError, UnicodeDecodeError) as err:
                    raise BadRequest(f"body is not valid JSON: {err}") from err
                self.send_json(HTTPStatus.OK, model.predict(body))
            except BadRequest as err:
                self.send_json(err.status, {"error": str(err)})
            except Exception as err:  # keep serving; say what failed without a traceback to the client
                print(f"serve.py: predict failed: {err!r}", file=sys.stderr, flush=True)
                self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "prediction failed; see the server log"})

        def send_json(self, status: HTTPStatus, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            print(f"{self.address_string()} {format % args}", flush=True)

    return Handler


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model.pt2 written by train.py")
    p.add_argument(
        "--host",
        default=os.environ.get("LIGHTNING_HOST") or os.environ.get("HOST") or "127.0.0.1",
        help="bind address (default $LIGHTNING_HOST, $HOST, else 127.0.0.1)",
    )
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="default $PORT or 8000; 0 = any free")
    args = p.parse_args(argv)

    torch.set_num_threads(1)  # tiny model: threads cost more than they give, and leave cores to the app
    model = Model(args.model)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model))
    # On SIGTERM, let requests in flight finish before the process exits (a proxy in front
    # may be switching to another server at that moment).
    server.daemon_threads = False
    server.block_on_close = True
    host, port = server.server_address[:2]

    def stop(signum: int, _frame: object) -> None:
        # shutdown() blocks until serve_forever returns, so call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"serving {os.path.basename(args.model)} on http://{host}:{port} (classes {model.classes})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    print("serve.py: stopped", flush=True)


if __name__ == "__main__":
    main()
