"""Time to first batch: from ``train(net, "Name")`` to the end of the first training step.

For a named dataset already on disk (the embedded Digits, and Fashion-MNIST from a data folder),
each case runs in a fresh Python process so nothing is cached, and is split into:

- *import*: ``import nettrain`` (torch included);
- *load*: ``nettrain.datasets.load`` of both splits, as ``train`` does it (files found, verified
  by checksum once per process, decompressed, read);
- *first batch*: from the ``train`` call to the end of the first update: everything ``train``
  does before its loop (option resolution, encoders, a probe forward pass, the loss, the batch
  size, timing one step to choose the number of rounds) plus one step;
- *again*: the same ``train`` call a second time in the same process (data verified and torch
  warmed up), which is what a notebook user sees from the second run on.

The first batch is marked by a progress function called after every batch that stops the run.

    python benchmarks/bench_first_batch.py [--data ../shared/datasets] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"

CHILD = r"""
import json, sys, time
started = time.perf_counter()
import torch
from torch import nn
import nettrain
imported = time.perf_counter()
name, data_dir, net_kind = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_num_threads(2)

def make_net():
    torch.manual_seed(0)
    return nettrain.nets.make(net_kind, name)

def first_batch():
    marks = {}
    def stop_after_first(live):
        if live["event"] == "batch_complete":
            marks["first"] = time.perf_counter()
            return "abort_training"
        return None
    net = make_net()
    t0 = time.perf_counter()
    train = nettrain.datasets.load(name, "train", data_dir=data_dir, offline=True)
    test = nettrain.datasets.load(name, "test", data_dir=data_dir, offline=True)
    t1 = time.perf_counter()
    nettrain.train(net, train, validation_set=test, training_progress_reporting=None,
                   training_progress_function=(stop_after_first, {"interval": "batch"}))
    return t1 - t0, marks["first"] - t1

load_s, first_s = first_batch()
again_load_s, again_first_s = first_batch()
print(json.dumps({"import": imported - started, "load": load_s, "first_batch": first_s,
                  "again_load": again_load_s, "again_first_batch": again_first_s}))
"""


def run_case(name: str, data_dir: Path, net: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name, str(data_dir), net],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = [("Digits", "mlp"), ("FashionMNIST", "mlp"), ("FashionMNIST", "small-cnn")]
    keys = ("import", "load", "first_batch", "again_load", "again_first_batch")
    print(f"{'dataset':<13}{'net':<10}" + "".join(f"{k:>18}" for k in keys) + "   (median s)")
    for name, net in cases:
        runs = [run_case(name, args.data, net) for _ in range(args.repeats)]
        medians = {k: statistics.median(r[k] for r in runs) for k in keys}
        print(f"{name:<13}{net:<10}" + "".join(f"{medians[k]:>18.3f}" for k in keys))
    print(f"(fresh process per repeat; {args.repeats} repeats; {time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
