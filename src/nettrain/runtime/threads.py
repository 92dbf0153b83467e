"""How many CPU threads a training step uses: measured per net, set only while training runs.

torch runs each CPU operation on ``torch.get_num_threads()`` threads (one per core by default).
For a small net the work of one operation is too little to share: the threads spend longer
waiting for each other than computing, and when another process holds a core, every operation
waits for the thread that lost it. On this project's 2-core machine the Digits MLP trains at
112,000 examples/s on 1 thread and 92,000 on 2, and with one other busy process at 97,000 on 1
thread against 24,000 on 2; a small convnet, on the other hand, is 1.7x faster on 2 threads.
So the count is not guessed from the net: steps are timed at the current count and at fewer
(halving down to 1), and the fastest is used, preferring fewer threads unless more are at least
5% faster. The choice never exceeds the caller's own setting, and it holds only inside
:func:`intra_op_threads`, which puts the caller's setting back however training ends.

Example:
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with intra_op_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    >>> thread_candidates(8)
    [8, 4, 2, 1]
    >>> fastest_threads({4: 0.006, 2: 0.0098, 1: 0.012})  # 4 threads clearly fastest
    4
    >>> fastest_threads({2: 0.0098, 1: 0.010})  # 2% faster is not enough to take a second thread
    1
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch

from .timing import interleaved_seconds

__all__ = [
    "SWITCH_MARGIN",
    "choose_threads",
    "fastest_threads",
    "intra_op_threads",
    "thread_candidates",
]

SWITCH_MARGIN = 0.05  # more threads must be this much faster to be chosen
SLOW_STEP_SECONDS = 0.1  # a step this long has enough work per operation to share: keep them all


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    if count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def thread_candidates(current: int) -> list[int]:
    """The counts worth timing: ``current``, then halving down to 1."""
    counts = [max(1, current)]
    while counts[-1] > 1:
        counts.append(counts[-1] // 2)
    return counts


def fastest_threads(seconds: Mapping[int, float]) -> int:
    """The count to use given each count's seconds per step: the fewest threads, unless more are
    at least :data:`SWITCH_MARGIN` faster than the best so far.

    Fewer threads win ties because a step timed alone understates what they cost in the loop
    (measurements and validation run on them too) and on a shared machine (a thread that loses
    its core stalls every operation), and they leave cores to the rest of the machine.
    """
    counts = sorted(seconds)
    best = counts[0]
    for count in counts[1:]:
        if seconds[count] < seconds[best] * (1 - SWITCH_MARGIN):
            best = count
    return best


def choose_threads(time_step: Callable[[], float], current: int) -> tuple[int, float]:
    """Time a step at each candidate count (``time_step`` returns seconds per step under the
    count in force) and return ``(count, seconds per step at that count)``.

    The counts are timed in turn, then again in the reverse order, and each keeps its fastest
    time (:func:`~nettrain.runtime.timing.interleaved_seconds`): a machine whose speed drifts
    would otherwise choose by the drift. A step slower than :data:`SLOW_STEP_SECONDS` at
    ``current`` threads is not retimed: its operations are large enough that sharing them pays.
    """

    def under(count: int) -> Callable[[], float]:
        def timed() -> float:
            with intra_op_threads(count):
                return time_step()

        return timed

    seconds = interleaved_seconds(
        {count: under(count) for count in thread_candidates(current)},
        stop_after=lambda count, took: took > SLOW_STEP_SECONDS,
    )
    best = fastest_threads(seconds)
    return best, seconds[best]
