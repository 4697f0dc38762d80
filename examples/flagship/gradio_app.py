"""A Gradio demo of the digit classifier: pick a digit from the dataset or draw one, and see
what the deployed model says, with the model that answered (its training run and parameters).

It is a client of the model server's HTTP API (POST /predict), like any script would be, so it
keeps working while the model behind that URL is replaced by a retrained one.

Run it by hand (with serve.py running on port 8000):
    python gradio_app.py --server-url http://127.0.0.1:8000 --port 7860
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request

try:
    import gradio as gr
    import numpy as np
    import uvicorn
    from fastapi import FastAPI
    from PIL import Image
    from sklearn.datasets import load_digits
except ImportError as err:
    raise SystemExit(f"gradio_app.py: {err}. Run `bash scripts/setup-flagship.sh` and use examples/flagship/.venv/bin/python.")

DIGITS = load_digits()
PIXEL_MAX = 16.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server-url", default=os.environ.get("SERVER_URL", "http://127.0.0.1:8000"))
    p.add_argument("--host", default=os.environ.get("LIGHTNING_HOST") or "127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7860")))
    return p.parse_args()


def predict_rows(server: str, rows: list[list[float]]) -> dict:
    req = urllib.request.Request(
        f"{server}/predict", data=json.dumps({"inputs": rows}).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.load(res)
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise gr.Error(f"the model endpoint answered {err.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as err:
        raise gr.Error(f"the model endpoint at {server} does not answer ({err}); is the app running?") from None


def describe(out: dict, truth: str | None) -> tuple[dict[str, float], str]:
    probs = out["probabilities"][0]
    classes = [str(i) for i in range(len(probs))]
    model = out.get("model") or {}
    hp = model.get("hparams") or {}
    acc = model.get("best_val_acc")
    card = (
        f"**Prediction: {out['labels'][0]}**"
        + (f" (true label {truth})" if truth is not None else "")
        + f"\n\nAnswered by the model of training run `{model.get('run', '?')}`: "
        + f"epochs={hp.get('epochs')} lr={hp.get('lr')} hidden={hp.get('hidden')}"
        + ("" if acc is None else f", best val_acc {acc:.4f}")
    )
    return dict(zip(classes, probs)), card


def show_digit(index: float) -> np.ndarray:
    i = int(index) % len(DIGITS.images)
    # 8x8 grey levels 0..16 (16 = ink) → a 128x128 picture, ink dark on white.
    img = (255 - DIGITS.images[i] / PIXEL_MAX * 255).astype(np.uint8)
    return np.kron(img, np.ones((16, 16), dtype=np.uint8))


def build(server: str) -> gr.Blocks:
    def predict_index(index: float) -> tuple[dict[str, float], str]:
        i = int(index) % len(DIGITS.images)
        row = (DIGITS.data[i] / PIXEL_MAX).round(4).tolist()
        return describe(predict_rows(server, [row]), str(DIGITS.target[i]))

    def predict_drawing(drawing: dict | None) -> tuple[dict[str, float], str]:
        if not drawing or drawing.get("composite") is None:
            raise gr.Error("draw a digit first")
        rgba = Image.fromarray(np.asarray(drawing["composite"]).astype(np.uint8))
        grey = np.asarray(rgba.convert("L").resize((8, 8), Image.Resampling.BOX), dtype=np.float32)
        ink = 1.0 - grey / 255.0  # the dataset has ink high, background 0
        if ink.max() > 0:
            ink = ink / ink.max()
        return describe(predict_rows(server, [ink.round(4).flatten().tolist()]), None)

    with gr.Blocks(title="Digit classifier") as demo:
        gr.Markdown(
            "# Digit classifier\n"
            f"The deployed model, asked through `{server}/predict`. Retrain from the Streamlit page: "
            "this demo then answers with the new model, without a restart."
        )
        with gr.Row():
            with gr.Column():
                index = gr.Number(value=0, precision=0, label="A digit from the dataset (index 0-1796)", elem_id="digit-index")
                picture = gr.Image(value=show_digit(0), label="The 8x8 image", height=160, interactive=False)
                predict = gr.Button("Predict this digit", variant="primary", elem_id="predict-digit")
                sketch = gr.Sketchpad(label="…or draw one", canvas_size=(256, 256), elem_id="sketch")
                predict_drawn = gr.Button("Predict the drawing", elem_id="predict-drawing")
            with gr.Column():
                label = gr.Label(num_top_classes=3, label="Probabilities")
                card = gr.Markdown("Pick a digit and press Predict.", elem_id="model-card")
        index.change(show_digit, index, picture)
        predict.click(predict_index, index, [label, card])
        predict_drawn.click(predict_drawing, sketch, [label, card])
    return demo


class ForwardedPrefix:
    """Makes Gradio build its URLs under the prefix a reverse proxy mounts it at.

    The lightning UI shows this app at /w/root.gradio/ and says so in X-Forwarded-Prefix;
    Gradio builds its root URL from X-Forwarded-Host alone, so the prefix is folded into that
    header. Requests without the header (the app opened on its own port) are left alone."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope["headers"])
            prefix = headers.get(b"x-forwarded-prefix", b"").rstrip(b"/")
            host = headers.get(b"x-forwarded-host")
            if prefix and host:
                headers[b"x-forwarded-host"] = host + prefix
                scope = {**scope, "headers": list(headers.items())}
        await self.app(scope, receive, send)


def main() -> None:
    args = parse_args()
    server = args.server_url.rstrip("/")
    app = gr.mount_gradio_app(FastAPI(), build(server), path="/")
    print(f"gradio demo on http://{args.host}:{args.port} asking {server}/predict", flush=True)
    uvicorn.run(ForwardedPrefix(app), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
