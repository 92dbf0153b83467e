"""Measurements taken before training starts: lazy modules, batch costs and step time.

These run once per ``train`` call and feed the automatic choices in
:mod:`nettrain.options.auto`.

Example:
    >>> import torch, torch.nn as nn
    >>> net = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 2))
    >>> materialize(net, ("input",), {"input": torch.randn(3, 5)})
    >>> net[0].weight.shape
    torch.Size([4, 5])
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from .errors import NetTrainError, describe
from .losses import LossPlan
from .ports import output_ports
from .runtime.layout import CHANNELS_LAST, set_layout
from .runtime.modules import copy_module
from .step import make_step

__all__ = [
    "check_trainable",
    "feature_axis_ports",
    "materialize",
    "measure_batch_costs",
    "probe_forward",
    "probe_loss",
    "time_steps",
]


def _call(net: nn.Module, inputs: tuple[str, ...], batch: Mapping[str, Tensor]) -> object:
    return net(*[batch[name] for name in inputs])


def probe_forward(
    net: nn.Module,
    inputs: tuple[str, ...],
    batch: Mapping[str, Tensor],
    encoders: Mapping[str, Any] | None = None,
    *,
    argument: str = "data",
) -> None:
    """Run the net once on a sample batch; turn a failure into a message about the data's shape.

    Raises:
        NetTrainError: when the net cannot take the data (wrong shape or dtype, most often),
            naming ``argument`` (the data, or the validation set).
    """
    try:
        with torch.no_grad():
            outputs = output_ports(_call(net, inputs, batch))
    except NetTrainError:
        raise
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        shapes = ", ".join(f"{n}: {describe(batch[n])}" for n in inputs)
        raise NetTrainError(
            argument,
            f"the net cannot take the {'data' if argument == 'data' else argument}'s inputs: "
            f"its forward() raised "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
            expected="inputs of the shape and dtype the net's first layer takes",
            received=shapes + " (the first dimension is the batch)",
            hint=_probe_hint(batch, inputs, encoders or {}),
        ) from exc
    for port, output in outputs.items():
        _check_output(port, output, argument)


def _check_output(port: str, output: Tensor, argument: str) -> None:
    """An output nettrain can train on: floating point, and no NaN before any training."""
    if not (output.is_floating_point() or output.is_complex()):
        raise NetTrainError(
            "net",
            f"forward() returned an {str(output.dtype).replace('torch.', '')} tensor for "
            f"output port {port!r}, which has no gradient to train on",
            expected="a floating-point output (float32 or float64)",
            received=describe(output),
            hint="return the layer's scores, not their argmax or a rounded value; convert "
            "with .float() only if the values come from trained layers",
        )
    if output.is_floating_point() and bool(torch.isnan(output).any()):
        bad = int(torch.isnan(output).sum())
        where = "the data" if argument == "data" else f"the {argument}"
        raise NetTrainError(
            "net",
            f"the net's output {port!r} holds NaN on {where}, before any training",
            expected="finite outputs",
            received=f"{bad} NaN of {output.numel()} values",
            hint="check forward() (a 0 / 0, a log or sqrt of a negative number) and the "
            "initial weights",
        )


def probe_loss(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan: LossPlan,
    batch: Mapping[str, Tensor],
    *,
    argument: str,
) -> float:
    """The loss on a sample batch, computed once without gradient; a failure names ``argument``.

    Returns:
        the loss as a number (the untrained net's, before training: the reference level of
        the divergence check).

    Raises:
        NetTrainError: when the loss cannot compare the net's outputs with the batch's targets.
    """
    try:
        with torch.no_grad():
            return float(plan(plan.forward(net, inputs, batch), batch))
    except NetTrainError:
        raise
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        targets = ", ".join(f"{n}: {describe(v)}" for n, v in batch.items() if n not in inputs)
        raise NetTrainError(
            argument,
            f"the loss cannot compare the net's outputs with these targets: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
            expected="targets of the shape and dtype of the training targets",
            received=targets or "no targets",
        ) from exc


def check_trainable(net: nn.Module) -> None:
    """Refuse a net with nothing to train before anything is timed or changed.

    Raises:
        NetTrainError: no parameters at all, or every parameter has ``requires_grad=False``
            (argument "net"). Multipliers that freeze everything are reported by the updater.
    """
    params = list(net.parameters())
    if not params:
        raise NetTrainError(
            "net",
            "the net has no parameters, so there is nothing to train",
            expected="a module with at least one nn.Parameter (e.g. an nn.Linear layer)",
            received=describe(net) if len(repr(net)) < 60 else type(net).__name__,
            hint="register weights as nn.Parameter or as submodules, not as plain tensors",
        )
    if not any(p.requires_grad for p in params):
        raise NetTrainError(
            "net",
            "every parameter of the net has requires_grad=False, so there is nothing to train",
            expected="at least one parameter with requires_grad=True",
            received=f"{len(params)} parameters, all frozen",
            hint="unfreeze the layers to train (p.requires_grad_(True)); to freeze some, use "
            "learning_rate_multipliers={part: 0} instead",
        )


def _first_layer(net: nn.Module) -> nn.Module | None:
    """The first submodule (in registration order) that holds parameters of its own."""
    for module in net.modules():
        if next(module.parameters(recurse=False), None) is not None:
            return module
    return None


def _keeps_batch(net: nn.Module, inputs: tuple[str, ...], batch: Mapping[str, Tensor]) -> bool:
    """Whether the net runs on ``batch`` and every output keeps the batch's first dimension."""
    n = len(next(iter(batch.values())))
    try:
        with torch.no_grad():
            outputs = output_ports(_call(net, inputs, batch))
    except Exception:  # only a trial: the real probe reports the failure
        return False
    return all(o.ndim >= 1 and o.shape[0] == n for o in outputs.values())


