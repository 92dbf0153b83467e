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

__all__ = ["Signum", "signum"]


def signum(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    buffers: list[torch.Tensor | None],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> None:
    """One Signum update of ``params``, in place: the formula of the module docstring.

    The one implementation behind both :class:`Signum` (the engine's ``"signsgd"`` method) and
    :func:`nettrain.functional.signsgd_update`. ``buffers[i]`` is parameter i's momentum buffer,
    or None before its first update: a zero buffer is then created and put in the list (as
    ``torch.optim``'s functional updates do), so the caller reads the new buffers back from it.
    The caller's ``grads`` are not changed.

    >>> w, g = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.5])
    >>> buffers = [None]
    >>> signum([w], [g], buffers, lr=0.1, momentum=0.5, weight_decay=0.0)
    >>> w, buffers[0]
    (tensor([ 0.9000, -2.1000]), tensor([1.5000, 0.2500]))
    """
    with torch.no_grad():
        if weight_decay != 0:
            # A new list: the caller's gradients stay the raw gradients, as in torch's SGD.
            grads = list(torch._foreach_add(grads, params, alpha=weight_decay))
        if momentum != 0:
            for i, (p, buffer) in enumerate(zip(params, buffers, strict=True)):
                if buffer is None:
                    buffers[i] = torch.zeros_like(p, memory_format=torch.preserve_format)
            ready = [b for b in buffers if b is not None]
            torch._foreach_mul_(ready, momentum)
            torch._foreach_add_(ready, grads, alpha=1.0 - momentum)
            direction = torch._foreach_sign(ready)
        else:
            direction = torch._foreach_sign(grads)
        torch._foreach_add_(params, direction, alpha=-lr)


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
            buffers: list[torch.Tensor | None] = [
                self.state[p].get("momentum_buffer") for p in params
            ]
            signum(
                params,
                [p.grad for p in params],  # not None: filtered above
                buffers,
                lr=group["lr"],
                momentum=group["momentum"],
                weight_decay=group["weight_decay"],
            )
            if group["momentum"] != 0:
                for p, buffer in zip(params, buffers, strict=True):
                    self.state[p]["momentum_buffer"] = buffer
        return loss
