"""Containers -> columns: every in-memory data form becomes one dict of equal-length columns.

:func:`nettrain.data.forms.normalize` reads in-memory data with :func:`to_columns`; the stream
sources (:mod:`nettrain.data.streams`) read every batch with :func:`to_batch` or
:func:`collate_examples`. Each column is then converted by the value rules of
:mod:`nettrain.data.values`, so a value means the same thing whichever form it arrives in.

Container rules (:func:`to_columns`, :func:`to_batch`):

======================================  =====================  ====================
form                                    columns                form name
======================================  =====================  ====================
``[(x1, y1), ...]`` (tuples or lists)   ``input``, ``target``  ``"pairs"``
``(xs, ys)`` (any tuple of two)         ``input``, ``target``  ``"inputs_targets"``
``[xs, ys]`` (a list of two arrays)     ``input``, ``target``  ``"inputs_targets"``
``{"port": column, ...}``               the keys               ``"port_columns"``
``[{"port": value, ...}, ...]``         the keys               ``"port_rows"``
``pandas.DataFrame``                    the column names       ``"data_frame"``
``TensorDataset(x)`` / ``(x, y)``       ``input`` [``target``] ``"dataset"``
======================================  =====================  ====================

How a tuple differs from a list: a tuple of exactly two elements is always ``(xs, ys)``; any other
tuple, and any list, is a sequence of examples (pairs or rows). The one exception is a list of
exactly two arrays or tensors, which is ``(xs, ys)``: that is what ``torch``'s default collate
makes of a batch of pairs, and an example pair is never an array.

Data frames follow :mod:`nettrain.data.frames` (with its tabular convenience).

Example:
    >>> columns, form = to_columns([([1.0, 2.0], 0), ([3.0, 4.0], 1)])
    >>> form, columns["input"].dtype, columns["input"].shape, columns["target"].tolist()
    ('pairs', torch.float32, torch.Size([2, 2]), [0, 1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..errors import NetTrainError, describe
from .frames import frame_columns, is_data_frame
from .table import Batch
from .values import is_pandas, no_examples, not_a_column, to_tensor

__all__ = ["ACCEPTED_FORMS", "Columns", "collate_examples", "to_batch", "to_columns"]

Columns = dict[str, torch.Tensor]

ACCEPTED_FORMS = (
    "a list of (input, target) pairs, a tuple (inputs, targets), a dict {port: column}, "
    "a list of dicts {port: value}, a pandas DataFrame, a torch Dataset or DataLoader, "
    "an iterable of batches, or a function f(batch_size=..., round=...) that returns a batch"
)


def to_columns(
    data: Any, *, float_dtype: torch.dtype = torch.float32, argument: str = "data"
) -> tuple[Columns, str]:
    """The columns and the form name of in-memory data in any form of the module table.

    Args:
        data: pairs, ``(xs, ys)``, a dict of columns, a list of rows, a pandas DataFrame or a
            ``TensorDataset``.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.

    Returns:
        ``(columns, form)``: ``{port: tensor}`` with equal first dimensions (at least 1), and
        the form's name.

    Raises:
        NetTrainError: for anything that is not such data, or is empty, ragged, mismatched in
            length, raw or non-finite.

    >>> columns, form = to_columns({"x": [[1.0], [2.0]], "label": [True, False]})
    >>> form, columns["x"].shape, columns["label"].dtype
    ('port_columns', torch.Size([2, 1]), torch.bool)
    """
    if is_data_frame(data):
        columns = frame_columns(data, float_dtype=float_dtype, argument=argument)
        form = "data_frame"
    elif isinstance(data, Mapping):
        columns, form = _port_columns(data, float_dtype, argument), "port_columns"
    elif isinstance(data, TensorDataset):
        columns, form = _tensor_dataset_columns(data, float_dtype, argument), "dataset"
    elif _is_inputs_targets(data):
        columns, form = _inputs_targets(data, float_dtype, argument), "inputs_targets"
    elif isinstance(data, (list, tuple)):
        columns, form = collate_examples(list(data), float_dtype=float_dtype, argument=argument)
    else:
        raise NetTrainError(
            argument,
            "is not training data",
            expected=ACCEPTED_FORMS,
            received=describe(data),
        )
    if len(next(iter(columns.values()))) == 0:
        raise no_examples(argument, "has no examples")
    return columns, form


def to_batch(
    data: Any, *, float_dtype: torch.dtype = torch.float32, argument: str = "data"
) -> Batch:
    """One streamed batch, in any in-memory form or as a bare tensor/array (column ``input``).

    Args:
        data: the batch as a data loader, iterable or generator gave it.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.

    Returns:
        ``{port: tensor}`` with at least one example.

    Raises:
        NetTrainError: as :func:`to_columns`.

    >>> import torch
    >>> batch = to_batch([torch.zeros(3, 2), torch.tensor([0, 1, 2])])  # what collate makes
    >>> sorted(batch), batch["input"].shape
    (['input', 'target'], torch.Size([3, 2]))
    """
    if isinstance(data, (torch.Tensor, np.ndarray)):
        column = to_tensor(data, name="input", float_dtype=float_dtype, argument=argument)
        if len(column) == 0:
            raise no_examples(argument, "has an empty batch")
        return {"input": column}
    return to_columns(data, float_dtype=float_dtype, argument=argument)[0]


def collate_examples(
    items: list[Any],
    *,
    float_dtype: torch.dtype = torch.float32,
    argument: str = "data",
    single_items: bool = False,
) -> tuple[Columns, str]:
    """Columns from a list of examples: ``(input, target)`` pairs or ``{port: value}`` rows.

    One pass splits the examples, then one stack per column converts them.

    Args:
        items: the examples.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.
        single_items: also accept examples that are a bare value or a 1-tuple (column
            ``input`` only), as map-style dataset items may be.

    Returns:
        ``(columns, form)`` with form ``"pairs"`` or ``"port_rows"``.

    Raises:
        NetTrainError: no examples; a pair that is not 2 long or a row with other keys than
            row 0 (the first such index); and as :func:`to_tensor`.

    >>> columns, form = collate_examples([{"a": 1, "b": 2.0}, {"b": 4.0, "a": 3}])
    >>> form, columns["a"].tolist(), columns["b"].tolist()
    ('port_rows', [1, 3], [2.0, 4.0])
    """
    if not items:
        raise no_examples(argument, "has no examples")
    first = items[0]
    if isinstance(first, Mapping):
        return _rows_columns(items, float_dtype, argument), "port_rows"
    if single_items and not isinstance(first, (tuple, list)):
        return {"input": to_tensor(items, float_dtype=float_dtype, argument=argument)}, "dataset"
    if single_items and len(first) == 1:
        # 1-tuples, as TensorDataset(x) and its subsets give them
        values = [item[0] if isinstance(item, (tuple, list)) else item for item in items]
        return {"input": to_tensor(values, float_dtype=float_dtype, argument=argument)}, "dataset"
    return _pairs_columns(items, float_dtype, argument), "pairs"


def _pairs_columns(items: list[Any], float_dtype: torch.dtype, argument: str) -> Columns:
    inputs: list[Any] = []
    targets: list[Any] = []
    for index, pair in enumerate(items):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            received = describe(pair)
            if isinstance(pair, (tuple, list)):
                received = f"a {type(pair).__name__} of length {len(pair)}"
            raise NetTrainError(
                argument,
                "holds an element that is not an (input, target) pair",
                index=index,
                expected="a tuple or list of 2 elements (input, target)",
                received=received,
                hint="give every example as (input, target), or use a dict of ports for more",
            )
        inputs.append(pair[0])
        targets.append(pair[1])
    return {
        "input": to_tensor(inputs, name="input", float_dtype=float_dtype, argument=argument),
        "target": to_tensor(targets, name="target", float_dtype=float_dtype, argument=argument),
    }


def _rows_columns(items: list[Any], float_dtype: torch.dtype, argument: str) -> Columns:
    keys = list(items[0].keys())
    _check_port_names(keys, argument)
    expected = set(keys)
    for index, row in enumerate(items):
        if not isinstance(row, Mapping) or row.keys() != expected:
            received = (
                f"keys {sorted(map(str, row.keys()))}"
                if isinstance(row, Mapping)
                else describe(row)
            )
            raise NetTrainError(
                argument,
                "holds a row whose ports differ from row 0's",
                index=index,
                expected=f"a dict with keys {sorted(keys)}",
                received=received,
                hint="give every row the same ports",
            )
    return {
        key: to_tensor(
            [row[key] for row in items], name=key, float_dtype=float_dtype, argument=argument
        )
        for key in keys
    }


def _port_columns(data: Mapping[Any, Any], float_dtype: torch.dtype, argument: str) -> Columns:
    if not data:
        raise NetTrainError(
            argument, "is a dict with no ports", expected="{port: column, ...}", received="{}"
        )
    names = list(data)
    _check_port_names(names, argument)
    lengths = {name: _length(data[name]) for name in names}
    for name, length in lengths.items():
        if length is None:
            raise not_a_column(data[name], name, argument)
    first = names[0]
    for name in names[1:]:
        if lengths[name] != lengths[first]:
            raise NetTrainError(
                argument,
                f"has columns of different lengths: {first!r} and {name!r}",
                expected=f"{lengths[first]} examples in {name!r} like {first!r}",
                received=f"{lengths[name]} examples in {name!r}",
                hint="give every port one value per example",
            )
    return {
        name: to_tensor(data[name], name=name, float_dtype=float_dtype, argument=argument)
        for name in names
    }


def _check_port_names(names: list[Any], argument: str) -> None:
    for name in names:
        if not isinstance(name, str):
            raise NetTrainError(
                argument,
                "has a port name that is not a string",
                expected="port names such as 'input' and 'target'",
                received=describe(name),
            )


def _is_array_like(value: object) -> bool:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.ndim >= 1
    return is_pandas(value) and hasattr(value, "to_numpy")


def _is_inputs_targets(data: object) -> bool:
    if isinstance(data, tuple):
        return len(data) == 2
    return isinstance(data, list) and len(data) == 2 and all(map(_is_array_like, data))


def _length(value: object) -> int | None:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return int(value.shape[0]) if value.ndim >= 1 else None
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        return None
    return len(cast(Sized, value))


def _inputs_targets(data: Sequence[Any], float_dtype: torch.dtype, argument: str) -> Columns:
    inputs, targets = data
    for part, value in (("inputs", inputs), ("targets", targets)):
        if _length(value) is None:
            raise NetTrainError(
                argument,
                f"is a tuple (inputs, targets) whose {part} are not a sequence",
                expected="two sequences, arrays or tensors of equal length",
                received=f"{part} {describe(value)}",
                hint="for one example write [(x, y)]; for a generator with options, (f, {...})",
            )
    n_inputs, n_targets = _length(inputs), _length(targets)
    if n_inputs != n_targets:
        raise NetTrainError(
            argument,
            "has inputs and targets of different lengths",
            expected=f"{n_inputs} targets, one per input",
            received=f"{n_inputs} inputs and {n_targets} targets",
            hint="give exactly one target per input",
        )
    return {
        "input": to_tensor(inputs, name="input", float_dtype=float_dtype, argument=argument),
        "target": to_tensor(targets, name="target", float_dtype=float_dtype, argument=argument),
    }


def _tensor_dataset_columns(
    data: TensorDataset, float_dtype: torch.dtype, argument: str
) -> Columns:
    tensors = data.tensors
    if len(tensors) not in (1, 2):
        raise NetTrainError(
            argument,
            "is a TensorDataset with an unexpected number of tensors",
            expected="1 tensor (input) or 2 (input, target)",
            received=f"{len(tensors)} tensors",
            hint="for more ports pass a dict {port: tensor}",
        )
    names = ("input", "target")[: len(tensors)]
    return {
        name: to_tensor(tensor, name=name, float_dtype=float_dtype, argument=argument)
        for name, tensor in zip(names, tensors, strict=True)
    }
