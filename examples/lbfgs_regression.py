"""Fit a small regression net with ``lbfgs_update`` (MATLAB's "Solve ... Using L-BFGS").

L-BFGS is a full-batch method: the loss function evaluates the whole training set, and the line
search calls it as often as it needs, which is why ``lbfgs_update`` takes the *function*, not
its gradients (as MATLAB's ``lbfgsupdate`` does). The net is a 1-20-1 tanh MLP fitting
``sin(x)`` on 200 points in [-3, 3], in float64; each call is one L-BFGS iteration, and the
state carries the loss and gradient at the current point to the next call.

    python examples/lbfgs_regression.py                       # 150 iterations, about a second
    python examples/lbfgs_regression.py --line-search strong_wolfe
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nettrain.functional import lbfgs_update


def data(n: int = 200) -> tuple[Tensor, Tensor]:
    x = torch.linspace(-3, 3, n, dtype=torch.float64)[:, None]
    return x, torch.sin(x)


def fit(
    iterations: int = 150, *, line_search: str = "weak_wolfe", seed: int = 0, report_every: int = 0
) -> tuple[nn.Module, list[float]]:
    """Fit; return the net and the loss after each iteration."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(1, 20), nn.Tanh(), nn.Linear(20, 1)).double()
    x, y = data()

    def loss_fn(model: nn.Module) -> Tensor:
        return F.mse_loss(model(x), y)

    state = None
    losses = []
    for iteration in range(1, iterations + 1):
        net, state = lbfgs_update(net, loss_fn, state, line_search=line_search)
        losses.append(state["loss"])
        if report_every and iteration % report_every == 0:
            print(
                f"iteration {iteration:4d}  loss {state['loss']:.3e}  line search "
                f"{state['line_search_status']}  evaluations {state['function_evaluations']}"
            )
        if state["line_search_status"] == "converged":
            break
    return net, losses


def main(argv: list[str] | None = None) -> list[float]:
    parser = argparse.ArgumentParser(description="A regression net fitted with lbfgs_update.")
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument(
        "--line-search",
        default="weak_wolfe",
        choices=["weak_wolfe", "strong_wolfe", "backtracking"],
    )
    parser.add_argument("--report-every", type=int, default=25)
    args = parser.parse_args(argv)
    _, losses = fit(args.iterations, line_search=args.line_search, report_every=args.report_every)
    print(
        f"mean squared error {losses[0]:.3e} after the first iteration, {losses[-1]:.3e} at the end"
    )
    return losses


if __name__ == "__main__":
    main()
