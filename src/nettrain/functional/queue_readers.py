"""The two ways a queue reads batches: by index from its own order, or from a stream.

Used by :mod:`nettrain.functional.queue` only: :class:`IndexedReader` for data the queue orders
itself (a table on the device, a map-style dataset), :class:`StreamReader` for loaders,
iterables and generators, which keep their own order.

Example:
    >>> import torch
    >>> from nettrain.data.forms import normalize
    >>> source = normalize((torch.arange(5.0)[:, None], torch.arange(5)), seed=1)
    >>> reader = IndexedReader(source, 2, discard=False, device=torch.device("cpu"))
    >>> reader.begin(torch.arange(5), 1, 0)
    >>> [t.tolist() for t in reader.read(1)]
    [[[2.0], [3.0]], [2, 3]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from ..data.batching import InMemorySource
from ..data.streams import DatasetSource
from ..data.table import Batch

__all__ = ["IndexedReader", "StreamReader"]


class IndexedReader:
    """Data nettrain orders itself: a table on the device (a batch is one ``index_select``
    per column) or a map-style dataset (read item by item in the same order)."""

    discarded = 0  # batches are cut from the order: the partial one is simply not counted

    def __init__(
        self,
        source: InMemorySource | DatasetSource,
        batch_size: int,
        discard: bool,
        device: torch.device,
    ) -> None:
        self.source, self.batch_size, self.device = source, batch_size, device
        n = source.num_examples
        assert n is not None
        self.count: int | None = n // batch_size if discard else math.ceil(n / batch_size)
        self._count = self.count or 0
        self._columns = (
            tuple(source.table.columns.values()) if isinstance(source, InMemorySource) else None
        )
        self._order = torch.empty(0, dtype=torch.int64)

    def begin(self, order: Tensor | None, epoch: int, position: int) -> None:
        assert order is not None
        if self._columns is not None:
            order = order.to(self.device)
        self._order = order

    def forget(self) -> None:
        pass

    def has(self, position: int) -> bool:
        return position < self._count

    def read(self, position: int) -> list[Tensor]:
        begin = position * self.batch_size
        indices = self._order[begin : begin + self.batch_size]
        if self._columns is not None:
            return [column.index_select(0, indices) for column in self._columns]
        assert isinstance(self.source, DatasetSource)
        batch = self.source.examples(indices.tolist())
        return [column.to(self.device, non_blocking=True) for column in batch.values()]


class StreamReader:
    """A data loader, iterable or generator: its own batches, in its own order; one pass (or
    one round of calls) per epoch. One batch is read ahead so that ``has`` can answer."""

    def __init__(self, source: Any, batch_size: int, discard: bool, device: torch.device) -> None:
        self.source, self.batch_size, self.discard, self.device = (
            source,
            batch_size,
            discard,
            device,
        )
        per_round = source.batches_per_round(batch_size)
        n = source.num_examples
        if discard and per_round is not None and n is not None and source.form != "generator":
            per_round = n // batch_size  # a loader's last, partial batch is left out
        self.count: int | None = per_round
        self.discarded = 0  # short batches skipped before the one read ahead
        self._batches: Iterator[Batch] | None = None
        self._ahead: Batch | None = None
        self._spec: tuple[int, int] | None = None  # (epoch, position) to open at

    def begin(self, order: Tensor | None, epoch: int, position: int) -> None:
        self._batches, self._ahead, self.discarded = None, None, 0
        self._spec = (epoch, position)

    def forget(self) -> None:
        self._batches, self._ahead, self._spec, self.discarded = None, None, None, 0

    def has(self, position: int) -> bool:
        if self._ahead is not None:
            return True
        if self._batches is None:
            if self._spec is None:
                return False
            epoch, start = self._spec
            self._batches = self.source.round_batches(epoch, self.batch_size, start)
        self.discarded = 0
        for batch in self._batches:
            if self.discard and len(next(iter(batch.values()))) < self.batch_size:
                self.discarded += 1
                continue
            self._ahead = batch
            return True
        return False

    def read(self, position: int) -> list[Tensor]:
        batch, self._ahead = self._ahead, None
        assert batch is not None
        return [column.to(self.device, non_blocking=True) for column in batch.values()]
