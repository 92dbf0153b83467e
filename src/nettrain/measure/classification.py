"""Classification measurements computed from a round's confusion matrix and stored scores.

Everything here is a pure function of host tensors gathered once per round (a C×C confusion
matrix with rows = true class and columns = predicted class, or the round's class probabilities
and true classes), so the values are exactly those of scikit-learn on the whole round at once.

Undefined ratios follow scikit-learn's ``zero_division=0``: a class whose denominator is 0
(e.g. precision of a class never predicted) counts as 0, both per class and in macro averages.

Example:
    >>> import torch
    >>> cm = torch.tensor([[3, 1], [0, 4]])  # rows = true class, columns = predicted
    >>> class_rate("precision", cm, None)
    tensor([1.0000, 0.8000], dtype=torch.float64)
    >>> class_rate("recall", cm, "macro")
    0.875
    >>> round(matthews(cm), 4)
    0.7746
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "CLASS_RATES",
    "accuracy_from_confusion",
    "area_under_roc",
    "balanced_accuracy",
    "class_counts",
    "class_rate",
    "cohen_kappa",
    "matthews",
    "roc_curve",
    "roc_curves",
]

# Per-class measurements that are a ratio of confusion counts (or, for f_score, a function of
# them). Kept as a tuple of names so the parser and the compute functions agree on one list.
CLASS_RATES = (
    "precision",
    "recall",
    "specificity",
    "f1_score",
    "f_score",
    "false_positive_rate",
    "false_negative_rate",
)


def class_counts(confusion: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One-vs-rest counts per class from a confusion matrix.

    Args:
        confusion: [C, C] counts, rows = true class, columns = predicted class.

    Returns:
        ``(tp, fp, fn, tn)``, each a float64 tensor of shape [C].

    >>> class_counts(torch.tensor([[3, 1], [0, 4]]))[1]
    tensor([0., 1.], dtype=torch.float64)
    """
    cm = confusion.to(torch.float64)
    tp = cm.diagonal()
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    tn = cm.sum() - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    # zero_division=0, as scikit-learn's default-warning-free setting: an undefined ratio is 0.
    return torch.where(denominator > 0, numerator / denominator, torch.zeros_like(numerator))


def _rate(name: str, tp: Tensor, fp: Tensor, fn: Tensor, tn: Tensor, beta: float) -> Tensor:
    if name == "precision":
        return _ratio(tp, tp + fp)
    if name == "recall":
        return _ratio(tp, tp + fn)
    if name == "specificity":
        return _ratio(tn, tn + fp)
    if name == "false_positive_rate":
        return _ratio(fp, fp + tn)
    if name == "false_negative_rate":
        return _ratio(fn, fn + tp)
    if name in ("f1_score", "f_score"):
        # The counts form of F-beta; it equals the precision/recall form wherever that is
        # defined and is 0 where precision + recall = 0 (scikit-learn's zero_division=0).
        b2 = (beta if name == "f_score" else 1.0) ** 2
        return _ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)
    raise KeyError(name)


def class_rate(
    name: str, confusion: Tensor, averaging: str | None, beta: float = 1.0
) -> Tensor | float:
    """A per-class measurement (one of :data:`CLASS_RATES`) from a confusion matrix.

    Args:
        name: "precision", "recall", "specificity", "f1_score", "f_score",
            "false_positive_rate" or "false_negative_rate".
        confusion: [C, C] counts, rows = true class, columns = predicted class.
        averaging: None (per class), "macro" (mean of the per-class values, undefined ones
            counting as 0) or "micro" (the ratio of the counts summed over classes).
        beta: the F-beta weight of recall (only for "f_score").

    Returns:
        A float64 tensor of shape [C] for ``averaging=None``, else a float.

    >>> class_rate("f_score", torch.tensor([[3, 1], [0, 4]]), "micro", beta=2.0)
    0.875
    """
    tp, fp, fn, tn = class_counts(confusion)
    if averaging == "micro":
        tp, fp, fn, tn = tp.sum(), fp.sum(), fn.sum(), tn.sum()
    values = _rate(name, tp, fp, fn, tn, beta)
    if averaging is None:
        return values
    if values.numel() == 0:
        return math.nan
    return float(values.mean())


def accuracy_from_confusion(confusion: Tensor) -> float:
    """Fraction of the diagonal: the top-1 accuracy.

    >>> accuracy_from_confusion(torch.tensor([[3, 1], [0, 4]]))
    0.875
    """
    total = int(confusion.sum())
    return int(confusion.diagonal().sum()) / total if total else math.nan


def balanced_accuracy(confusion: Tensor) -> float:
    """Mean recall over the classes that occur among the targets (scikit-learn's definition).

    A class that never occurs as a target has no recall; like ``balanced_accuracy_score`` it is
    left out of the mean rather than counted as 0. NaN when there are no targets.

    >>> balanced_accuracy(torch.tensor([[3, 1, 0], [0, 4, 0], [0, 0, 0]]))
    0.875
    """
    cm = confusion.to(torch.float64)
    support = cm.sum(1)
    present = support > 0
    if not bool(present.any()):
        return math.nan
    return float((cm.diagonal()[present] / support[present]).mean())


