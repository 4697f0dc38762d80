"""Writes N random numbers to numbers.csv, one per line, reporting progress as it goes.

An ordinary script: run it alone with `python3 produce.py --count 1000`. Inside a
lightning-local app it also reports `progress` (0..1) to the work's state.
"""

import argparse
import random
import time

try:  # present inside an app; the script works without it
    from lightning_state import report
except ImportError:

    def report(**_fields):
        pass


parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=1000)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

random.seed(args.seed)
steps = 10
with open("numbers.csv", "w") as out:
    for step in range(steps):
        for _ in range(args.count // steps):
            out.write(f"{random.randint(1, 100)}\n")
        report(progress=round((step + 1) / steps, 2))
        print(f"wrote {(step + 1) * (args.count // steps)} numbers")
        time.sleep(0.05)
print("done: numbers.csv")
