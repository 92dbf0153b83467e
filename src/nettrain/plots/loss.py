"""The loss plot: training and validation loss against batches (the ``loss_plot`` property).

Lines, in this order (each only when there are values): ``"batch loss"`` (every batch, faint),
``"round loss"`` (each round's mean, bold, at the batch the round ended) and ``"validation
loss"`` (at the batch each validation ran). The y axis is logarithmic when the round and
validation losses (the batch losses, when there are fewer than two of those) are all positive
and span more than a factor of :data:`~nettrain.plots.values.LOG_SPAN`; a top axis counts
rounds when a round has a fixed number of batches.

Example:
    >>> figure = loss_plot({"batch_loss_list": [2.0, 1.0, 0.5, 0.25],
    ...                     "round_loss_list": [1.5, 0.375], "round_positions": [2, 4],
    ...                     "batches_per_round": 2})
    >>> ax = figure.axes[0]
    >>> [line.get_label() for line in ax.get_lines()], ax.get_yscale()
    (['batch loss', 'round loss'], 'linear')
    >>> ax.get_lines()[1].get_xdata().tolist()
    [2.0, 4.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import log_y, new_figure
from .values import Values, floats, get, last_value, positions_of, wants_log

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["loss_plot"]

_MARKERS_UP_TO = 60  # rounds (or validations) drawn with a marker on each value


def _marker(count: int, shape: str) -> str | None:
    return shape if count <= _MARKERS_UP_TO else None


def _title(rounds: np.ndarray, validation: np.ndarray, batches: np.ndarray) -> str:
    parts = []
    if rounds.size:
        parts.append(f"last round {last_value(rounds):.4g}")
    elif batches.size:
        parts.append(f"last batch {last_value(batches):.4g}")
    if validation.size:
        parts.append(f"validation {last_value(validation):.4g}")
    return "loss" + (f" ({', '.join(parts)})" if parts else ": nothing recorded")


def _round_axis(ax: Axes, values: Values) -> None:
    """A top axis in rounds, when every round has the same number of batches."""
    per_round = get(values, "batches_per_round")
    if not isinstance(per_round, int) or per_round <= 0:
        return

    def to_rounds(batches: Any) -> Any:
        return np.asarray(batches, dtype=np.float64) / per_round

    def to_batches(rounds: Any) -> Any:
        return np.asarray(rounds, dtype=np.float64) * per_round

    top = ax.secondary_xaxis("top", functions=(to_rounds, to_batches))
    top.set_xlabel("rounds")


def loss_plot(values: Values, *, x_label: str = "batches") -> Figure:
    """The training loss (batch losses faint, round losses bold) and the validation loss, in
    one figure, against batches.

    Args:
        values: a :class:`~nettrain.TrainResult` (of ``train`` or a custom loop's
            ``ProgressMonitor``) or a mapping with ``batch_loss_list``, ``round_loss_list`` /
            ``round_positions``, ``validation_loss_list`` / ``validation_positions``, and
            optionally ``batches_per_round`` and ``metrics_positions``.
        x_label: what the x axis counts ("batches"; a custom loop's ``x_label``).

    Returns:
        A :class:`matplotlib.figure.Figure` (one axes; see the module documentation).

    Raises:
        NetTrainError: matplotlib is not installed.
    """
    batches = floats(get(values, "batch_loss_list") or [])
    rounds = floats(get(values, "round_loss_list") or [])
    validation = floats(get(values, "validation_loss_list") or [])
    figure = new_figure(7.0, 4.5)
    ax = figure.add_subplot()
    if batches.size:
        at = positions_of(values, "loss", None, batches.size)
        single = "." if batches.size == 1 else None
        ax.plot(at, batches, color="C0", alpha=0.3, lw=0.8, marker=single, label="batch loss")
    if rounds.size:
        at = positions_of(values, "round_loss", "round_positions", rounds.size)
        marker = _marker(rounds.size, "o")
        ax.plot(at, rounds, color="C0", lw=2.0, marker=marker, ms=4, label="round loss")
    if validation.size:
        at = positions_of(values, "validation_loss", "validation_positions", validation.size)
        marker = _marker(validation.size, "s")
        ax.plot(at, validation, color="C1", lw=2.0, marker=marker, ms=4, label="validation loss")
    # the scale follows the bold lines: a single batch near 0 must not squash them
    bold = rounds.size + validation.size >= 2
    if wants_log(rounds, validation) if bold else wants_log(batches):
        log_y(ax)
    ax.set_xlabel(x_label)
    ax.set_ylabel("loss")
    ax.set_xlim(left=0)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(_title(rounds, validation, batches))
    if ax.get_lines():
        ax.legend(loc="upper right")
        _round_axis(ax, values)
    return figure
