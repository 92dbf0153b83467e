"""The "progress_bar" reporting form (NetTrain's "ProgressIndicator"): one line, redrawn in place.

The line looks like::

    round 2/5 ━━━━━━━━━━━╸────────── 58% loss 0.4213 val 0.4408 0:07<0:13

(the bar and the percentage are the whole run's progress, ``loss`` the running loss of the
round, ``val`` the last validation loss, then time elapsed < time remaining). On a terminal it
is redrawn in place (a carriage return, the line cut to the terminal's width as it is now, and
an erase to the end of the screen), at most ``refresh_per_second`` times a second. On anything
else (a file, a pipe, a notebook, ``CI`` set, ``TERM=dumb``) nothing is written until
:meth:`ProgressBar.finish`, which writes the final line once, as plain text.

This module also holds what the bar and the panel (:mod:`nettrain.progress.panel`) share:
:func:`is_terminal`, :func:`terminal_size`, :func:`reason_text` and the value formatting.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(stream=out, width=72)
    >>> live = {"round": 2, "max_rounds": 5, "progress_fraction": 0.58, "round_loss": 0.42131,
    ...     "batch_loss": 0.4, "validation_loss": 0.44081, "time_elapsed": 7.2,
    ...     "time_remaining": 13.1}
    >>> bar.start(live); bar.show(live); out.getvalue()  # not a terminal: nothing yet
    ''
    >>> bar.finish(live, "training_complete"); bar.close()
    >>> print(out.getvalue(), end="")
    round 2/5 ━━━━━━━━━╸────── 58% loss 0.4213 val 0.4408 0:07<0:13 complete
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import time
from typing import Any, TextIO

from ..errors import NetTrainError, describe
from .printer import format_seconds

__all__ = [
    "MIN_WIDTH",
    "ProgressBar",
    "bar_cells",
    "check_arguments",
    "current_loss",
    "format_value",
    "is_terminal",
    "reason_text",
    "scalar",
    "terminal_size",
]

MIN_WIDTH = 20
"""The narrowest ``width`` a display accepts."""

_REASONS = {
    "training_complete": "complete",
    "max_training_rounds": "complete",
    "loop_finished": "complete",
    "training_stopped": "stopped",
    "stopped_by_user": "stopped by user",
    "weights_diverged": "weights diverged",
    "time_goal": "time goal reached",
    "stopping_criterion": "stopped: no more improvement",
    "progress_function": "stopped by the progress function",
}


def reason_text(reason: str) -> str:
    """How a display words why training ended: ``"stopped_by_user"`` -> ``'stopped by user'``."""
    return _REASONS.get(reason, reason.replace("_", " "))


def is_terminal(stream: TextIO) -> bool:
    """Whether to draw in place on ``stream``: a terminal, and neither ``CI`` set nor
    ``TERM=dumb`` (logs of CI services and dumb terminals show every redraw as a new line)."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        return False


def terminal_size(stream: TextIO) -> os.terminal_size:
    """The size of the terminal ``stream`` writes to, asked anew at every call (the terminal may
    have been resized); :func:`shutil.get_terminal_size` where the stream has no descriptor."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both
        return shutil.get_terminal_size()
    # a pseudo-terminal nobody has sized yet reports 0 x 0
    return size if size.columns > 0 and size.lines > 0 else shutil.get_terminal_size()


def scalar(value: Any) -> float | None:
    """``value`` as a float where it is a plain number, else None (tensors: per-class values,
    curves; and None)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def format_value(value: Any) -> str:
    """A loss or measurement with 4 decimals (``'0.4213'``), tiny ones in scientific notation,
    ``'-'`` for none or NaN."""
    number = scalar(value)
    if number is None or math.isnan(number):
        return "-"
    if number != 0 and abs(number) < 1e-3:
        return f"{number:.3e}"
    return f"{number:.4f}"


def bar_cells(fraction: float, width: int, ascii_only: bool = False) -> tuple[str, str]:
    """A bar ``width`` cells wide at ``fraction``, as (the done part, the rest): half cells
    shown by ``╸``; ``#`` and ``-`` where only ASCII can be written."""
    fraction = min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 0.0
    halves = round(fraction * width * 2)
    full, half = divmod(halves, 2)
    if ascii_only:
        return "#" * full + "-" * half, "-" * (width - full - half)
    return "━" * full + "╸" * half, "─" * (width - full - half)


def check_arguments(
    stream: object, refresh_per_second: object, width: object
) -> tuple[TextIO | None, float, int | None]:
    """The display arguments checked: ``(stream, refresh_per_second, width)``.

    Raises:
        NetTrainError: for a stream without ``write``, a rate that is not a positive number, or
            a width that is not an int of at least :data:`MIN_WIDTH`.
    """
    if stream is not None and not callable(getattr(stream, "write", None)):
        raise NetTrainError(
            "stream",
            "is not a text stream",
            expected="a file opened for writing text, or None for standard output",
            received=describe(stream),
        )
    rate = scalar(refresh_per_second)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise NetTrainError(
            "refresh_per_second",
            "must be a positive number",
            expected="redraws per second, a number > 0 (4 by default)",
            received=describe(refresh_per_second),
        )
    if width is not None and (
        not isinstance(width, int) or isinstance(width, bool) or width < MIN_WIDTH
    ):
        raise NetTrainError(
            "width",
            "must be a number of columns",
            expected=f"an int >= {MIN_WIDTH}, or None for the terminal's width",
            received=describe(width),
            hint="leave it out to follow the terminal as it is resized",
        )
    return stream, rate, width  # type: ignore[return-value]


