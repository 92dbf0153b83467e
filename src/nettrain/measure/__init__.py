"""Measurements over a whole round, from exact statistics (SPEC S2.1).

Measurements never average per-batch values: an :class:`Accumulator` gathers counts and sums
over every example of the round on the device (a loss sum, correct counts, a confusion matrix,
the scores needed for ROC curves), and each :class:`Measurement` computes its value from those
once, in ``result()``. A value therefore does not depend on how the round was cut into batches,
and ``update`` never reads anything back to the host.

Tasks: "classification" (class scores [..., C], integer targets [...] or probability vectors),
"binary" (one score per element, 0/1 targets; the positive class is 1) and "regression".

Names (snake_case; Wolfram's synonyms are accepted: "sensitivity" -> recall, "mcc", "kappa",
"auc", "roc", "r2", "fvu", "iou", ...) and what ``result()`` gives for each:

==================================== ===================================================
loss                                 mean loss per example: sum(batch mean × batch size) / n
accuracy, error_rate (k)             top-k; key "accuracy" or "accuracy@5"
precision, recall, specificity,      per class: a float64 [C] tensor; "macro": the mean of
f1_score, f_score (beta),             the per-class values; "micro": from the counts pooled
false_positive_rate,                 over classes. A class whose denominator is 0 counts as
false_negative_rate                  0 (scikit-learn's ``zero_division=0``). Binary task:
                                     per class = the value for class 1, a float (like
                                     scikit-learn's ``average="binary"``).
matthews_correlation_coefficient,    multi-class, from the confusion matrix (scikit-learn's
cohen_kappa                          formulas; MCC 0 and kappa NaN where undefined)
balanced_accuracy                    mean recall over the classes present in the targets
confusion_matrix                     [C, C] int64, rows = true class, columns = predicted
roc_curve                            {class: (fpr, tpr, thresholds)} one-vs-rest; binary: one
                                     tuple for class 1. Exact: stores n×C float scores.
area_under_roc_curve                 per class [C] tensor / "macro" / "micro" float
                                     (micro = pooled one-vs-rest pairs); binary: float
entropy, perplexity                  mean prediction entropy in nats; exp(entropy)
r_squared, mean_square,              over all elements pooled, r = prediction - target:
mean_deviation, standard_deviation,  1 - SSres/SStot, mean r², mean |r|, population std of
fraction_variance_unexplained,       r, 1 - r_squared, sqrt(mean r²) ("rmse")
root_mean_square
intersection_over_union              mean IoU of (x1, y1, x2, y2) boxes
==================================== ===================================================

Custom measurements: a callable ``f(prediction, target) -> tensor`` given with a ``key`` and a
``direction`` (dict entries or attributes). It gets the batch's raw prediction and target. If it
returns one value per example ([batch]), the result is their mean over the round's examples; a
scalar is taken as the batch's mean and weighted by the batch size.

Example:
    >>> import torch
    >>> ms = parse_measurements(["accuracy", {"measurement": "recall",
    ...                                       "class_averaging": "macro"}], task="classification")
    >>> acc = Accumulator(ms, task="classification")
    >>> acc.update(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    >>> acc.result()
    {'accuracy': 0.5, 'recall(macro)': 0.25}
"""

from .accumulator import SCORE_KINDS, Accumulator
from .specs import (
    MEASUREMENT_NAMES,
    TASKS,
    Measurement,
    MeasurementValue,
    direction_of,
    parse_measurements,
)
from .stats import RoundStats

__all__ = [
    "MEASUREMENT_NAMES",
    "SCORE_KINDS",
    "TASKS",
    "Accumulator",
    "Measurement",
    "MeasurementValue",
    "RoundStats",
    "direction_of",
    "parse_measurements",
]
