"""One update step: forward -> loss -> backward -> update. Returns the batch loss, detached.

Example:
    >>> import torch, torch.nn as nn
    >>> from nettrain.losses import resolve_loss
    >>> from nettrain.optim import build_updater, parse_method
    >>> net = nn.Linear(3, 1)
    >>> batch = {"input": torch.randn(8, 3), "target": torch.randn(8, 1)}
    >>> plan = resolve_loss("auto", net, ("input",), ("target",), batch)
    >>> step = make_step(net, ("input",), plan, build_updater(net, parse_method("sgd")))
    >>> before = plan(plan.forward(net, ("input",), batch), batch)
    >>> step(batch).shape, bool(plan(plan.forward(net, ("input",), batch), batch) < before)
    (torch.Size([]), True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor, nn

from .losses import LossPlan
from .ports import output_ports

__all__ = ["Step", "make_step"]

Step = Callable[[Mapping[str, Tensor]], Tensor]


def make_step(net: nn.Module, inputs: tuple[str, ...], plan: LossPlan, updater: object) -> Step:
    """Build the function that trains on one batch and returns its (detached) loss.

    The returned function does no host-device synchronisation: the loss stays on the device.
    """
    zero_grad = updater.zero_grad  # type: ignore[attr-defined]
    update = updater.step  # type: ignore[attr-defined]

    if len(inputs) == 1:
        (name,) = inputs

        def loss_of(batch: Mapping[str, Tensor]) -> Tensor:
            return plan(output_ports(net(batch[name])), batch)
    else:

        def loss_of(batch: Mapping[str, Tensor]) -> Tensor:
            return plan(output_ports(net(*[batch[n] for n in inputs])), batch)

    if getattr(updater, "needs_closure", False):
        # L-BFGS re-evaluates the loss during its line search, so it gets a closure.
        def closure_step(batch: Mapping[str, Tensor]) -> Tensor:
            def closure() -> Tensor:
                zero_grad()
                loss = loss_of(batch)
                loss.backward()
                return loss

            loss = update(closure)
            return loss.detach()

        return closure_step

    def step(batch: Mapping[str, Tensor]) -> Tensor:
        loss = loss_of(batch)
        zero_grad()
        loss.backward()
        update()
        return loss.detach()

    return step
