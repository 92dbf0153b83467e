"""Learning-rate schedules: functions ``(batch, total_batches) -> multiplier``.

A schedule scales the method's learning rate during training, as NetTrain's
``"LearningRateSchedule"`` sub-option does: before update number ``batch`` (0-based: the number
of updates already done) of ``total`` planned updates, the learning rate of every parameter is
``learning_rate * multiplier * schedule(batch, total)``.

A schedule's values are multipliers from 0 to 1 (SPEC S1.3: ``f(batch, total) -> [0, 1]``). The
named schedules below stay in that interval by construction; a user's function is wrapped in
:class:`UserSchedule`, which refuses any other value (above 1, below 0, NaN, not a number) with
a :class:`~nettrain.errors.NetTrainError` naming the option, the batch and the total. The
updater calls a user's function at batches 0 and ``total - 1`` when it is built
(:func:`nettrain.optim.build_updater`), so a bad schedule is refused before any weight changes,
and again at every update.

Named schedules (``t`` = ``batch`` clamped to ``[0, T]``, ``T`` = ``total``, ``W`` = warm-up
steps, see :func:`warmup_steps`):

=============  ============================================================================
name           multiplier
=============  ============================================================================
"cosine"       ``0.5 * (1 + cos(pi * t / T))``; with ``warmup``: ``(t + 1) / W`` for
               ``t < W``, then ``0.5 * (1 + cos(pi * (t - W) / (T - W)))``
"linear"       ``1 - t / T`` (same warm-up rule)
"polynomial"   ``(1 - t / T) ** power``, ``power`` 2 (same warm-up rule)
"warmup"       ``(t + 1) / W`` for ``t < W`` (so from ``1 / W`` up to 1), then 1;
               ``fraction`` 0.05 of the batches
"one_cycle"    ``start + (1 - start) * t / W`` for ``t < W``, then cosine from 1 down to 0;
               ``fraction`` 0.3, ``start`` 0.04
=============  ============================================================================

Each named schedule is a small frozen dataclass: it is a value (it compares equal, prints its
parameters and has a ``name``), so the results can record exactly which schedule ran, and it
holds no state, so resuming a run only needs the update count.

A ``batch`` beyond ``total`` is clamped to ``total`` (training continued past the plan keeps the
final multiplier rather than climbing back up a cosine).

Example:
    >>> f = resolve_schedule(("polynomial", {"power": 3}))
    >>> f
    Polynomial(power=3.0, warmup=0.0)
    >>> f(5, 10)
    0.125
    >>> resolve_schedule("cosine")(50, 100)
    0.5
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from .errors import NetTrainError, describe, did_you_mean
from .scalars import as_real, is_bool

__all__ = [
    "Cosine",
    "Linear",
    "OneCycle",
    "Polynomial",
    "Schedule",
    "UserSchedule",
    "Warmup",
    "resolve_schedule",
    "schedule_name",
    "warmup_steps",
]

Schedule = Callable[[int, int], float]
"""The type of a schedule: ``(batch, total_batches) -> multiplier``."""


def warmup_steps(fraction: float, total: int) -> int:
    """The number of warm-up updates for a warm-up ``fraction`` of ``total`` updates.

    ``round(fraction * total)``, but at least 1 whenever ``fraction > 0`` (so a short run still
    warms up), and 0 for ``fraction == 0``. Rounding, not ``ceil``, because ``0.1 * 30`` is
    ``3.0000000000000004`` in floating point.

    >>> warmup_steps(0.05, 100), warmup_steps(0.05, 3), warmup_steps(0.0, 100)
    (5, 1, 0)
    """
    if fraction <= 0:
        return 0
    return max(1, round(fraction * total))


def _position(batch: int, total: int) -> tuple[int, int]:
    # A total below 1 would divide by zero; a batch outside [0, total] is clamped so that
    # continuing past the plan keeps the final value instead of extrapolating.
    big_t = max(int(total), 1)
    return min(max(int(batch), 0), big_t), big_t


def _phase(batch: int, total: int, fraction: float) -> tuple[int, int, float | None]:
    """``(t, W, p)``: the clamped update ``t``, the warm-up length ``W`` for ``fraction``, and
    ``p``: ``None`` during warm-up (``t < W``), else the fraction of the decay phase done, in
    ``[0, 1]``."""
    t, big_t = _position(batch, total)
    w = warmup_steps(fraction, big_t)
    if t < w:
        return t, w, None
    return t, w, min(1.0, (t - w) / max(1, big_t - w))


def _linear_warmup_then(
    decay: Callable[[float], float], batch: int, total: int, fraction: float
) -> float:
    """``(t + 1) / W`` during the warm-up, then ``decay(p)`` (``t``, ``W``, ``p`` as in
    :func:`_phase`)."""
    t, w, p = _phase(batch, total, fraction)
    return (t + 1) / w if p is None else decay(p)


def _cosine(p: float) -> float:
    # From 1 at the start of the decay (p = 0) down to 0 at its end (p = 1).
    return 0.5 * (1.0 + math.cos(math.pi * p))


class _Named:
    """Shared helpers of the named schedules (a mixin of methods only, no state)."""

    name: ClassVar[str]

    def __call__(self, batch: int, total: int) -> float:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A JSON-able description: ``{"name": ..., sub-option: value, ...}``."""
        out: dict[str, Any] = {"name": self.name}
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = getattr(self, f.name)
        return out


