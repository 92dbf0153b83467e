"""Every automatic choice nettrain makes about batch size and training length, in one place.

The rules are NetTrain's (see ``shared/reference/mission-anchors.md`` §1.5-1.6), written as pure
functions of measured figures so they can be tested with injected numbers:

- batch size: a linear memory model (target 80% of free memory on the CPU, 90% on a GPU, at least
  100 MB), capped so one step takes at most 2 s (rounded down to a multiple of 4), at most 64, and
  never more than the number of training examples;
- rounds: about 20 s of training from the timed step, at least 1, at most 10,000 (the loop
  refits the count to the measured rounds: see ``LoopPlan.rounds_time_target``).

Example:
    >>> choose_batch_size(per_example_bytes=10_000, fixed_bytes=1_000_000,
    ...                   available_bytes=8 * 2**30, seconds_at_batch_1=0.001,
    ...                   num_examples=60_000, device_type="cpu")
    64
    >>> choose_rounds(seconds_per_batch=0.002, batches_per_round=938)
    11
"""

from __future__ import annotations

import math

__all__ = [
    "MAX_AUTO_BATCH_SIZE",
    "MAX_AUTO_ROUNDS",
    "TARGET_TRAINING_SECONDS",
    "choose_batch_size",
    "choose_batches",
    "choose_rounds",
]

MAX_AUTO_BATCH_SIZE = 64
MAX_AUTO_ROUNDS = 10_000
TARGET_TRAINING_SECONDS = 20.0
MAX_SECONDS_PER_BATCH = 2.0
WHOLE_ROUNDS_FROM = 4  # fewer automatic rounds than this are counted in batches (a schedule's)
MIN_MEMORY_TARGET = 100 * 2**20
MEMORY_FRACTION = {"cpu": 0.8, "cuda": 0.9}


def memory_limited_batch(
    per_example_bytes: int, fixed_bytes: int, available_bytes: int, device_type: str
) -> int:
    """The largest batch the linear memory model allows (>= 1; 1 even if it does not fit)."""
    target = max(MEMORY_FRACTION.get(device_type, 0.8) * available_bytes, MIN_MEMORY_TARGET)
    return max(1, math.ceil((target - fixed_bytes) / (per_example_bytes + 1)))


def time_limited_batch(seconds_at_batch_1: float) -> int:
    """The batch size at which one step would take about 2 s, as a multiple of 4 (>= 1)."""
    if seconds_at_batch_1 <= 0:
        return MAX_AUTO_BATCH_SIZE
    n = math.ceil(MAX_SECONDS_PER_BATCH / seconds_at_batch_1)
    return max(1, (n // 4) * 4)


def choose_batch_size(
    *,
    per_example_bytes: int,
    fixed_bytes: int,
    available_bytes: int,
    seconds_at_batch_1: float,
    num_examples: int | None,
    device_type: str,
) -> int:
    """NetTrain's automatic batch size.

    Args:
        per_example_bytes: memory that grows with the batch, per example (activations saved for
            backward, inputs, outputs), measured at batch size 1.
        fixed_bytes: memory that does not grow with the batch (weights, gradients, optimizer state).
        available_bytes: free memory on the device.
        seconds_at_batch_1: time of one forward + backward pass at batch size 1.
        num_examples: training examples (None for a stream of unknown length).
        device_type: "cpu" or "cuda".

    Returns:
        ``clip(min(memory limit, 2 s limit), 1, 64)``, and never more than ``num_examples``.
    """
    n = min(
        memory_limited_batch(per_example_bytes, fixed_bytes, available_bytes, device_type),
        time_limited_batch(seconds_at_batch_1),
        MAX_AUTO_BATCH_SIZE,
    )
    if num_examples is not None:
        n = min(n, num_examples)
    return max(1, n)


def choose_batches(*, seconds_per_batch: float, batches_per_round: int) -> int | None:
    """An automatic length in batches, for a run whose schedule is planned over its length:
    ``round(20 / t)`` batches (at least one round) when that is under
    :data:`WHOLE_ROUNDS_FROM` rounds and not a whole number of them; None otherwise (whole
    rounds are then within ~12% of 20 s, and the run stops at a round's end).

    >>> choose_batches(seconds_per_batch=0.015, batches_per_round=938)  # 1.42 rounds of 14 s
    1333
    >>> choose_batches(seconds_per_batch=0.001, batches_per_round=938) is None  # 21 rounds
    True
    """
    if seconds_per_batch <= 0 or batches_per_round < 1:
        return None
    batches = max(batches_per_round, math.floor(TARGET_TRAINING_SECONDS / seconds_per_batch + 0.5))
    if batches >= WHOLE_ROUNDS_FROM * batches_per_round or batches % batches_per_round == 0:
        return None
    return batches


def choose_rounds(*, seconds_per_batch: float, batches_per_round: int) -> int:
    """Rounds for about 20 s of training: the nearest whole number of rounds,
    ``clip(round(20 / (t * batches)), 1, 10000)`` (rounds of 19 s give one round, not two of
    38 s)."""
    seconds_per_round = seconds_per_batch * max(1, batches_per_round)
    if seconds_per_round <= 0:
        return MAX_AUTO_ROUNDS
    rounds = math.floor(TARGET_TRAINING_SECONDS / seconds_per_round + 0.5)
    return min(max(rounds, 1), MAX_AUTO_ROUNDS)
