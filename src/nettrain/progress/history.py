"""Custom histories: ``{"property": name or f, "form": "list", "interval": "batch"}`` (S1.5).

A history records one live property (any key a ``training_progress_function`` sees), or a
function of the live properties, during training, and gives the list at the end. As in
NetTrain, keys and values may be written in Wolfram's CamelCase (``{"Property": "RoundLoss",
"Form": "TransposedList", "Interval": "Round"}``).

Intervals: ``"batch"``, ``"round"``, ``"N batches"``, ``"N rounds"``, ``"P percent"`` (each
time training passes another P% of its planned batches, or of its time goal), or a time
(``30``, ``"30 s"``, ``"2 min"``). A history of ``"example_losses"`` makes the run keep each
example's latest loss (see :mod:`nettrain.monitor`); collected every round it gives a rounds x
examples matrix (``torch.stack(history)``).

Forms: ``"list"`` (the values), ``"transposed_list"`` (one list per component of sequence
values) and ``"plot"``: a matplotlib Figure of the values against the batch each was collected
at (:func:`nettrain.plots.history_plot`: one line per component, e.g. one per layer for a
dict of gradient norms; needs ``nettrain[plots]``, checked before training).

Example:
    >>> h = HistoryCollector.parse({"Property": "RoundLoss", "Interval": "2 rounds"})
    >>> for r, loss in enumerate([0.5, 0.4, 0.3, 0.2], start=1):
    ...     h.notify("round_complete", {"round": r, "round_loss": loss})
    >>> h.result()
    [0.4, 0.2]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import NetTrainError, describe, did_you_mean
from ..options.durations import parse_interval

__all__ = ["LIVE_PROPERTIES", "HistoryCollector", "snake"]

# every key of the live properties (nettrain.loop.live_properties) a history can collect
LIVE_PROPERTIES = (
    "absolute_batch",
    "batch",
    "batch_loss",
    "batches_per_round",
    "batches_per_second",
    "best_validation_round",
    "example_losses",
    "examples_per_second",
    "examples_processed",
    "learning_rate",
    "max_rounds",
    "net",
    "progress_fraction",
    "reason",
    "round",
    "round_loss",
    "round_measurements",
    "time_elapsed",
    "time_remaining",
    "validation_loss",
    "validation_measurements",
)
_KEYS = ("property", "form", "interval")
_FORMS = ("list", "transposed_list", "plot")
_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(%|percent)\s*$", re.IGNORECASE)


def snake(name: str) -> str:
    """Wolfram's CamelCase as snake_case: ``"RoundLoss" -> "round_loss"`` (snake stays).

    >>> snake("ValidationMeasurements"), snake("TransposedList"), snake("round_loss")
    ('validation_measurements', 'transposed_list', 'round_loss')
    """
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[\s\-]+", "_", spaced).lower()


def _interval(value: object) -> tuple[float, str]:
    """``(amount, unit)`` with unit "batches", "rounds", "seconds" or "percent"."""
    if isinstance(value, str):
        key = snake(value)
        if key in ("batch", "round"):
            return 1.0, {"batch": "batches", "round": "rounds"}[key]
        match = _PERCENT.match(value)
        if match:
            amount = float(match.group(1))
            if not 0 < amount <= 100:
                raise NetTrainError(
                    "prop",
                    "a history's percent interval must be above 0 and at most 100",
                    expected='e.g. "10 percent"',
                    received=repr(value),
                )
            return amount, "percent"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NetTrainError(
            "prop",
            "a history's interval is not one nettrain knows",
            expected='"batch", "round", "N batches", "N rounds", "P percent" or a time '
            '("30 s", "2 min")',
            received=describe(value),
        )
    if isinstance(value, int | float):
        return _seconds(float(value), value)
    parsed = parse_interval(value, argument="prop")
    if parsed.unit in ("batches", "rounds"):
        if parsed.amount != int(parsed.amount):
            raise NetTrainError(
                "prop",
                f"a history's interval in {parsed.unit} must be a whole number",
                expected=f'e.g. "2 {parsed.unit}"',
                received=repr(value),
            )
        return parsed.amount, parsed.unit
    return _seconds(parsed.amount, value)


def _seconds(amount: float, given: object) -> tuple[float, str]:
    if not (amount > 0 and math.isfinite(amount)):
        raise NetTrainError(
            "prop",
            "a history's time interval must be a positive number of seconds",
            expected='e.g. 30 or "30 s"',
            received=repr(given),
        )
    return amount, "seconds"


def _check_plot(prop: str | Callable[..., Any]) -> None:
    """Before training: a "plot" history needs matplotlib, and numbers to plot."""
    from ..plots import require

    require('the "plot" form of a history')
    if prop == "net":
        raise NetTrainError(
            "prop",
            'the "plot" form of a history needs numbers; the net is not one',
            received='"net"',
            hint='collect a function of the net instead, e.g. {"property": lambda live: '
            '{n: float(p.norm()) for n, p in live["net"].named_parameters()}, "form": "plot"}',
        )


class HistoryCollector:
    """Collects a property's values over a run (an observer of the loop).

    Args:
        prop: a live property's name, or a function of the live properties.
        form: "list" (one entry per time collected), "transposed_list" (for a property or
            function whose values are sequences: one list per component) or "plot" (a
            matplotlib Figure of the values against batches:
            :func:`nettrain.plots.history_plot`).
        interval: ``(amount, unit)``; see the module docstring.
    """

    label = "custom history"

    def __init__(
        self,
        prop: str | Callable[[dict[str, Any]], Any],
        form: str,
        interval: tuple[float, str],
    ) -> None:
        self.prop = prop
        self.form = form
        self.amount, self.unit = interval
        # batches and percentages are checked after every batch (cheaply: see ``due``)
        self.wants_batches = self.unit in ("batches", "percent")
        self.interval: float | None = self.amount if self.unit == "seconds" else None
        self.values: list[Any] = []
        self.positions: list[int | None] = []  # the absolute batch of each value
        self._next_time = self.amount if self.unit == "seconds" else math.inf
        self._next_fraction = self.amount / 100 if self.unit == "percent" else math.inf

    @property
    def name(self) -> str | None:
        """The property's name, or None for a function."""
        return self.prop if isinstance(self.prop, str) else None

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> HistoryCollector:
        """Read a custom-history dict (keys in snake_case or CamelCase).

        Raises:
            NetTrainError: unknown keys, an unknown property (with close matches), an unknown
                form or interval (argument "prop").
        """
        given = {snake(str(k)) if isinstance(k, str) else k: v for k, v in spec.items()}
        unknown = [k for k in given if k not in _KEYS]
        if unknown:
            raise NetTrainError(
                "prop",
                f"unknown key {unknown[0]!r} in a custom history",
                expected='keys "property", "form", "interval"',
                received=repr(unknown[0]),
                hint=did_you_mean(str(unknown[0]), _KEYS),
            )
        if "property" not in given:
            raise NetTrainError(
                "prop",
                "a custom history needs a 'property'",
                expected='{"property": name or function, "form": "list", "interval": "batch"}',
                received=repr(dict(spec)),
            )
        prop = given["property"]
        if isinstance(prop, str):
            key = snake(prop)
            if key not in LIVE_PROPERTIES:
                raise NetTrainError(
                    "prop",
                    f"{prop!r} is not a live property",
                    expected="one of " + ", ".join(LIVE_PROPERTIES) + ", or a function",
                    received=repr(prop),
                    hint=did_you_mean(key, LIVE_PROPERTIES),
                )
            prop = key
        elif not callable(prop):
            raise NetTrainError(
                "prop", "a history's property must be a name or a function", received=describe(prop)
            )
        form = given.get("form", "list")
        form = snake(form) if isinstance(form, str) else form
        if form not in _FORMS:
            raise NetTrainError(
                "prop",
                "unknown history form",
                expected=" or ".join(map(repr, _FORMS)),
                received=describe(form),
            )
        if form == "plot":
            _check_plot(prop)
        return cls(prop, form, _interval(given.get("interval", "round")))

    def due(self, absolute_batch: int, fraction: float) -> bool:
        """Per batch (batch and percent intervals): whether to collect at this batch."""
        if self.unit == "batches":
            return absolute_batch % int(self.amount) == 0
        if fraction + 1e-12 >= self._next_fraction:
            while self._next_fraction <= fraction + 1e-12:
                self._next_fraction += self.amount / 100
            return True
        return False

    def notify(self, event: str, live: dict[str, Any]) -> None:
        if event == "batch_complete":
            due = self.wants_batches  # the loop asked ``due`` first
        elif event == "round_complete":
            due = self.unit == "rounds" and live["round"] % int(self.amount) == 0
        elif event == "report":
            due = self.unit == "seconds" and live["time_elapsed"] >= self._next_time
            if due:
                self._next_time = live["time_elapsed"] + self.amount
        else:
            due = False
        if due:
            self.values.append(self.prop(live) if callable(self.prop) else live[self.prop])
            self.positions.append(live.get("absolute_batch"))

    def result(self) -> Any:
        """The history in its form: a list, a list per component, or a Figure ("plot")."""
        if self.form == "plot":
            from ..plots import history_plot

            name = self.name or getattr(self.prop, "__name__", "")
            title = name if name and name != "<lambda>" else "a function"
            known = [p for p in self.positions if p is not None]
            at = known if len(known) == len(self.values) else None
            return history_plot(title, self.values, positions=at)
        if self.form == "transposed_list":
            return [list(column) for column in zip(*self.values, strict=True)]
        return list(self.values)
