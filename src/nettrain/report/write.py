"""Writing the report: the page assembled from its sections, then written atomically.

The file appears whole or not at all: the page goes to a temporary file in the same folder,
which then replaces the target (:func:`os.replace`), so a crash, a full disk or a reader
opening it meanwhile never sees half a report, and an earlier report stays until the new one
is complete.

Example:
    >>> from nettrain.results import TrainResult
    >>> page = report_html(TrainResult({"reason_training_stopped": "time_goal"}), title="A & B")
    >>> "<h1>A &amp; B</h1>" in page and "the time goal was reached" in page
    True
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import NetTrainError, describe
from .data import data_section
from .environment import environment_section
from .figures import figures_section
from .options import options_section
from .outcome import measurements_section, outcome_section
from .page import escape, page

__all__ = ["DEFAULT_TITLE", "report_html", "write_report"]

DEFAULT_TITLE = "nettrain training report"


def report_html(result: Any, *, title: str | None = None, now: datetime | None = None) -> str:
    """The report of ``result`` (a :class:`~nettrain.TrainResult`) as one HTML document:
    title and date, outcome, final measurements, plots, options and automatic choices, data
    and net, environment."""
    when = (now or datetime.now()).astimezone()
    stamp = f'written <time datetime="{when.isoformat(timespec="seconds")}">'
    stamp += f"{escape(when.strftime('%Y-%m-%d %H:%M %Z').strip())}</time> by nettrain"
    sections = [
        outcome_section(result),
        measurements_section(result),
        figures_section(result),
        options_section(result),
        data_section(result),
        environment_section(result),
    ]
    return page(title or DEFAULT_TITLE, stamp, sections)


def _target(path: str | os.PathLike[str]) -> Path:
    try:
        target = Path(path)
    except TypeError:
        raise NetTrainError(
            "path",
            "the report's path must be a file name",
            expected="a str or path ending in .html",
            received=describe(path),
        ) from None
    if target.is_dir():
        raise NetTrainError(
            "path",
            "the report's path is a folder",
            received=repr(os.fspath(target)),
            hint="give a file name in it, such as run.html",
        )
    return target


def write_report(result: Any, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write the report of ``result`` to ``path`` (one self-contained HTML file: style inline,
    figures embedded, no script, nothing fetched) and return ``path``.

    Args:
        result: a :class:`~nettrain.TrainResult` (``train(net, data, "all")``).
        path: the HTML file; a missing folder is made, an existing file replaced whole.
        title: the page's title (default: :data:`DEFAULT_TITLE`).

    Raises:
        NetTrainError: argument "path" when it is a folder or cannot be written.
    """
    target = _target(path)
    text = report_html(result, title=title)
    # a name of its own: two writers of one report never share a temporary file
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "x", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise NetTrainError(
            "path",
            "the report could not be written",
            received=f"{os.fspath(target)!r} ({error.strerror or error})",
            hint="give a path in a folder you may write in, with room on its disk",
        ) from None
    return target