@dataclass(frozen=True)
class Cosine(_Named):
    """Cosine decay from 1 to 0: ``0.5 * (1 + cos(pi * t / T))``.

    Args:
        warmup: fraction of the updates spent warming up linearly first (default 0): for
            ``t < W`` the multiplier is ``(t + 1) / W``, then the cosine runs over the remaining
            ``T - W`` updates.

    >>> f = Cosine()
    >>> f(0, 100), f(50, 100), f(100, 100)
    (1.0, 0.5, 0.0)
    >>> g = Cosine(warmup=0.1)
    >>> g(0, 100), g(9, 100), g(10, 100)
    (0.1, 1.0, 1.0)
    """

    warmup: float = 0.0
    name: ClassVar[str] = "cosine"

    def __call__(self, batch: int, total: int) -> float:
        return _linear_warmup_then(_cosine, batch, total, self.warmup)


@dataclass(frozen=True)
class Linear(_Named):
    """Linear decay from 1 to 0: ``1 - t / T`` (optional linear ``warmup`` as in :class:`Cosine`).

    >>> Linear()(25, 100)
    0.75
    """

    warmup: float = 0.0
    name: ClassVar[str] = "linear"

    def __call__(self, batch: int, total: int) -> float:
        return _linear_warmup_then(lambda p: 1.0 - p, batch, total, self.warmup)


@dataclass(frozen=True)
class Polynomial(_Named):
    """Polynomial decay from 1 to 0: ``(1 - t / T) ** power``, ``power`` 2 by default.

    Optional linear ``warmup`` as in :class:`Cosine`.

    >>> Polynomial()(50, 100), Polynomial(power=1.0)(50, 100)
    (0.25, 0.5)
    """

    power: float = 2.0
    warmup: float = 0.0
    name: ClassVar[str] = "polynomial"

    def __call__(self, batch: int, total: int) -> float:
        return _linear_warmup_then(
            lambda p: float((1.0 - p) ** self.power), batch, total, self.warmup
        )


@dataclass(frozen=True)
class Warmup(_Named):
    """Linear warm-up, then constant: ``(t + 1) / W`` for ``t < W``, then 1.

    ``W = warmup_steps(fraction, T)``; ``fraction`` is 0.05 by default, so the multiplier climbs
    from ``1 / W`` to 1 over the first 5% of the updates.

    >>> f = Warmup()
    >>> [f(t, 100) for t in range(6)]
    [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    """

    fraction: float = 0.05
    name: ClassVar[str] = "warmup"

    def __call__(self, batch: int, total: int) -> float:
        return _linear_warmup_then(lambda p: 1.0, batch, total, self.fraction)


@dataclass(frozen=True)
class OneCycle(_Named):
    """One-cycle policy: linear warm-up from ``start`` to 1, then cosine down to 0.

    For ``t < W``: ``start + (1 - start) * t / W``; afterwards
    ``0.5 * (1 + cos(pi * (t - W) / (T - W)))``. ``W = warmup_steps(fraction, T)``;
    ``fraction`` 0.3 and ``start`` 0.04 (torch's ``OneCycleLR`` divides by 25) by default.

    >>> f = OneCycle()
    >>> f(0, 100), round(f(15, 100), 12), f(30, 100), f(65, 100), f(100, 100)
    (0.04, 0.52, 1.0, 0.5, 0.0)
    """

    fraction: float = 0.3
    start: float = 0.04
    name: ClassVar[str] = "one_cycle"

    def __call__(self, batch: int, total: int) -> float:
        t, w, p = _phase(batch, total, self.fraction)
        if p is None:
            return self.start + (1.0 - self.start) * t / w
        return _cosine(p)


