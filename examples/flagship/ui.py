"""Interactive demo of the spiral classifier: a Streamlit page in front of serve.py.

It only talks HTTP to the model server, as any client would: it draws the model's decision
map (a grid of points sent to POST /predict) and classifies a point you pick.

Run it by hand (with serve.py running on port 8000):
    streamlit run ui.py -- --server-url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import streamlit as st

# Each class drawn in the colour it is named after.
COLORS = {"red": "#e45756", "green": "#54a24b", "blue": "#4c78a8"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--server-url", default=os.environ.get("SERVER_URL", "http://127.0.0.1:8000"))
    args, _ = p.parse_known_args()
    return args


def call(url: str, payload: object | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)


@st.cache_data(show_spinner="Asking the model for its decision map…")
def decision_map(server: str, resolution: int) -> pd.DataFrame:
    axis = np.linspace(-1.1, 1.1, resolution)
    grid = [[float(x), float(y)] for y in axis for x in axis]
    out = call(f"{server}/predict", {"inputs": grid})
    colors = [COLORS.get(label, "#888888") for label in out["labels"]]
    return pd.DataFrame({"x": [p[0] for p in grid], "y": [p[1] for p in grid], "color": colors})


server = parse_args().server_url.rstrip("/")
st.set_page_config(page_title="Spiral classifier", layout="wide")
st.title("Spiral classifier")
try:
    info = call(f"{server}/")
except (urllib.error.URLError, OSError) as err:
    st.error(f"The model server at {server} does not answer ({err}). Is the serve work running?")
    st.stop()

acc = info.get("best_val_acc")
st.caption(f"Model `{info['model']}` from {server}: classes {', '.join(info['classes'])}")
left, right = st.columns([2, 1])
with left:
    st.subheader("Decision map")
    st.scatter_chart(decision_map(server, 41), x="x", y="y", color="color", height=480)
with right:
    st.metric("Best validation accuracy", "n/a" if acc is None else f"{acc:.1%}")
    st.subheader("Classify a point")
    x = st.slider("x", -1.0, 1.0, 0.3, 0.01)
    y = st.slider("y", -1.0, 1.0, 0.4, 0.01)
    out = call(f"{server}/predict", {"inputs": [[x, y]]})
    st.markdown(f"**{out['labels'][0]}**")
    st.bar_chart(pd.DataFrame({"probability": out["probabilities"][0]}, index=info["classes"]))
