"""A generator function as data: ``f(batch_size=..., round=...)`` returns one batch per call.

By default one call is one round; with ``round_length=n`` enough calls make about n examples a
round. Each batch is converted with the in-memory rules and checked against the first call's
ports, shapes and dtypes (:func:`nettrain.data.streams.stream_batch`).

Example:
    >>> import torch
    >>> def make(batch_size, round):
    ...     x = torch.full((batch_size, 2), float(round))
    ...     return x, x.sum(dim=1)
    >>> source = GeneratorSource(make, round_length=10)
    >>> source.batches_per_round(4)
    3
    >>> [b["input"][0, 0].item() for b in source.round_batches(2, 4)]
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..errors import NetTrainError, describe
from .streams import head, stream_batch
from .table import Batch

__all__ = ["GeneratorSource"]

_KEYWORDS = ("batch_size", "round")


def _generator_keywords(function: Callable[..., Any], argument: str) -> tuple[str, ...]:
    """Which of batch_size and round the function takes, from its signature."""
    if inspect.isgeneratorfunction(function):
        raise NetTrainError(
            argument,
            "is a generator function (it yields), but a batch function must return one batch",
            expected="f(batch_size=..., round=...) that returns a batch",
            received=describe(function),
            hint="pass the generator object f() to train on its batches once, or return, not yield",
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return _KEYWORDS  # no signature to read (a builtin): pass both
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return _KEYWORDS
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    keywords = tuple(k for k in _KEYWORDS if k in parameters and parameters[k].kind in named)
    unfilled = [
        p.name
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in keywords
    ]
    if unfilled:
        raise NetTrainError(
            argument,
            f"is a function with parameters nettrain cannot fill: {', '.join(unfilled)}",
            expected="f(batch_size=..., round=...) (either may be left out, or take **kwargs)",
            received=f"{getattr(function, '__name__', 'function')}{signature}",
            hint="name the parameters batch_size and round, or give the others defaults",
        )
    return keywords


class GeneratorSource:
    """A function that returns one batch per call: ``f(batch_size=B, round=r)``.

    The function may take both keywords, only one, none, or ``**kwargs``. Each call returns a
    batch in any in-memory form. By default one call is one round; with ``round_length=n``,
    ``ceil(n / B)`` calls make a round. Every batch must have the first call's ports, example
    shapes and dtypes.

    Args:
        function: the batch function.
        round_length: examples per round, or None for one call per round.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.

    Raises:
        NetTrainError: a function whose parameters cannot be filled, or a generator function
            (one that yields); while training, a call (named by round and call number, both
            counted from 1) returning non-data or a batch unlike the first call's.

    Example:
        >>> import torch
        >>> calls = []
        >>> def make(batch_size, round):
        ...     calls.append((batch_size, round))
        ...     return {"input": torch.zeros(batch_size, 3), "target": torch.zeros(batch_size)}
        >>> source = GeneratorSource(make)
        >>> source.batches_per_round(32), source.num_examples
        (1, None)
        >>> [b["input"].shape[0] for b in source.round_batches(1, 8)], calls
        ([8], [(8, 1)])
    """

    on_device = False
    form = "generator"

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        round_length: int | None = None,
        float_dtype: torch.dtype = torch.float32,
        argument: str = "data",
    ) -> None:
        self.function = function
        self.float_dtype = float_dtype
        self.argument = argument
        self.round_length = round_length
        self.num_examples: int | None = round_length
        self._keywords = _generator_keywords(function, argument)
        self._first: Batch | None = None  # the first call's batch: the reference spec
        self._replay: tuple[int, Batch] | None = None  # (batch size, batch) of sample()'s call

    @property
    def names(self) -> tuple[str, ...]:
        if self._first is None:
            self.sample(1)
        assert self._first is not None
        return tuple(self._first)

    @names.setter
    def names(self, value: tuple[str, ...]) -> None:  # pragma: no cover - protocol requires it
        raise AttributeError("names are read from the data")

    def batches_per_round(self, batch_size: int) -> int:
        if self.round_length is None:
            return 1
        return max(1, math.ceil(self.round_length / batch_size))

    def round_batches(self, round: int, batch_size: int, start: int = 0) -> Iterator[Batch]:
        # Skipped calls (resuming mid-round) are not made: a function of (batch_size, round)
        # gives the same later batches either way, and a stateful one cannot be replayed anyway.
        for call in range(start, self.batches_per_round(batch_size)):
            if round == 1 and call == 0 and self._replay is not None:
                size, batch = self._replay
                self._replay = None
                if size == batch_size:
                    yield batch  # sample() already made round 1's first call
                    continue
            yield self._call(round, call, batch_size)

    def sample(self, batch_size: int) -> Batch:
        """A batch for shape inference; the first call is kept and replayed as round 1's first
        batch when round 1 uses the same batch size, so sampling shifts nothing."""
        if self._first is None:
            batch = self._call(1, 0, batch_size)
            self._replay = (batch_size, batch)
            return batch
        if len(next(iter(self._first.values()))) >= batch_size:
            return head(self._first, batch_size)
        return self._call(1, 0, batch_size)

    def _call(self, round: int, call: int, batch_size: int) -> Batch:
        values = {"batch_size": batch_size, "round": round}
        raw = self.function(**{k: values[k] for k in self._keywords})
        batch = stream_batch(
            raw,
            self._first,
            f"in the batch from call {call + 1} of round {round}",
            float_dtype=self.float_dtype,
            argument=self.argument,
            shapes=True,
            unlike=f"generator call {call + 1} of round {round} returned a batch unlike the first "
            "call's (ports, example shapes or dtypes differ)",
            hint="make the function return the same ports, shapes and dtypes on every call",
            index=call,
        )
        if self._first is None:
            self._first = batch
        return batch
