"""The statistics of one round, as read back to the host by ``Accumulator.result``.

A :class:`RoundStats` is plain data: counts and sums over every example of the round. Each
measurement's ``result(stats)`` is a pure function of it, which is what makes a value independent
of how the round was cut into batches. Fields the round's measurements did not need keep their
empty defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["STATISTICS", "RoundStats"]

# Names of the statistics an Accumulator can gather; each measurement declares the ones it needs
# (``Measurement.needs``), and the Accumulator gathers only their union. ``correct@k`` and
# ``custom:<key>`` are families named per k / per key.
STATISTICS = (
    "loss",  # sum of batch mean loss x batch size
    "correct@k",  # positions whose target is among the top k predictions
    "confusion",  # C×C counts, rows = true class, columns = predicted
    "scores",  # every position's class probabilities and true class (for ROC)
    "entropy",  # sum over positions of the prediction's entropy (nats)
    "residual_square",  # sum of r², r = prediction - target
    "residual_absolute",  # sum of |r|
    "residual_spread",  # (mean r, sum of (r - mean r)²)
    "target_spread",  # (mean y, sum of (y - mean y)²)
    "iou",  # sum of box IoUs
    "custom:key",  # sum over examples of a custom measurement's values
)


@dataclass(frozen=True)
class RoundStats:
    """Exact statistics of one round, on the host.

    Attributes:
        task: "classification", "binary" or "regression".
        num_classes: C (2 for "binary"; 0 when unknown, i.e. nothing was seen).
        examples: examples seen (the first dimension of each batch).
        positions: classified positions (classification, binary) or elements (regression) seen;
            equal to ``examples`` unless each example holds several (e.g. a sequence).
        boxes: boxes seen (intersection_over_union).
        loss_sum: sum over batches of mean loss x examples in the batch.
        correct: ``{k: positions whose target is among the top k predictions}``.
        confusion: [C, C] int64 counts, rows = true class, columns = predicted, or None.
        entropy_sum: sum over positions of the prediction's entropy, in nats.
        residual_square, residual_absolute: sums of r² and |r|, r = prediction - target.
        residual_mean, residual_m2: mean of r and sum of (r - mean r)².
        target_mean, target_m2: mean of the targets and sum of their squared deviations.
        iou_sum: sum of box IoUs.
        custom: ``{key: sum over examples}`` for custom measurements.
        scores: [n, C] float32 class probabilities of every position (binary: [n], the
            probability of class 1), or None.
        score_targets: [n] int64 true classes matching ``scores``, or None.
    """

    task: str
    num_classes: int = 0
    examples: int = 0
    positions: int = 0
    boxes: int = 0
    loss_sum: float = 0.0
    correct: Mapping[int, float] = field(default_factory=dict)
    confusion: Tensor | None = None
    entropy_sum: float = 0.0
    residual_square: float = 0.0
    residual_absolute: float = 0.0
    residual_mean: float = 0.0
    residual_m2: float = 0.0
    target_mean: float = 0.0
    target_m2: float = 0.0
    iou_sum: float = 0.0
    custom: Mapping[str, float] = field(default_factory=dict)
    scores: Tensor | None = None
    score_targets: Tensor | None = None

    def per(self, total: float, count: int) -> float:
        """``total / count``, NaN for an empty round.

        >>> RoundStats("regression").per(3.0, 0)
        nan
        """
        return total / count if count else math.nan
