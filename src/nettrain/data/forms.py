"""The data boundary: every form of training data becomes one :class:`BatchSource`.

:func:`normalize` is the single place that looks at what the user passed as data (SPEC S1.2,
DESIGN principle 8). In-memory forms become an :class:`~nettrain.data.batching.InMemorySource`
over a :class:`~nettrain.data.table.PortTable`; streamed forms become a source from
:mod:`nettrain.data.streams`. Everything downstream sees only the ``BatchSource`` protocol.

======================================================  ============================  ===========
data                                                    source                        form
======================================================  ============================  ===========
``[(x1, y1), ...]``                                     InMemorySource                pairs
``(xs, ys)``, or ``[xs, ys]`` of two arrays/tensors     InMemorySource                inputs_targets
``{"port": column, ...}``                               InMemorySource                port_columns
``[{"port": value, ...}, ...]``                         InMemorySource                port_rows
``pandas.DataFrame``                                    InMemorySource                data_frame
``TensorDataset``                                       InMemorySource                dataset
other map-style dataset (``__len__``, ``__getitem__``)  DatasetSource                 dataset
``DataLoader``                                          BatchIterableSource           data_loader
any other iterable of batches, or an iterator           BatchIterableSource           iterable
``f`` or ``(f, {"round_length": n})``                   GeneratorSource               generator
======================================================  ============================  ===========

The rules that tell the forms apart (tuples versus lists, the data frame convenience, the value
conversions) are in :mod:`nettrain.data.columns` and :mod:`nettrain.data.values`. In short: a
tuple of two is ``(xs, ys)``; a list is a sequence of examples unless it is a list of exactly two
arrays or tensors. A list is never a stream of batches: to stream a list of batches, pass
``iter(batches)``.

Example:
    >>> import torch
    >>> source = normalize([([0.0, 1.0], 1), ([2.0, 3.0], 0), ([4.0, 5.0], 1)], seed=1234)
    >>> type(source).__name__, source.form, source.names, source.num_examples
    ('InMemorySource', 'pairs', ('input', 'target'), 3)
    >>> try:
    ...     normalize(42, seed=1234)
    ... except NetTrainError as error:
    ...     print(error.argument, "|", error.problem, "|", error.received)
    data | is not training data | int 42
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from ..errors import NetTrainError, describe, did_you_mean
from .batching import BatchSource, InMemorySource
from .columns import ACCEPTED_FORMS, to_columns
from .frames import is_data_frame
from .generator import GeneratorSource
from .streams import BatchIterableSource, DatasetSource
from .table import PortTable

__all__ = ["normalize", "to_table"]

_GENERATOR_OPTIONS = ("round_length",)


def normalize(
    data: Any,
    *,
    seed: int,
    float_dtype: torch.dtype = torch.float32,
    argument: str = "data",
) -> BatchSource:
    """Turn training data in any form into the one source the training loop reads.

    Args:
        data: the data, in any form of the module table.
        seed: the seed of the data order (round r's order is a function of seed and r only).
        float_dtype: the dtype floating values become (int values become int64, booleans stay
            bool).
        argument: the argument name in error messages ("data", "validation_set", ...).

    Returns:
        An ``InMemorySource`` for in-memory forms (its table's columns on the CPU, or where the
        given tensors already were), else a ``DatasetSource``, ``BatchIterableSource`` or
        ``GeneratorSource``.

    Raises:
        NetTrainError: for objects that are not data (listing the accepted forms) and, for
            in-memory forms, for empty data, mismatched lengths, ragged examples, rows with
            different ports, pairs that are not 2 long, raw values, NaN or Inf, each naming the
            argument, the example index, what was expected and what was received. Streams
            check each batch as they read it.

    Example:
        >>> import numpy as np
        >>> xs, ys = np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2
        >>> source = normalize((xs, ys), seed=1)
        >>> source.form, source.table.columns["input"].dtype, source.table.columns["target"].dtype
        ('inputs_targets', torch.float32, torch.int64)
        >>> try:
        ...     normalize((xs, ys[:9]), seed=1)
        ... except NetTrainError as error:
        ...     print(error.received)
        10 inputs and 9 targets
    """
    _check_float_dtype(float_dtype)
    if isinstance(data, (InMemorySource, DatasetSource, BatchIterableSource, GeneratorSource)):
        return data  # already normalised: the boundary is idempotent
    if isinstance(data, PortTable):
        return InMemorySource(data, seed)
    if _is_generator_with_options(data):
        function, options = data
        return GeneratorSource(
            function,
            round_length=_round_length(options, argument),
            float_dtype=float_dtype,
            argument=argument,
        )
    if _is_in_memory(data):
        return InMemorySource(to_table(data, float_dtype=float_dtype, argument=argument), seed)
    return _stream(data, seed, float_dtype, argument)


def to_table(
    data: Any, *, float_dtype: torch.dtype = torch.float32, argument: str = "data"
) -> PortTable:
    """The :class:`PortTable` of in-memory data (pairs, ``(xs, ys)``, columns, rows, frames).

    Args:
        data: in-memory data.
        float_dtype: the dtype floating values become.
        argument: the argument name in error messages.

    Returns:
        The table, its ``form`` naming the data form.

    Raises:
        NetTrainError: as :func:`normalize`.

    >>> to_table({"input": [[1.0], [2.0]], "target": [0, 1]}).form
    'port_columns'
    """
    columns, form = to_columns(data, float_dtype=float_dtype, argument=argument)
    return PortTable(columns, form)


def _check_float_dtype(float_dtype: object) -> None:
    if not (isinstance(float_dtype, torch.dtype) and float_dtype.is_floating_point):
        raise NetTrainError(
            "float_dtype",
            "is not a floating dtype",
            expected="torch.float32, torch.float64, torch.float16 or torch.bfloat16",
            received=describe(float_dtype),
        )


def _is_generator_with_options(data: object) -> bool:
    return (
        isinstance(data, tuple)
        and len(data) == 2
        and callable(data[0])
        and not isinstance(data[0], (torch.Tensor, np.ndarray))
        and isinstance(data[1], Mapping)
    )


def _round_length(options: Mapping[Any, Any], argument: str) -> int | None:
    for key in options:
        if key not in _GENERATOR_OPTIONS:
            raise NetTrainError(
                argument,
                f"has an unknown generator option {key!r}",
                expected="options among " + ", ".join(map(repr, _GENERATOR_OPTIONS)),
                received=repr(key),
                hint=did_you_mean(str(key), _GENERATOR_OPTIONS).rstrip("?"),
            )
    length = options.get("round_length")
    if length is None:
        return None
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise NetTrainError(
            argument,
            "has a round_length that is not a positive integer",
            expected="an int >= 1 (examples per round)",
            received=describe(length),
        )
    return int(length)


def _is_in_memory(data: object) -> bool:
    return isinstance(data, (list, tuple, Mapping, TensorDataset)) or is_data_frame(data)


def _stream(data: Any, seed: int, float_dtype: torch.dtype, argument: str) -> BatchSource:
    _reject_non_data(data, argument)
    if isinstance(data, DataLoader):
        return BatchIterableSource(
            data, float_dtype=float_dtype, argument=argument, form="data_loader"
        )
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, Iterator):
        return DatasetSource(data, seed, float_dtype=float_dtype, argument=argument)
    if hasattr(data, "__iter__"):
        return BatchIterableSource(data, float_dtype=float_dtype, argument=argument)
    if callable(data):
        return GeneratorSource(data, float_dtype=float_dtype, argument=argument)
    raise NetTrainError(
        argument, "is not training data", expected=ACCEPTED_FORMS, received=describe(data)
    )


def _is_pandas_series(data: object) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "to_numpy")


def _reject_non_data(data: object, argument: str) -> None:
    """Common mistakes get their own message before the form dispatch."""
    problem, hint = None, None
    if isinstance(data, (str, bytes)):
        problem = 'is a string; named datasets ("MNIST", ...) are not available in this version'
        hint = "load the data yourself and pass it in one of the accepted forms"
    elif isinstance(data, (torch.Tensor, np.ndarray)) or _is_pandas_series(data):
        problem = "is a single array, which holds no targets"
        hint = "pass (inputs, targets), or {'input': array} for a net that computes its own loss"
    elif isinstance(data, torch.nn.Module):
        problem = "is a net (torch.nn.Module), not data"
        hint = "call train(net, data): the net comes first"
    elif isinstance(data, type):
        problem = f"is the class {data.__name__}, not an instance of it"
        hint = f"create the object first, e.g. {data.__name__}(...)"
    elif isinstance(data, IterableDataset):
        problem = "is an IterableDataset, which yields single examples, not batches"
        hint = "wrap it: DataLoader(dataset, batch_size=...)"
    elif (
        hasattr(data, "__getitem__")
        and not hasattr(data, "__len__")
        and not hasattr(data, "__iter__")
    ):
        problem = "is a dataset without __len__, so its examples cannot be shuffled by index"
        hint = "define __len__, or make it iterable and wrap it in a DataLoader"
    if problem is not None:
        raise NetTrainError(
            argument, problem, expected=ACCEPTED_FORMS, received=describe(data), hint=hint
        )