def matthews(confusion: Tensor) -> float:
    """Multi-class Matthews correlation coefficient (scikit-learn's formula; 0 if undefined).

    >>> matthews(torch.tensor([[5, 0], [0, 5]]))
    1.0
    """
    cm = confusion.to(torch.float64)
    t_sum, p_sum = cm.sum(1), cm.sum(0)
    n = cm.sum()
    correct = cm.trace()
    cov_tp = correct * n - t_sum @ p_sum
    cov_pp = n * n - p_sum @ p_sum
    cov_tt = n * n - t_sum @ t_sum
    if float(cov_pp * cov_tt) == 0.0:
        return 0.0
    return float(cov_tp / torch.sqrt(cov_tt * cov_pp))


def cohen_kappa(confusion: Tensor) -> float:
    """Unweighted Cohen's kappa between targets and predictions (NaN if undefined).

    >>> round(cohen_kappa(torch.tensor([[3, 1], [0, 4]])), 4)
    0.75
    """
    cm = confusion.to(torch.float64)
    n = cm.sum()
    if float(n) == 0.0:
        return math.nan
    expected = torch.outer(cm.sum(1), cm.sum(0)) / n
    off_diagonal = 1.0 - torch.eye(cm.shape[0], dtype=torch.float64)
    denominator = (off_diagonal * expected).sum()
    # Both raters used one and the same single class: kappa is 0/0 (scikit-learn: NaN).
    if float(denominator) == 0.0:
        return math.nan
    return float(1.0 - (off_diagonal * cm).sum() / denominator)


def roc_curve(scores: Tensor, positive: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The exact ROC curve of one score column (scikit-learn's ``drop_intermediate=False``).

    Args:
        scores: [n] scores, higher = more likely positive.
        positive: [n] bool, whether each example is a positive.

    Returns:
        ``(fpr, tpr, thresholds)``, float64 tensors with one point per distinct score plus the
        origin (threshold ``inf``). fpr (tpr) is NaN throughout when there are no negatives
        (positives).

    >>> fpr, tpr, thr = roc_curve(torch.tensor([0.1, 0.4, 0.35, 0.8]),
    ...                           torch.tensor([False, True, True, False]))
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.5, 0.5, 0.5, 1.0], [0.0, 0.0, 0.5, 1.0, 1.0])
    """
    order = torch.argsort(scores, descending=True, stable=True)
    ordered = scores[order].to(torch.float64)
    hits = positive[order].to(torch.float64)
    tps = hits.cumsum(0)
    fps = (1.0 - hits).cumsum(0)
    # One point per distinct score: the last position of each run of tied scores, so ties move
    # the curve diagonally, as in scikit-learn.
    ends = torch.cat(
        [torch.nonzero(ordered[1:] != ordered[:-1]).flatten(), torch.tensor([ordered.numel() - 1])]
    )
    if ordered.numel() == 0:
        ends = ends[:0]
    zero = torch.zeros(1, dtype=torch.float64)
    tps = torch.cat([zero, tps[ends]])
    fps = torch.cat([zero, fps[ends]])
    thresholds = torch.cat([torch.tensor([math.inf], dtype=torch.float64), ordered[ends]])
    return fps / fps[-1], tps / tps[-1], thresholds


def _trapezoid(fpr: Tensor, tpr: Tensor) -> float:
    if fpr.numel() < 2:
        return math.nan
    return float(torch.trapezoid(tpr, fpr))


def roc_curves(probabilities: Tensor, targets: Tensor) -> dict[int, tuple[Tensor, Tensor, Tensor]]:
    """One-vs-rest ROC curves, one per class.

    Args:
        probabilities: [n, C] class probabilities.
        targets: [n] true class indices.

    Returns:
        ``{class index: (fpr, tpr, thresholds)}`` as :func:`roc_curve` gives them.
    """
    return {c: roc_curve(probabilities[:, c], targets == c) for c in range(probabilities.shape[1])}


def area_under_roc(probabilities: Tensor, targets: Tensor, averaging: str | None) -> Tensor | float:
    """Trapezoidal area under the one-vs-rest ROC curves.

    Args:
        probabilities: [n, C] class probabilities.
        targets: [n] true class indices.
        averaging: None (a [C] float64 tensor, NaN for a class that has no positive or no
            negative example), "macro" (mean over the classes where it is defined; NaN if none)
            or "micro" (one curve over all n×C pooled one-vs-rest pairs, as scikit-learn's
            ``roc_auc_score(average="micro")`` on one-hot labels).

    Returns:
        A [C] tensor or a float.

    >>> p = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> area_under_roc(p, torch.tensor([0, 1, 1]), "macro")
    1.0
    """
    if averaging == "micro":
        classes = torch.arange(probabilities.shape[1])
        onehot = targets[:, None] == classes[None, :]
        return _trapezoid(*roc_curve(probabilities.flatten(), onehot.flatten())[:2])
    per_class = torch.tensor(
        [_trapezoid(fpr, tpr) for fpr, tpr, _ in roc_curves(probabilities, targets).values()],
        dtype=torch.float64,
    )
    if averaging is None:
        return per_class
    defined = per_class[~per_class.isnan()]
    return float(defined.mean()) if defined.numel() else math.nan
