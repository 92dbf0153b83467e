"""The ``final_plots`` property: one figure per thing a run measured.

Keys, in this order, each when there is something to show:

* ``"loss"``: the loss plot (:func:`~nettrain.plots.loss_plot`);
* each scalar measurement's key (``"accuracy"``, ``"error_rate"``, ``"loss:label"``, ...):
  training and validation values against rounds (:func:`~nettrain.plots.measurement_plot`);
* ``"confusion_matrix"``: the last validation's matrix, else the last round's, with the class
  names of the trained ``nettrain.Net`` when it has them (else class indices);
* ``"roc_curve"``: the last validation's ROC curves (else the last round's), one per class.

Example:
    >>> values = {"batch_loss_list": [1.0, 0.5], "round_loss_list": [0.75],
    ...           "round_positions": [2], "round_measurements_lists": {"loss": [0.75],
    ...           "accuracy": [0.5], "precision": [None]}}
    >>> list(final_plots(values))
    ['loss', 'accuracy', 'precision']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from .classifier import confusion_matrix_plot, roc_curve_plot
from .loss import loss_plot
from .measurements import measurement_plot, scalar_keys
from .values import Values, class_names, get

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["final_plots", "last_measured"]


def last_measured(values: Values, key: str) -> tuple[Any, str] | None:
    """The last value of the measurement ``key``: ``(value, "validation")`` from the last
    validation that measured it, else ``(value, "training")`` from the last round; None when
    never measured."""
    for name, where in (
        ("validation_measurements_lists", "validation"),
        ("round_measurements_lists", "training"),
    ):
        lists = get(values, name)
        entries = lists.get(key, ()) if isinstance(lists, Mapping) else ()
        measured = [v for v in entries if v is not None]
        if measured:
            return measured[-1], where
    return None


def final_plots(values: Values, *, x_label: str = "batches") -> dict[str, Figure]:
    """Every figure of a run, by key (see the module documentation).

    Args:
        values: a :class:`~nettrain.TrainResult` or a mapping of its properties.
        x_label: what the loss plot's x axis counts ("batches"; a custom loop's ``x_label``).

    Raises:
        NetTrainError: matplotlib is not installed.
    """
    figures: dict[str, Figure] = {}
    if any(get(values, k) for k in ("batch_loss_list", "round_loss_list", "validation_loss_list")):
        figures["loss"] = loss_plot(values, x_label=x_label)
    for key in scalar_keys(values):
        figures[key] = measurement_plot(values, key)
    matrix = last_measured(values, "confusion_matrix")
    if (
        matrix is not None
        and isinstance(matrix[0], torch.Tensor)
        and matrix[0].dim() == 2
        and matrix[0].numel() > 0
    ):
        names = class_names(values, matrix[0].shape[0])
        title = f"confusion matrix, {matrix[1]}"
        figures["confusion_matrix"] = confusion_matrix_plot(matrix[0], names, title)
    curves = last_measured(values, "roc_curve")
    if curves is not None and isinstance(curves[0], Mapping) and curves[0]:
        # class indices run to the largest key: binary curves are {1: ...} of two classes
        names = class_names(values, max(int(c) for c in curves[0]) + 1)
        title = f"ROC curves, {curves[1]}"
        figures["roc_curve"] = roc_curve_plot(curves[0], names, title)
    return figures
