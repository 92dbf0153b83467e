"""How each measurement is computed from a round's statistics: ``COMPUTE[name](m, stats)``.

Every function reads only the exact statistics of the whole round
(:class:`~nettrain.measure.stats.RoundStats`: counts, sums, the confusion matrix, the scores for
ROC), never an average of batch values; :meth:`Measurement.result` looks its function up here.

Example:
    >>> from nettrain.measure.specs import parse_measurements
    >>> m = parse_measurements("accuracy", task="classification")[0]
    >>> COMPUTE["accuracy"](m, RoundStats("classification", positions=4, correct={1: 3}))
    0.75
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from . import classification as cls
from .regression import r_squared
from .stats import RoundStats

if TYPE_CHECKING:
    from .specs import Measurement, MeasurementValue

__all__ = ["COMPUTE"]


def _loss(m: Measurement, s: RoundStats) -> MeasurementValue:
    return s.per(s.loss_sum, s.examples)


def _accuracy(m: Measurement, s: RoundStats) -> MeasurementValue:
    return s.per(s.correct.get(m.k or 1, 0.0), s.positions)


def _error_rate(m: Measurement, s: RoundStats) -> MeasurementValue:
    return 1.0 - s.per(s.correct.get(m.k or 1, 0.0), s.positions)


def _confusion(s: RoundStats) -> Tensor:
    if s.confusion is None:
        return torch.zeros(s.num_classes, s.num_classes, dtype=torch.int64)
    return s.confusion


def _class_rate(m: Measurement, s: RoundStats) -> MeasurementValue:
    value = cls.class_rate(m.name, _confusion(s), m.class_averaging, m.beta or 1.0)
    if s.task == "binary" and isinstance(value, Tensor):
        # Binary task, no averaging: the value for the positive class 1, like scikit-learn's
        # average="binary".
        return float(value[1]) if value.numel() == 2 else math.nan
    return value


def _probabilities(s: RoundStats) -> tuple[Tensor, Tensor]:
    targets = s.score_targets if s.score_targets is not None else torch.zeros(0, dtype=torch.long)
    if s.scores is None:
        return torch.zeros(0, s.num_classes), targets
    if s.task == "binary":
        return torch.stack([1.0 - s.scores, s.scores], 1), targets
    return s.scores, targets


def _roc(m: Measurement, s: RoundStats) -> MeasurementValue:
    probabilities, targets = _probabilities(s)
    if s.task == "binary":
        return cls.roc_curve(probabilities[:, 1], targets == 1)
    return cls.roc_curves(probabilities, targets)


def _auc(m: Measurement, s: RoundStats) -> MeasurementValue:
    probabilities, targets = _probabilities(s)
    if s.task == "binary" and m.class_averaging is None:
        fpr, tpr, _ = cls.roc_curve(probabilities[:, 1], targets == 1)
        return float(torch.trapezoid(tpr, fpr)) if fpr.numel() > 1 else math.nan
    return cls.area_under_roc(probabilities, targets, m.class_averaging)


def _ss_tot_res(s: RoundStats) -> float:
    if not s.positions:
        return math.nan
    return r_squared(s.residual_square, s.target_m2, s.positions, s.target_mean)


def _custom(m: Measurement, s: RoundStats) -> MeasurementValue:
    return s.per(s.custom.get(m.key, 0.0), s.examples)


COMPUTE: dict[str, Callable[[Measurement, RoundStats], MeasurementValue]] = {
    "loss": _loss,
    "accuracy": _accuracy,
    "error_rate": _error_rate,
    **{name: _class_rate for name in cls.CLASS_RATES},
    "matthews_correlation_coefficient": lambda m, s: cls.matthews(_confusion(s)),
    "cohen_kappa": lambda m, s: cls.cohen_kappa(_confusion(s)),
    "balanced_accuracy": lambda m, s: cls.balanced_accuracy(_confusion(s)),
    "confusion_matrix": lambda m, s: _confusion(s).clone(),
    "roc_curve": _roc,
    "area_under_roc_curve": _auc,
    "entropy": lambda m, s: s.per(s.entropy_sum, s.positions),
    "perplexity": lambda m, s: math.exp(s.per(s.entropy_sum, s.positions)),
    "r_squared": lambda m, s: _ss_tot_res(s),
    "fraction_variance_unexplained": lambda m, s: 1.0 - _ss_tot_res(s),
    "mean_square": lambda m, s: s.per(s.residual_square, s.positions),
    "root_mean_square": lambda m, s: math.sqrt(s.per(s.residual_square, s.positions)),
    "mean_deviation": lambda m, s: s.per(s.residual_absolute, s.positions),
    "standard_deviation": lambda m, s: math.sqrt(max(s.per(s.residual_m2, s.positions), 0.0)),
    "intersection_over_union": lambda m, s: s.per(s.iou_sum, s.boxes),
    "custom": _custom,
}
