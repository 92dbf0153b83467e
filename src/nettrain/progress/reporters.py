"""The reporters of the reporting forms: one function, shared by every face that reports.

``train``'s ``training_progress_reporting``, the custom loops' ``ProgressMonitor(reporting=...)``
and the Keras face all read their option with :func:`nettrain.progress.forms.parse_reporting`
and build it here, so every form reaches every face. Each form becomes a display
(:mod:`nettrain.progress.display`) wrapped in the :class:`~nettrain.progress.pace.Paced`
observer the loop sees. ``"auto"`` is resolved here, when training starts: the notebook panel in
a Jupyter kernel, the terminal panel when standard output is a terminal (and ``CI`` is not set,
and ``TERM`` is not ``dumb``), else the plain ``"print"`` lines.

Example:
    >>> from nettrain.progress.forms import parse_reporting
    >>> [type(r.display).__name__ for r in build_reporters(parse_reporting("print"))]
    ['PrintReporter']
    >>> build_reporters(parse_reporting(None))
    []
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ..options.durations import Interval
from .display import Display
from .forms import ReportSpec
from .pace import CallableDisplay, Paced
from .printer import PrintReporter

__all__ = ["auto_form", "build_reporters", "close_all", "is_terminal"]

# how often a live panel redraws when "auto" picks it
_PANEL_EVERY = Interval(0.25, "seconds")
_NOTEBOOK_EVERY = Interval(0.5, "seconds")


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (standard output) is a terminal a live display may redraw: a TTY, and
    neither ``CI`` set nor ``TERM=dumb``."""
    stream = stream if stream is not None else sys.stdout
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def _in_notebook() -> bool:
    if "IPython" not in sys.modules:  # no notebook kernel without IPython already loaded
        return False
    from .notebook import in_notebook

    return in_notebook()


def auto_form() -> str:
    """What ``"auto"`` is here and now: "notebook", "panel" or "print"."""
    if _in_notebook():
        return "notebook"
    return "panel" if is_terminal() else "print"


def _display(spec: ReportSpec, measurements: Sequence[str], validation: bool) -> Display:
    form = spec.form
    if form == "print":
        return PrintReporter()
    if form == "notebook":
        from .notebook import NotebookPanel

        return NotebookPanel()
    if form == "panel":
        from .panel import TerminalPanel

        return TerminalPanel()
    if form == "progress_bar":
        from .bar import ProgressBar

        return ProgressBar()
    if form == "file":
        from .filelog import FileLog

        return FileLog(spec.target, measurements=measurements, validation=validation)
    if form == "tensorboard":
        from .tensorboard import TensorBoardLog

        return TensorBoardLog(spec.target)
    return CallableDisplay(spec.target)


def _resolved(spec: ReportSpec) -> ReportSpec:
    """``"auto"`` as what it is here; ``"panel"`` in a notebook as the notebook panel."""
    form = spec.form
    if form == "auto":
        form = auto_form()
        if form != "print" and spec.every == Interval(2.0, "seconds"):
            every = _NOTEBOOK_EVERY if form == "notebook" else _PANEL_EVERY
            return ReportSpec(form, spec.target, every, spec.minimum)
    elif form == "panel" and _in_notebook():
        form = "notebook"
    return ReportSpec(form, spec.target, spec.every, spec.minimum)


def build_reporters(
    specs: Sequence[ReportSpec],
    *,
    measurements: Sequence[str] = (),
    validation: bool = False,
) -> list[Paced]:
    """The loop observers of the parsed reporting forms.

    Args:
        specs: what :func:`~nettrain.progress.forms.parse_reporting` read.
        measurements: the scalar measurement keys of the run, besides "loss" (a log file's
            columns). validation: whether the run validates (the validation columns).

    Returns:
        one :class:`Paced` per form (none for None); close each with :func:`close_all`.

    Raises:
        NetTrainError: a form that cannot be built (a log file in a missing folder, a missing
            optional extra), before training starts.
    """
    built: list[Paced] = []
    try:
        for spec in specs:
            spec = _resolved(spec)
            built.append(Paced(_display(spec, measurements, validation), spec.every, spec.minimum))
    except BaseException:
        close_all(built)
        raise
    return built


def close_all(observers: Sequence[Any]) -> None:
    """Close every reporter among ``observers`` (each once; the first error is raised after all
    were closed, so a failing one never leaves a terminal unrestored)."""
    first: BaseException | None = None
    for observer in observers:
        close = getattr(observer, "close", None)
        if isinstance(observer, Paced) and callable(close):
            try:
                close()
            except BaseException as error:  # re-raised below, after the others
                first = first or error
    if first is not None:
        raise first
