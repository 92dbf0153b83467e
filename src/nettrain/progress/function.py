"""``training_progress_function``: the user's function, called with the live properties.

It is called at its interval (every round by default; ``"batch"``, ``"N batches"``, ``"N
rounds"`` or seconds), and always at the terminal events (start, stop, divergence, the end).
Returning ``"stop_training"`` asks the loop to stop (a final validation runs and the best net is
kept); ``"abort_training"`` stops at once with the current weights. Returning
``{"learning_rate": x}`` (x a finite number > 0) asks for a new base learning rate: ``train``
applies it before the next update, at the points where the loop reads a stop request (after
each batch's notifications and at the start of each round, so a request made at
``training_started`` or at a round's end holds for the whole next round), through
:meth:`~nettrain.optim.Updater.set_learning_rate`. Every parameter group then runs at ``x *
|multiplier|``, times the ``learning_rate_schedule``'s factor when the method has one: the
schedule goes on shaping the rate around the new base. The live property ``learning_rate``
shows the new rate from the next call on, and ``final_learning_rate`` in the results is the
rate the last update used. When several functions ask in the same call, the last in the list
wins. A function on a seconds interval is called after the batch's stop check, so its request
takes effect one update later. Any other answer (None, a string that is not a signal, ...) is
ignored; a dict with another key, or a rate that is not a finite number > 0, is refused.

Example:
    >>> seen = []
    >>> f = ProgressFunction((lambda live: seen.append(live["round"]), {"interval": "2 rounds"}))
    >>> for r in (1, 2, 3, 4):
    ...     f.notify("round_complete", {"round": r, "time_elapsed": 0.0})
    >>> seen
    [2, 4]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import NetTrainError, describe
from ..options.durations import Interval, parse_interval
from ..scalars import as_real

__all__ = [
    "REQUESTS",
    "STOP_SIGNALS",
    "TERMINAL_EVENTS",
    "ProgressFunction",
    "progress_functions",
]

STOP_SIGNALS = {"stop_training": "progress_function", "abort_training": "aborted"}
# what a dict answer may ask for
REQUESTS = ("learning_rate",)
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
    """``training_progress_function``: called with the live properties; may stop training or
    ask for a new learning rate.

    Args:
        spec: ``f`` or ``(f, {"interval": ...})``.
        argument: the option's name in errors and notes (a ProgressMonitor's is
            "progress_function").
        learning_rate_requests: whether ``{"learning_rate": x}`` answers are taken (``train``
            applies them); where nothing would apply them (a custom loop's ProgressMonitor, whose
            loop owns its optimizer) such an answer is refused rather than ignored.

    Attributes:
        signal: the stop reason asked for, or None.
        learning_rate: the learning rate asked for and not yet applied (see
            :meth:`take_learning_rate`), or None.

    >>> f = ProgressFunction(lambda live: {"learning_rate": 0.5}, learning_rate_requests=True)
    >>> f.notify("round_complete", {"round": 1, "time_elapsed": 0.0})
    >>> f.take_learning_rate(), f.take_learning_rate()
    (0.5, None)
    """

    def __init__(
        self,
        spec: object,
        argument: str = "training_progress_function",
        *,
        learning_rate_requests: bool = False,
    ) -> None:
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
        self.learning_rate: float | None = None
        self.learning_rate_requests = learning_rate_requests
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
        elif isinstance(answer, Mapping):
            self.learning_rate = self._requested_rate(answer)

    def take_learning_rate(self) -> float | None:
        """The learning rate asked for since the last call (None if none), cleared."""
        rate, self.learning_rate = self.learning_rate, None
        return rate

    def _requested_rate(self, answer: Mapping[Any, object]) -> float:
        """The rate of a ``{"learning_rate": x}`` answer; a NetTrainError for anything else."""
        unknown = [k for k in answer if k not in REQUESTS]
        if unknown or not answer:
            raise NetTrainError(
                self.label,
                "returned a dict that asks for nothing known"
                if not answer
                else f"returned a dict with the unknown key {unknown[0]!r}",
                expected='{"learning_rate": x}, "stop_training", "abort_training" or None',
                received=repr(dict(answer)),
            )
        if not self.learning_rate_requests:
            raise NetTrainError(
                self.label,
                "asked for a learning rate, which nothing here can apply",
                expected='"stop_training", "abort_training" or None',
                received=repr(dict(answer)),
                hint="in your own loop, set the optimizer's learning rate yourself "
                '(e.g. group["lr"] = x for each of its param_groups)',
            )
        value = answer["learning_rate"]
        number = as_real(value)
        if number is None or not math.isfinite(number) or number <= 0:
            raise NetTrainError(
                self.label,
                "asked for a learning rate that is not a finite number > 0",
                expected='{"learning_rate": x} with x a finite number > 0',
                received=f"{{'learning_rate': {describe(value)}}}",
            )
        return number


def progress_functions(
    spec: object,
    argument: str = "training_progress_function",
    *,
    learning_rate_requests: bool = False,
) -> list[ProgressFunction]:
    """The progress functions of the option: one spec, or a list of specs (each its own
    interval; the first to ask to stop stops training). None or an empty list: none.
    ``learning_rate_requests``: as :class:`ProgressFunction`'s.

    >>> [f.every.unit for f in progress_functions([print, (print, {"interval": "batch"})])]
    ['rounds', 'batches']
    """
    if spec is None:
        return []
    specs = spec if isinstance(spec, list) else [spec]
    return [
        ProgressFunction(s, argument=argument, learning_rate_requests=learning_rate_requests)
        for s in specs
    ]
