"""Regression measurements and the exact streaming statistics they need.

Definitions (r = prediction - target, pooled over every element of every example in the round,
n = number of elements):

- ``mean_square`` = mean(r²); ``mean_deviation`` = mean(|r|);
- ``standard_deviation`` = population standard deviation of the residuals,
  sqrt(mean(r²) - mean(r)²) (numpy's ``np.std(r)``, ``ddof=0``);
- ``r_squared`` = 1 - SSres/SStot with SSres = sum(r²) and SStot = sum((y - mean(y))²) over all
  elements pooled (scikit-learn's ``r2_score`` on the flattened arrays; for a constant target
  it is 1 if the fit is perfect, else 0, like ``force_finite=True``);
- ``fraction_variance_unexplained`` = 1 - ``r_squared`` (= SSres/SStot where SStot > 0);
- ``intersection_over_union``: the mean IoU over boxes given as (x1, y1, x2, y2) in the last
  dimension.

Spreads (SStot, the residual variance) are merged batch by batch with Chan et al.'s parallel
update of (count, mean, sum of squared deviations): it needs no second pass and does not suffer
the cancellation of sum(y²) - sum(y)²/n when the targets have a large mean.

Example:
    >>> import torch
    >>> a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    >>> b = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    >>> box_iou(a, b)
    tensor([0.1429])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["Spread", "box_iou", "merge_spread", "r_squared"]

_EPS = 2.0**-52  # float64's machine epsilon: the sums are float64

# (mean, sum of squared deviations from it) of the elements seen so far, as device tensors;
# the count is a host int kept by the caller.
Spread = tuple[Tensor, Tensor]


def merge_spread(spread: Spread, seen: int, values: Tensor) -> Spread:
    """Fold a batch of values into a running (mean, M2) without a host sync.

    Args:
        spread: the running (mean, M2) over ``seen`` earlier values (0-d tensors).
        seen: how many values ``spread`` covers (a host int, so no sync is needed).
        values: the batch's values, any shape, already in the accumulation dtype.

    Returns:
        The (mean, M2) over all ``seen + values.numel()`` values.

    >>> s = (torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64))
    >>> s = merge_spread(s, 0, torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> s = merge_spread(s, 2, torch.tensor([3.0, 4.0, 5.0], dtype=torch.float64))
    >>> [float(v) for v in s]
    [3.0, 10.0]
    """
    mean, m2 = spread
    count = values.numel()
    if count == 0:
        return spread
    batch_mean = values.mean()
    batch_m2 = (values - batch_mean).square().sum()
    total = seen + count
    delta = batch_mean - mean
    return mean + delta * (count / total), m2 + batch_m2 + delta.square() * (seen * count / total)


def r_squared(ss_res: float, ss_tot: float, count: int = 0, mean: float = 0.0) -> float:
    """1 - SSres/SStot, with scikit-learn's finite convention for a constant target.

    A constant target's SStot is 0 only in exact arithmetic: the running mean of n equal values
    is off by up to about n rounding steps, which leaves an SStot of order n * (n eps mean)².
    Below that bound (``count`` values with mean ``mean``, float64 sums) the target counts as
    constant, whatever the batches were, so the result does not depend on the batch size.

    >>> r_squared(1.0, 4.0), r_squared(0.0, 0.0), r_squared(2.0, 0.0)
    (0.75, 1.0, 0.0)
    >>> r_squared(0.03, 5.8e-34, count=3, mean=0.1)  # [0.1] * 3: a constant target
    0.0
    """
    if math.isnan(ss_res) or math.isnan(ss_tot):
        return math.nan
    noise = count * (4 * count * _EPS * abs(mean)) ** 2
    if ss_tot <= noise:
        return 1.0 if ss_res <= noise else 0.0
    return 1.0 - ss_res / ss_tot


def box_iou(prediction: Tensor, target: Tensor) -> Tensor:
    """Intersection over union of paired boxes (x1, y1, x2, y2) in the last dimension.

    Boxes with x2 < x1 or y2 < y1 have zero area. Two boxes whose union has zero area score 1
    if they are the same box, else 0.

    Args:
        prediction, target: [..., 4] tensors of the same shape.

    Returns:
        [...] the IoU of each pair.
    """
    lo = torch.maximum(prediction[..., :2], target[..., :2])
    hi = torch.minimum(prediction[..., 2:], target[..., 2:])
    intersection = (hi - lo).clamp_min(0).prod(-1)
    area_p = (prediction[..., 2:] - prediction[..., :2]).clamp_min(0).prod(-1)
    area_t = (target[..., 2:] - target[..., :2]).clamp_min(0).prod(-1)
    union = area_p + area_t - intersection
    same = (prediction == target).all(-1).to(intersection.dtype)
    return torch.where(union > 0, intersection / union.clamp_min(1e-30), same)
