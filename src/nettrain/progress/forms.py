"""The forms of ``training_progress_reporting`` (and of a ``ProgressMonitor``'s ``reporting``),
read into :class:`ReportSpec` values before training starts.

========================================  ====================================================
``"auto"`` (default)                      a live panel in a notebook or on a terminal, plain
                                          lines when the output is not a terminal or ``CI``
                                          is set
``"panel"``                               the live panel (terminal or notebook)
``"print"``                               a plain line every 2 s
``"progress_bar"``                        one live line with a bar
``"log.csv"``, ``".tsv"``, ``".jsonl"``   one row per report into that file (every round)
``"tensorboard"``                         TensorBoard scalars (every round), the extra
                                          ``nettrain[tensorboard]``
a function ``f(live)``                    called with the live properties (every 2 s)
``None`` or ``"none"``                    nothing
a list of forms                           each of them
``(form, {"interval": ..., ...})``        at another pace: seconds (``5``, ``"5 s"``),
                                          ``"2 rounds"``, ``"100 batches"`` or ``"10%"``;
                                          ``"minimum_interval"``: at least that many seconds
                                          between two reports; ``"log_dir"`` for TensorBoard
========================================  ====================================================

Example:
    >>> parse_reporting(["print", ("run.csv", {"interval": "1 round"})])  # doctest: +ELLIPSIS
    (ReportSpec(form='print', ...), ReportSpec(form='file', target='run.csv', ...))
    >>> parse_reporting(("print", {"interval": "10%"}))[0].every
    Interval(amount=10.0, unit='percent')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NetTrainError, describe, did_you_mean
from ..options.durations import Interval, parse_interval, parse_seconds
from ..scalars import as_real

__all__ = ["FORMS", "ReportSpec", "parse_reporting"]

_EVERY_2_S = Interval(2.0, "seconds")
FORMS = ("auto", "panel", "print", "progress_bar", "tensorboard")
_ALIASES = {"progressbar": "progress_bar", "progress bar": "progress_bar", "bar": "progress_bar"}
LOG_SUFFIXES = (".csv", ".tsv", ".jsonl")
# How often each form reports unless told: a live panel or bar redraws a few times a second; a
# file or TensorBoard gets one row per round (rows that line up with the result's lists).
_DEFAULT_EVERY = {
    "auto": Interval(2.0, "seconds"),  # resolved when training starts; see reporters.py
    "print": Interval(2.0, "seconds"),
    "panel": Interval(0.25, "seconds"),
    "progress_bar": Interval(0.25, "seconds"),
    "file": Interval(1.0, "rounds"),
    "tensorboard": Interval(1.0, "rounds"),
    "callable": Interval(2.0, "seconds"),
}
_SUB_OPTIONS = ("interval", "minimum_interval", "log_dir")
EXPECTED = (
    '"auto", "panel", "print", "progress_bar", "tensorboard", a log file path ending in .csv, '
    '.tsv or .jsonl, a function f(live), None, a list of these, or (form, {"interval": ..., '
    '"minimum_interval": ...})'
)


@dataclass(frozen=True)
class ReportSpec:
    """One reporting form, read.

    Attributes:
        form: "auto", "panel", "print", "progress_bar", "file", "tensorboard" or "callable".
        target: the file path (str), TensorBoard's log_dir (or None), or the function.
        every: how often it reports: seconds, rounds, batches or percent of the run.
        minimum: at least this many seconds between two reports (None: no limit).
    """

    form: str
    target: Any = None
    every: Interval = _EVERY_2_S
    minimum: float | None = None


def _interval(value: object, argument: str) -> Interval:
    """A reporting interval: a bare number is seconds (as it always was for reporting)."""
    if as_real(value) is not None:
        return Interval(parse_seconds(value, argument=argument), "seconds")
    if isinstance(value, str):
        text = value.strip().lower()
        for unit in ("%", "percent"):
            if text.endswith(unit):
                amount = as_real(_number(text[: -len(unit)], value, argument))
                if amount is None or not 0 < amount <= 100:
                    raise NetTrainError(
                        argument,
                        "a percentage of the run must be in (0, 100]",
                        received=repr(value),
                    )
                return Interval(amount, "percent")
        text = {"round": "1 rounds", "batch": "1 batches"}.get(text, text)
    every = parse_interval(text if isinstance(value, str) else value, argument=argument)
    if every.unit != "seconds" and not every.amount.is_integer():
        raise NetTrainError(
            argument,
            f"an interval in {every.unit} must be a whole number",
            expected='whole rounds or batches, a time like "0.5 s", or a percentage "10%"',
            received=repr(value),
        )
    return every


def _number(text: str, value: object, argument: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise NetTrainError(
            argument, "could not read this percentage", expected='e.g. "10%"', received=repr(value)
        ) from None


def _one(value: object, options: Mapping[Any, object], argument: str) -> ReportSpec:
    """One form with its sub-options."""
    target: Any = None
    if callable(value) and not isinstance(value, str | os.PathLike):
        form, target = "callable", value
    elif isinstance(value, os.PathLike) or (
        isinstance(value, str) and Path(value).suffix.lower() in LOG_SUFFIXES
    ):
        form, target = "file", os.fspath(value)
        if Path(target).suffix.lower() not in LOG_SUFFIXES:
            raise NetTrainError(
                argument,
                "a log file's name must end in .csv, .tsv or .jsonl (its format)",
                received=repr(target),
            )
    elif isinstance(value, str):
        key = value.strip().lower()
        form = _ALIASES.get(key, key.replace(" ", "_"))
        if form not in FORMS:
            raise NetTrainError(
                argument,
                f"unknown reporting form {value!r}",
                expected=EXPECTED,
                received=repr(value),
                hint=did_you_mean(key, [*FORMS, "none"]),
            )
    else:
        raise NetTrainError(argument, "unknown reporting form", expected=EXPECTED,
                            received=describe(value))  # fmt: skip
    unknown = [k for k in options if k not in _SUB_OPTIONS or (k == "log_dir" and form !=
                                                                "tensorboard")]  # fmt: skip
    if unknown:
        raise NetTrainError(
            argument,
            f"unknown sub-option {unknown[0]!r}",
            expected='{"interval": ..., "minimum_interval": seconds}'
            + (', and "log_dir"' if form == "tensorboard" else ""),
            received=repr(unknown[0]),
            hint=did_you_mean(str(unknown[0]), list(_SUB_OPTIONS)),
        )
    every = _DEFAULT_EVERY[form]
    if "interval" in options:
        every = _interval(options["interval"], f"{argument}['interval']")
    minimum = None
    if options.get("minimum_interval") is not None:
        minimum = parse_seconds(
            options["minimum_interval"], argument=f"{argument}['minimum_interval']"
        )
    if form == "tensorboard":
        target = options.get("log_dir")
        if target is not None and not isinstance(target, str | os.PathLike):
            raise NetTrainError(
                f"{argument}['log_dir']", "must be a folder path", received=describe(target)
            )
        target = None if target is None else os.fspath(target)
    return ReportSpec(form, target, every, minimum)


def parse_reporting(
    value: object, argument: str = "training_progress_reporting"
) -> tuple[ReportSpec, ...]:
    """Read a reporting option into its forms (none for None; see the module docstring).

    Raises:
        NetTrainError: an unknown form (with the closest names), sub-option or interval.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return ()
    if isinstance(value, list):
        return tuple(spec for item in value for spec in parse_reporting(item, argument))
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Mapping):
        form, options = value
        if form is None or (isinstance(form, str) and form.strip().lower() == "none"):
            return ()
        return (_one(form, options, argument),)
    return (_one(value, {}, argument),)