@dataclass(frozen=True)
class UserSchedule:
    """A user's function ``f(batch, total) -> multiplier``, checked on every call.

    The return value must be a real number from 0 to 1 (NetTrain's rule: the schedule scales the
    learning rate down, never up; for a larger rate raise ``learning_rate`` itself). A Python or
    NumPy number, or a one-element tensor, is accepted and returned as a Python float. Anything
    else (a value above 1 or below 0, NaN, infinity, a string, ``None``, a bool, a tensor of
    several elements) raises :class:`~nettrain.errors.NetTrainError` naming ``argument``, the
    batch and the total, instead of letting a bad learning rate ruin the weights several steps
    later. :func:`~nettrain.optim.build_updater` also calls the function at batches 0 and
    ``total - 1`` before training, so a bad schedule is usually refused before any update.

    >>> f = UserSchedule(lambda b, n: 1 - b / n, "learning_rate_schedule")
    >>> f(1, 4)
    0.75
    >>> UserSchedule(lambda b, n: "fast", "learning_rate_schedule")(0, 4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nettrain.errors.NetTrainError: learning_rate_schedule: ... received str 'fast'.
    >>> UserSchedule(lambda b, n: 2.0, "method['learning_rate_schedule']")(3, 10)
    ... # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    nettrain.errors.NetTrainError: method['learning_rate_schedule']: the schedule returned a
    multiplier outside [0, 1] at batch 3 of 10; expected a number from 0 to 1, received 2.0.
    Fix: make the function return values from 0 to 1; the rate used is learning_rate * f(batch,
    total), so raise learning_rate for a larger rate.
    """

    function: Callable[[int, int], Any]
    argument: str = "learning_rate_schedule"

    @property
    def name(self) -> str:
        """The function's ``__name__`` (or its type's name for callable objects)."""
        return str(getattr(self.function, "__name__", type(self.function).__name__))

    def describe(self) -> dict[str, Any]:
        """A JSON-able description: ``{"name": function name}``."""
        return {"name": self.name}

    def __call__(self, batch: int, total: int) -> float:
        """The function's value at ``batch`` of ``total``, checked to be a number in [0, 1].

        A ``batch`` past the plan (a time goal that outlasts the estimated total) is clamped to
        ``total``, as for the named schedules: the run keeps the plan's final multiplier rather
        than asking the function about a batch it was not written for.

        Raises:
            NetTrainError: naming the argument, the batch and the total, for a value that is not
                one real number from 0 to 1.
        """
        batch = min(batch, total)
        value = self.function(batch, total)
        where = f"at batch {batch} of {total}"
        if is_bool(value) or isinstance(value, str | bytes) or not _has_float(value):
            raise NetTrainError(
                self.argument,
                f"the schedule returned something that is not a number {where}",
                expected=_UNIT_EXPECTED,
                received=describe(value),
            )
        number = as_real(value)
        if number is None:
            try:  # a 0-d or one-element tensor or array is one number
                number = float(value)
            except (TypeError, ValueError, RuntimeError):  # e.g. a tensor with several elements
                raise NetTrainError(
                    self.argument,
                    f"the schedule returned something that is not one number {where}",
                    expected=_UNIT_EXPECTED,
                    received=describe(value),
                ) from None
        if math.isnan(number):
            raise NetTrainError(
                self.argument,
                f"the schedule returned NaN {where}",
                expected=_UNIT_EXPECTED,
                received="nan",
                hint="check the function for a division by zero or a NaN input",
            )
        if not 0.0 <= number <= 1.0:
            raise NetTrainError(
                self.argument,
                f"the schedule returned a multiplier outside [0, 1] {where}",
                expected=_UNIT_EXPECTED,
                received=repr(number),
                hint="make the function return values from 0 to 1; the rate used is "
                "learning_rate * f(batch, total), so raise learning_rate for a larger rate",
            )
        return number


_UNIT_EXPECTED = "a number from 0 to 1"


def _has_float(value: object) -> bool:
    # Real numbers, and tensors or arrays that may hold exactly one (float() then decides).
    return isinstance(value, numbers.Real) or hasattr(value, "__float__")


_NAMED: dict[str, type[_Named]] = {
    cls.name: cls for cls in (Cosine, Linear, Polynomial, Warmup, OneCycle)
}

# (lower bound, upper bound or None, lower bound inclusive?) for every named sub-option.
_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "warmup": (0.0, 1.0, True),
    "fraction": (0.0, 1.0, True),
    "start": (0.0, 1.0, True),
    "power": (0.0, None, False),
}


def _normalise(name: str) -> str:
    # "OneCycle", "one-cycle", "One Cycle" all mean "one_cycle".
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[\s\-]+", "_", snake).lower()


