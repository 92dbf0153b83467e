"""Raw data (labels, strings, booleans, images) turned into tensors by encoders, at the boundary.

In-memory data whose columns hold raw values is split into per-port columns, each raw column is
encoded (by the encoder the user's ``nettrain.Net`` carries for that port, or one inferred from
the data and fitted on it), examples an encoder cannot read (a corrupt image file) are dropped
from every column and reported, and the result goes on to :func:`nettrain.data.forms.normalize`
as a dict of columns. Boolean targets get an encoder too, so the trained net answers True/False.

Example:
    >>> enc = encode_raw(([[0.0], [1.0]], ["no", "yes"]), inputs=("input",), given={})
    >>> enc.form, enc.columns["target"].tolist(), enc.encoders["target"].kind
    ('inputs_targets', [0, 1], 'class')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import NetTrainError, describe
from .frames import is_data_frame
from .values import needs_encoder, to_tensor

__all__ = ["EncodedData", "encode_raw", "split_ports"]


@dataclass
class EncodedData:
    """The data with raw columns encoded: ``columns`` (tensors or numeric values), the original
    ``form``, the ``encoders`` used per port, and the indices of ``skipped`` examples with the
    port whose encoder could not read them."""

    columns: dict[str, Any]
    form: str
    encoders: dict[str, Any]
    skipped: dict[int, str] = field(default_factory=dict)
    examples: int = 0


def _column(values: Any) -> Any:
    if isinstance(values, torch.Tensor):
        return values  # encoders take whole blocks of already-encoded values at once
    if isinstance(values, np.ndarray):
        return list(values) if values.dtype.kind == "O" else values
    return list(values)


def split_ports(data: Any) -> tuple[dict[str, Any], str] | None:
    """Per-port columns of in-memory data, without converting anything; None for streams."""
    if is_data_frame(data):
        return {str(c): data[c].tolist() for c in data.columns}, "data_frame"
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}, "port_columns"
    if (
        isinstance(data, tuple)
        and len(data) == 2
        and not isinstance(data[0], Mapping)
        and not callable(data[0])
    ):
        return {"input": data[0], "target": data[1]}, "inputs_targets"
    if isinstance(data, list) and data:
        first = data[0]
        if isinstance(first, Mapping):
            keys = list(first)
            return {
                k: [row.get(k) if isinstance(row, Mapping) else None for row in data] for k in keys
            }, "port_rows"
        if isinstance(first, tuple | list) and len(first) == 2:
            return {"input": [p[0] for p in data], "target": [p[1] for p in data]}, "pairs"
    return None


_EMPTY = object()


def _first(values: Any) -> Any:
    """The column's first value; ``_EMPTY`` for an empty column or something that is not one
    (a single number, None): the data boundary reports those in its own words."""
    if isinstance(values, np.ndarray) and values.dtype.kind != "O":
        return values.flat[0] if values.size else _EMPTY
    if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__iter__"):
        return _EMPTY
    for value in values:
        return value
    return _EMPTY


def _is_raw(values: Any, role: str) -> bool:
    """Whether a column needs an encoder: raw values, or booleans / label sets as targets."""
    if isinstance(values, torch.Tensor):
        return role == "target" and values.dtype == torch.bool
    if isinstance(values, np.ndarray) and values.dtype.kind not in "OUS":
        return role == "target" and values.dtype == np.bool_
    first = _first(values)
    if first is _EMPTY:
        return False
    if role == "target" and isinstance(first, bool | np.bool_):
        return True  # the trained net then answers True / False
    if isinstance(first, set | frozenset):
        return True  # multilabel targets
    if role == "target" and isinstance(first, list | tuple) and first and isinstance(first[0], str):
        return True  # multilabel targets as lists of names
    return needs_encoder(first)


def encode_raw(
    data: Any,
    *,
    inputs: tuple[str, ...],
    given: Mapping[str, Any],
    argument: str = "data",
    fit: bool = True,
) -> EncodedData | None:
    """Encode the raw columns of in-memory ``data``; None when there is nothing to encode.

    Args:
        data: training (or validation) data in an in-memory form.
        inputs: the columns that feed the net (the others are targets), for choosing encoders.
        given: ``{port: encoder}`` to use as they are (a ``Net``'s, or the training set's for
            validation data); other raw columns get an inferred encoder, fitted on the column.
        argument: the argument name for error messages.
        fit: whether inferred encoders may be fitted (False for validation data: an unseen
            raw column there is an error).

    Raises:
        NetTrainError: for ambiguous or mixed columns, or values an encoder rejects.
    """
    split = split_ports(data)
    if split is None:
        return None
    columns, form = split
    roles = {name: "input" if name in inputs else "target" for name in columns}
    raw = [n for n, v in columns.items() if n in given or _is_raw(v, roles[n])]
    if not raw:
        return None
    from ..coders import infer_encoder  # only now: tensor data never needs the coders

    encoders: dict[str, Any] = {}
    encoded: dict[str, Any] = dict(columns)
    skipped: dict[int, str] = {}
    for name in raw:
        values = _column(columns[name])
        encoder = given.get(name)
        if encoder is None:
            if not fit:
                raise NetTrainError(
                    argument,
                    f"column {name!r} holds raw values the training data did not",
                    expected="the same kinds of values as the training data",
                    received=describe(_first(values)),
                )
            encoder = infer_encoder(values, role=roles[name], argument=argument)
            if encoder is None:
                continue
            encoder = encoder.fit(values)
        result = encoder.encode(values, argument=argument)
        encoders[name] = encoder
        for index in result.skipped:
            skipped.setdefault(index, name)
        encoded[name] = (result.tensor, result.skipped)
    n = len(next(iter(columns.values())))
    keep = [i for i in range(n) if i not in skipped]
    if not keep:
        raise NetTrainError(
            argument,
            "no example could be read by its encoder",
            expected="readable values",
            received=f"{len(skipped)} unreadable",
            hint="check the files or values",
        )
    out: dict[str, Any] = {}
    for name, value in encoded.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], torch.Tensor):
            tensor, own = value
            if len(own) != len(skipped):  # drop the rows other encoders skipped
                own_set = set(own)
                rows = [i for i in range(n) if i not in own_set]
                mask = torch.tensor([i not in skipped for i in rows], dtype=torch.bool)
                tensor = tensor[mask]
            out[name] = tensor
        elif skipped:
            out[name] = to_tensor(value, name=name, argument=argument)[torch.tensor(keep)]
        else:
            out[name] = value
    return EncodedData(out, form, encoders, dict(sorted(skipped.items())), n)


def example_shapes(
    columns: Mapping[str, torch.Tensor], ports: Sequence[str]
) -> dict[str, list[int]]:
    """The shape of one example of each input port (for telling one example from a batch)."""
    return {p: list(columns[p].shape[1:]) for p in ports if p in columns}
