"""A classifier's figures: the confusion matrix and the ROC curves.

``confusion_matrix_plot(matrix, names)`` shows a ``[C, C]`` count matrix (rows: the true
class, columns: the predicted one) as an image, each cell annotated with its count (up to 30
classes). ``roc_curve_plot(curves, names)`` draws one line per class from ``{class: (fpr, tpr,
thresholds)}`` (the ``roc_curve`` measurement), labelled with its area under the curve, then
the chance diagonal (unlabelled, last).

Example:
    >>> import torch
    >>> figure = confusion_matrix_plot(torch.tensor([[5, 1], [2, 7]]), ["cat", "dog"])
    >>> figure.axes[0].images[0].get_array().tolist()
    [[5, 1], [2, 7]]
    >>> curves = {0: (torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 1.0]),
    ...               torch.tensor([2.0, 0.5, 0.1]))}
    >>> [line.get_label() for line in roc_curve_plot(curves, ["cat"]).axes[0].get_lines()]
    ['cat (AUC 1.000)', '_chance']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .backend import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["area_under", "confusion_matrix_plot", "roc_curve_plot"]

_ANNOTATE_UP_TO = 30  # classes whose cells show their counts
_TICKS_UP_TO = 40  # classes named on the axes
_LEGEND_UP_TO = 30  # ROC curves named in the legend


def _array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def area_under(fpr: Any, tpr: Any) -> float:
    """The area under a ROC curve, by the trapezoid rule (exact for the curve's corners).

    >>> area_under([0.0, 0.5, 1.0], [0.0, 1.0, 1.0])
    0.75
    """
    x, y = _array(fpr).astype(np.float64), _array(tpr).astype(np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def confusion_matrix_plot(matrix: Any, names: Sequence[str], title: str = "") -> Figure:
    """The confusion matrix as an annotated image (see the module documentation); the title
    adds the accuracy the matrix gives."""
    counts = _array(matrix)
    classes = counts.shape[0]
    side = float(min(max(4.5, 0.45 * classes + 2.5), 12.0))
    figure = new_figure(side + 1.0, side)
    ax = figure.add_subplot()
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest", vmin=0)
    figure.colorbar(image, ax=ax, shrink=0.8, label="examples")
    if classes <= _ANNOTATE_UP_TO:
        high = counts.max() if counts.size else 0
        size = 10 if classes <= 10 else 7 if classes <= 20 else 5
        for (i, j), count in np.ndenumerate(counts):
            color = "white" if high and count > high / 2 else "black"
            ax.text(j, i, f"{count:d}", ha="center", va="center", color=color, fontsize=size)
    if classes <= _TICKS_UP_TO:
        ticks = np.arange(classes)
        long = max((len(n) for n in names), default=0) > 3
        ax.set_xticks(
            ticks, list(names), rotation=45 if long else 0, ha="right" if long else "center"
        )
        ax.set_yticks(ticks, list(names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = counts.sum()
    accuracy = f"accuracy {np.trace(counts) / total:.3g}" if total else "no examples"
    ax.set_title(f"{title or 'confusion matrix'} ({accuracy}, {int(total)} examples)")
    return figure


def roc_curve_plot(
    curves: Mapping[Any, Sequence[Any]], names: Sequence[str], title: str = ""
) -> Figure:
    """One ROC curve per class (``names[i]`` names class ``i``), AUC in each label, and the
    chance diagonal (see the module documentation)."""
    figure = new_figure(6.0, 6.0)
    ax = figure.add_subplot()
    for c, curve in curves.items():
        fpr, tpr = _array(curve[0]), _array(curve[1])
        index = int(c)
        name = names[index] if 0 <= index < len(names) else str(c)
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC {area_under(fpr, tpr):.3f})")
    ax.plot([0.0, 1.0], [0.0, 1.0], ls="--", lw=1.0, color="grey", label="_chance")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(True, alpha=0.3)
    count = len(curves)
    if 0 < count <= _LEGEND_UP_TO:
        ax.legend(loc="lower right", fontsize="small" if count <= 10 else "x-small")
    ax.set_title(title or "ROC curves")
    return figure
