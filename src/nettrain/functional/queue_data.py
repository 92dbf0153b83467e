"""Reading a queue's data: the argument checks and the one data boundary ``train`` uses.

:class:`QueueData` turns what was passed to :class:`~nettrain.functional.MiniBatchQueue` into a
batch source (raw values encoded as ``train`` encodes them); the checks turn its arguments into
values. Used by :mod:`nettrain.functional.queue` only.

Example:
    >>> choice("shuffle", "every-epoch", ("every_epoch", "once", "never"))
    'every_epoch'
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from ..coders.base import Encoder
from ..data.batching import InMemorySource
from ..data.forms import normalize
from ..data.raw import encode_raw, split_ports
from ..data.table import PortTable
from ..errors import NetTrainError, NetTrainWarning, describe, did_you_mean
from ..named import dataset_name, named_data
from ..ports import SINGLE_INPUT_NAMES
from ..scalars import as_int

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "PARTIAL_MINI_BATCH_MODES",
    "SHUFFLE_MODES",
    "STATE_KEYS",
    "QueueData",
    "check_batch_size",
    "check_dtype",
    "check_encoders",
    "choice",
    "renamed",
]

DEFAULT_BATCH_SIZE = 128  # MATLAB's MiniBatchSize default
SHUFFLE_MODES = ("every_epoch", "once", "never")  # MATLAB's trainingOptions "Shuffle" values
PARTIAL_MINI_BATCH_MODES = ("return", "discard")  # MATLAB's "PartialMiniBatch" values

# floating output dtypes by name, MATLAB's OutputCast names included
_DTYPES = {
    "float32": torch.float32,
    "single": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
}
STATE_KEYS = ("epoch", "position", "seed", "batch_size", "num_examples", "shuffle")


def choice(argument: str, value: object, choices: Sequence[str]) -> str:
    """``value`` as one of ``choices``: any case, MATLAB's hyphens ("every-epoch") accepted."""
    key = value.lower().replace("-", "_").replace(" ", "_") if isinstance(value, str) else None
    if key is not None and key in choices:
        return key
    raise NetTrainError(
        argument,
        "unknown mode",
        expected="one of " + ", ".join(repr(c) for c in choices),
        received=describe(value),
        hint=did_you_mean(str(value), choices) if isinstance(value, str) else None,
    )


def check_batch_size(value: object) -> int | None:
    if value is None:
        return None
    size = as_int(value)  # NumPy integers are ints; floats and bools are refused
    if size is None or size < 1:
        raise NetTrainError(
            "batch_size",
            "must be a positive whole number of examples",
            expected=f"an int >= 1, or None ({DEFAULT_BATCH_SIZE}, or a stream's own batches)",
            received=describe(value),
        )
    return size


def check_dtype(value: object) -> torch.dtype:
    if isinstance(value, str) and value.lower() in _DTYPES:
        return _DTYPES[value.lower()]
    if isinstance(value, torch.dtype) and value.is_floating_point:
        return value
    raise NetTrainError(
        "dtype",
        "is not a floating dtype",
        expected="torch.float32 (MATLAB's 'single'), torch.float64 ('double'), torch.float16 "
        "or torch.bfloat16, or one of those names",
        received=describe(value),
        hint="integer columns (class indices) stay int64 whatever the dtype",
    )


def renamed(error: NetTrainError, argument: str) -> NetTrainError:
    """The engine's error for one of its options (``target_device``), named as the queue's."""
    return NetTrainError(
        argument, error.problem, expected=error.expected, received=error.received, hint=error.hint
    )


def default_inputs(names: Sequence[str]) -> tuple[str, ...]:
    """Without a net, the names decide: the column called input (or inputs, x) if there is
    one, else every column but the target."""
    single = tuple(n for n in names if n.lower() in SINGLE_INPUT_NAMES)
    return single or tuple(n for n in names if n.lower() != "target")


