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

import copy
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
from .step import make_step

__all__ = ["materialize", "measure_batch_costs", "probe_forward", "time_steps"]


def _call(net: nn.Module, inputs: tuple[str, ...], batch: Mapping[str, Tensor]) -> object:
    return net(*[batch[name] for name in inputs])


def probe_forward(
    net: nn.Module,
    inputs: tuple[str, ...],
    batch: Mapping[str, Tensor],
    encoders: Mapping[str, Any] | None = None,
) -> None:
    """Run the net once on a sample batch; turn a failure into a message about the data's shape.

    Raises:
        NetTrainError: when the net cannot take the data (wrong shape or dtype, most often).
    """
    try:
        with torch.no_grad():
            output_ports(_call(net, inputs, batch))
    except NetTrainError:
        raise
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        shapes = ", ".join(f"{n}: {describe(batch[n])}" for n in inputs)
        raise NetTrainError(
            "data",
            f"the net cannot take the data's inputs: its forward() raised "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
            expected="inputs of the shape and dtype the net's first layer takes",
            received=shapes + " (the first dimension is the batch)",
            hint=_probe_hint(batch, inputs, encoders or {}),
        ) from exc


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

    def once() -> None:
        loss = plan(output_ports(_call(net, inputs, one)), one)
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
) -> float:
    """Seconds per training step at the real batch size, measured on a throwaway copy of the net
    so the user's weights are not changed: a warm-up step, then steps until ``budget`` seconds
    (at least 3, at most 50); the median.

    ``plan_for(module)`` builds the loss for the copy (its logit hooks must sit on the copy)."""
    twin = copy.deepcopy(net)
    plan = plan_for(twin)
    step = make_step(twin, inputs, plan, make_updater(twin))
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
