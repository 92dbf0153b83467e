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
from ..scalars import as_real, is_bool

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
    """Read a time span given as seconds or as a string with a unit; return seconds.

    Args:
        value: a number of seconds (a Python or NumPy int or float, not a bool), or a string
            ``"<number> <unit>"`` with unit s/sec/second(s), m/min/minute(s) or h/hr/hour(s).
        argument: the option's name, for error messages.

    Returns:
        The seconds, a positive finite Python float.

    Raises:
        NetTrainError: naming ``argument``, for a bool, another type, an unknown unit or a
            value that is not positive and finite.

    >>> import numpy as np
    >>> parse_seconds(np.int64(30), argument="time_goal"), parse_seconds("2 h", argument="x")
    (30.0, 7200.0)
    """
    expected = 'a positive number of seconds or a string like "90 s", "5 min", "2 h"'
    if is_bool(value):
        raise NetTrainError(argument, "is not a duration", expected=expected, received=repr(value))
    number = as_real(value)
    if number is not None:
        seconds = number
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

    Args:
        value: a bare number of rounds (a Python or NumPy int or float, not a bool), or a
            string with a unit: round(s), batch(es), or a time unit as in
            :func:`parse_seconds`.
        argument: the option's name, for error messages.

    Returns:
        The :class:`Interval`, its ``amount`` a Python float.

    Raises:
        NetTrainError: naming ``argument``, for a value of another type, an unknown unit or an
            amount that is not positive.

    >>> import numpy as np
    >>> parse_interval(np.int32(2), argument="validation_set")
    Interval(amount=2.0, unit='rounds')
    """
    expected = 'a number of rounds, or a string like "2 rounds", "500 batches", "30 s"'
    amount = as_real(value)
    if amount is not None:
        if not amount > 0:  # also refuses NaN
            raise NetTrainError(
                argument, "must be positive", expected=expected, received=repr(value)
            )
        return Interval(amount, "rounds")
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
