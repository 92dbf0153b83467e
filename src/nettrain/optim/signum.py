"""SignSGD with momentum ("Signum", Bernstein et al. 2018), as NetTrain's ``"SignSGD"`` method.

For each parameter ``w`` with gradient ``g``, coupled weight decay ``wd`` and momentum ``mu``::

    g <- g + wd * w
    m <- mu * m + (1 - mu) * g        (m starts at 0; with mu == 0 simply m = g)
    w <- w - lr * sign(m)

This is MXNet's ``signum`` update (which NetTrain ran on), written with ``torch._foreach_*``
ops so one step costs a handful of kernel launches per parameter group, not per parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["Signum"]


class Signum(torch.optim.Optimizer):
    """Sign-of-momentum gradient descent.

    Args:
        params: parameters or parameter groups, as for any ``torch.optim`` optimizer.
        lr: learning rate (step length of every element), default ``1e-3``.
        momentum: smoothing factor ``mu`` of the gradient, in ``[0, 1)``, default 0.93.
        weight_decay: coupled L2 coefficient added to the gradient, default 0.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.0]))
        >>> opt = Signum([w], lr=0.1, momentum=0.0)
        >>> w.grad = torch.tensor([3.0, -0.5, 0.0])
        >>> opt.step()
        >>> w.data
        tensor([ 0.9000, -1.9000,  0.0000])
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.93,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"invalid learning rate: {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"invalid momentum: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"invalid weight_decay: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Do one update; ``closure`` (optional) recomputes the loss and gradients first."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads: list[torch.Tensor] | tuple[torch.Tensor, ...] = [p.grad for p in params]
            weight_decay = group["weight_decay"]
            momentum = group["momentum"]
            if weight_decay != 0:
                # A new list: the user's .grad stays the raw gradient, as in torch's SGD.
                grads = torch._foreach_add(grads, params, alpha=weight_decay)
            if momentum != 0:
                buffers = []
                for p in params:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(
                            p, memory_format=torch.preserve_format
                        )
                    buffers.append(state["momentum_buffer"])
                torch._foreach_mul_(buffers, momentum)
                torch._foreach_add_(buffers, grads, alpha=1.0 - momentum)
                direction = torch._foreach_sign(buffers)
            else:
                direction = torch._foreach_sign(grads)
            torch._foreach_add_(params, direction, alpha=-group["lr"])
        return loss
