"""Each rank's share of every batch.

The ranks walk the same (seed, round) permutation as one process, in the same global batches of
``batch_size`` examples; rank r trains on the r-th contiguous part of each (the parts differ in
size by at most one example, as ``torch.tensor_split`` cuts them). Weighting each rank's mean
loss by its part of the batch (:meth:`ShardedSource.loss_weight`) before DistributedDataParallel
averages the gradients makes the update the one a single process makes on the whole batch.

Example:
    >>> import torch
    >>> from nettrain.data.batching import InMemorySource
    >>> from nettrain.data.table import PortTable
    >>> table = PortTable({"input": torch.arange(10.0)[:, None]}, "inputs")
    >>> one = InMemorySource(table, seed=0)
    >>> whole = next(iter(one.round_batches(1, 5)))["input"].flatten().tolist()
    >>> parts = [next(iter(ShardedSource(one, r, 2).round_batches(1, 5)))["input"] for r in (0, 1)]
    >>> [p.flatten().tolist() for p in parts] == [whole[:3], whole[3:]]
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..data.batching import InMemorySource
from ..data.table import Batch

__all__ = ["ShardedSource", "ShardedStream", "share_sizes"]


def share_sizes(examples: int, size: int) -> list[int]:
    """How many of ``examples`` each of ``size`` ranks takes (``tensor_split``'s cut).

    >>> share_sizes(5, 2), share_sizes(1, 3)
    ([3, 2], [1, 0, 0])
    """
    base, extra = divmod(examples, size)
    return [base + (1 if r < extra else 0) for r in range(size)]


class ShardedSource:
    """Rank ``rank``'s parts of the batches of an in-memory source (see the module docstring).

    ``shares`` holds the sizes of every rank's part of the batch last yielded, and
    ``global_examples`` that batch's size.
    """

    on_device = True

    def __init__(self, source: InMemorySource, rank: int, size: int) -> None:
        self.source, self.rank, self.size = source, rank, size
        self.form, self.names = source.form, source.names
        self.num_examples = source.num_examples
        self.seed = source.seed
        self.table = source.table
        self.shares: list[int] = [0] * size
        self.global_examples = 0

    def batches_per_round(self, batch_size: int) -> int:
        return self.source.batches_per_round(batch_size)

    def permutation(self, round: int) -> torch.Tensor:
        return self.source.permutation(round)

    def sample(self, batch_size: int) -> Batch:
        return self.source.sample(batch_size)

    def round_batches(self, round: int, batch_size: int, start: int = 0) -> Iterator[Batch]:
        order = self.source.permutation(round)
        take = self.source.table.take
        for begin in range(start * batch_size, len(order), batch_size):
            indices = order[begin : begin + batch_size]
            self.global_examples = len(indices)
            self.shares = share_sizes(len(indices), self.size)
            offset = sum(self.shares[: self.rank])
            yield take(indices[offset : offset + self.shares[self.rank]])

    def loss_weight(self) -> float:
        """The factor on this rank's mean loss for the batch last yielded: its share of the
        batch times the number of ranks (1 when the parts are equal), since DDP divides the
        summed gradients by the number of ranks."""
        mine = self.shares[self.rank]
        return mine * self.size / self.global_examples if self.global_examples else 0.0


class ShardedStream:
    """Rank ``rank``'s parts of the batches of a stream (a batch function, an iterable, a
    DataLoader): every rank reads the stream as one process would and trains on its part of
    each batch, so the global batch is the stream's own.

    A stream's length is not known ahead, so before each batch the ranks agree that every one
    of them has it (``world.sum``, one number): the round ends on all ranks at the first rank
    whose stream has ended, and none waits for a batch another never reads. The reading itself
    is repeated on every rank (its cost does not shrink with more processes); streams that
    depend on randomness draw alike, since the ranks start from rank 0's random state.
    """

    def __init__(self, source: Any, rank: int, size: int, have_all: Callable[[bool], bool]) -> None:
        self.source, self.rank, self.size = source, rank, size
        self.have_all = have_all
        self.form, self.names = source.form, source.names
        self.num_examples = source.num_examples
        self.on_device = source.on_device
        self.shares: list[int] = [0] * size
        self.global_examples = 0

    def __getattr__(self, name: str) -> Any:  # what else the stream offers (its state, close)
        return getattr(self.source, name)

    def batches_per_round(self, batch_size: int) -> int | None:
        return self.source.batches_per_round(batch_size)

    def sample(self, batch_size: int) -> Batch:
        return self.source.sample(batch_size)

    def round_batches(self, round: int, batch_size: int, start: int = 0) -> Iterator[Batch]:
        batches = iter(self.source.round_batches(round, batch_size, start))
        while True:
            batch = next(batches, None)
            if not self.have_all(batch is not None):
                return
            assert batch is not None
            examples = len(next(iter(batch.values())))
            self.global_examples = examples
            self.shares = share_sizes(examples, self.size)
            offset = sum(self.shares[: self.rank])
            mine = self.shares[self.rank]
            yield {name: column[offset : offset + mine] for name, column in batch.items()}

    def loss_weight(self) -> float:
        """As :meth:`ShardedSource.loss_weight`."""
        mine = self.shares[self.rank]
        return mine * self.size / self.global_examples if self.global_examples else 0.0
