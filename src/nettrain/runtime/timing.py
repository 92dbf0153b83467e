"""Timing alternatives against each other on a machine whose speed drifts.

The automatic choices (threads, memory layout, precision) each compare the seconds of a training
step done two ways. Timed one after the other, a comparison reads the machine's drift as a
difference between the ways: on this project's shared 2-core VM the same step timed a second
apart differed by 20-30%, and channels_last (1.3x faster for the small CNN, measured in a
steady run) was sometimes timed slower than the plain layout and refused. So the ways are timed
in an ABBA order (each forward, then each backward) and each way's seconds are the mean of its
passes: a drift that is steady over the sequence then weighs on every way alike. (A short
interruption is already absorbed by each timing, the median of many steps.)

Example:
    >>> seconds = iter([1.0, 0.5, 0.7, 1.2])  # a, b, then b, a
    >>> interleaved_seconds({"a": lambda: next(seconds), "b": lambda: next(seconds)})
    {'a': 1.1, 'b': 0.6}
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

__all__ = ["PASSES", "interleaved_seconds"]

PASSES = 2  # forward then backward: ABBA for two ways

Key = TypeVar("Key", bound=Hashable)


def interleaved_seconds(
    timers: Mapping[Key, Callable[[], float]],
    passes: int = PASSES,
    stop_after: Callable[[Key, float], bool] | None = None,
) -> dict[Key, float]:
    """Each way's mean seconds over ``passes`` passes, the order reversed on every other pass.

    ``stop_after(key, seconds)`` True after the first way's first timing ends the timing there:
    that way alone is returned (for a step so slow that the alternatives need no timing).
    """
    keys = list(timers)
    timings: dict[Key, list[float]] = {key: [] for key in keys}
    for number in range(passes):
        for key in keys if number % 2 == 0 else reversed(keys):
            seconds = timers[key]()
            timings[key].append(seconds)
            first = number == 0 and key == keys[0]
            if first and stop_after is not None and stop_after(key, seconds):
                return {key: seconds}
    return {key: sum(values) / len(values) for key, values in timings.items()}
