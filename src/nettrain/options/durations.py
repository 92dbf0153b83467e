"""Parsing of user time and interval forms: ``90``, ``"90 s"``, ``"5 min"``, ``"2 rounds"``.

Example:
    >>> parse_seconds("5 min", argument="time_goal")
    300.0
    >>> parse_interval("500 batches", argument="validation_set")
    Interval(amount=500.0, unit='batches')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import NetTrainError

__all__ = ["Interval", "parse_interval", "parse_seconds"]

_SECONDS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_COUNTS = {
    "round": "rounds",
    "rounds": "rounds",
    "batch": "batches",
    "batches": "batches",
}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]+)\s*$")


@dataclass(frozen=True)
class Interval:
    """How often something happens: ``amount`` of ``unit`` ("seconds", "rounds", "batches")."""

    amount: float
    unit: str


def _split(text: str, argument: str, expected: str) -> tuple[float, str]:
    match = _PATTERN.match(text)
    if not match:
        raise NetTrainError(
            argument,
            "could not read this duration",
            expected=expected,
            received=repr(text),
            hint='write a number followed by a unit, e.g. "90 s" or "5 min"',
        )
    return float(match.group(1)), match.group(2).lower()


def parse_seconds(value: object, *, argument: str) -> float:
    """Read a time span given as seconds (int/float) or a string with a unit; return seconds."""
    expected = 'a positive number of seconds or a string like "90 s", "5 min", "2 h"'
    if isinstance(value, bool):
        raise NetTrainError(argument, "is not a duration", expected=expected, received=repr(value))
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        amount, unit = _split(value, argument, expected)
        if unit not in _SECONDS:
            raise NetTrainError(
                argument, f"unknown time unit {unit!r}", expected=expected, received=repr(value)
            )
        seconds = amount * _SECONDS[unit]
    else:
        raise NetTrainError(
            argument, "is not a duration", expected=expected, received=type(value).__name__
        )
    if not (seconds > 0 and math.isfinite(seconds)):
        raise NetTrainError(
            argument, "must be positive and finite", expected=expected, received=repr(value)
        )
    return seconds


def parse_interval(value: object, *, argument: str) -> Interval:
    """Read an interval in rounds, batches or time: ``"2 rounds"``, ``"500 batches"``, ``"30 s"``.

    A bare number means rounds.
    """
    expected = 'a number of rounds, or a string like "2 rounds", "500 batches", "30 s"'
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise NetTrainError(
                argument, "must be positive", expected=expected, received=repr(value)
            )
        return Interval(float(value), "rounds")
    if not isinstance(value, str):
        raise NetTrainError(
            argument, "is not an interval", expected=expected, received=type(value).__name__
        )
    amount, unit = _split(value, argument, expected)
    if unit in _COUNTS:
        if amount <= 0:
            raise NetTrainError(
                argument, "must be positive", expected=expected, received=repr(value)
            )
        return Interval(amount, _COUNTS[unit])
    return Interval(parse_seconds(value, argument=argument), "seconds")
