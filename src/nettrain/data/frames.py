"""pandas DataFrames -> columns: one column per port, named by the frame's column names.

pandas is never imported to find out whether something is a frame (:func:`is_data_frame` looks
at the type's module), and only imported for objects that already come from pandas.

Data frame convenience: when a frame has no ``input`` column but has a ``target`` column (any
case) and every other column holds numbers, those other columns are stacked, in order, into one
``input`` column of float vectors, and the target column is named ``target``. Every column is
then converted by the value rules of :mod:`nettrain.data.values` (nullable numbers with missing
values become NaN, which is reported with the example's index).

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4], "Target": [0, 1]})
    >>> columns = frame_columns(frame, float_dtype=torch.float32, argument="data")
    >>> sorted(columns), columns["input"].tolist(), columns["target"].tolist()
    (['input', 'target'], [[1.0, 3.0], [2.0, 4.0]], [0, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import NetTrainError
from .values import NP_FLOAT, no_examples, to_tensor

__all__ = ["frame_columns", "is_data_frame"]


def is_data_frame(value: object) -> bool:
    """Whether ``value`` is a pandas DataFrame (or a subclass), without importing pandas.

    >>> is_data_frame({"a": [1]})
    False
    """
    return any(
        cls.__name__ == "DataFrame" and cls.__module__.split(".")[0] == "pandas"
        for cls in type(value).__mro__
    )


def frame_columns(
    frame: Any, *, float_dtype: torch.dtype, argument: str
) -> dict[str, torch.Tensor]:
    """The columns of a pandas DataFrame, with the tabular convenience of the module docstring.

    Args:
        frame: a pandas DataFrame with at least one column and one row.
        float_dtype: the dtype floating values become.
        argument: the argument name for error messages.

    Returns:
        ``{port: tensor}`` with one tensor per column (or ``input`` and ``target``).

    Raises:
        NetTrainError: duplicate column names, no columns, no rows, and as
            :func:`~nettrain.data.values.to_tensor`.
    """
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
        raise no_examples(argument, "is a DataFrame with no rows")
    by_lower = {name.lower(): column for name, column in zip(names, frame.columns, strict=True)}
    if "input" not in by_lower and "target" in by_lower:
        target = by_lower["target"]
        others = [column for column in frame.columns if column != target]
        if others and all(pd.api.types.is_numeric_dtype(frame[c].dtype) for c in others):
            # The tabular convenience: features side by side, one input vector per row.
            features = frame[others].to_numpy(
                dtype=NP_FLOAT.get(float_dtype, np.float32), na_value=np.nan
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
