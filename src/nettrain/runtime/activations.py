"""Activation checkpointing (``performance_goal="training_memory"``): keep fewer activations.

A training step normally keeps every layer's output until the backward pass needs it. With
activation checkpointing the net's longest chain of layers (an ``nn.Sequential``: the net
itself, or its largest ``Sequential`` part) is cut into about ``sqrt(n)`` segments; only each
segment's input is kept, and the segment's forward pass runs again during the backward pass
(``torch.utils.checkpoint``, non-reentrant). Peak activation memory falls from ``n`` layers'
worth to about ``2 sqrt(n)``, for about one extra forward pass of compute. The last segment is
not recomputed: its outputs are needed at once (as ``checkpoint_sequential`` does).

The gradients are those of the plain step: dropout draws the same masks in the recomputation
(torch keeps the random state), and BatchNorm's running statistics, which the recomputation
would update a second time, are put back as they were after it.

Example:
    >>> import torch, torch.nn as nn
    >>> net = nn.Sequential(*[nn.Linear(4, 4) for _ in range(9)])
    >>> with checkpointed(net) as segments:
    ...     y = net(torch.randn(2, 4, requires_grad=True))
    >>> segments, y.shape
    (3, torch.Size([2, 4]))
"""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ["checkpointed", "longest_chain", "segment_count"]


def longest_chain(net: nn.Module) -> nn.Sequential | None:
    """The ``nn.Sequential`` whose segments are checkpointed: the net itself when it is one,
    else its ``Sequential`` part with the most layers (ties: the first); None when it has none
    of at least 2 layers (a net with its own ``forward`` cannot be cut anywhere else)."""
    if isinstance(net, nn.Sequential):
        return net if len(net) >= 2 else None
    chains = [m for m in net.modules() if isinstance(m, nn.Sequential) and len(m) >= 2]
    return max(chains, key=len) if chains else None


def _running_statistics(module: nn.Module) -> list[Tensor]:
    return [
        b
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats
        for b in m.buffers(recurse=False)
    ]


@contextlib.contextmanager
def _kept(buffers: list[Tensor]) -> Iterator[None]:
    """Put ``buffers`` back as they were on leaving (the recomputation's BatchNorm update)."""
    saved = [b.detach().clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved, strict=True):
                buffer.copy_(value)


def _run(layers: list[nn.Module], x: Any) -> Any:
    for layer in layers:
        x = layer(x)
    return x


def _recomputed(layers: list[nn.Module], x: Any) -> Any:
    """``layers`` on ``x``, keeping only ``x`` for the backward pass."""
    statistics = [b for layer in layers for b in _running_statistics(layer)]

    def contexts() -> tuple[Any, Any]:
        return contextlib.nullcontext(), _kept(statistics)

    return checkpoint(_run, layers, x, use_reentrant=False, context_fn=contexts)


def _chain_forward(segments: int) -> Any:
    """A ``forward`` for an ``nn.Sequential`` that checkpoints ``segments`` segments. It reads
    its layers from ``self`` at each call, so a copy of the net (``copy.deepcopy`` rebinds a
    bound method) runs its own layers."""

    def forward(self: nn.Sequential, x: Any) -> Any:
        layers = list(self)
        if not torch.is_grad_enabled():
            return _run(layers, x)  # evaluation: nothing is kept for a backward pass anyway
        size = math.ceil(len(layers) / segments)
        for start in range(0, len(layers) - size, size):
            x = _recomputed(layers[start : start + size], x)
        return _run(layers[(len(layers) - 1) // size * size :], x)

    return forward


def segment_count(net: nn.Module) -> int:
    """The segments :func:`checkpointed` cuts the net's longest chain into: ``ceil(sqrt(n))``
    for a chain of ``n`` layers (at least 2), 0 when the net has no chain.

    >>> segment_count(nn.Sequential(*[nn.ReLU() for _ in range(10)])), segment_count(nn.ReLU())
    (4, 0)
    """
    chain = longest_chain(net)
    if chain is None:
        return 0
    return min(max(2, math.isqrt(len(chain) - 1) + 1), len(chain))


@contextlib.contextmanager
def checkpointed(net: nn.Module) -> Iterator[int]:
    """Checkpoint the net's longest chain while the block runs; yields the number of segments
    (0 when the net has no chain to cut: nothing changes then). The net's own ``forward`` is
    back on leaving, whatever happens."""
    chain, segments = longest_chain(net), segment_count(net)
    if chain is None:
        yield 0
        return
    chain.forward = types.MethodType(_chain_forward(segments), chain)  # type: ignore[method-assign]
    try:
        yield segments
    finally:
        del chain.forward