def feature_axis_ports(
    net: nn.Module,
    inputs: tuple[str, ...],
    sample: Mapping[str, Tensor],
    encoders: Mapping[str, Any],
) -> list[str]:
    """The input ports whose column of scalars (float ``[n]``) the net takes as ``[n, 1]``.

    As Keras expands 1-D inputs, a column of numbers feeds a net whose first layer takes one
    feature per example (``nn.Linear(1, k)``) with a feature axis added. The rule, per float
    column of rank 1 that no encoder reads: a first layer that is an ``nn.Linear`` (lazy or
    not), or any lazy module, takes ``[n, 1]`` (they read the feature size from the last axis);
    any other net keeps ``[n]`` when it runs on it with the batch dimension kept, and gets
    ``[n, 1]`` when only that works.
    """
    ports: list[str] = []
    first = _first_layer(net)
    lazy = any(is_lazy(p) for p in net.parameters())
    for name in inputs:
        column = sample[name]
        if column.ndim != 1 or not column.is_floating_point() or name in encoders:
            continue
        expanded = {**sample, name: column[:, None]}
        # Linear and lazy layers read the feature size from the last axis: no trial needed
        takes_features = isinstance(first, nn.Linear) or lazy
        if takes_features or (
            not _keeps_batch(net, inputs, sample) and _keeps_batch(net, inputs, expanded)
        ):
            ports.append(name)
    return ports


def _probe_hint(
    batch: Mapping[str, Tensor], inputs: tuple[str, ...], encoders: Mapping[str, Any]
) -> str:
    encoded = [n for n in inputs if n in encoders]
    if encoded:
        name = encoded[0]
        return (
            f"the raw values of {name!r} were encoded by a {encoders[name].describe()} into "
            f"{describe(batch[name])}: the net's first layer must take that (token and "
            "character ids: start with nn.Embedding; images: [n, channels, height, width] "
            "floats), or pass the net with another encoder"
        )
    if any(not batch[n].is_floating_point() for n in inputs):
        return (
            "integer inputs reach the net as they are: scale them to floats first (images: "
            "x.float() / 255), or convert them inside the net's forward()"
        )
    return "check the input size of the net's first layer against the data"


