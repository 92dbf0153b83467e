"""A custom loop's metrics against its iterations (``ProgressMonitor.plot``).

One axes per metric, stacked, sharing the x axis; a metric ``"validation_<name>"`` joins the
axes of ``<name>`` when that is plotted too (the validation loss beside the loss). Each line
is a metric's every recorded value at the step it was recorded, labelled with its name; the
y axis of an axes is logarithmic when its values are all positive and span more than a
factor of :data:`~nettrain.plots.values.LOG_SPAN`.

Example:
    >>> figure = monitor_plot({"loss": [1.0, 0.5], "validation_loss": [0.75], "accuracy": [0.5]},
    ...                       {"loss": [1, 2], "validation_loss": [2], "accuracy": [2]},
    ...                       ["loss", "validation_loss", "accuracy"], "iteration")
    >>> [[line.get_label() for line in ax.get_lines()] for ax in figure.axes]
    [['loss', 'validation_loss'], ['accuracy']]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .backend import log_y, new_figure
from .values import floats, wants_log

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["metric_groups", "monitor_plot"]

_PREFIX = "validation_"


def metric_groups(metrics: Sequence[str]) -> list[list[str]]:
    """The metrics by axes: ``validation_<name>`` with ``<name>`` when both are given.

    >>> metric_groups(["validation_loss", "loss", "lr"])
    [['loss', 'validation_loss'], ['lr']]
    """
    groups: dict[str, list[str]] = {}
    for metric in metrics:
        base = metric[len(_PREFIX) :] if metric.startswith(_PREFIX) else ""
        groups.setdefault(base if base in metrics else metric, []).append(metric)
    return [sorted(group, key=lambda m: m != key) for key, group in groups.items()]


def monitor_plot(
    values: Mapping[str, Sequence[float]],
    positions: Mapping[str, Sequence[int]],
    metrics: Sequence[str],
    x_label: str,
) -> Figure:
    """The figure of ``metrics`` (see the module documentation): ``values[m]`` against
    ``positions[m]`` for each.

    Raises:
        NetTrainError: matplotlib is not installed.
    """
    groups = metric_groups(metrics)
    figure = new_figure(7.0, max(3.0, 1.0 + 2.4 * len(groups)))
    first = None
    for row, group in enumerate(groups, start=1):
        ax = figure.add_subplot(len(groups), 1, row, sharex=first)
        first = first or ax
        series = [floats(values[m]) for m in group]
        for metric, ys in zip(group, series, strict=True):
            marker = "o" if len(ys) <= 60 else None
            ax.plot(floats(positions[metric]), ys, lw=1.5, marker=marker, ms=3, label=metric)
        if wants_log(*series):
            log_y(ax)
        ax.set_ylabel(group[0])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        if row == len(groups):
            ax.set_xlabel(x_label)
        else:
            ax.tick_params(labelbottom=False)
    if groups:
        figure.axes[0].set_title("metrics recorded")
    return figure
