"""Fits y = w*x + b to noisy points by gradient descent and writes model.json.

An ordinary script (standard library only): run it alone with `python3 train.py --epochs 5`.
Inside a lightning-local app it also reports `epoch`, `loss` and `progress` to the work's
state, which the flow in app.ts reads live. Replace it with your own training script: keep
the `report(...)` calls for live state, or leave them out and let the app see only the exit
code, the logs and the output files.
"""

import argparse
import json
import random
import time

try:  # on PYTHONPATH inside an app; the script still runs without it
    from lightning_state import report
except ImportError:

    def report(**_fields):
        pass


parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=7)
args = parser.parse_args()

random.seed(args.seed)
points = [(x / 50, 3 * (x / 50) + 2 + random.gauss(0, 0.1)) for x in range(50)]
w, b = 0.0, 0.0
print(f"training on {len(points)} points for {args.epochs} epochs (lr={args.lr})", flush=True)
for epoch in range(1, args.epochs + 1):
    grad_w = sum(2 * (w * x + b - y) * x for x, y in points) / len(points)
    grad_b = sum(2 * (w * x + b - y) for x, y in points) / len(points)
    w, b = w - args.lr * grad_w, b - args.lr * grad_b
    loss = sum((w * x + b - y) ** 2 for x, y in points) / len(points)
    report(epoch=epoch, loss=round(loss, 6), progress=round(epoch / args.epochs, 3))
    print(f"epoch {epoch}/{args.epochs} loss {loss:.4f}", flush=True)
    time.sleep(0.05)  # a real script takes longer; this keeps the live updates visible

with open("model.json", "w") as out:
    json.dump({"w": w, "b": b, "loss": loss}, out)
print(f"wrote model.json: w={w:.3f} b={b:.3f}", flush=True)
