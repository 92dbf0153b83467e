"""Device-resident batching by index, and the protocol every batch source follows.

The order of round r is a pure function of (seed, r): :func:`round_permutation`. Data that fits
in memory lives as tensors on the target device; a batch is an ``index_select`` of a slice of that
round's permutation, so the per-batch path runs no Python per example and never syncs with the
host.

Example:
    >>> import torch
    >>> from nettrain.data.table import PortTable
    >>> x, y = torch.arange(10.0)[:, None], torch.arange(10)
    >>> table = PortTable({"input": x, "target": y}, "pairs")
    >>> source = InMemorySource(table, seed=1234)
    >>> source.batches_per_round(4)
    3
    >>> [len(b["target"]) for b in source.round_batches(1, 4)]
    [4, 4, 2]
    >>> torch.equal(round_permutation(1234, 1, 10), round_permutation(1234, 1, 10))
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

import torch

from .table import Batch, PortTable

__all__ = ["BatchSource", "InMemorySource", "orders_examples", "round_permutation"]

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads (seed, round) over the 64-bit space


def orders_examples(source: object) -> bool:
    """Whether nettrain orders the examples of ``source`` itself (a permutation per round over
    a known number of examples): only then can an example be found again (``example_losses``)
    or a run resumed exactly.

    >>> orders_examples(object())
    False
    """
    return callable(getattr(source, "permutation", None)) and (
        getattr(source, "num_examples", None) is not None
    )


def round_permutation(seed: int, round: int, n: int) -> torch.Tensor:
    """The order in which the n examples are visited in round ``round`` (1-based), on the CPU.

    A pure function of (seed, round, n): never touches the global random generator.
    """
    generator = torch.Generator().manual_seed((seed * _MIX + round) % (2**63 - 1))
    return torch.randperm(n, generator=generator)


class BatchSource(Protocol):
    """What the training loop needs from data, whatever form it came in.

    Attributes:
        form: the data form's name ("pairs", "inputs_targets", "port_columns", ...).
        num_examples: examples in one round, or None when a stream does not say.
        names: the column (port) names each batch holds.
        on_device: True when batches are already on the target device.
    """

    form: str
    num_examples: int | None
    names: tuple[str, ...]
    on_device: bool

    def batches_per_round(self, batch_size: int) -> int | None:
        """Batches in one round at this batch size, or None when unknown (a one-shot stream)."""
        ...

    def round_batches(self, round: int, batch_size: int, start: int = 0) -> Iterator[Batch]:
        """The batches of round ``round`` (1-based), skipping the first ``start`` of them."""
        ...

    def sample(self, batch_size: int) -> Batch:
        """A batch of up to ``batch_size`` examples for shape inference and timing; it must not
        disturb the order of round 1 (in-memory data: the first examples; streams: may cache)."""
        ...


class InMemorySource:
    """Batches by index from a :class:`PortTable` held on one device."""

    on_device = True

    def __init__(self, table: PortTable, seed: int) -> None:
        self.table = table
        self.seed = seed
        self.form = table.form
        self.names = table.names
        self.num_examples: int | None = len(table)

    def to(self, device: torch.device | str) -> InMemorySource:
        return InMemorySource(self.table.to(device), self.seed)

    def batches_per_round(self, batch_size: int) -> int:
        return math.ceil(len(self.table) / batch_size)

    def permutation(self, round: int) -> torch.Tensor:
        """Round ``round``'s example order, on the table's device."""
        return round_permutation(self.seed, round, len(self.table)).to(self.table.device)

    def round_batches(self, round: int, batch_size: int, start: int = 0) -> Iterator[Batch]:
        order = self.permutation(round)
        take = self.table.take
        for begin in range(start * batch_size, len(order), batch_size):
            yield take(order[begin : begin + batch_size])

    def sample(self, batch_size: int) -> Batch:
        # taken as the rounds take their batches, not sliced: a slice keeps the column's strides
        # and a 1-channel image column stored as [n, 1, H, W] with channel stride 1 reads as
        # channels_last to the convolutions (the fast kernels), while index_select's batches are
        # plain NCHW; timed on a slice, the plain layout looked as fast as channels_last
        count = min(batch_size, len(self.table))
        return self.table.take(torch.arange(count, device=self.table.device))
