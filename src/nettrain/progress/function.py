"""``training_progress_function``: the user's function, called with the live properties.

It is called at its interval (every round by default; ``"batch"``, ``"N batches"``, ``"N
rounds"`` or seconds), and always at the terminal events (start, stop, divergence, the end).
Returning ``"stop_training"`` asks the loop to stop (a final validation runs and the best net is
kept); ``"abort_training"`` stops at once with the current weights.

Example:
    >>> seen = []
    >>> f = ProgressFunction((lambda live: seen.append(live["round"]), {"interval": "2 rounds"}))
    >>> for r in (1, 2, 3, 4):
    ...     f.notify("round_complete", {"round": r, "time_elapsed": 0.0})
    >>> seen
    [2, 4]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import NetTrainError, describe
from ..options.durations import Interval, parse_interval

__all__ = ["STOP_SIGNALS", "TERMINAL_EVENTS", "ProgressFunction", "progress_functions"]

STOP_SIGNALS = {"stop_training": "progress_function", "abort_training": "aborted"}
# always delivered to a progress function, whatever its interval
TERMINAL_EVENTS = ("training_started", "weights_diverged", "training_stopped", "training_complete")


def _check_sub_options(options: Mapping[Any, object], argument: str, expected: str) -> None:
    """Raise for any sub-option of ``(value, {...})`` other than "interval"."""
    unknown = [k for k in options if k != "interval"]
    if unknown:
        raise NetTrainError(
            argument,
            f"unknown sub-option {unknown[0]!r}",
            expected=expected,
            received=repr(unknown[0]),
        )


class ProgressFunction:
    """``training_progress_function``: called with the live properties; may stop training."""

    def __init__(self, spec: object, argument: str = "training_progress_function") -> None:
        # ``argument``: the option's name in errors and notes (a ProgressMonitor's is
        # "progress_function")
        function, interval = spec, Interval(1.0, "rounds")
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
            function = spec[0]
            _check_sub_options(
                spec[1],
                argument,
                '{"interval": "round" | "batch" | "2 rounds" | "30 s"}',
            )
            raw = spec[1].get("interval", "round")
            raw = {"round": "1 rounds", "batch": "1 batches"}.get(raw, raw)
            interval = parse_interval(raw, argument=argument)
            if interval.unit != "seconds" and not interval.amount.is_integer():
                # a report is due at whole rounds or batches; 0.1 (rounds) is most likely a
                # time written without its unit
                raise NetTrainError(
                    argument,
                    f"an interval in {interval.unit} must be a whole number",
                    expected='a whole number of rounds, "N batches", or a time like "0.1 s"',
                    received=repr(spec[1]["interval"]),
                    hint=f'for every {interval.amount:g} seconds write "{interval.amount:g} s"',
                )
        if not callable(function):
            raise NetTrainError(
                argument,
                "is not callable",
                expected="a function f(live_properties) or (f, {'interval': ...})",
                received=describe(function),
            )
        self.function = function
        self.every = interval
        self.wants_batches = interval.unit == "batches"
        self.interval: float | None = interval.amount if interval.unit == "seconds" else None
        self.signal: str | None = None
        self.label = argument
        self._next_time = interval.amount  # the loop reports at the shortest interval of all

    def due(self, absolute_batch: int, fraction: float) -> bool:
        """Per batch (batch intervals only): whether this batch is one to call at."""
        return absolute_batch % int(self.every.amount) == 0

    def notify(self, event: str, live: dict[str, Any]) -> None:
        unit, amount = self.every.unit, self.every.amount
        due = (
            (unit == "batches" and event == "batch_complete")  # the loop asked due() first
            or (unit == "rounds" and event == "round_complete" and live["round"] % int(amount) == 0)
            or (unit == "seconds" and event == "report" and live["time_elapsed"] >= self._next_time)
            or event in TERMINAL_EVENTS
        )
        if unit == "seconds" and event == "report" and due:
            self._next_time = live["time_elapsed"] + amount
        if not due or (self.signal is not None and event not in TERMINAL_EVENTS):
            return
        answer = self.function({**live, "event": event})
        if isinstance(answer, str) and answer in STOP_SIGNALS and event not in TERMINAL_EVENTS:
            self.signal = STOP_SIGNALS[answer]


def progress_functions(
    spec: object, argument: str = "training_progress_function"
) -> list[ProgressFunction]:
    """The progress functions of the option: one spec, or a list of specs (each its own
    interval; the first to ask to stop stops training). None or an empty list: none.

    >>> [f.every.unit for f in progress_functions([print, (print, {"interval": "batch"})])]
    ['rounds', 'batches']
    """
    if spec is None:
        return []
    specs = spec if isinstance(spec, list) else [spec]
    return [ProgressFunction(s, argument=argument) for s in specs]
