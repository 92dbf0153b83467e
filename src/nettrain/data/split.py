"""Holding out a fraction of the training data for validation.

The held-out examples are drawn at random with the run's seed, and stratified by class when the
targets are class labels (each class keeps its share), never simply the tail of the data. At
least one training example must remain.

Example:
    >>> import torch
    >>> from nettrain.data.table import PortTable
    >>> table = PortTable({"input": torch.arange(20.0)[:, None],
    ...                    "target": torch.tensor([0] * 10 + [1] * 10)}, "pairs")
    >>> train, held = split_fraction(table, 0.2, seed=1, stratify="target")
    >>> len(train), len(held), held.columns["target"].tolist()
    (16, 4, [0, 0, 1, 1])
"""

from __future__ import annotations

import math

import torch

from ..errors import NetTrainError, describe
from ..scalars import as_real
from .table import PortTable

__all__ = ["split_fraction"]

_SPLIT_STREAM = 0x5EED5  # keeps the split's random stream apart from the batch order's


def _held_counts(labels: torch.Tensor, fraction: float) -> dict[int, int]:
    classes, counts = torch.unique(labels, return_counts=True)
    return {int(c): round(fraction * int(n)) for c, n in zip(classes, counts, strict=True)}


def split_fraction(
    table: PortTable, fraction: float, *, seed: int, stratify: str | None = None
) -> tuple[PortTable, PortTable]:
    """Split ``table`` into (training, validation) with about ``fraction`` held out.

    Args:
        table: the training data.
        fraction: the share to hold out, 0 < fraction < 1.
        seed: the run's seed (the split is a function of it).
        stratify: a target column holding class labels (int or bool, one per example) to keep
            each class's share; None for a plain random split.

    Returns:
        the two tables; each keeps the original order of its examples.

    Raises:
        NetTrainError: for a fraction outside (0, 1), or one that leaves no training example
            or no validation example.
    """
    value = as_real(fraction)
    if value is None or not (0 < value < 1):
        raise NetTrainError(
            "validation_set",
            "a fraction must lie strictly between 0 and 1",
            expected="e.g. 0.1 for 10% of the training data",
            received=describe(fraction),
        )
    fraction = value  # a Python float from here (NumPy scalars too)
    n = len(table)
    generator = torch.Generator().manual_seed(seed ^ _SPLIT_STREAM)
    device = table.device
    labels = table.columns[stratify].cpu() if stratify is not None else None
    if labels is not None and labels.ndim == 1 and not labels.is_floating_point():
        held_parts = []
        for label, count in _held_counts(labels, fraction).items():
            members = (labels == label).nonzero().flatten()
            order = torch.randperm(len(members), generator=generator)
            held_parts.append(members[order[:count]])
        held = torch.cat(held_parts)
        if len(held) == 0:  # every class too small for its share: take one example at random
            held = torch.randperm(n, generator=generator)[:1]
    else:
        held = torch.randperm(n, generator=generator)[: max(1, round(fraction * n))]
    if len(held) >= n:
        raise NetTrainError(
            "validation_set",
            f"holding out {fraction:g} of {n} examples leaves none to train on",
            expected="a smaller fraction, or more data",
            received=repr(fraction),
        )
    mask = torch.zeros(n, dtype=torch.bool)
    mask[held] = True
    keep_idx = (~mask).nonzero().flatten().to(device)
    held_idx = mask.nonzero().flatten().to(device)
    return (
        PortTable(table.take(keep_idx), table.form),
        PortTable(table.take(held_idx), "fraction"),
    )


def held_out_size(n: int, fraction: float) -> int:
    """About how many examples a fraction holds out (for capping the batch size)."""
    return max(1, math.ceil(fraction * n))
