"""The learning-rate range test's curve: loss against learning rate (``learning_rate_finder_plot``).

Lines, in this order: ``"loss"`` (each step's batch loss, faint), ``"smoothed loss"`` (bold)
and ``"suggestion"`` (a dashed vertical line at the rate the run trains with), on a logarithmic
x axis; a dot marks the point of the curve the rule read. The y axis follows the finite
smoothed losses, up to twice the first one, so that an exploding tail does not squash the
curve.

Example:
    >>> finder = {"rates": [1e-4, 1e-3, 1e-2, 1e-1], "losses": [1.0, 0.8, 0.5, 3.0],
    ...           "smoothed_losses": [1.0, 0.9, 0.7, 1.5], "learning_rate": 1e-3,
    ...           "suggestion": "valley", "index": 1}
    >>> ax = learning_rate_finder_plot(finder).axes[0]
    >>> [line.get_label() for line in ax.get_lines()], ax.get_xscale()
    (['loss', 'smoothed loss', 'suggestion', 'suggestion point'], 'log')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NetTrainError
from .backend import new_figure
from .values import floats, get

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["learning_rate_finder_plot"]


def _finder(values: Any) -> Mapping[str, Any]:
    """The test's plain values, from a result, a mapping holding them, or the result object
    of :func:`nettrain.find_learning_rate`."""
    to_plain = getattr(values, "to_plain", None)
    if callable(to_plain) and not isinstance(values, Mapping):
        plain = to_plain()
        if isinstance(plain, Mapping):
            return plain
    if isinstance(values, Mapping) and "rates" in values:
        return values
    finder = get(values, "learning_rate_finder")
    if not isinstance(finder, Mapping):
        raise NetTrainError(
            "prop",
            "this run did not search its learning rate, so it has no range test to plot",
            expected='a run trained with learning_rate="find"',
            received="learning_rate_finder None",
            hint='train with learning_rate="find", or call nettrain.find_learning_rate',
        )
    return finder


def learning_rate_finder_plot(values: Any) -> Figure:
    """The range test's losses against the learning rate, with the suggestion marked.

    Args:
        values: a :class:`~nettrain.TrainResult` of a run with ``learning_rate="find"``, its
            ``learning_rate_finder`` dict, or what :func:`nettrain.find_learning_rate`
            returned.

    Returns:
        A :class:`matplotlib.figure.Figure` (one axes; see the module documentation).

    Raises:
        NetTrainError: the run did not search its rate (argument "prop"); matplotlib is not
            installed.
    """
    finder = _finder(values)
    rates = floats(finder["rates"])
    losses = floats(finder["losses"])
    smoothed = floats(finder["smoothed_losses"])
    rate = float(finder["learning_rate"])
    rule = str(finder.get("suggestion", ""))
    index = finder.get("index")
    figure = new_figure(7.0, 4.5)
    ax = figure.add_subplot()
    ax.plot(rates, losses, color="C0", alpha=0.3, lw=0.8, label="loss")
    ax.plot(rates, smoothed, color="C0", lw=2.0, label="smoothed loss")
    ax.axvline(rate, color="C3", ls="--", lw=1.2, label="suggestion")
    if isinstance(index, int) and 0 <= index < smoothed.size:
        ax.plot([rates[index]], [smoothed[index]], "o", color="C3", ms=6, label="suggestion point")
    ax.set_xscale("log")
    finite = smoothed[np.isfinite(smoothed)]
    if finite.size:
        low, high = float(finite.min()), float(min(finite.max(), 2 * abs(finite[0])))
        pad = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
        ax.set_ylim(low - pad, max(high, low) + pad)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(True, which="major", alpha=0.3)
    how = f"{rule} suggests" if rule != "method_default" else "no descent: the method's default"
    ax.set_title(f"learning-rate range test ({how} {rate:.3g})")
    ax.legend(loc="upper left")
    return figure
