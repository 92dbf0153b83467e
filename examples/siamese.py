"""A model function with shared weights: a siamese pair that tells whether two digits match.

MATLAB's "Train a Siamese Network to Compare Images" defines the network as a *model function*
because one set of weights is applied to both images of a pair, which a layer graph cannot
express. The same here, with :mod:`nettrain.functional`: the parameters are a dict made with
MATLAB's initialisers, ``embed(params, x)`` is applied to both images, the head reads
``|embed(a) - embed(b)|`` and returns the logit of "same digit", and ``value_and_grad`` gives
the shared weights the sum of both branches' gradients. Trained with ``adam_update`` on random
pairs (half of them matching) of the UCI digits embedded in the package; evaluated on pairs of
the test split.

    python examples/siamese.py                    # 1,500 iterations, a few seconds
    python examples/siamese.py --iterations 3000
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor
from torch.nn import functional as F

from nettrain.datasets import load
from nettrain.functional import adam_update, initialize_glorot, initialize_zeros, value_and_grad

HIDDEN, FEATURES = 64, 32


def digits(split: str) -> tuple[Tensor, Tensor]:
    data = load("Digits", split)
    x = torch.from_numpy(data.inputs).reshape(len(data.inputs), -1).float() / 255
    return x, torch.from_numpy(data.labels).long()


def initial_parameters(seed: int) -> dict[str, dict[str, Tensor]]:
    return {
        "fc1": {"W": initialize_glorot([HIDDEN, 64], seed=seed), "b": initialize_zeros(HIDDEN)},
        "fc2": {
            "W": initialize_glorot([FEATURES, HIDDEN], seed=seed + 1),
            "b": initialize_zeros(FEATURES),
        },
        "head": {"W": initialize_glorot([1, FEATURES], seed=seed + 2), "b": initialize_zeros(1)},
    }


def embed(p: dict[str, dict[str, Tensor]], x: Tensor) -> Tensor:
    hidden = F.relu(x @ p["fc1"]["W"].T + p["fc1"]["b"])
    return hidden @ p["fc2"]["W"].T + p["fc2"]["b"]


def same_logit(p: dict[str, dict[str, Tensor]], a: Tensor, b: Tensor) -> Tensor:
    """The logit of "a and b show the same digit": both go through the same weights."""
    return ((embed(p, a) - embed(p, b)).abs() @ p["head"]["W"].T + p["head"]["b"]).squeeze(1)


def pair_loss(p: dict[str, dict[str, Tensor]], a: Tensor, b: Tensor, same: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(same_logit(p, a, b), same)


def pairs(x: Tensor, y: Tensor, n: int, generator: torch.Generator) -> tuple[Tensor, ...]:
    """n pairs, half of them of the same digit (drawn without a Python loop per pair)."""
    first = torch.randint(len(x), (n,), generator=generator)
    second = torch.randint(len(x), (n,), generator=generator)
    # a partner of the same class for the even pairs: a random position in that class's block
    # of the examples sorted by class
    by_class = torch.argsort(y, stable=True)
    counts = torch.bincount(y, minlength=int(y.max()) + 1)
    starts = torch.cumsum(counts, 0) - counts
    c = y[first]
    offset = (torch.rand(n, generator=generator) * counts[c]).long()
    partner = by_class[starts[c] + offset]
    second = torch.where(torch.arange(n) % 2 == 0, partner, second)
    same = (y[first] == y[second]).float()
    return x[first], x[second], same


def pair_accuracy(p: dict[str, dict[str, Tensor]], a: Tensor, b: Tensor, same: Tensor) -> float:
    with torch.no_grad():
        return float(((same_logit(p, a, b) > 0).float() == same).float().mean())


def train_siamese(
    iterations: int = 1500, *, seed: int = 0, batch: int = 64, report_every: int = 0
) -> tuple[dict[str, dict[str, Tensor]], float]:
    """Train; return the parameters and the accuracy on 2,000 test pairs."""
    x, y = digits("train")
    test_x, test_y = digits("test")
    rng = torch.Generator().manual_seed(seed)
    test_pairs = pairs(test_x, test_y, 2000, torch.Generator().manual_seed(seed + 100))
    params, state = initial_parameters(seed), None
    for iteration in range(1, iterations + 1):
        loss, grads = value_and_grad(pair_loss, params, *pairs(x, y, batch, rng))
        params, state = adam_update(params, grads, state, learning_rate=1e-3)
        if report_every and iteration % report_every == 0:
            print(
                f"iteration {iteration:5d}  loss {loss.item():.4f}  test pair accuracy "
                f"{pair_accuracy(params, *test_pairs):.3f}"
            )
    return params, pair_accuracy(params, *test_pairs)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="A siamese pair of shared weights.")
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-every", type=int, default=300)
    args = parser.parse_args(argv)
    _, accuracy = train_siamese(args.iterations, seed=args.seed, report_every=args.report_every)
    print(f"same-or-different accuracy on 2,000 test pairs: {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    main()
