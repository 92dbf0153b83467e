"""The ``nettrain`` command line.

``nettrain demo`` trains a small net on a problem it makes itself (two interleaved spirals,
a classic that a linear model cannot solve) and prints what it learnt: no data download, no
network. Named datasets and ``nettrain train DATASET`` come in a later version.

Example:
    >>> x, y = spirals(10, seed=0)
    >>> x.shape, y.shape, sorted(set(y.tolist()))
    (torch.Size([20, 2]), torch.Size([20]), [0, 1])
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
from torch import nn

__all__ = ["main", "spirals"]


def spirals(per_class: int, seed: int, noise: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in the plane: points ``x`` [2n, 2] and labels ``y`` [2n]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(per_class, generator=g) * 3 * math.pi + 0.5
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (3 * math.pi)
    x = torch.cat([arm, -arm]) + noise * torch.randn(2 * per_class, 2, generator=g)
    y = torch.cat([torch.zeros(per_class), torch.ones(per_class)]).long()
    return x, y


def _demo(args: argparse.Namespace) -> int:
    from ..train import train

    x, y = spirals(args.examples // 2, seed=1)
    x_test, y_test = spirals(1000, seed=2)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                        nn.Linear(64, 2))  # fmt: skip
    print(f"nettrain demo: classifying two spirals ({len(x)} training points, "
          f"{len(x_test)} test points) with a 2-64-64-2 MLP; every choice automatic.")  # fmt: skip
    reporting = None if args.quiet else "print"
    result = train(net, (x, y), "all", time_goal=args.time_goal,
                   training_progress_reporting=reporting)  # fmt: skip
    with torch.no_grad():
        accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
    print(result)
    print(f"test accuracy: {accuracy:.1%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nettrain", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small net on data the command makes itself")
    demo.add_argument("--examples", type=int, default=2000, help="training points (2000)")
    demo.add_argument("--time-goal", type=float, default=None,
                      help="seconds of training (default: automatic, about 20 s)")  # fmt: skip
    demo.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
