"""The precision of a run: "mixed" checked before training, and "auto" choosing it by timing.

``working_precision="mixed"`` runs the forward pass under bfloat16 autocast (float32 weights,
the loss and the measurements in float32): :func:`checked_autocast` refuses a net that cannot
run so, before any weight changes. ``"auto"`` (the default) chooses mixed only where it pays
and keeps accuracy, decided the way the thread count and the memory layout are
(:func:`nettrain.prepare_length.plan_length`): on a device that computes bfloat16 natively
(:func:`~nettrain.runtime.precision.fast_bfloat16`), for a float32 net, when the run's steps
are timed anyway (or ``performance_goal="training_speed"`` asks), :func:`keeps_loss` checks
that the loss under autocast stays within :data:`LOSS_TOLERANCE` of float32's on a sample, and
:func:`choose_mixed` keeps mixed when a timed step takes at most ``1 - MIN_GAIN`` of the
float32 step's time. Where bfloat16 is only emulated (a CPU without AVX512-BF16 or AMX) auto
never chooses it: it is slower there.

Example:
    >>> choose_mixed(lambda: 1.0, lambda: 0.8), choose_mixed(lambda: 1.0, lambda: 0.97)
    (True, False)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from .errors import NetTrainError, NetTrainWarning, dtype_name
from .losses import LossPlan
from .options.resolved import Options
from .runtime.layout import MIN_GAIN
from .runtime.precision import fast_bfloat16, mixed_dtype
from .runtime.timing import interleaved_seconds

__all__ = ["LOSS_TOLERANCE", "checked_autocast", "choose_mixed", "keeps_loss", "mixed_candidate"]

Autocast = tuple[str, torch.dtype]

# "auto" keeps float32 when the sample's loss under bfloat16 autocast differs from float32's by
# more than this (relative): bfloat16 carries ~3 significant digits, so a net that computes its
# loss well in it stays within ~0.1-0.5%; a net that loses more would train differently.
LOSS_TOLERANCE = 0.01


def checked_autocast(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan: LossPlan,
    sample: Mapping[str, Tensor],
    opts: Options,
) -> Autocast:
    """``working_precision="mixed"``: the autocast of the run, once the net is seen to run
    under it (a forward pass on the sample, in eval mode, changing nothing).

    Raises:
        NetTrainError: a device without bfloat16, or a net that fails under bfloat16.

    Warns:
        NetTrainWarning: a device that only emulates bfloat16 (slower than float32 there).
    """
    device = opts.device
    dtype = mixed_dtype(device)
    try:
        _loss(net, inputs, plan, sample, (device.type, dtype))
    except Exception as error:
        raise NetTrainError(
            "working_precision",
            f'"mixed": the net cannot run under {dtype_name(dtype)} autocast '
            f"({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''})",
            expected=f"a net whose forward pass runs in {dtype_name(dtype)}",
            received=type(net).__name__,
            hint='train it in "float32" (the default), or make the failing layer accept '
            f"{dtype_name(dtype)} inputs",
        ) from error
    if not fast_bfloat16(device):
        warnings.warn(
            f'working_precision="mixed": this {device.type} has no native bfloat16 (no '
            "AVX512-BF16 or AMX): bfloat16 is emulated here and most likely slower than "
            'float32; "auto" would not choose it',
            NetTrainWarning,
            stacklevel=5,
        )
    return device.type, dtype


def mixed_candidate(opts: Options, dtype: torch.dtype) -> Autocast | None:
    """The autocast "auto" may time for this run, or None: the precision left to "auto", a
    float32 net, and a device with native bfloat16."""
    if opts.dtype is not None or opts.mixed or dtype != torch.float32:
        return None
    if not fast_bfloat16(opts.device):
        return None
    return opts.device.type, torch.bfloat16


def _loss(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan: LossPlan,
    batch: Mapping[str, Tensor],
    autocast: Autocast | None,
) -> float:
    """The loss of ``batch`` in eval mode (so BatchNorm statistics stay), under ``autocast``
    when given (outputs back in float32, as the training step does)."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            if autocast is None:
                outputs = plan.forward(net, inputs, batch)
            else:
                with torch.autocast(autocast[0], dtype=autocast[1]):
                    outputs = plan.forward(net, inputs, batch)
                outputs = {k: v.float() if v.is_floating_point() else v for k, v in outputs.items()}
            return float(plan(outputs, batch))
    finally:
        net.train(was_training)


def keeps_loss(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan: LossPlan,
    batch: Mapping[str, Tensor],
    autocast: Autocast,
) -> bool:
    """Whether the net runs under ``autocast`` with the sample's loss within
    :data:`LOSS_TOLERANCE` of float32's (a net that fails under it: False)."""
    try:
        mixed = _loss(net, inputs, plan, batch, autocast)
    except Exception:
        return False
    plain = _loss(net, inputs, plan, batch, None)
    return abs(mixed - plain) <= LOSS_TOLERANCE * max(abs(plain), 1e-6)


def choose_mixed(time_plain: Callable[[], float], time_mixed: Callable[[], float]) -> bool:
    """Mixed when its step takes at most ``1 - MIN_GAIN`` of the float32 step's time, each the
    fastest of interleaved timings (:func:`~nettrain.runtime.timing.interleaved_seconds`)."""
    seconds = interleaved_seconds({"float32": time_plain, "mixed": time_mixed})
    return seconds["mixed"] <= (1 - MIN_GAIN) * seconds["float32"]
