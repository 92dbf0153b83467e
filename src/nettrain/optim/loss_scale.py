"""Loss scaling for float16 mixed precision (GPUs without bfloat16).

float16 keeps 5 exponent bits: small gradients underflow to 0 in its backward pass. So the
loss is multiplied by a large scale before ``backward`` and the gradients divided by it before
the update; when a gradient comes out infinite or NaN the scale was too large, and that update
is skipped and the scale halved; after ``growth_interval`` good updates in a row it is doubled.
This is ``torch.amp.GradScaler``'s rule with its defaults (init 2**16, factors 2 and 0.5,
interval 2000) on the same fused kernels (``torch._amp_foreach_non_finite_check_and_unscale_``
and ``torch._amp_update_scale_``), written for nettrain's updater, which is not a
``torch.optim.Optimizer`` that GradScaler could step. A skipped update is not counted: a
schedule goes on from the same position.

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> scaler = LossScaler(torch.device("cpu"), init_scale=8.0)
    >>> scaler.scaled((w * 3).sum()).backward()
    >>> w.grad.tolist(), scaler.unscaled([w]), w.grad.tolist()
    ([24.0, 24.0], True, [3.0, 3.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["LossScaler"]


class LossScaler:
    """The loss scale of one run on ``device`` (see the module docstring)."""

    def __init__(
        self,
        device: torch.device,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
    ) -> None:
        self.device = device
        self.scale = torch.full((), init_scale, dtype=torch.float32, device=device)
        self.growth_tracker = torch.zeros((), dtype=torch.int32, device=device)
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.skipped = 0  # updates skipped for an infinite gradient

    def scaled(self, loss: Tensor) -> Tensor:
        """``loss`` times the scale, for ``backward``."""
        return loss * self.scale.to(loss.dtype)

    def unscaled(self, parameters: Sequence[Tensor]) -> bool:
        """Divide the gradients by the scale and update the scale; whether the update may go
        on (False: a gradient was infinite or NaN, so it is skipped and the gradients zeroed).
        One host sync, as GradScaler's ``step``."""
        grads = [p.grad for p in parameters if p.grad is not None]
        found = torch.zeros(1, dtype=torch.float32, device=self.device)
        inverse = self.scale.double().reciprocal().float()
        if grads:
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found, inverse)
        torch._amp_update_scale_(
            self.scale, self.growth_tracker, found,
            self.growth_factor, self.backoff_factor, self.growth_interval,
        )  # fmt: skip
        if found.item() == 0:
            return True
        self.skipped += 1
        for grad in grads:
            grad.zero_()
        return False

    def state_dict(self) -> dict[str, Any]:
        """The scale, its growth tracker and the skipped count (for checkpoints)."""
        return {"scale": self.scale.clone(), "growth_tracker": self.growth_tracker.clone(),
                "skipped": self.skipped}  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.scale = state["scale"].to(self.device, torch.float32, copy=True)
        self.growth_tracker = state["growth_tracker"].to(self.device, torch.int32, copy=True)
        self.skipped = int(state["skipped"])
