"""The reporters of a reporting form: one function, shared by every face that reports.

``train``'s ``training_progress_reporting`` and the custom loops'
``ProgressMonitor(reporting=...)`` are both parsed by
:func:`nettrain.options.resolved.parse_reporting` and built here, so a reporter added here
(a panel, a progress bar, a log file) reaches both.

Example:
    >>> [type(r).__name__ for r in build_reporters("print", 2.0)], build_reporters(None, 2.0)
    (['PrintReporter'], [])
"""

from __future__ import annotations

from .printer import PrintReporter

__all__ = ["build_reporters"]


def build_reporters(form: str | None, interval: float) -> list[PrintReporter]:
    """The reporters for a parsed reporting form.

    Args:
        form: ``"print"`` or None, as :func:`~nettrain.options.resolved.parse_reporting` gives.
        interval: seconds between reports.

    Returns:
        the reporters, each an observer of the loop (``notify(event, live)``); none for None.
    """
    if form == "print":
        return [PrintReporter(interval=interval)]
    return []
