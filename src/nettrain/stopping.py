"""``training_stopping_criterion``: when to stop because training no longer improves (S2.3).

A criterion watches one measurement ("loss", "error_rate", "accuracy", ...) in its own
direction, or calls a function. Each check is one validation (or one round without a
validation set). The rules, NetTrain's:

- a check *improves* when the value beats the best so far by more than ``absolute_change``
  (or ``relative_change`` times the best); the first check always improves;
- the first ``initial_patience`` checks are not watched at all (the net may start badly);
- training stops when more than ``patience`` consecutive checks did not improve;
- a function criterion gets the latest round loss and measurements and validation loss and
  measurements, and returns True for "this check did not improve" (with patience 0: stop now).

Example:
    >>> c = parse_criterion({"criterion": "loss", "patience": 1}, directions={"loss": "decreasing"})
    >>> tracker = StoppingTracker(c)
    >>> [tracker.check({"loss": v}) for v in (1.0, 0.8, 0.9, 0.85)]
    [False, False, False, True]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import NetTrainError, describe, did_you_mean
from .scalars import as_int, as_real

__all__ = ["StoppingCriterion", "StoppingTracker", "improves", "parse_criterion"]

_KEYS = ("criterion", "patience", "initial_patience", "absolute_change", "relative_change")


@dataclass(frozen=True)
class StoppingCriterion:
    """A resolved criterion: a measurement ``key`` with its ``direction``, or a ``function``."""

    key: str | None
    direction: str
    function: Callable[[dict[str, Any]], Any] | None = None
    patience: int = 0
    initial_patience: int = 0
    absolute_change: float = 0.0
    relative_change: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "criterion": self.key
            if self.function is None
            else getattr(self.function, "__name__", "function"),
            "direction": self.direction,
            "patience": self.patience,
            "initial_patience": self.initial_patience,
            "absolute_change": self.absolute_change,
            "relative_change": self.relative_change,
        }


def _count(spec: Mapping[str, Any], name: str) -> int:
    value = spec.get(name, 0)
    count = as_int(value)  # NumPy integers become ints; floats and bools are refused
    if count is None or count < 0:
        raise NetTrainError(
            f"training_stopping_criterion[{name!r}]",
            "must be a whole number of checks >= 0",
            expected="an int >= 0",
            received=describe(value),
        )
    return count


def _change(spec: Mapping[str, Any], name: str, upper: float) -> float | None:
    if name not in spec:
        return None
    value = spec[name]
    number = as_real(value)
    if number is None or not (0 <= number < upper):
        bound = "a number >= 0" if upper == math.inf else "a fraction in [0, 1)"
        raise NetTrainError(
            f"training_stopping_criterion[{name!r}]",
            "out of range",
            expected=bound,
            received=describe(value),
        )
    return number


def parse_criterion(spec: object, *, directions: Mapping[str, str | None]) -> StoppingCriterion:
    """Read ``training_stopping_criterion``.

    Args:
        spec: "loss", a measurement key, a function, or a dict with "criterion" and the
            sub-options patience, initial_patience, absolute_change / relative_change.
        directions: the available measurement keys and their directions ("increasing" /
            "decreasing"; None for values that are not scalars).

    Raises:
        NetTrainError: for an unknown key, a non-scalar measurement, bad sub-options, or both
            absolute_change and relative_change.
    """
    sub: Mapping[str, Any] = {}
    if isinstance(spec, Mapping):
        unknown = [k for k in spec if k not in _KEYS]
        if unknown:
            raise NetTrainError(
                "training_stopping_criterion",
                f"unknown sub-option {unknown[0]!r}",
                expected=", ".join(_KEYS),
                received=repr(unknown[0]),
                hint=did_you_mean(str(unknown[0]), _KEYS),
            )
        if "criterion" not in spec:
            raise NetTrainError(
                "training_stopping_criterion",
                "the dict form needs a 'criterion'",
                expected='{"criterion": "loss" or a measurement or a function, ...}',
                received=repr(dict(spec)),
            )
        sub, spec = spec, spec["criterion"]
    if "absolute_change" in sub and "relative_change" in sub:
        raise NetTrainError(
            "training_stopping_criterion",
            "give absolute_change or relative_change, not both",
            received="both",
        )
    common = {
        "patience": _count(sub, "patience"),
        "initial_patience": _count(sub, "initial_patience"),
        "absolute_change": _change(sub, "absolute_change", math.inf) or 0.0,
        "relative_change": _change(sub, "relative_change", 1.0),
    }
    if callable(spec) and not isinstance(spec, str):
        return StoppingCriterion(None, "decreasing", spec, **common)  # type: ignore[arg-type]
    if spec == "auto":
        spec = "loss"
    if not isinstance(spec, str) or spec not in directions:
        raise NetTrainError(
            "training_stopping_criterion",
            f"unknown criterion {spec!r}",
            expected='"loss", a measured key (' + ", ".join(map(repr, directions)) + ") or a "
            "function",
            received=describe(spec),
            hint="add the measurement to training_progress_measurements, or "
            + (did_you_mean(spec, directions) if isinstance(spec, str) else "use a name"),
        )
    direction = directions[spec]
    if direction is None:
        raise NetTrainError(
            "training_stopping_criterion",
            f"{spec!r} is not a single number",
            expected="a scalar measurement (use class_averaging 'macro' or 'micro' for "
            "per-class measurements)",
            received=repr(spec),
        )
    return StoppingCriterion(spec, direction, None, **common)  # type: ignore[arg-type]


def improves(value: float, best: float | None, criterion: StoppingCriterion) -> bool:
    """Whether ``value`` beats ``best`` by more than the criterion's required change."""
    if best is None:
        return True
    if not math.isfinite(value):
        return False
    margin = criterion.absolute_change
    if criterion.relative_change is not None:
        margin = criterion.relative_change * abs(best)
    if criterion.direction == "increasing":
        return value > best + margin
    return value < best - margin


class StoppingTracker:
    """Counts checks without improvement; ``check(values) -> True`` means stop now."""

    def __init__(self, criterion: StoppingCriterion) -> None:
        self.criterion = criterion
        self.best: float | None = None
        self.checks = 0
        self.bad = 0

    def check(self, values: Mapping[str, Any]) -> bool:
        c = self.criterion
        self.checks += 1
        if self.checks <= c.initial_patience:
            return False  # grace period: not watched at all, as Keras' start_from_epoch
        if c.function is not None:
            said = c.function(dict(values))
            no_improvement = said is True
        else:
            value = float(values[c.key])  # type: ignore[index]
            no_improvement = not improves(value, self.best, c)
            if not no_improvement:
                self.best = value
        self.bad = self.bad + 1 if no_improvement else 0
        return self.bad > c.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "checks": self.checks, "bad": self.bad}

    def load_state_dict(self, data: Mapping[str, Any]) -> None:
        self.best, self.checks, self.bad = data["best"], data["checks"], data["bad"]
