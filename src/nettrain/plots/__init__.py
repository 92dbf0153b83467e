"""Plots of a training run (SPEC S5), as matplotlib figures made without ``pyplot``.

* :func:`loss_plot`: the batch, round and validation losses against batches (the
  ``loss_plot`` property of ``train``);
* :func:`final_plots`: ``{"loss": ..., "<measurement>": ..., "confusion_matrix": ...,
  "roc_curve": ...}``, one figure per thing measured (the ``final_plots`` property);
* :func:`history_plot`: a custom history's values (its ``"form": "plot"``);
* :func:`monitor_plot`: a custom loop's metrics (``ProgressMonitor.plot``);
* :func:`learning_rate_finder_plot`: the learning-rate range test's curve (the
  ``learning_rate_finder_plot`` property of a run with ``learning_rate="find"``);
* :func:`measurement_plot`, :func:`confusion_matrix_plot`, :func:`roc_curve_plot`: the parts;
* :func:`save_png` and :func:`figure_data_uri`: a figure as a PNG file or an HTML ``data:``
  URI.

Each returns a :class:`matplotlib.figure.Figure` on its own Agg canvas: nothing is shown,
nothing registered with ``pyplot``. Matplotlib is the optional extra ``nettrain[plots]``; it is
imported when a plot is made, and without it a plot raises a
:class:`~nettrain.errors.NetTrainError` saying ``pip install "nettrain[plots]"``.

Example:
    >>> import os, tempfile, torch, torch.nn as nn, nettrain
    >>> x = torch.randn(40, 2); y = x.sum(1, keepdim=True)
    >>> figure = nettrain.train(nn.Linear(2, 1), (x, y), "loss_plot", max_training_rounds=3,
    ...                         batch_size=8, training_progress_reporting=None)
    >>> [line.get_label() for line in figure.axes[0].get_lines()]
    ['batch loss', 'round loss']
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_png(figure, os.path.join(folder, "loss.png"))
    ...     path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

from .backend import figure_data_uri, require, save_png
from .classifier import confusion_matrix_plot, roc_curve_plot
from .final import final_plots
from .history import history_plot
from .learning_rate import learning_rate_finder_plot
from .loss import loss_plot
from .measurements import measurement_plot
from .monitor import monitor_plot

__all__ = [
    "confusion_matrix_plot",
    "figure_data_uri",
    "final_plots",
    "history_plot",
    "learning_rate_finder_plot",
    "loss_plot",
    "measurement_plot",
    "monitor_plot",
    "require",
    "roc_curve_plot",
    "save_png",
]
