"""Cross-entropy of predicted probabilities, MATLAB's ``crossentropy`` (and ``indexcrossentropy``).

The per-element losses are weighted, masked, summed and normalised as the losses of
:mod:`nettrain.functional.losses` are, with the class axis counted as one position.

Example:
    >>> p = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> round(float(crossentropy(p, torch.tensor([0, 1]))), 4)  # -(log 0.9 + log 0.8) / 2
    0.1643
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import NetTrainError, describe
from .losses import (
    _as_tensor,
    _check_dim,
    _choice,
    _float_targets,
    _hide,
    _mask,
    _predictions,
    _reduce,
    _weights,
)

__all__ = ["crossentropy"]

_CATEGORIES = {
    "exclusive": "exclusive",
    "single_label": "exclusive",
    "independent": "independent",
    "multilabel": "independent",
    "multi_label": "independent",
}


def _class_targets(targets: Tensor, y: Tensor, axis: int) -> Tensor:
    expected = tuple(s for i, s in enumerate(y.shape) if i != axis)
    if tuple(targets.shape) != expected:
        raise NetTrainError(
            "targets",
            "class-index targets must have the predictions' shape without the class axis",
            expected=f"shape {expected} (or one-hot targets of shape {tuple(y.shape)})",
            received=describe(targets),
        )
    classes = y.shape[axis]
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= classes):
        bad = int(targets.min()) if int(targets.min()) < 0 else int(targets.max())
        raise NetTrainError(
            "targets",
            f"class index {bad} is out of range",
            expected=f"indices 0..{classes - 1} (the class axis, dim {axis}, has {classes})",
            received=str(bad),
        )
    onehot = torch.nn.functional.one_hot(targets.long().to(y.device), classes)
    return onehot.to(y.dtype).movedim(-1, axis)


def crossentropy(
    Y: Tensor,
    targets: Any,
    weights: Any = None,
    *,
    target_categories: str = "exclusive",
    mask: Any = None,
    reduction: str = "sum",
    normalization_factor: str = "batch_size",
    dim: int = 1,
    epsilon: float | None = None,
) -> Tensor:
    """Cross-entropy of predicted *probabilities* ``Y`` (MATLAB's ``crossentropy``).

    As in MATLAB, ``Y`` holds probabilities (softmax or sigmoid already applied), not logits:

    - ``target_categories="exclusive"`` (single-label, default): ``-sum(w * T * log Y) / N``;
      ``crossentropy(softmax(z, 1), t)`` equals ``F.cross_entropy(z, t)``.
    - ``"independent"`` (multi-label): ``-sum(w * (T log Y + (1 - T) log(1 - Y))) / N``;
      equals ``F.binary_cross_entropy(Y, T, reduction="sum") / N``.

    MATLAB's newer names ``"single-label"`` and ``"multilabel"`` are accepted too.

    ``log(0)`` is guarded by clamping ``Y`` (and ``1 - Y``) to at least ``epsilon`` before the
    log, so a confidently wrong prediction gives a large finite loss (``-log(epsilon)``) instead
    of ``inf``, and a 0 target times a 0 probability contributes 0, not NaN.

    Args:
        Y: probabilities, shape ``[N, K, ...]`` with the class axis at ``dim``.
        targets: one-hot or soft targets of ``Y``'s shape; for ``"exclusive"`` also an integer
            tensor of class indices 0..K-1 of ``Y``'s shape without ``dim``.
        weights: optional; a 1-D vector of K class weights, or anything broadcastable to ``Y``.
        target_categories: ``"exclusive"`` (default) or ``"independent"``.
        mask, reduction, normalization_factor: as :func:`l1loss`; for ``"exclusive"``,
            ``"all_elements"`` and ``"mask_included"`` count positions (the class axis holds one
            distribution), so ``"all_elements"`` gives ``F.cross_entropy``'s mean over pixels.
        dim: the class axis (default 1).
        epsilon: the clamp for the log; default ``torch.finfo(Y.dtype).eps`` (MATLAB's
            ``eps`` for the class of ``Y``).

    Returns:
        A 0-d tensor, or per-element losses (shape of ``Y``) with ``reduction="none"``.

    Raises:
        NetTrainError: bad shapes or dtypes, class indices out of range, index targets with
        ``"independent"``, a bad ``epsilon``, an unknown option.

    Example:
        >>> p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
        >>> round(float(crossentropy(p, torch.tensor([0, 2]))), 4)  # -(log 0.7 + log 0.8) / 2
        0.2899
    """
    y = _predictions(Y)
    axis = _check_dim(dim, y)
    kind = _choice(target_categories, _CATEGORIES, "target_categories")
    t = _as_tensor(targets, "targets")
    if not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
        if kind == "independent":
            raise NetTrainError(
                "targets",
                "independent (multi-label) targets must be 0/1 or probabilities per class",
                expected=f"a float tensor of shape {tuple(y.shape)}",
                received=describe(t),
                hint="one-hot encode them, or use target_categories='exclusive'",
            )
        t = _class_targets(t, y, axis)
    else:
        t = _float_targets(t, y)
    eps = torch.finfo(y.dtype).eps if epsilon is None else epsilon
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise NetTrainError(
            "epsilon",
            "must be a number between 0 and 1",
            expected="e.g. 1e-8",
            received=describe(eps),
        )
    m = _mask(mask, y)
    yv, tv = _hide(y, m, 1.0), _hide(t, m, 0.0)
    elementwise = -tv * yv.clamp_min(eps).log()
    if kind == "independent":
        elementwise = elementwise - (1 - tv) * (1 - yv).clamp_min(eps).log()
    return _reduce(
        elementwise,
        y,
        weights=_weights(weights, y, dim),
        mask=m,
        reduction=reduction,
        normalization_factor=normalization_factor,
        class_axis=axis if kind == "exclusive" else None,
    )