def check_inputs(inputs: object, names: Sequence[str]) -> tuple[str, ...]:
    chosen = (inputs,) if isinstance(inputs, str) else inputs
    if not isinstance(chosen, Sequence) or not all(isinstance(n, str) for n in chosen):
        raise NetTrainError(
            "inputs",
            "must name the data's input columns",
            expected="a column name or a list of them",
            received=describe(inputs),
        )
    check_columns("inputs", chosen, names)
    return tuple(chosen)


def check_columns(argument: str, given: Iterable[str], names: Sequence[str]) -> None:
    for name in given:
        if name not in names:
            raise NetTrainError(
                argument,
                f"names no column of the data: {name!r}",
                expected="columns among " + ", ".join(map(repr, names)),
                received=repr(name),
                hint=did_you_mean(name, names),
            )


def check_encoders(encoders: object) -> dict[str, Encoder]:
    if encoders is None:
        return {}
    if isinstance(encoders, Mapping) and all(
        isinstance(k, str) and isinstance(v, Encoder) for k, v in encoders.items()
    ):
        return dict(encoders)
    raise NetTrainError(
        "encoders",
        "must map column names to encoders",
        expected='{"input": nettrain.coders.encoder("image", ...), ...}',
        received=describe(encoders),
    )


class QueueData:
    """The data after the boundary: the source, the encoders fitted on it, skipped examples."""

    def __init__(
        self,
        data: Any,
        *,
        split: str | None,
        inputs: object,
        encoders: Mapping[str, Encoder],
        dtype: torch.dtype,
        seed: int,
    ) -> None:
        given: dict[str, Encoder] = {}
        form: str | None = None
        named = dataset_name(data)
        loaded = getattr(data, "split", None) if named is not None else None
        if isinstance(loaded, str) and split is not None and split != loaded:
            raise NetTrainError(
                "split",
                f"differs from the split of the loaded dataset ({loaded!r})",
                expected=f"split=None or {loaded!r}, or the dataset's name as data",
                received=repr(split),
            )
        if named is not None:
            data, given = named_data(data if not isinstance(data, str) else named, split or "train")
            form = "named_dataset"
        elif split is not None:
            raise NetTrainError(
                "split",
                "only a named dataset has splits",
                expected='split=None, or a dataset name such as "FashionMNIST" as data',
                received=repr(split),
                hint="leave split out for data you pass yourself",
            )
        given.update(encoders)
        self.encoders: dict[str, Encoder] = dict(given)
        self.skipped: dict[int, str] = {}
        ports = split_ports(data)
        if ports is not None:  # in-memory data: raw columns get the encoders train infers
            names = tuple(ports[0])
            roles = default_inputs(names) if inputs is None else check_inputs(inputs, names)
            check_columns("encoders", encoders, names)
            encoded = encode_raw(data, inputs=roles, given=given)
            if encoded is not None:
                data, form = encoded.columns, form or encoded.form
                self.encoders.update(encoded.encoders)
                self.skipped = encoded.skipped
                if encoded.skipped:
                    warnings.warn(
                        f"{len(encoded.skipped)} of {encoded.examples} examples could not be read "
                        "by their encoder and were left out (see the queue's 'skipped')",
                        NetTrainWarning,
                        stacklevel=4,
                    )
        source = normalize(data, seed=seed, float_dtype=dtype)
        if ports is None and encoders:
            raise NetTrainError(
                "encoders",
                f"apply to data held in memory, not to a {source.form.replace('_', ' ')}",
                expected="no encoders, or the data as columns, pairs or (inputs, targets)",
                received="encoders for " + ", ".join(map(repr, encoders)),
            )
        if inputs is not None and ports is None:
            check_inputs(inputs, source.names)
        if isinstance(source, InMemorySource) and form is not None:
            # encoded data: keep the name of the form the user gave, as train does
            source = InMemorySource(PortTable(source.table.columns, form), seed)
        self.source = source
