"""The flagship's control page (Streamlit): the training parameters, a Retrain button, and the
model that is live behind the model endpoint.

Retrain reports a request in this work's own state through the lightning_state helper
(`report(request={...})`); the app's flow reads it, sets its parameters and trains again. The
live model is read from the model endpoint (GET /), which names the training run behind it.

Run it by hand (with serve.py running on port 8000; Retrain then only says what it would do):
    streamlit run ui.py -- --server-url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request

import streamlit as st

try:  # present when the page runs as a lightning-local work
    from lightning_state import available as in_app
    from lightning_state import report
except ImportError:
    report = None

    def in_app() -> bool:
        return False


DEFAULTS = {"epochs": 10, "lr": 0.01, "hidden": 64}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--server-url", default=os.environ.get("SERVER_URL", "http://127.0.0.1:8000"))
    args, _ = p.parse_known_args()
    return args


def model_info(server: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{server}/", timeout=5) as res:
            return json.load(res)
    except (urllib.error.URLError, OSError, ValueError):
        return None


server = parse_args().server_url.rstrip("/")
st.set_page_config(page_title="Digit classifier: training", layout="wide")
st.title("Digit classifier")


@st.fragment(run_every="2s")
def live_model() -> None:
    info = model_info(server)
    model = (info or {}).get("model") or {}
    if not model:
        st.info("No model is live yet: the first training is running (see root.train in the lightning UI).")
        return
    hp = model.get("hparams") or {}
    st.subheader("Live model")
    cols = st.columns(4)
    cols[0].metric("Training run", model.get("run", "?"))
    cols[1].metric("Best val accuracy", f"{model.get('best_val_acc', 0):.2%}")
    cols[2].metric("Epochs · hidden", f"{hp.get('epochs')} · {hp.get('hidden')}")
    cols[3].metric("Learning rate", f"{hp.get('lr')}")
    st.caption(f"Served at {server}/predict; the Gradio tab asks this model, TensorBoard shows every run.")


live_model()

st.subheader("Train again")
current = ((model_info(server) or {}).get("model") or {}).get("hparams") or DEFAULTS
with st.form("retrain"):
    cols = st.columns(3)
    epochs = cols[0].number_input("Epochs", min_value=1, max_value=500, value=int(current.get("epochs", 10)), step=1)
    lr = cols[1].number_input(
        "Learning rate", min_value=1e-6, max_value=1.0, value=float(current.get("lr", 0.01)), step=0.001, format="%.4f"
    )
    hidden = cols[2].number_input(
        "Hidden units", min_value=1, max_value=4096, value=int(current.get("hidden", 64)), step=8
    )
    pressed = st.form_submit_button("Retrain", type="primary")

if pressed:
    request = {"id": int(time.time() * 1000), "epochs": int(epochs), "lr": float(lr), "hidden": int(hidden)}
    if report is not None and in_app():
        report(request=request)
        st.success(
            f"Retrain requested: epochs={request['epochs']} lr={request['lr']} hidden={request['hidden']}. "
            "The current model keeps answering; the live model above changes when the new one is ready."
        )
    else:
        st.warning(f"Not inside the lightning-local app, so nothing to retrain: {request}")
