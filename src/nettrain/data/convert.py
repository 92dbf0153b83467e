"""The conversion rules every data form shares: values become tensors, containers become columns.

One set of rules serves the whole data boundary: :func:`nettrain.data.forms.normalize` uses them
for in-memory data, and the stream sources (:mod:`nettrain.data.streams`) use them for every
batch they read, so a value means the same thing whichever form it arrives in.

Value rules (:func:`to_tensor`):

* numpy arrays, torch tensors, Python numbers, nested lists, and lists of arrays or tensors all
  become one tensor whose first dimension indexes the examples;
* floating values become ``float_dtype``; integers (of any width, signed or not) become int64;
  booleans stay ``torch.bool``; complex values keep their dtype;
* a tensor that already has the right dtype is used as it is (no copy); a writable, native-order
  numpy array of the right dtype is shared, not copied;
* raw values that need an encoder (str, bytes, None, PIL images, other objects) go to
  :func:`encode_raw_column`, the single place where typed encoders (SPEC S3) will plug in; this
  version has none, so it raises a :class:`~nettrain.errors.NetTrainError`;
* floating columns are checked for NaN and Inf with one vectorised reduction.

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

Data frame convenience: when a frame has no ``input`` column but has a ``target`` column (any
case) and every other column holds numbers, those other columns are stacked, in order, into one
``input`` column of float vectors, and the target column is named ``target``.

Example:
    >>> import numpy as np
    >>> columns, form = to_columns([([1.0, 2.0], 0), ([3.0, 4.0], 1)])
    >>> form, columns["input"].dtype, columns["input"].shape, columns["target"].tolist()
    ('pairs', torch.float32, torch.Size([2, 2]), [0, 1])
    >>> to_tensor(np.arange(3, dtype=np.int32)).dtype
    torch.int64
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..errors import NetTrainError, describe
from .table import Batch

__all__ = [
    "ACCEPTED_FORMS",
    "Spec",
    "batch_spec",
    "collate_examples",
    "encode_raw_column",
    "format_spec",
    "is_data_frame",
    "needs_encoder",
    "to_batch",
    "to_columns",
    "to_tensor",
]

Columns = dict[str, torch.Tensor]
# What must stay the same from batch to batch of a stream: per column, the shape of one example
# (the batch dimension dropped) and the dtype.
Spec = dict[str, tuple[tuple[int, ...], torch.dtype]]

ACCEPTED_FORMS = (
    "a list of (input, target) pairs, a tuple (inputs, targets), a dict {port: column}, "
    "a list of dicts {port: value}, a pandas DataFrame, a torch Dataset or DataLoader, "
    "an iterable of batches, or a function f(batch_size=..., round=...) that returns a batch"
)

_NUMERIC_KINDS = frozenset("biufc")  # numpy dtype kinds that hold numbers
_NP_FLOAT: dict[torch.dtype, type[np.floating[Any]]] = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
}
_SCALARS = (bool, int, float, complex, np.number, np.bool_)


# ---------------------------------------------------------------------------------------------
# Values -> tensors
# ---------------------------------------------------------------------------------------------


def needs_encoder(value: object) -> bool:
    """Whether ``value`` is a raw value that only an encoder could turn into numbers.

    Numbers, tensors, numeric arrays and containers (lists, tuples, object arrays, whose elements
    are judged one by one) are not raw; strings, bytes, None, PIL images and other objects are.

    >>> needs_encoder(3.0), needs_encoder([1, 2]), needs_encoder("cat"), needs_encoder(None)
    (False, False, True, True)
    """
    if isinstance(value, (torch.Tensor, list, tuple, *_SCALARS)):
        return False
    if isinstance(value, np.ndarray):
        return value.dtype.kind not in _NUMERIC_KINDS and value.dtype.kind != "O"
    if type(value).__module__.split(".")[0] == "PIL":
        return True  # PIL images expose __array_interface__, but their pixels need an encoder
    return not (hasattr(value, "__array__") or hasattr(value, "__array_interface__"))


def encode_raw_column(
    name: str, values: Any, *, index: int, example: object, argument: str
) -> torch.Tensor:
    """Turn a column of raw values (labels, strings, images, ...) into a tensor.

    This is the one place typed encoders (SPEC S3) plug into the data boundary. This version has
    no encoders, so it always raises.

    Args:
        name: the column (port) name.
        values: the whole column.
        index: the first example holding a raw value.
        example: that raw value.
        argument: the argument name for the error ("data", "validation_set", ...).

    Raises:
        NetTrainError: always, naming the column, the value's type and what to do.

    >>> try:
    ...     encode_raw_column("target", ["cat"], index=0, example="cat", argument="data")
    ... except NetTrainError as error:
    ...     print(error.index, error.received, "|", error.problem[:40])
    0 str 'cat' | column 'target' holds raw values of type
    """
    if isinstance(example, Mapping):
        raise NetTrainError(
            argument,
            f"column {name!r} holds dicts, which are not values",
            index=index,
            expected="numbers, arrays or tensors",
            received=describe(example),
            hint="for several ports pass a dict of columns {port: column} or rows {port: value}",
        )
    kind = type(example).__name__
    if isinstance(example, np.ndarray):
        kind = f"{example.dtype} array"
    raise NetTrainError(
        argument,
        f"column {name!r} holds raw values of type {kind}, "
        "and typed encoders are not available in this version",
        index=index,
        expected="numbers, arrays or tensors",
        received=describe(example),
        hint="convert them to numbers first (e.g. labels to integer indices, images to arrays)",
    )


def to_tensor(
    values: Any,
    *,
    name: str = "input",
    float_dtype: torch.dtype = torch.float32,
    argument: str = "data",
) -> torch.Tensor:
    """One column of examples as a tensor whose first dimension indexes the examples.

    Args:
        values: a tensor, numpy array, pandas Series/DataFrame, or a list/tuple of numbers,
            nested lists, arrays or tensors (one element per example).
        name: the column name, for error messages.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.

    Returns:
        The column; the input itself when it is already a tensor of the right dtype.

    Raises:
        NetTrainError: no examples, a single value instead of a column, ragged examples (the
            first example whose shape differs from example 0), raw values, NaN or Inf.

    >>> to_tensor([[1, 2], [3, 4]], name="input").dtype
    torch.int64
    >>> to_tensor([0.5, 1.5], float_dtype=torch.float64).dtype
    torch.float64
    >>> try:
    ...     to_tensor([[1.0, 2.0], [3.0]], name="input")
    ... except NetTrainError as error:
    ...     print(error.index, error.expected, "/", error.received)
    1 shape (2,) like example 0 / shape (1,)
    """
    tensor = _as_tensor(values, name, float_dtype, argument)
    tensor = _with_dtype(tensor, float_dtype)
    _check_finite(tensor, name, argument)
    return tensor


def _as_tensor(values: Any, name: str, float_dtype: torch.dtype, argument: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        if values.dim() == 0:
            raise _not_a_column(values, name, argument)
        return values
    if isinstance(values, np.ndarray):
        return _from_array(values, name, float_dtype, argument)
    if _is_pandas(values) and hasattr(values, "to_numpy"):
        return _from_array(_pandas_values(values), name, float_dtype, argument)
    if isinstance(values, (list, tuple)):
        return _from_list(list(values), name, float_dtype, argument)
    if isinstance(values, (str, bytes, Mapping, *_SCALARS)) or values is None:
        raise _not_a_column(values, name, argument)
    if hasattr(values, "__array__") or hasattr(values, "__array_interface__"):
        return _from_array(np.asarray(values), name, float_dtype, argument)
    if hasattr(values, "__len__") and hasattr(values, "__getitem__"):
        return _from_list(list(values), name, float_dtype, argument)
    raise _not_a_column(values, name, argument)


def _from_array(
    arr: np.ndarray, name: str, float_dtype: torch.dtype, argument: str
) -> torch.Tensor:
    if arr.ndim == 0:
        raise _not_a_column(arr, name, argument)
    kind = arr.dtype.kind
    if kind == "O":
        # An object array is a container of Python values (e.g. a data frame column of arrays).
        if arr.ndim == 1:
            return _from_list(list(arr), name, float_dtype, argument)
        found = _find_raw(arr)
        if found is not None:
            return encode_raw_column(name, arr, index=found[0], example=found[1], argument=argument)
        return _from_list(arr.tolist(), name, float_dtype, argument)
    if kind not in _NUMERIC_KINDS:
        return encode_raw_column(name, arr, index=0, example=arr[0], argument=argument)
    target: np.dtype[Any]
    if kind == "f":
        target = np.dtype(_NP_FLOAT.get(float_dtype, np.float32))
    elif arr.dtype == np.uint8:
        target = np.dtype(np.uint8)  # pixels stay 8-bit (see _with_dtype)
    elif kind in "iu":
        target = np.dtype(np.int64)
    else:
        target = arr.dtype.newbyteorder("=")
    if arr.dtype != target:
        arr = arr.astype(target)  # one vectorised copy into a native, writable array
    if not arr.flags.writeable or any(step < 0 for step in arr.strides):
        # torch cannot share read-only (pandas copy-on-write) or negatively strided memory
        arr = arr.copy()
    return torch.from_numpy(arr)


def _from_list(
    values: list[Any], name: str, float_dtype: torch.dtype, argument: str
) -> torch.Tensor:
    if not values:
        raise _no_examples(argument, f"column {name!r} is empty")
    first = values[0]
    if needs_encoder(first):
        return encode_raw_column(name, values, index=0, example=first, argument=argument)
    if isinstance(first, torch.Tensor):
        try:
            return torch.stack(values)
        except (RuntimeError, TypeError):
            raise _mismatch(values, name, argument) from None
    try:
        arr = np.stack(values) if isinstance(first, np.ndarray) else np.asarray(values)
    except (ValueError, TypeError):
        found = _find_raw(values)
        if found is not None:
            return encode_raw_column(
                name, values, index=found[0], example=found[1], argument=argument
            )
        raise _mismatch(values, name, argument) from None
    if arr.dtype.kind not in _NUMERIC_KINDS:
        found = _find_raw(values)
        if found is not None:
            return encode_raw_column(
                name, values, index=found[0], example=found[1], argument=argument
            )
        raise _mismatch(values, name, argument)
    return _from_array(arr, name, float_dtype, argument)


def _find_raw(values: Any) -> tuple[int, object] | None:
    """The first example holding a raw value, and that value (only on the error path)."""
    for index, value in enumerate(values):
        leaf = _raw_leaf(value)
        if leaf is not _NOTHING:
            return index, leaf
    return None


_NOTHING = object()


def _raw_leaf(value: object) -> object:
    if needs_encoder(value):
        return value
    if isinstance(value, (list, tuple)) or (
        isinstance(value, np.ndarray) and value.dtype == object
    ):
        for element in value:
            leaf = _raw_leaf(element)
            if leaf is not _NOTHING:
                return leaf
    return _NOTHING


def _shape_of(value: object) -> tuple[int, ...] | None:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return tuple(value.shape)
    try:
        return tuple(np.shape(cast(Any, value)))
    except ValueError:
        return None  # the example is itself ragged


def _mismatch(values: list[Any], name: str, argument: str) -> NetTrainError:
    """The error for examples that cannot be stacked: the first that differs from example 0."""
    first = values[0]
    shape0 = _shape_of(first)
    is_tensor = isinstance(first, torch.Tensor)
    for index, value in enumerate(values):
        shape = _shape_of(value)
        if shape is None:
            return NetTrainError(
                argument,
                f"column {name!r} holds an example whose parts have different shapes",
                index=index,
                expected="an array-like of one shape",
                received=describe(value),
                hint="pad or crop the example to one shape",
            )
        if shape != shape0:
            return NetTrainError(
                argument,
                f"column {name!r} holds examples of different shapes",
                index=index,
                expected=f"shape {shape0} like example 0",
                received=f"shape {shape}",
                hint="pad or crop the examples to one shape, or give a function that makes batches",
            )
        if isinstance(value, torch.Tensor) != is_tensor:
            return NetTrainError(
                argument,
                f"column {name!r} mixes tensors with other values",
                index=index,
                expected=f"{'a tensor' if is_tensor else 'not a tensor'} like example 0",
                received=describe(value),
                hint="give every example of a column in the same type",
            )
    return NetTrainError(
        argument,
        f"column {name!r} holds values that cannot be combined into one array",
        expected="numbers, arrays or tensors of one shape",
        received=describe(first),
    )


def _with_dtype(tensor: torch.Tensor, float_dtype: torch.dtype) -> torch.Tensor:
    if tensor.requires_grad:
        tensor = tensor.detach()  # data must not carry an autograd graph into every batch
    if tensor.is_floating_point():
        target = float_dtype
    elif tensor.dtype == torch.bool or tensor.is_complex():
        return tensor
    elif tensor.dtype == torch.uint8:
        return tensor  # pixels stay 8-bit in memory (8x smaller); losses widen uint8 targets
    else:
        target = torch.int64  # class indices and token ids: what losses and embeddings expect
    return tensor if tensor.dtype == target else tensor.to(target)


def _check_finite(tensor: torch.Tensor, name: str, argument: str) -> None:
    if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
        return
    # NaN and Inf survive a sum, so one fast reduction (no temporary the size of the data)
    # clears almost every column; a non-finite sum may also be an overflow of large finite
    # values, so only then are the rows whose own sums are not finite looked at exactly.
    rows = tensor.reshape(len(tensor), -1)
    if bool(torch.isfinite(rows.sum())):
        return
    suspects = (~torch.isfinite(rows.sum(dim=1))).nonzero()[:, 0]
    finite = torch.isfinite(rows[suspects])
    bad = (~finite.all(dim=1)).nonzero()[:, 0]
    if len(bad) == 0:
        return
    index = int(suspects[bad[0]])
    value = rows[index][~finite[bad[0]]][0].item()
    raise NetTrainError(
        argument,
        f"column {name!r} holds NaN or Inf",
        index=index,
        expected="finite numbers",
        received=str(value),
        hint="drop or fill the examples with missing or infinite values (e.g. numpy.nan_to_num)",
    )


def _not_a_column(value: object, name: str, argument: str) -> NetTrainError:
    return NetTrainError(
        argument,
        f"column {name!r} is a single value, not a column of examples",
        expected="a list, array or tensor with one element per example",
        received=describe(value),
    )


def _no_examples(argument: str, problem: str) -> NetTrainError:
    return NetTrainError(
        argument,
        problem,
        expected="at least one example",
        received="no examples",
        hint="check that the data was loaded and not filtered down to nothing",
    )


# ---------------------------------------------------------------------------------------------
# Containers -> columns
# ---------------------------------------------------------------------------------------------


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
        columns, form = _frame_columns(data, float_dtype, argument), "data_frame"
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
        raise _no_examples(argument, "has no examples")
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
            raise _no_examples(argument, "has an empty batch")
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
        raise _no_examples(argument, "has no examples")
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
            raise _not_a_column(data[name], name, argument)
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
    return _is_pandas(value) and hasattr(value, "to_numpy")


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


# ---------------------------------------------------------------------------------------------
# pandas (imported only for objects that already come from pandas)
# ---------------------------------------------------------------------------------------------


def _is_pandas(value: object) -> bool:
    return type(value).__module__.split(".")[0] == "pandas"


def is_data_frame(value: object) -> bool:
    """Whether ``value`` is a pandas DataFrame (or a subclass), without importing pandas.

    >>> is_data_frame({"a": [1]})
    False
    """
    return any(
        cls.__name__ == "DataFrame" and cls.__module__.split(".")[0] == "pandas"
        for cls in type(value).__mro__
    )


def _pandas_values(values: Any) -> np.ndarray:
    """A Series' (or frame's) values as numpy; nullable numbers become float with NaN."""
    import pandas as pd

    dtype = values.dtype if hasattr(values, "dtype") else None
    if dtype is None or isinstance(dtype, np.dtype):
        return np.asarray(values.to_numpy())
    if pd.api.types.is_numeric_dtype(dtype):
        # Extension dtypes (Int64, Float64, boolean): missing values become NaN, which the
        # finite check then reports with the example index.
        if values.isna().any():
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return np.asarray(values.to_numpy(dtype=getattr(dtype, "numpy_dtype", None)))
    return np.asarray(values.to_numpy())


def _frame_columns(frame: Any, float_dtype: torch.dtype, argument: str) -> Columns:
    import pandas as pd

    names = [str(column) for column in frame.columns]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise NetTrainError(
            argument,
            "is a DataFrame with duplicate column names",
            expected="one column per port name",
            received=f"duplicates {duplicates}",
            hint="rename the columns",
        )
    if not names:
        raise NetTrainError(argument, "is a DataFrame with no columns", expected="columns as ports")
    if len(frame) == 0:
        raise _no_examples(argument, "is a DataFrame with no rows")
    by_lower = {name.lower(): column for name, column in zip(names, frame.columns, strict=True)}
    if "input" not in by_lower and "target" in by_lower:
        target = by_lower["target"]
        others = [column for column in frame.columns if column != target]
        if others and all(pd.api.types.is_numeric_dtype(frame[c].dtype) for c in others):
            # The tabular convenience: features side by side, one input vector per row.
            features = frame[others].to_numpy(
                dtype=_NP_FLOAT.get(float_dtype, np.float32), na_value=np.nan
            )
            return {
                "input": to_tensor(
                    features, name="input", float_dtype=float_dtype, argument=argument
                ),
                "target": to_tensor(
                    frame[target], name="target", float_dtype=float_dtype, argument=argument
                ),
            }
    return {
        name: to_tensor(frame[column], name=name, float_dtype=float_dtype, argument=argument)
        for name, column in zip(names, frame.columns, strict=True)
    }


# ---------------------------------------------------------------------------------------------
# Batch specs: what must not change between the batches of a stream
# ---------------------------------------------------------------------------------------------


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
        dtype_name = str(dtype).replace("torch.", "")
        detail = f"{dtype_name}, each example of shape {shape}" if shapes else dtype_name
        parts.append(f"{name!r} ({detail})")
    return "columns " + ", ".join(parts)
