"""What validation and measurements cost: a training round with and without them.

Same MLP (784-256-10), same 54,000 Fashion-MNIST training images, batch 64, Adam, 2 rounds,
run side by side in one process, alternating A B A B:

- A: no validation, and only the loss measured (``training_progress_measurements=["loss"]``);
- B: the defaults a user gets with a validation set: loss and error rate measured on every
  training batch, and the 6,000 held-back images (10% of the data) validated every round.

The overhead is (time of B - time of A) / time of A, from the medians; the target is <= 3%.

    python benchmarks/bench_validation.py [--repeats 5] [--data DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import DEFAULT_DATA, load_data, make_net

import nettrain


def run(x, y, validation, measurements) -> tuple[float, float]:
    """(seconds in the training loop incl. validations, validation accuracy or NaN)."""
    net = make_net(0)
    r = nettrain.train(
        net,
        (x, y),
        "all",
        batch_size=64,
        max_training_rounds=2,
        learning_rate=1e-3,
        training_progress_measurements=measurements,
        validation_set=validation,
        training_progress_reporting=None,
        target_device="cpu",
    )
    accuracy = float("nan")
    if r.validation_measurements:
        accuracy = 1 - r.validation_measurements["error_rate"]
    return r.total_training_time, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_data(args.data)
    x, y = data[0], data[1]
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=g)
    val, train = order[:6000], order[6000:]
    xt, yt, xv, yv = x[train], y[train], x[val], y[val]
    run(xt[:2000], yt[:2000], None, ["loss"])  # warm-up: first-call costs out of the timings
    plain, full = [], []
    accuracy = float("nan")
    for i in range(args.repeats):
        plain.append(run(xt, yt, None, ["loss"])[0])
        seconds, accuracy = run(xt, yt, (xv, yv), "auto")
        full.append(seconds)
        print(f"repeat {i + 1}: plain {plain[-1]:.3f} s, with validation {full[-1]:.3f} s")
    a, b = statistics.median(plain), statistics.median(full)
    print(f"\nmedian seconds for 2 rounds: plain {a:.3f}, validation + measurements {b:.3f}")
    print(f"overhead: {100 * (b - a) / a:+.1f}% (target <= 3%); validation accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
