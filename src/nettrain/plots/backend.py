"""Figures without pyplot: matplotlib checked for, figures made, saved as PNG or a data URI.

Every plot of nettrain is a :class:`matplotlib.figure.Figure` with its own
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`, made without ``pyplot``: nothing is
registered globally, nothing is shown, and a figure is freed when it is no longer referenced.
Matplotlib is an optional extra (``pip install "nettrain[plots]"``); it is imported the first
time a plot is made, never when nettrain is imported.

Example:
    >>> figure = new_figure(4, 3)
    >>> _ = figure.add_subplot().plot([1, 2, 3], [3, 1, 2])
    >>> figure_data_uri(figure).startswith("data:image/png;base64,iVBOR")
    True
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NetTrainError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DPI", "figure_data_uri", "log_y", "new_figure", "require", "save_png"]

DPI = 100  # pixels per inch of the figures and their PNGs
INSTALL = 'pip install "nettrain[plots]"'


def require(what: str = "plots", argument: str = "prop") -> None:
    """Raise a :class:`~nettrain.errors.NetTrainError` saying how to install matplotlib when it
    cannot be imported (``what`` names what needs it, ``argument`` the argument at fault)."""
    try:
        import matplotlib  # noqa: F401  (first: a submodule import alone may hit a cached module)
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as error:
        raise NetTrainError(
            argument,
            f"matplotlib is needed for {what} and could not be imported",
            received=str(error) or type(error).__name__,
            hint=f"install the plots extra: {INSTALL}",
        ) from None


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches (at :data:`DPI`) on its own Agg canvas, with
    constrained layout; never known to ``pyplot``."""
    require()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def log_y(ax: Axes) -> None:
    """A logarithmic y axis whose labels are plain numbers ("0.04", not "4 x 10^-2"), on the
    ticks matplotlib would label."""
    from matplotlib.ticker import LogFormatterSciNotation

    class Plain(LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:.6g}" if super().__call__(x, pos) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(Plain())
    ax.yaxis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _agg(figure: Figure) -> None:
    require()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)


def save_png(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` to ``path`` as a PNG (Agg, cropped to what is drawn:
    ``bbox_inches="tight"``) and return the path.

    Raises:
        NetTrainError: the folder is missing or not writable, or ``path`` is a folder
            (argument "path").
    """
    _agg(figure)
    target = Path(path)
    try:
        figure.savefig(target, format="png", dpi=DPI, bbox_inches="tight")
    except OSError as error:
        raise NetTrainError(
            "path",
            "the PNG could not be written",
            received=f"{os.fspath(path)!r} ({error.strerror or error})",
            hint="give a path in a folder that exists and can be written to",
        ) from None
    return target


def figure_data_uri(figure: Figure) -> str:
    """``figure`` as a PNG in a ``data:image/png;base64,...`` URI, to embed in HTML
    (``<img src="...">``); the same image :func:`save_png` writes."""
    _agg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
