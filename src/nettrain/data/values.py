"""Values -> tensors: the one set of value rules every data form shares.

:func:`nettrain.data.forms.normalize` uses these rules for in-memory data (through
:mod:`nettrain.data.columns`), and the stream sources (:mod:`nettrain.data.streams`) use them for
every batch they read, so a value means the same thing whichever form it arrives in.

Value rules (:func:`to_tensor`):

* numpy arrays, torch tensors, Python numbers, nested lists, and lists of arrays or tensors all
  become one tensor whose first dimension indexes the examples;
* floating values become ``float_dtype``; integers (of any width, signed or not) become int64;
  booleans stay ``torch.bool``; complex values keep their dtype;
* a tensor that already has the right dtype is used as it is (no copy); a writable, native-order
  numpy array of the right dtype is shared, not copied;
* a pandas Series is read through its numpy values; nullable numbers (``Int64``, ``Float64``,
  ``boolean``) with missing values become float with NaN, which the finite check then reports;
* raw values that need an encoder (str, bytes, None, PIL images, other objects) go to
  :func:`encode_raw_column`, the single place where typed encoders (SPEC S3) will plug in; this
  version has none, so it raises a :class:`~nettrain.errors.NetTrainError`;
* floating columns are checked for NaN and Inf with one vectorised reduction.

Example:
    >>> import numpy as np
    >>> to_tensor(np.arange(3, dtype=np.int32)).dtype
    torch.int64
    >>> to_tensor([[1.0, 2.0], [3.0, 4.0]]).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch

from ..errors import NetTrainError, describe, dtype_name

__all__ = ["encode_raw_column", "needs_encoder", "to_tensor"]

_NUMERIC_KINDS = frozenset("biufc")  # numpy dtype kinds that hold numbers
# The numpy dtype of each torch floating dtype (shared with nettrain.data.frames).
NP_FLOAT: dict[torch.dtype, type[np.floating[Any]]] = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
}
_SCALARS = (bool, int, float, complex, np.number, np.bool_)


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
    tensor = _with_dtype(tensor, float_dtype, name, argument)
    _check_finite(tensor, name, argument)
    return tensor


def _as_tensor(values: Any, name: str, float_dtype: torch.dtype, argument: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        if values.dim() == 0:
            raise not_a_column(values, name, argument)
        return values
    if isinstance(values, np.ndarray):
        return _from_array(values, name, float_dtype, argument)
    if is_pandas(values) and hasattr(values, "to_numpy"):
        return _from_array(pandas_values(values), name, float_dtype, argument)
    if isinstance(values, (list, tuple)):
        return _from_list(list(values), name, float_dtype, argument)
    if isinstance(values, (str, bytes, Mapping, *_SCALARS)) or values is None:
        raise not_a_column(values, name, argument)
    if hasattr(values, "__array__") or hasattr(values, "__array_interface__"):
        return _from_array(np.asarray(values), name, float_dtype, argument)
    if hasattr(values, "__len__") and hasattr(values, "__getitem__"):
        return _from_list(list(values), name, float_dtype, argument)
    raise not_a_column(values, name, argument)


def _from_array(
    arr: np.ndarray, name: str, float_dtype: torch.dtype, argument: str
) -> torch.Tensor:
    if arr.ndim == 0:
        raise not_a_column(arr, name, argument)
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
        target = np.dtype(NP_FLOAT.get(float_dtype, np.float32))
    elif arr.dtype == np.uint8:
        target = np.dtype(np.uint8)  # pixels stay 8-bit (see _with_dtype)
    elif kind in "iu":
        target = np.dtype(np.int64)
    else:
        target = arr.dtype.newbyteorder("=")
    if arr.dtype != target:
        source = arr
        with np.errstate(over="ignore"):  # a narrowing overflow is reported below, in words
            arr = arr.astype(target)  # one vectorised copy into a native, writable array
        if kind == "f" and target.itemsize < source.dtype.itemsize:
            _check_narrowing(source, arr, name, argument)
    if not arr.flags.writeable or any(step < 0 for step in arr.strides):
        # torch cannot share read-only (pandas copy-on-write) or negatively strided memory
        arr = arr.copy()
    return torch.from_numpy(arr)


def _from_list(
    values: list[Any], name: str, float_dtype: torch.dtype, argument: str
) -> torch.Tensor:
    if not values:
        raise no_examples(argument, f"column {name!r} is empty")
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


def _with_dtype(
    tensor: torch.Tensor, float_dtype: torch.dtype, name: str = "input", argument: str = "data"
) -> torch.Tensor:
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
    if tensor.dtype == target:
        return tensor
    cast = tensor.to(target)
    if tensor.is_floating_point() and target.itemsize < tensor.dtype.itemsize:
        _check_narrowing(tensor, cast, name, argument)
    return cast


def _check_narrowing(source: Any, cast: Any, name: str, argument: str) -> None:
    """Finite values too large for the working precision become Inf when the column is cast
    down (float64 -> float32): say so, rather than "NaN or Inf" about numbers that were not.
    ``source`` and ``cast`` are both tensors or both (native) numpy arrays."""
    if isinstance(source, np.ndarray):
        if not (np.isfinite(source) & ~np.isfinite(cast)).any():
            return
        source, cast = torch.tensor(source), torch.tensor(cast)  # copies on the error path only
    lost = (~torch.isfinite(cast) & torch.isfinite(source)).reshape(len(source), -1)
    if not bool(lost.any()):
        return
    index = int(lost.any(1).nonzero()[0, 0])
    value = float(source.reshape(len(source), -1)[index][lost[index]][0])
    dtype = dtype_name(cast.dtype)
    raise NetTrainError(
        argument,
        f"column {name!r} holds a number too large for the working precision ({dtype})",
        index=index,
        expected=f"finite numbers a {dtype} can hold (up to about "
        f"{torch.finfo(cast.dtype).max:.3g} in size)",
        received=repr(value),
        hint='rescale the column, or train in float64: working_precision="float64"',
    )


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


def not_a_column(value: object, name: str, argument: str) -> NetTrainError:
    """The error for a single value where a column of examples belongs (shared by the sibling
    modules that turn containers into columns)."""
    return NetTrainError(
        argument,
        f"column {name!r} is a single value, not a column of examples",
        expected="a list, array or tensor with one element per example",
        received=describe(value),
    )


def no_examples(argument: str, problem: str) -> NetTrainError:
    """The error for data with no examples; ``problem`` says where none were found."""
    return NetTrainError(
        argument,
        problem,
        expected="at least one example",
        received="no examples",
        hint="check that the data was loaded and not filtered down to nothing",
    )


# ---------------------------------------------------------------------------------------------
# pandas values (pandas is imported only for objects that already come from it)
# ---------------------------------------------------------------------------------------------


def is_pandas(value: object) -> bool:
    """Whether ``value`` is a pandas object, judged by its type's module (pandas not imported)."""
    return type(value).__module__.split(".")[0] == "pandas"


def pandas_values(values: Any) -> np.ndarray:
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