def materialize(net: nn.Module, inputs: tuple[str, ...], batch: Mapping[str, Tensor]) -> None:
    """Give lazy modules (``nn.LazyLinear`` ...) their shapes from a sample batch.

    Existing weights are never touched; only uninitialised parameters are created.
    """
    if any(is_lazy(p) for p in net.parameters()) or any(is_lazy(b) for b in net.buffers()):
        probe_forward(net, inputs, batch)


def measure_batch_costs(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan: LossPlan,
    sample: Mapping[str, Tensor],
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[int, float]:
    """Memory per example (bytes saved for backward + inputs + outputs) and the time of one
    forward + backward pass per example, measured on two examples (one would break BatchNorm)
    of ``sample``: the fastest of 3 to 20 passes (until 0.1 s). Gradients are cleared
    afterwards."""
    size = min(2, len(next(iter(sample.values()))))
    one = {k: v[:size] for k, v in sample.items()}
    saved = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    forward = plan.forward_function(net, inputs)

    def once() -> None:
        loss = plan(forward(one), one)
        loss.backward()

    sync = torch.cuda.synchronize if next(iter(one.values())).is_cuda else (lambda: None)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        once()
    io_bytes = sum(t.numel() * t.element_size() for t in one.values())
    times: list[float] = []
    # the minimum of several passes: on a busy machine one pass can take ten times its cost
    # (a thread of the pass waits for a core), and the batch size must not follow that
    while len(times) < 3 or (len(times) < 20 and sum(times) < 0.1):
        sync()
        begin = clock()
        once()
        sync()
        times.append(clock() - begin)
    net.zero_grad(set_to_none=True)
    return (saved + 2 * io_bytes) // size, min(times) / size


def time_steps(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan_for: Callable[[nn.Module], LossPlan],
    make_updater: Callable[[nn.Module], object],
    batch: Mapping[str, Tensor],
    clock: Callable[[], float] = time.perf_counter,
    budget: float = 0.25,
    channels_last: bool = False,
    autocast: tuple[str, torch.dtype] | None = None,
) -> float:
    """Seconds per training step at the real batch size, measured on a throwaway copy of the net
    so the user's weights are not changed: a warm-up step, then steps until ``budget`` seconds
    (at least 3, at most 50); the median.

    The copy (:func:`~nettrain.runtime.modules.copy_module`) carries none of the library's
    hooks: ``plan_for(copy)`` attaches what the step needs (the encoders' batch work, the loss
    and its logit taps) to the copy. ``channels_last``: the copy and the batch in that layout;
    ``autocast``: the forward pass under it ("mixed" precision)."""
    twin = copy_module(net)
    if channels_last:
        set_layout(twin, CHANNELS_LAST)
    plan = plan_for(twin)
    step = make_step(twin, inputs, plan, make_updater(twin), channels_last=channels_last,
                     autocast=autocast)  # fmt: skip
    sync = torch.cuda.synchronize if next(iter(batch.values())).is_cuda else (lambda: None)
    step(batch)
    times: list[float] = []
    while len(times) < 3 or (sum(times) < budget and len(times) < 50):
        sync()
        begin = clock()
        step(batch)
        sync()
        times.append(clock() - begin)
    plan.close()
    return statistics.median(times)


def one_step(
    net: nn.Module,
    inputs: tuple[str, ...],
    plan_for: Callable[[nn.Module], LossPlan],
    make_updater: Callable[[nn.Module], object],
    batch: Mapping[str, Tensor],
    autocast: tuple[str, torch.dtype] | None = None,
) -> None:
    """One training step on a throwaway copy of the net (as :func:`time_steps`, untimed): it
    raises what the real step would, an out-of-memory error included."""
    twin = copy_module(net)
    plan = plan_for(twin)
    try:
        make_step(twin, inputs, plan, make_updater(twin), autocast=autocast)(batch)
    finally:
        plan.close()