def current_loss(live: dict[str, Any]) -> float | None:
    """The round's running loss, the last batch's before the first mean exists."""
    for key in ("round_loss", "batch_loss"):
        value = scalar(live.get(key))
        if value is not None and not math.isnan(value):
            return value
    return None


class ProgressBar:
    """A one-line progress bar for training (see the module docstring).

    Args:
        stream: where to draw; None: standard output, looked up when training starts.
        refresh_per_second: the most redraws a second (a report sooner is skipped).
        width: columns to use at most; None: the terminal's width, asked at every redraw.
    """

    label = "progress bar"

    def __init__(
        self,
        stream: TextIO | None = None,
        refresh_per_second: float = 4.0,
        width: int | None = None,
    ) -> None:
        self.stream, self.refresh_per_second, self.width = check_arguments(
            stream, refresh_per_second, width
        )
        self._out: TextIO | None = None  # the stream in use, from start to close
        self._terminal = False
        self._drawn_at: float | None = None  # time.monotonic() of the last redraw
        self._on_screen = 0  # columns of the unfinished line on the terminal (0: none)
        self._columns = 0  # the terminal's width when that line was drawn
        self._finished = False

    def _columns_now(self, out: TextIO) -> int:
        if not self._terminal and self.width:
            return self.width  # no terminal to fit: the width asked for
        columns = terminal_size(out).columns
        return max(min(columns, self.width) if self.width else columns, 1)

    def line(
        self, live: dict[str, Any], columns: int, ascii_only: bool = False, note: str = ""
    ) -> str:
        """The line for ``live`` (and ``note`` at its end), at most ``columns`` wide: the bar
        shrinks first, then the line is cut."""
        rounds, number = live.get("max_rounds"), live.get("round") or 0
        head = f"round {number}/{rounds}" if rounds else f"round {number}"
        fraction = scalar(live.get("progress_fraction"))
        fraction = fraction if fraction is not None and math.isfinite(fraction) else 0.0
        loss, validation = current_loss(live), scalar(live.get("validation_loss"))
        elapsed = scalar(live.get("time_elapsed"))
        remaining = scalar(live.get("time_remaining"))
        parts: dict[str, str] = {"percent": f"{fraction * 100:.0f}%"}
        if loss is not None:
            parts["loss"] = f"loss {format_value(loss)}"
        if validation is not None:
            parts["val"] = f"val {format_value(validation)}"
        if elapsed is not None:
            left = f"<{format_seconds(remaining)}" if remaining is not None else ""
            parts["time"] = format_seconds(elapsed) + left
        if note:
            parts["note"] = note
        # Too narrow: the bar goes first, then the validation loss, the times, the note.
        room = columns - len(head) - len(" ".join(parts.values())) - 2
        if room >= 5:  # a bar narrower than that shows nothing useful
            done, todo = bar_cells(fraction, min(room, 40), ascii_only)
            return f"{head} {done}{todo} {' '.join(parts.values())}"
        for key in ("val", "time", "note"):
            if len(" ".join([head, *parts.values()])) <= columns:
                break
            parts.pop(key, None)
        return " ".join([head, *parts.values()])[:columns]

    def _encoding_is_ascii(self, out: TextIO) -> bool:
        encoding = (getattr(out, "encoding", None) or "utf-8").lower()
        return not encoding.startswith("utf")

    def _draw(self, live: dict[str, Any], note: str = "") -> None:
        out = self._out
        if out is None:
            return
        # one column spare: a line filling the last column leaves some terminals wrapped
        columns = self._columns_now(out) - (1 if self._terminal else 0)
        text = self.line(live, max(columns, 1), self._encoding_is_ascii(out), note)
        if not self._terminal:
            out.write(text + "\n")
        else:
            up = ""
            if self._on_screen and columns + 1 < self._columns:
                # the terminal got narrower: the old line wrapped onto several rows
                rows = -(-self._on_screen // (columns + 1))
                up = f"\x1b[{rows - 1}A" if rows > 1 else ""
            out.write(f"\r{up}\x1b[J{text}")
            self._on_screen, self._columns = len(text), columns + 1
        out.flush()
        self._drawn_at = time.monotonic()

    def start(self, live: dict[str, Any]) -> None:
        self._out = self.stream if self.stream is not None else sys.stdout
        self._terminal = is_terminal(self._out)
        if self._terminal:
            self._draw(live)

    def show(self, live: dict[str, Any]) -> None:
        if not self._terminal:
            return
        now = time.monotonic()
        if self._drawn_at is not None and now - self._drawn_at < 1.0 / self.refresh_per_second:
            return  # drawn too recently; the next report (or finish) catches up
        self._draw(live)

    def finish(self, live: dict[str, Any], reason: str) -> None:
        if self._finished:
            return  # the final line is written once
        if self._out is None:  # finish without start: draw on the stream all the same
            self.start(live)
        self._finished = True
        if reason == "training_stopped" and live.get("reason"):
            reason = str(live["reason"])  # a stop says why: the run's own reason
        self._draw(live, reason_text(reason))
        self._end_line()

    def _end_line(self) -> None:
        if self._out is not None and self._on_screen:
            self._out.write("\n")
            self._out.flush()
        self._on_screen = 0

    def close(self) -> None:
        # a stream that is gone (a closed file, a broken pipe) cannot be cleaned any more
        with contextlib.suppress(OSError, ValueError):
            self._end_line()  # leave the cursor on a new line
        self._on_screen, self._out = 0, None
