"""Batch sources for data that is read while training: datasets, loaders, iterables, generators.

Each class follows the :class:`~nettrain.data.batching.BatchSource` protocol and converts every
batch with the same rules as in-memory data (:mod:`nettrain.data.columns`), so the engine sees
``{port: tensor}`` batches whatever the form. Batches are produced on the CPU
(``on_device = False``); the engine moves them.

* :class:`DatasetSource`: a map-style dataset (``__len__`` and ``__getitem__``), read in the
  order :func:`~nettrain.data.batching.round_permutation` gives, so its batches equal those of
  the same data held in memory.
* :class:`BatchIterableSource`: a ``DataLoader`` or any iterable of batches; a round is one pass
  in the iterable's own order and batch size. A one-shot iterator (a generator object) gives one
  pass; later rounds are empty, and the engine stops with reason ``"data_exhausted"``.
* :class:`~nettrain.data.generator.GeneratorSource` (its own module): a function
  ``f(batch_size=..., round=...)`` returning one batch.

``sample`` never disturbs round 1: a map-style dataset is read by index; a stream's first batch
is kept, and the pass that ``sample`` started is the pass round 1 continues.

Example:
    >>> import torch
    >>> source = BatchIterableSource([(torch.zeros(4, 2), torch.ones(4))] * 3)
    >>> [len(b["input"]) for b in source.round_batches(1, 4)]
    [4, 4, 4]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..errors import NetTrainError, add_note, describe
from .batching import round_permutation
from .columns import collate_examples, to_batch
from .specs import Spec, batch_spec, format_spec
from .table import Batch

__all__ = ["BatchIterableSource", "DatasetSource", "head", "stream_batch"]


def _relocated(error: NetTrainError, where: str, index: int | None = None) -> NetTrainError:
    """The same error, saying which batch of the stream it was found in."""
    return NetTrainError(
        error.argument,
        f"{error.problem} {where}",
        index=error.index if index is None else index,
        expected=error.expected,
        received=error.received,
        hint=error.hint,
    )


def stream_batch(
    raw: Any,
    first: Batch | None,
    where: str,
    *,
    float_dtype: torch.dtype,
    argument: str,
    shapes: bool,
    unlike: str,
    hint: str,
    index: int | None = None,
) -> Batch:
    """``raw`` converted with the in-memory rules (errors say ``where``), then checked against
    the stream's ``first`` batch (None: ``raw`` is the first): ports and dtypes, and example
    shapes too when ``shapes``. A difference raises ``unlike`` with ``hint``."""
    try:
        batch = to_batch(raw, float_dtype=float_dtype, argument=argument)
    except NetTrainError as error:
        raise _relocated(error, where) from None
    if first is None:
        return batch
    reference, spec = batch_spec(first), batch_spec(batch)
    if shapes:
        differ = spec != reference
    else:
        differ = {k: v[1] for k, v in spec.items()} != {k: v[1] for k, v in reference.items()}
    if differ:
        raise NetTrainError(
            argument,
            unlike,
            index=index,
            unit="batch",
            expected=format_spec(reference, shapes=shapes),
            received=format_spec(spec, shapes=shapes),
            hint=hint,
        )
    return batch


def head(batch: Batch, size: int) -> Batch:
    return {name: column[:size] for name, column in batch.items()}


class DatasetSource:
    """A map-style dataset read in the same order as in-memory data.

    Round r visits the indices of ``round_permutation(seed, r, len(dataset))`` in slices of
    ``batch_size``; each slice's items are read with ``dataset[i]`` and collated with the
    in-memory rules. Items may be ``(input, target)`` pairs, ``{port: value}`` dicts, or bare
    values and 1-tuples (column ``input``).

    Args:
        dataset: any object with ``__len__`` and ``__getitem__``.
        seed: the seed of the data order.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.
        form: the form name to report.

    Raises:
        NetTrainError: an empty dataset; while reading, items that are not data, ragged, raw or
            non-finite, or that differ in ports, shapes or dtypes from item 0 (with the dataset
            index of the item).

    Example:
        >>> import torch
        >>> items = [(torch.tensor([float(i)]), i % 2) for i in range(5)]
        >>> source = DatasetSource(items, seed=7)
        >>> source.names, source.batches_per_round(2)
        (('input', 'target'), 3)
        >>> sorted(int(i) for b in source.round_batches(1, 2) for i in b["input"][:, 0])
        [0, 1, 2, 3, 4]
    """

    on_device = False

    def __init__(
        self,
        dataset: Any,
        seed: int,
        *,
        float_dtype: torch.dtype = torch.float32,
        argument: str = "data",
        form: str = "dataset",
    ) -> None:
        self.dataset = dataset
        self.seed = seed
        self.form = form
        self.float_dtype = float_dtype
        self.argument = argument
        size = len(dataset)
        if size == 0:
            raise NetTrainError(
                argument,
                "is an empty dataset",
                expected="at least one example",
                received="len(dataset) == 0",
            )
        self.num_examples: int | None = size
        self._size = size
        self._reference: Spec | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._spec())

    @names.setter
    def names(self, value: tuple[str, ...]) -> None:  # pragma: no cover - protocol requires it
        raise AttributeError("names are read from the data")

    def batches_per_round(self, batch_size: int) -> int:
        return math.ceil(self._size / batch_size)

    def permutation(self, round: int) -> torch.Tensor:
        """Round ``round``'s example order: the same as for in-memory data with this seed."""
        return round_permutation(self.seed, round, self._size)

    def round_batches(self, round: int, batch_size: int, start: int = 0) -> Iterator[Batch]:
        order = self.permutation(round).tolist()
        for begin in range(start * batch_size, self._size, batch_size):
            yield self._read(order[begin : begin + batch_size])

    def sample(self, batch_size: int) -> Batch:
        """The first ``batch_size`` items, like in-memory data (reading never shifts a round)."""
        return self._read(list(range(min(batch_size, self._size))))

    def examples(self, indices: list[int]) -> Batch:
        """The items at ``indices``, collated (reading never shifts a round)."""
        return self._read(indices)

    def _spec(self) -> Spec:
        if self._reference is None:
            self._reference = batch_spec(self._collate([0]))
        return self._reference

    def _collate(self, indices: list[int]) -> Batch:
        items = []
        for i in indices:
            try:
                items.append(self.dataset[i])
            except Exception as error:  # the dataset's own code: say which example it was
                add_note(error, f"raised by the training data's dataset[{i}] (example {i})")
                raise
        try:
            columns, _ = collate_examples(
                items, float_dtype=self.float_dtype, argument=self.argument, single_items=True
            )
        except NetTrainError as error:
            # The collated error counts within the batch; the user needs the dataset index.
            index = None if error.index is None else indices[error.index]
            raise _relocated(error, "(while reading the dataset)", index) from None
        return columns

    def _read(self, indices: list[int]) -> Batch:
        batch = self._collate(indices)
        reference = self._spec()
        spec = batch_spec(batch)
        if spec != reference:
            raise NetTrainError(
                self.argument,
                "holds an item unlike item 0 (ports, example shapes or dtypes differ)",
                index=indices[0],
                expected=format_spec(reference),
                received=format_spec(spec),
                hint="make every item of the dataset the same shape and type",
            )
        return batch


