"""Custom histories: ``{"property": name or f, "form": "list", "interval": "batch"}``.

A history records one live property (or a function of the live properties) during training,
every batch, every round, or every so many seconds, and gives the list at the end.

Example:
    >>> h = HistoryCollector.parse({"property": "round_loss", "interval": "round"})
    >>> h.notify("round_complete", {"round_loss": 0.5})
    >>> h.notify("round_complete", {"round_loss": 0.25})
    >>> h.result()
    [0.5, 0.25]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import NetTrainError, describe, did_you_mean
from ..options.durations import parse_seconds

__all__ = ["LIVE_PROPERTIES", "HistoryCollector"]

LIVE_PROPERTIES = (
    "absolute_batch",
    "batch",
    "batch_loss",
    "batches_per_round",
    "batches_per_second",
    "examples_per_second",
    "examples_processed",
    "learning_rate",
    "max_rounds",
    "net",
    "progress_fraction",
    "round",
    "round_loss",
    "time_elapsed",
    "time_remaining",
)
_FORMS = ("list", "transposed_list")


class HistoryCollector:
    """Collects a property's values over a run (an observer of the loop)."""

    def __init__(
        self, prop: str | Callable[[dict[str, Any]], Any], form: str, interval: str | float
    ) -> None:
        self.prop = prop
        self.form = form
        self.every = interval  # "batch", "round" or seconds
        self.wants_batches = interval == "batch"
        self.interval: float | None = interval if isinstance(interval, float) else None
        self.values: list[Any] = []

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> HistoryCollector:
        """Read a custom-history dict. Raises NetTrainError for unknown keys or values."""
        unknown = [k for k in spec if k not in ("property", "form", "interval")]
        if unknown:
            raise NetTrainError(
                "prop",
                f"unknown key {unknown[0]!r} in a custom history",
                expected='keys "property", "form", "interval"',
                received=repr(unknown[0]),
            )
        if "property" not in spec:
            raise NetTrainError(
                "prop",
                "a custom history needs a 'property'",
                expected='{"property": name or function, "form": "list", "interval": "batch"}',
                received=repr(dict(spec)),
            )
        prop = spec["property"]
        if isinstance(prop, str) and prop not in LIVE_PROPERTIES:
            raise NetTrainError(
                "prop",
                f"{prop!r} is not a live property",
                expected="one of " + ", ".join(LIVE_PROPERTIES) + ", or a function",
                received=repr(prop),
                hint=did_you_mean(prop, LIVE_PROPERTIES),
            )
        if not (isinstance(prop, str) or callable(prop)):
            raise NetTrainError(
                "prop", "a history's property must be a name or a function", received=describe(prop)
            )
        form = spec.get("form", "list")
        if form == "plot":
            raise NetTrainError(
                "prop",
                'the "plot" form of a history is not available in this version',
                expected='"list" or "transposed_list"',
                received='"plot"',
            )
        if form not in _FORMS:
            raise NetTrainError(
                "prop",
                "unknown history form",
                expected=" or ".join(map(repr, _FORMS)),
                received=describe(form),
            )
        interval = spec.get("interval", "round")
        if interval not in ("batch", "round"):
            interval = parse_seconds(interval, argument="prop")
        return cls(prop, form, interval)

    def notify(self, event: str, live: dict[str, Any]) -> None:
        due = (
            (self.every == "batch" and event == "batch_complete")
            or (self.every == "round" and event == "round_complete")
            or (isinstance(self.every, float) and event == "report")
        )
        if due:
            self.values.append(self.prop(live) if callable(self.prop) else live[self.prop])

    def result(self) -> list[Any]:
        if self.form == "transposed_list":
            return [list(column) for column in zip(*self.values, strict=True)]
        return list(self.values)
