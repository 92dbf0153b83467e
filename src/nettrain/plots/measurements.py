"""A scalar measurement over training: its training and validation values against rounds.

``measurement_plot(values, key)`` draws ``round_measurements_lists[key]`` (line
``"training"``, at rounds 1, 2, ...) and ``validation_measurements_lists[key]`` (line
``"validation"``, at the round each validation ran: its batch in ``validation_positions``
read against ``round_positions``, so a validation in the middle of round 3 lies at 2.5).
:func:`scalar_keys` says which measurements are scalars (per-class tensors, confusion
matrices and ROC curves are not).

Example:
    >>> values = {"round_measurements_lists": {"accuracy": [0.5, 0.75]},
    ...           "validation_measurements_lists": {"accuracy": [0.5, 0.625]},
    ...           "round_positions": [4, 8], "validation_positions": [4, 8]}
    >>> scalar_keys(values)
    ['accuracy']
    >>> ax = measurement_plot(values, "accuracy").axes[0]
    >>> [(line.get_label(), line.get_xdata().tolist()) for line in ax.get_lines()]
    [('training', [1.0, 2.0]), ('validation', [1.0, 2.0])]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import log_y, new_figure
from .values import Values, floats, get, is_scalar, last_value, positions_of, rounds_at, wants_log

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["measurement_plot", "scalar_keys"]


def _lists(values: Values, name: str) -> Mapping[str, list[Any]]:
    lists = get(values, name)
    return lists if isinstance(lists, Mapping) else {}


def scalar_keys(values: Values) -> list[str]:
    """The keys of the measurements whose every value is a number (or None), training ones
    first, in the order measured; ``"loss"`` is left out (the loss plot shows it)."""
    keys: list[str] = []
    for name in ("round_measurements_lists", "validation_measurements_lists"):
        for key, entries in _lists(values, name).items():
            if key not in keys and key != "loss" and entries:
                keys.append(key)
    both = (
        _lists(values, "round_measurements_lists"),
        _lists(values, "validation_measurements_lists"),
    )
    return [k for k in keys if all(is_scalar(v) for lists in both for v in lists.get(k, ()))]


def measurement_plot(values: Values, key: str) -> Figure:
    """The figure of the scalar measurement ``key`` (see the module documentation): lines
    ``"training"`` then ``"validation"``, each when measured; a log y axis when the values are
    all positive and span more than a factor of :data:`~nettrain.plots.values.LOG_SPAN`.

    Raises:
        NetTrainError: matplotlib is not installed.
    """
    training = floats(_lists(values, "round_measurements_lists").get(key, ()))
    validation = floats(_lists(values, "validation_measurements_lists").get(key, ()))
    figure = new_figure(6.0, 4.0)
    ax = figure.add_subplot()
    parts = []
    if training.size:
        rounds = np.arange(1, training.size + 1, dtype=np.float64)
        marker = "o" if training.size <= 60 else None
        ax.plot(rounds, training, color="C0", lw=2.0, marker=marker, ms=4, label="training")
        parts.append(f"training {last_value(training):.4g}")
    if validation.size:
        batches = positions_of(values, "validation_" + key, "validation_positions", validation.size)
        rounds = rounds_at(values, batches)
        marker = "s" if validation.size <= 60 else None
        ax.plot(rounds, validation, color="C1", lw=2.0, marker=marker, ms=4, label="validation")
        parts.append(f"validation {last_value(validation):.4g}")
    if wants_log(training, validation):
        log_y(ax)
    ax.set_xlabel("rounds")
    ax.set_ylabel(key)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{key} (last: {', '.join(parts)})" if parts else f"{key}: nothing measured")
    if ax.get_lines():
        ax.legend()
    return figure
