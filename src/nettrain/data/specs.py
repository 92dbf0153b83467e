"""Batch specs: what must not change between the batches of a stream.

A stream's first batch fixes, per column, the shape of one example (the batch dimension dropped)
and the dtype; :mod:`nettrain.data.streams` compares every later batch with it and says in words
(:func:`format_spec`) what changed.

Example:
    >>> import torch
    >>> spec = batch_spec({"input": torch.zeros(4, 3)})
    >>> spec, format_spec(spec, shapes=False)
    ({'input': ((3,), torch.float32)}, "columns 'input' (float32)")
"""

from __future__ import annotations

import torch

from ..errors import dtype_name
from .table import Batch

__all__ = ["Spec", "batch_spec", "format_spec"]

# What must stay the same from batch to batch of a stream: per column, the shape of one example
# (the batch dimension dropped) and the dtype.
Spec = dict[str, tuple[tuple[int, ...], torch.dtype]]


def batch_spec(batch: Batch) -> Spec:
    """Per column, the shape of one example and the dtype.

    >>> import torch
    >>> batch_spec({"input": torch.zeros(4, 3), "target": torch.zeros(4, dtype=torch.int64)})
    {'input': ((3,), torch.float32), 'target': ((), torch.int64)}
    """
    return {name: (tuple(column.shape[1:]), column.dtype) for name, column in batch.items()}


def format_spec(spec: Spec, *, shapes: bool = True) -> str:
    """A spec in words for error messages.

    >>> import torch
    >>> format_spec({"input": ((3,), torch.float32)})
    "columns 'input' (float32, each example of shape (3,))"
    """
    parts = []
    for name, (shape, dtype) in spec.items():
        kind = dtype_name(dtype)
        detail = f"{kind}, each example of shape {shape}" if shapes else kind
        parts.append(f"{name!r} ({detail})")
    return "columns " + ", ".join(parts)
