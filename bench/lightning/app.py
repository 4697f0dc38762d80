"""Lightning Apps baseline for `npm run bench` (scenario 3): the same topology as ours.

A root flow with N works `w0..w{N-1}`, each a parallel LightningWork with a public int
`count`. The flow records every pass; the works record when they made each change. The TS
runner (bench/lightning/run-lightning.ts) joins the two logs into throughput and per-change
latency. Follows /work/shared/reference/lightning-baseline.md §3.

Environment:
  BENCH_OUT            directory for flow.json, w<i>.json and ready.json (required)
  BENCH_WORKS          N (default 1)
  BENCH_MODE           "tight" (count += 1 as fast as the framework allows), "paced" (at
                       BENCH_RATE changes/s per work) or "idle" (works run and sleep)
  BENCH_SECONDS        producing window in seconds (default 5)
  BENCH_RATE           changes/s per work in paced mode (default 20)
  BENCH_START_DELAY    seconds between the first pass and t0, so every work is up (default 2)
  BENCH_GRACE          seconds after the window to let the flow drain its backlog (default 15)

Timestamps are time.time() (wall clock, microsecond resolution) so they compare across
processes on one machine.
"""

import json
import os
import time

from lightning_app import LightningApp, LightningFlow, LightningWork

N = int(os.environ.get("BENCH_WORKS", "1"))
MODE = os.environ.get("BENCH_MODE", "tight")
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
RATE = float(os.environ.get("BENCH_RATE", "20"))
START_DELAY = float(os.environ.get("BENCH_START_DELAY", "2"))
GRACE = float(os.environ.get("BENCH_GRACE", "15"))
OUT = os.environ["BENCH_OUT"]


def _write_json(name, value):
    tmp = os.path.join(OUT, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, os.path.join(OUT, name))


class Counter(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.count = 0

    def run(self, t0: float, name: str):
        if MODE == "idle":
            while True:  # killed when the runner ends the app
                time.sleep(1)
        while time.time() < t0:
            time.sleep(0.0005)
        end = t0 + SECONDS
        produced = []  # produced[i] = when change i+1 (count == i+1) was made
        k = 0
        while True:
            if MODE == "paced":
                due = t0 + k / RATE
                if due >= end:
                    break
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
            now = time.time()
            if now >= end:
                break
            produced.append(now)
            # Each assignment deep-copies the work state, DeepDiffs it and puts the delta
            # on the shared queue (lightning_app/utilities/proxies.py): the framework's cost.
            self.count += 1
            k += 1
        _write_json(f"{name}.json", {"work": name, "produced": produced})


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for i in range(N):
            setattr(self, f"w{i}", Counter())
        self._t0 = None
        self._passes = []
        self._ready = False

    def run(self):
        now = time.time()
        works = [getattr(self, f"w{i}") for i in range(N)]
        if self._t0 is None:
            self._t0 = now + START_DELAY
        self._passes.append([now, [w.count for w in works]])
        for i, w in enumerate(works):
            w.run(self._t0, f"w{i}")
        if not self._ready and all(w.is_running or w.has_succeeded for w in works):
            self._ready = True
            _write_json("ready.json", {"time": now, "pid": os.getpid()})
        if MODE != "idle" and (all(w.has_succeeded for w in works) or now > self._t0 + SECONDS + GRACE):
            drained = all(w.has_succeeded for w in works)
            _write_json(
                "flow.json",
                {"t0": self._t0, "passes": self._passes, "drained": drained, "pid": os.getpid()},
            )
            self.stop("benchmark finished")


app = LightningApp(Root())
