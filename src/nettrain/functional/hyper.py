"""The hyperparameters of the stateless updates: names (MATLAB's too), defaults and ranges.

Example:
    >>> read_hyper("sgdm_update", {"learnRate": 0.1}, (LEARNING_RATE, MOMENTUM))
    {'learning_rate': 0.1, 'momentum': 0.9}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean
from ..scalars import as_real

__all__ = [
    "EPSILON",
    "GRADIENT_DECAY",
    "LEARNING_RATE",
    "MOMENTUM",
    "RATE_NAMES",
    "SQUARED_DECAY",
    "WEIGHT_DECAY",
    "Hyper",
    "read_hyper",
]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its name, default, MATLAB's other names, and its allowed range."""

    name: str
    default: float
    aliases: tuple[str, ...] = ()
    low: float = 0.0
    high: float = math.inf
    high_open: bool = False

    def read(self, value: object, method: str) -> float:
        number = float(value) if isinstance(value, Tensor) and value.numel() == 1 else None
        number = as_real(value) if number is None else number
        interval = f"a number in [{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if math.isinf(self.high):
            interval = f"a finite number >= {self.low:g}"
        if number is None:
            raise NetTrainError(
                f"{method}: {self.name}",
                "must be a number",
                expected=interval,
                received=describe(value),
            )
        above_high = number >= self.high if self.high_open else number > self.high
        if not math.isfinite(number) or number < self.low or above_high:
            raise NetTrainError(
                f"{method}: {self.name}",
                "is out of range",
                expected=interval,
                received=repr(value),
            )
        return number


RATE_NAMES = ("learn_rate", "initial_learn_rate", "lr")
LEARNING_RATE = Hyper("learning_rate", 0.001, RATE_NAMES)
GRADIENT_DECAY = Hyper(
    "gradient_decay",
    0.9,
    ("grad_decay", "gradient_decay_factor", "beta1"),
    high=1.0,
    high_open=True,
)
SQUARED_DECAY = Hyper(
    "squared_gradient_decay",
    0.999,
    ("sq_grad_decay", "squared_gradient_decay_factor", "beta2"),
    high=1.0,
    high_open=True,
)
EPSILON = Hyper("epsilon", 1e-8, ("eps",), low=0.0)
MOMENTUM = Hyper("momentum", 0.9, (), high=1.0, high_open=True)
WEIGHT_DECAY = Hyper("weight_decay", 0.0, ("l2_regularization",))


def read_hyper(
    method: str, given: Mapping[str, object], specs: tuple[Hyper, ...]
) -> dict[str, float]:
    """The hyperparameters of one call: each canonical or MATLAB name once, every value checked."""
    by_name: dict[str, Hyper] = {}
    for spec in specs:
        for name in (spec.name, *spec.aliases):
            by_name[name] = spec
    values: dict[str, float] = {}
    seen: dict[str, str] = {}
    for key, value in given.items():
        found = by_name.get(_snake(key))
        if found is None:
            raise NetTrainError(
                method,
                f"unknown hyperparameter {key!r}",
                expected=", ".join(s.name for s in specs),
                received=repr(key),
                hint=did_you_mean(_snake(key), list(by_name)),
            )
        if found.name in seen:
            raise NetTrainError(
                method,
                f"{found.name} is given twice, as {seen[found.name]!r} and as {key!r}",
                expected="each hyperparameter once",
                received=f"{seen[found.name]}=..., {key}=...",
            )
        seen[found.name] = key
        values[found.name] = found.read(value, method)
    for spec in specs:
        values.setdefault(spec.name, spec.default)
    return values
