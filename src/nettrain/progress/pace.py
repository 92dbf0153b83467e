"""When a reporting form reports: :class:`Paced` turns the loop's events into a display's calls.

A display (:class:`~nettrain.progress.display.Display`) only draws; ``Paced`` is the observer the
loop sees. It starts the display at ``training_started``, asks it to ``show`` the live
properties when a report is due by its interval (seconds: at the loop's timed reports, at least
90% of the interval apart, since those checks jitter; rounds: at every N-th round's end;
batches: after every N-th batch; percent: each time the run has come another N% of the way), at
most once per ``minimum`` seconds, and to ``finish`` at the end, with the reason, whatever
the pace (the final state is always shown). ``close`` closes the display; ``train`` and the
``ProgressMonitor`` call it in a ``finally``.

Example:
    >>> from nettrain.options.durations import Interval
    >>> class Rounds:
    ...     label = "rounds"
    ...     def __init__(self): self.seen = []
    ...     def start(self, live): pass
    ...     def show(self, live): self.seen.append(live["round"])
    ...     def finish(self, live, reason): self.seen.append(reason)
    ...     def close(self): pass
    >>> display = Rounds()
    >>> paced = Paced(display, Interval(2.0, "rounds"))
    >>> for r in (1, 2, 3, 4):
    ...     paced.notify("round_complete", {"round": r, "time_elapsed": float(r)})
    >>> paced.notify("training_complete", {"round": 4, "time_elapsed": 4.0})
    >>> display.seen
    [2, 4, 'training_complete']
"""

from __future__ import annotations

import math
from typing import Any

from ..options.durations import Interval
from .display import Display

__all__ = ["CallableDisplay", "Paced"]

_ENDS = ("training_stopped", "weights_diverged", "training_complete")
# the loop's timed reports come when a check finds the interval passed; they jitter around it
_JITTER = 0.9


class Paced:
    """The loop observer of one display (see the module docstring).

    Args:
        display: what draws.
        every: the reporting interval.
        minimum: at least this many seconds between two shows (None: no limit).
    """

    def __init__(self, display: Display, every: Interval, minimum: float | None = None) -> None:
        self.display = display
        self.every = every
        self.minimum = minimum
        self.label = display.label
        self.wants_batches = every.unit in ("batches", "percent")
        # the loop reads the losses (and reports) at the shortest seconds interval it is given
        self.interval: float | None = every.amount if every.unit == "seconds" else None
        self._shown_at: float | None = None  # time_elapsed of the last show
        self._next_fraction = every.amount / 100 if every.unit == "percent" else math.inf
        self._finished = False
        self._closed = False

    def due(self, absolute_batch: int, fraction: float) -> bool:
        """Per batch (batch and percent intervals): whether this batch is one to show at."""
        if self.every.unit == "batches":
            return absolute_batch % int(self.every.amount) == 0
        if fraction + 1e-12 >= self._next_fraction:
            step = self.every.amount / 100
            while self._next_fraction <= fraction + 1e-12:
                self._next_fraction += step
            return True
        return False

    def _show(self, live: dict[str, Any]) -> None:
        now = float(live.get("time_elapsed") or 0.0)
        if (
            self.minimum is not None
            and self._shown_at is not None
            and now - self._shown_at < self.minimum
        ):
            return
        self._shown_at = now
        self.display.show(live)

    def notify(self, event: str, live: dict[str, Any]) -> None:
        if self._finished:
            return
        live = {**live, "event": event}
        if event == "round_complete" and not live.get("batch") and live.get("batches_per_round"):
            live["batch"] = live["batches_per_round"]  # a finished round shows all its batches
        unit, amount = self.every.unit, self.every.amount
        if event == "training_started":
            self.display.start(live)
        elif event in _ENDS:
            self._finished = True
            self.display.finish(live, event)
        elif event == "report" and unit == "seconds":
            now = float(live.get("time_elapsed") or 0.0)
            if self._shown_at is None or now - self._shown_at >= _JITTER * amount:
                self._show(live)
        elif event == "round_complete" and unit == "rounds":
            if int(live.get("round") or 0) % int(amount) == 0:
                self._show(live)
        elif event == "batch_complete" and unit in ("batches", "percent"):
            self._show(live)

    def close(self) -> None:
        """Close the display (once)."""
        if not self._closed:
            self._closed = True
            self.display.close()


class CallableDisplay:
    """The form ``f(live)``: the function is called with the live properties (and ``"event"``)
    at each report and at the end; what it returns is ignored (a ``training_progress_function``
    can stop training; a reporting function only reports)."""

    label = "reporting function"

    def __init__(self, function: Any) -> None:
        self.function = function

    def start(self, live: dict[str, Any]) -> None:
        pass

    def show(self, live: dict[str, Any]) -> None:
        self.function(live)

    def finish(self, live: dict[str, Any], reason: str) -> None:
        self.function(live)

    def close(self) -> None:
        pass
