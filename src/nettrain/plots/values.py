"""Reading what a plot needs from a result: lists as arrays, positions, rounds, class names.

A plot takes a :class:`~nettrain.TrainResult` or any mapping of property names to values
(``{"round_loss_list": [...], "round_positions": [...]}``); a property the values lack, or
cannot give (a custom loop's result has no net), counts as absent.

Example:
    >>> values = {"round_positions": [5, 10], "validation_positions": [5, 10]}
    >>> rounds_at(values, [5, 7.5, 10]).tolist()
    [1.0, 1.5, 2.0]
    >>> wants_log([10.0, 0.1]), wants_log([2.0, 1.0]), wants_log([10.0, 0.0])
    (True, False, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from ..errors import NetTrainError
from ..scalars import as_real

__all__ = [
    "LOG_SPAN",
    "Values",
    "class_names",
    "floats",
    "get",
    "is_scalar",
    "last_value",
    "positions_of",
    "rounds_at",
    "wants_log",
]

LOG_SPAN = 20.0  # a log scale when the positive values span more than this factor


class Values(Protocol):
    """What plots read from: a TrainResult or a mapping of property names to values."""

    def __getitem__(self, name: str, /) -> Any: ...

    def __contains__(self, name: object, /) -> bool: ...


def get(values: Values, key: str, default: Any = None) -> Any:
    """``values[key]``, or ``default`` when the values lack it or cannot give it."""
    if key not in values:
        return default
    try:
        return values[key]
    except (KeyError, NetTrainError):
        return default


def is_scalar(value: object) -> bool:
    """A real number (a float, an int, a one-element tensor or array), or None (not measured)."""
    if value is None or as_real(value) is not None:
        return True
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and value.dtype != torch.bool and not value.is_complex()
    if isinstance(value, np.ndarray):
        return value.size == 1 and value.dtype.kind in "iuf"
    return False


def _float(value: object) -> float:
    if value is None:
        return math.nan
    real = as_real(value)
    if real is not None:
        return real
    if isinstance(value, torch.Tensor):
        return float(value.detach().reshape(-1)[0].item())
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def floats(values: Iterable[object]) -> np.ndarray:
    """Numbers (None: not measured) as a float64 array, None as NaN."""
    return np.array([_float(v) for v in values], dtype=np.float64)


def last_value(array: np.ndarray) -> float:
    """The last value that is not NaN (NaN: never measured; an infinity is kept: it says the
    loss diverged), NaN when there is none."""
    known = array[~np.isnan(array)]
    return float(known[-1]) if known.size else math.nan


def positions_of(values: Values, metric: str, fallback: str | None, count: int) -> np.ndarray:
    """Where each of ``count`` values of ``metric`` lies, in batches: a custom loop's
    ``metrics_positions[metric]``, else the property ``fallback`` (``"round_positions"``,
    ``"validation_positions"``), else 1, 2, ... (the batch loss of ``train``)."""
    recorded = get(values, "metrics_positions")
    if isinstance(recorded, Mapping) and len(recorded.get(metric, ())) == count:
        return floats(recorded[metric])
    given = get(values, fallback) if fallback is not None else None
    if isinstance(given, Sequence) and len(given) == count:
        return floats(given)
    return np.arange(1, count + 1, dtype=np.float64)


def rounds_at(values: Values, batches: Iterable[float]) -> np.ndarray:
    """Absolute batches as (fractional) rounds, from where each round ended
    (``round_positions``): the end of round r is r; between two ends, in proportion."""
    ends = floats(get(values, "round_positions") or [])
    at = floats(batches)
    if len(ends) == 0 or np.any(np.diff(ends) <= 0) or ends[0] <= 0:
        per_round = get(values, "batches_per_round")
        return at / per_round if isinstance(per_round, int) and per_round > 0 else at
    xp = np.concatenate([[0.0], ends])
    fp = np.arange(len(xp), dtype=np.float64)
    rounds = np.interp(at, xp, fp)
    beyond = at > xp[-1]  # after the last round's end: at the last round's pace
    if np.any(beyond):
        pace = (xp[-1] - xp[-2]) or 1.0
        rounds[beyond] = fp[-1] + (at[beyond] - xp[-1]) / pace
    return rounds


def wants_log(*series: Iterable[float]) -> bool:
    """Whether values are best seen on a log scale: all the finite ones positive, and the
    largest more than :data:`LOG_SPAN` times the smallest."""
    finite = np.concatenate([floats(s) for s in series]) if series else np.array([])
    finite = finite[np.isfinite(finite)]
    if finite.size < 2 or np.any(finite <= 0):
        return False
    return bool(finite.max() > LOG_SPAN * finite.min())


def class_names(values: Values, count: int) -> list[str]:
    """The names of ``count`` classes: the class decoder's of the trained ``nettrain.Net``
    (the port of the first loss, else any with that many classes), else "0", "1", ..."""
    net = get(values, "trained_net")
    outputs = getattr(net, "outputs", None)
    if isinstance(outputs, Mapping):
        losses = get(values, "loss_function")
        ports = [p for p in losses if p in outputs] if isinstance(losses, Mapping) else []
        for port in [*ports, *outputs]:
            classes = getattr(outputs.get(port), "classes", None)
            if isinstance(classes, Sequence) and len(classes) == count:
                return [str(c) for c in classes]
    return [str(i) for i in range(count)]
