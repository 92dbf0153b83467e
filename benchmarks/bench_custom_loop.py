"""A custom loop from nettrain.functional against the same loop in plain torch (issue 10).

The work: MLP 784-256-10 on Fashion-MNIST (60,000 images in [0, 1], in memory), cross-entropy,
Adam (learning rate 1e-3, epsilon 1e-8, torch's defaults), batch 64, one epoch (938 updates) per
run. The contenders, interleaved in one process, each on a fresh net from the same seed:

- ``torch``: the loop people write: ``torch.randperm`` per epoch and index slicing, forward,
  ``F.cross_entropy``, ``zero_grad(set_to_none=True)``, ``backward()``,
  ``torch.optim.Adam(net.parameters(), lr=1e-3)`` with torch's default (per-tensor) kernel;
- ``torch_fused``: the same with ``torch.optim.Adam(..., fused=True)``;
- ``functional``: ``MiniBatchQueue((x, y), batch_size=64)`` + ``value_and_grad(model_loss,
  net, x, t)`` + ``adam_update(net, grads, state, learning_rate=1e-3)``, on the module;
- ``functional_tree``: the same with the weights in a dict and a model function
  ``relu(x W1' + b1) W2' + b2`` (MATLAB's model-function style; a new tree every step).

Reported: examples per second (median of the repeats, and the range), the ratio to ``torch``
(the target for ``functional`` is >= 0.9) and the test accuracy after the epoch.

    python benchmarks/bench_custom_loop.py                 # 3 repeats, 2 threads
    python benchmarks/bench_custom_loop.py --repeats 5 --threads 1 --json figures.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import DEFAULT_DATA, Stopwatch, accuracy, load_data, make_net

from nettrain.functional import MiniBatchQueue, adam_update, value_and_grad

BATCH = 64
RATE = 1e-3


def torch_loop(net: nn.Module, x: Tensor, y: Tensor, seed: int, fused: bool = False) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=RATE, **({"fused": True} if fused else {}))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    for begin in range(0, len(x), BATCH):
        index = order[begin : begin + BATCH]
        loss = F.cross_entropy(net(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def model_loss(net: nn.Module, x: Tensor, t: Tensor) -> Tensor:
    return F.cross_entropy(net(x), t)


def functional_loop(net: nn.Module, x: Tensor, y: Tensor, seed: int) -> None:
    queue = MiniBatchQueue((x, y), batch_size=BATCH, seed=seed, device="cpu")
    state = None
    for xb, tb in queue:
        _, grads = value_and_grad(model_loss, net, xb, tb)
        net, state = adam_update(net, grads, state, learning_rate=RATE)


def tree_model(p: dict[str, Tensor], x: Tensor) -> Tensor:
    return torch.relu(x @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]


def tree_loss(p: dict[str, Tensor], x: Tensor, t: Tensor) -> Tensor:
    return F.cross_entropy(tree_model(p, x), t)


def functional_tree_loop(net: nn.Module, x: Tensor, y: Tensor, seed: int) -> None:
    params = {
        "W1": net[0].weight.detach(),
        "b1": net[0].bias.detach(),
        "W2": net[2].weight.detach(),
        "b2": net[2].bias.detach(),
    }
    queue = MiniBatchQueue((x, y), batch_size=BATCH, seed=seed, device="cpu")
    state = None
    for xb, tb in queue:
        _, grads = value_and_grad(tree_loss, params, xb, tb)
        params, state = adam_update(params, grads, state, learning_rate=RATE)
    with torch.no_grad():  # hand the trained weights back for the accuracy
        net[0].weight.copy_(params["W1"])
        net[0].bias.copy_(params["b1"])
        net[2].weight.copy_(params["W2"])
        net[2].bias.copy_(params["b2"])


CONTENDERS: dict[str, Callable[..., None]] = {
    "torch": torch_loop,
    "torch_fused": lambda net, x, y, seed: torch_loop(net, x, y, seed, fused=True),
    "functional": functional_loop,
    "functional_tree": functional_tree_loop,
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    x, y, tx, ty = load_data(args.data)
    for loop in CONTENDERS.values():  # warm-up: first-call costs out of the timings
        loop(make_net(args.seed), x[:3200], y[:3200], args.seed)
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    accuracies: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, loop in CONTENDERS.items():
            net = make_net(args.seed)
            net.train()
            with Stopwatch() as watch:
                loop(net, x, y, args.seed)
            times[name].append(watch.wall)
            accuracies[name] = accuracy(net, tx, ty)
    base = statistics.median(times["torch"])
    rows = {}
    print(
        f"MLP 784-256-10, Fashion-MNIST, batch {BATCH}, Adam 1e-3, 1 epoch, "
        f"{args.threads} threads, {args.repeats} repeats"
    )
    print(f"{'contender':16s} {'examples/s':>11s} {'range':>19s} {'vs torch':>9s} {'test acc':>9s}")
    for name, spans in times.items():
        rate = len(x) / statistics.median(spans)
        rows[name] = {
            "examples_per_second": rate,
            "range": [len(x) / max(spans), len(x) / min(spans)],
            "ratio_to_torch": base / statistics.median(spans),
            "test_accuracy": accuracies[name],
        }
        low, high = rows[name]["range"]
        print(
            f"{name:16s} {rate:11,.0f} {low:9,.0f}-{high:<9,.0f} "
            f"{rows[name]['ratio_to_torch']:9.2f} {accuracies[name]:9.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