def _check_sub_value(key: str, value: object, argument: str) -> float:
    low, high, inclusive = _RANGES[key]
    where = f"{argument}['{key}']"
    number = as_real(value)
    if number is None:
        raise NetTrainError(
            where, "must be a number", expected="a number", received=describe(value)
        )
    too_low = number < low if inclusive else number <= low
    if not math.isfinite(number) or too_low or (high is not None and number > high):
        bound = ">=" if inclusive else ">"
        expected = f"a number {bound} {low:g}" + ("" if high is None else f" and <= {high:g}")
        raise NetTrainError(where, "value out of range", expected=expected, received=repr(value))
    return number


def _named(name: str, options: Mapping[Any, Any], argument: str) -> _Named:
    key = _normalise(name)
    cls = _NAMED.get(key)
    if cls is None:
        raise NetTrainError(
            argument,
            f"unknown schedule {name!r} ({did_you_mean(key, _NAMED)})",
            expected="a function f(batch, total) or one of " + ", ".join(map(repr, _NAMED)),
            received=repr(name),
        )
    allowed = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values: dict[str, float] = {}
    for raw_key, value in options.items():
        sub = _normalise(raw_key) if isinstance(raw_key, str) else raw_key
        if sub not in allowed:
            raise NetTrainError(
                argument,
                f"unknown sub-option {raw_key!r} of schedule {key!r} "
                f"({did_you_mean(str(sub), allowed)})",
                expected="one of " + ", ".join(map(repr, allowed)),
                received=repr(raw_key),
            )
        values[sub] = _check_sub_value(sub, value, argument)
    return cls(**values)


def resolve_schedule(spec: object, argument: str = "learning_rate_schedule") -> Schedule | None:
    """Turn a user's schedule specification into a schedule, or ``None`` for no schedule.

    Args:
        spec: ``None``; a callable ``f(batch, total) -> multiplier``; a schedule name
            ("cosine", "linear", "polynomial", "warmup", "one_cycle"; case and ``-``/space
            insensitive, CamelCase accepted); or ``(name, {sub-option: value})``, e.g.
            ``("polynomial", {"power": 3})``, ``("warmup", {"fraction": 0.1})``,
            ``("cosine", {"warmup": 0.05})``, ``("one_cycle", {"fraction": 0.25, "start": 0.1})``.
        argument: the option's name, used in error messages.

    Returns:
        A callable ``(batch, total) -> float`` (a named schedule dataclass, or the user's
        function wrapped in :class:`UserSchedule`), or ``None``.

    Raises:
        NetTrainError: for an unknown name or sub-option (with a close-match suggestion), a
            sub-option out of range, a function that cannot take two arguments, or a spec of
            another type.

    Example:
        >>> resolve_schedule(None) is None
        True
        >>> resolve_schedule("OneCycle")
        OneCycle(fraction=0.3, start=0.04)
        >>> resolve_schedule("cosin")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nettrain.errors.NetTrainError: learning_rate_schedule: unknown schedule 'cosin' (did you ...
    """
    if spec is None:
        return None
    if isinstance(spec, _Named | UserSchedule):
        return spec
    if isinstance(spec, str):
        return _named(spec, {}, argument)
    if (
        isinstance(spec, Sequence)
        and len(spec) == 2
        and isinstance(spec[0], str)
        and isinstance(spec[1], Mapping)
    ):
        return _named(spec[0], spec[1], argument)
    if callable(spec):
        try:
            inspect.signature(spec).bind(0, 1)
        except TypeError:
            raise NetTrainError(
                argument,
                "the schedule function cannot be called as f(batch, total)",
                expected="a function of two arguments (batch, total_batches)",
                received=describe(spec),
            ) from None
        except ValueError:  # some builtins have no signature; the first call will tell
            pass
        return UserSchedule(spec, argument)
    raise NetTrainError(
        argument,
        "cannot read this schedule",
        expected="None, a function f(batch, total), a name such as 'cosine', "
        "or (name, {sub-options})",
        received=describe(spec),
    )


def schedule_name(spec: object) -> object:
    """A JSON-able description of a schedule spec, for results and logs.

    ``None`` stays ``None``; a named schedule gives ``{"name": ..., sub-options}``; a function
    gives its name.

    >>> schedule_name(("polynomial", {"power": 3}))
    {'name': 'polynomial', 'power': 3.0, 'warmup': 0.0}
    >>> def halve(batch, total):
    ...     return 0.5
    >>> schedule_name(halve)
    'halve'
    """
    schedule = resolve_schedule(spec)
    if schedule is None:
        return None
    if isinstance(schedule, UserSchedule):
        return schedule.name
    if isinstance(schedule, _Named):
        return schedule.describe()
    return str(getattr(schedule, "name", schedule))
