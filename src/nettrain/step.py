"""One update step: forward -> loss -> backward -> update. Returns the batch loss, detached.

With gradient accumulation (:mod:`nettrain.optim.accumulation`) a step adds its batch's gradient
to the group's and updates only when the group is full; :func:`make_round_end` updates with a
round's last, incomplete group. ``after_update`` runs after every update of the weights (the
weights' moving average, :mod:`nettrain.averaging`).

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

import torch
from torch import Tensor, nn

from .errors import add_note
from .losses import LossPlan
from .optim.accumulation import GradientAccumulation
from .optim.loss_scale import LossScaler
from .runtime.layout import to_layout

__all__ = ["Step", "make_round_end", "make_step"]

Step = Callable[[Mapping[str, Tensor]], Tensor]


Observe = Callable[[Mapping[str, Tensor], Mapping[str, Tensor], Tensor], None]


def _weighted(loss: Tensor, weight: float) -> Tensor:
    """``loss * weight``; a rank with no examples in the batch (weight 0, a NaN mean loss)
    adds zero gradients, as DistributedDataParallel needs every rank's backward."""
    if weight == 1.0:
        return loss
    if weight == 0.0:
        return torch.nan_to_num(loss, nan=0.0) * 0.0
    return loss * weight


def make_step(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan: LossPlan,
    updater: object,
    observe: Observe | None = None,
    autocast: tuple[str, torch.dtype] | None = None,
    channels_last: bool = False,
    accumulation: GradientAccumulation | None = None,
    after_update: Callable[[], None] | None = None,
    loss_weight: Callable[[], float] | None = None,
    scaler: LossScaler | None = None,
) -> Step:
    """Build the function that trains on one batch and returns its (detached) loss.

    ``observe(outputs, batch, loss)``, if given, sees the batch's outputs after the update (for
    round measurements). The returned function does no host-device synchronisation: the loss
    stays on the device. ``autocast`` (device type, dtype): the forward pass runs under
    ``torch.autocast`` ("mixed" precision) and its floating outputs come back as float32, so the
    loss, the gradients' start and the measurements are float32; the weights stay float32.
    ``channels_last``: 4-D inputs are put in channels_last on the device before the forward.
    ``accumulation``: the step updates once per group of batches (see the module docstring);
    ``after_update()`` is called after each update. ``loss_weight()``: a factor on the loss
    before ``backward`` (several processes: this rank's share of the batch,
    :meth:`~nettrain.distributed.sharding.ShardedSource.loss_weight`); the loss returned is the
    batch's own. ``scaler``: float16 "mixed" precision's loss scale (the loss scaled before
    ``backward``, the gradients unscaled before the update, an update with an infinite
    gradient skipped: :mod:`nettrain.optim.loss_scale`).
    """
    zero_grad = updater.zero_grad  # type: ignore[attr-defined]
    update = _scaled_update(updater, _then(updater.step, after_update), scaler)  # type: ignore[attr-defined]

    forward = _forward_of(plan, net, inputs, autocast, channels_last)
    if getattr(updater, "needs_closure", False):
        # L-BFGS re-evaluates the loss during its line search, so it gets a closure.
        def closure_step(batch: Mapping[str, Tensor]) -> Tensor:
            seen: list[Mapping[str, Tensor]] = []

            def closure() -> Tensor:
                zero_grad()
                outputs = forward(batch)
                loss = plan(outputs, batch)
                loss.backward()
                seen[:] = [outputs]
                return loss

            try:
                loss = updater.step(closure).detach()  # type: ignore[attr-defined]
                if after_update is not None:
                    after_update()
            except Exception as error:
                add_note(error, "raised in the L-BFGS step (forward(), the loss or backward())")
                raise
            if observe is not None:
                with torch.no_grad():
                    observe(seen[0], batch, loss)
            return loss

        return closure_step

    def step(batch: Mapping[str, Tensor]) -> Tensor:
        # ``where`` names the part that raised, for the note on a user's exception
        where = "the net's forward()"
        try:
            outputs = forward(batch)
            where = "the loss function"
            loss = plan(outputs, batch)
            where = "backward()"
            scaled = loss if loss_weight is None else _weighted(loss, loss_weight())
            if scaler is not None:
                scaled = scaler.scaled(scaled)
            if accumulation is None:
                zero_grad()
                scaled.backward()
                where = "the optimizer update"
                update()
            elif accumulation.backward(scaled, next(iter(batch.values())).shape[0], zero_grad):
                where = "the optimizer update"
                accumulation.finish()
                update()
        except Exception as error:
            add_note(error, f"raised by {where}")
            raise
        loss = loss.detach()
        if observe is not None:
            with torch.no_grad():
                observe(outputs, batch, loss)
        return loss

    return step


def make_round_end(
    updater: object,
    accumulation: GradientAccumulation,
    after_update: Callable[[], None] | None = None,
    scaler: LossScaler | None = None,
) -> Callable[[], None]:
    """The update a round's last, incomplete group of batches gets when the round ends
    (nothing when the round's batches filled their groups)."""
    update = _scaled_update(updater, _then(updater.step, after_update), scaler)  # type: ignore[attr-defined]

    def round_end() -> None:
        if accumulation.finish():
            try:
                update()
            except Exception as error:
                add_note(error, "raised by the optimizer update (the round's last group)")
                raise

    return round_end


def _forward_of(
    plan: LossPlan,
    net: nn.Module,
    inputs: tuple[str, ...],
    autocast: tuple[str, torch.dtype] | None,
    channels_last: bool,
) -> Callable[[Mapping[str, Tensor]], Mapping[str, Tensor]]:
    """The step's forward pass: the net's named outputs, under autocast, channels_last."""
    forward = plan.forward_function(net, inputs)
    if autocast is not None:
        forward = _under_autocast(forward, *autocast)
    if not channels_last:
        return forward
    plain_forward = forward

    def laid_out(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return dict(plain_forward(to_layout(batch)))

    return laid_out


def _scaled_update(
    updater: object, update: Callable[[], object], scaler: LossScaler | None
) -> Callable[[], object]:
    """``update`` after the gradients are unscaled, skipped when one is infinite (float16
    "mixed"); ``update`` itself without a scaler."""
    if scaler is None:
        return update
    parameters = updater.parameters  # type: ignore[attr-defined]

    def checked() -> None:
        if scaler.unscaled(parameters):  # else skipped: an infinite gradient
            update()

    return checked


def _then(update: Callable[[], object], after: Callable[[], None] | None) -> Callable[[], object]:
    """``update()``, then ``after()`` when there is one (``update`` itself when there is none:
    nothing added to the hot path)."""
    if after is None:
        return update

    def both() -> None:
        update()
        after()

    return both


def _under_autocast(
    forward: Callable[[Mapping[str, Tensor]], Mapping[str, Tensor]],
    device_type: str,
    dtype: torch.dtype,
) -> Callable[[Mapping[str, Tensor]], dict[str, Tensor]]:
    def mixed(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        with torch.autocast(device_type, dtype=dtype):
            outputs = forward(batch)
        # the loss and the measurements in float32, whatever dtype autocast left
        return {k: v.float() if v.is_floating_point() else v for k, v in outputs.items()}

    return mixed