class BatchIterableSource:
    """A ``DataLoader`` or any other iterable whose elements are batches.

    A round is one pass, in the iterable's own order and batch sizes (``batch_size`` is
    ignored). Each batch may be in any in-memory form (``(xs, ys)``, ``[xs, ys]`` as default
    collate makes it, pairs, ``{port: column}``, rows) or a bare tensor (column ``input``).
    Every batch must have the first batch's ports and dtypes (example shapes may change, as
    with per-batch padding).

    A one-shot iterator (``iter(x) is x``, e.g. a generator object) gives one pass in all: once
    it is exhausted, ``round_batches`` yields nothing.

    Args:
        iterable: the batches.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.
        form: the form name to report ("data_loader" or "iterable").

    Raises:
        NetTrainError: while reading, a batch that is not data (with the round and batch
            number), or whose ports or dtypes differ from the first batch's; an iterable with no
            batches.

    Example:
        >>> import torch
        >>> def batches():
        ...     for k in range(3):
        ...         yield torch.full((2, 1), float(k)), torch.tensor([k, k])
        >>> source = BatchIterableSource(batches())
        >>> source.sample(1)["target"].tolist()
        [0]
        >>> [b["target"].tolist() for b in source.round_batches(1, 64)]
        [[0, 0], [1, 1], [2, 2]]
        >>> list(source.round_batches(2, 64))
        []
    """

    on_device = False

    def __init__(
        self,
        iterable: Iterable[Any],
        *,
        float_dtype: torch.dtype = torch.float32,
        argument: str = "data",
        form: str = "iterable",
    ) -> None:
        self.iterable = iterable
        self.form = form
        self.float_dtype = float_dtype
        self.argument = argument
        # Checking isinstance, not calling iter(): iter() on a DataLoader may start workers.
        self.one_shot = isinstance(iterable, Iterator)
        self.num_examples: int | None = _loader_examples(iterable)
        self._first: Batch | None = None  # the first batch ever read: sample() and names
        self._first_raw: Any = None
        self._pending: Iterator[Any] | None = None  # the pass sample() started
        self._exhausted = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._peek())

    @names.setter
    def names(self, value: tuple[str, ...]) -> None:  # pragma: no cover - protocol requires it
        raise AttributeError("names are read from the data")

    def batches_per_round(self, batch_size: int) -> int | None:
        """``len(iterable)`` when it has one, else None."""
        try:
            return len(self.iterable)  # type: ignore[arg-type]
        except TypeError:
            return None

    def round_batches(self, round: int, batch_size: int, start: int = 0) -> Iterator[Batch]:
        if self._exhausted:
            return
        batches: Iterator[Any]
        if self._pending is not None:
            # Continue the pass sample() began, so that reading the first batch shifted nothing.
            batches = itertools.chain([self._first_raw], self._pending)
            self._pending = None
        else:
            batches = self._open()
        for index, raw in enumerate(batches):
            if index >= start:
                yield self._convert(raw, round, index)
            elif self._first is None:
                self._convert(raw, round, index)  # keep a first batch, or sample() would read on
        if self.one_shot:
            self._exhausted = True

    def sample(self, batch_size: int) -> Batch:
        """Up to ``batch_size`` examples of the first batch (read once, then kept)."""
        return head(self._peek(), batch_size)

    def first_batch_size(self) -> int:
        """The size of the stream's first batch: the batch size it brings with it."""
        return len(next(iter(self._peek().values())))

    def _peek(self) -> Batch:
        if self._first is None:
            if self._exhausted:
                raise NetTrainError(
                    self.argument,
                    "is a one-shot iterator that has already been read to the end",
                    expected="an iterable with batches left",
                    received="an exhausted iterator",
                    hint="pass a re-iterable such as a DataLoader, or a fresh iterator",
                )
            iterator = self._open()
            try:
                raw = next(iterator)
            except StopIteration:
                self._exhausted = self.one_shot
                raise NetTrainError(
                    self.argument,
                    "is an iterable that yields no batches",
                    expected="at least one batch",
                    received=describe(self.iterable),
                ) from None
            self._first_raw = raw
            self._pending = iterator
            self._convert(raw, 1, 0)
        assert self._first is not None
        return self._first

    def _open(self) -> Iterator[Any]:
        """A new pass, or for a one-shot iterator the rest of its only pass."""
        return cast(Iterator[Any], self.iterable) if self.one_shot else iter(self.iterable)

    def _convert(self, raw: Any, round: int, index: int) -> Batch:
        where = f"in batch {index + 1} of round {round}"
        try:
            batch = stream_batch(
                raw,
                self._first,
                where,
                float_dtype=self.float_dtype,
                argument=self.argument,
                shapes=False,
                unlike=f"has a batch unlike the first batch (ports or dtypes differ) {where}",
                hint="make every batch hold the same ports with the same dtypes",
                index=index,
            )
        except NetTrainError as error:
            if self._first is None and _looks_like_one_example(raw):
                raise NetTrainError(
                    error.argument,
                    "is an iterable whose items look like single examples (input, target), "
                    "while an iterable gives batches",
                    expected="batches such as (inputs [n, ...], targets [n])",
                    received=f"an item holding {describe(raw[1])} as its target",
                    hint="pass the examples as a list (list(...)) to train on them as pairs",
                ) from error
            raise

        if self._first is None:
            self._first = batch
        return batch


def _looks_like_one_example(raw: Any) -> bool:
    """An (input, target) pair whose target is a single number: an example, not a batch."""
    if not (isinstance(raw, tuple | list) and len(raw) == 2):
        return False
    target = raw[1]
    if isinstance(target, torch.Tensor | np.ndarray):
        return target.ndim == 0
    return isinstance(target, int | float | bool | np.number)


def _loader_examples(iterable: object) -> int | None:
    """Examples per pass of a DataLoader over a sized dataset, else None (unknown)."""
    if not isinstance(iterable, DataLoader) or iterable.batch_size is None:
        return None
    try:
        size = len(iterable.dataset)  # type: ignore[arg-type]
    except TypeError:
        return None
    if iterable.drop_last:
        return (size // iterable.batch_size) * iterable.batch_size
    return size
