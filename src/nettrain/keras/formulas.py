"""Keras 3's loss and metric formulas, one value per example position (``[batch, ...]``).

Each function takes ``(y_true, y_pred)`` in Keras' order and reduces only the last axis, as
Keras' functions in ``keras.losses`` / ``keras.metrics`` do; the reduction over the batch
(``sum_over_batch_size``) and sample weights are applied by the callers
(:mod:`nettrain.keras.losses`, :mod:`nettrain.keras.metrics`). Probabilities are clipped to
``[EPSILON, 1 - EPSILON]`` with Keras' ``backend.epsilon()`` = 1e-7.

Example:
    >>> import torch
    >>> mse(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])).tolist()
    [0.5]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "EPSILON",
    "binary_crossentropy",
    "categorical_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mae",
    "mape",
    "mse",
    "msle",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
]

EPSILON = 1e-7  # keras.backend.epsilon()


def _same_shape(y_true: Tensor, y_pred: Tensor) -> Tensor:
    # Keras' squeeze_or_expand_to_same_rank: a target [n] against an output [n, 1] is fine.
    if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
        y_true = y_true.reshape(y_pred.shape)
    return y_true.to(y_pred.dtype)


def _clip(p: Tensor) -> Tensor:
    return p.clamp(EPSILON, 1.0 - EPSILON)


def categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    """-sum(t * log p) over the last axis; p = y_pred / sum(y_pred), clipped (or log_softmax)."""
    t = _same_shape(y_true, y_pred)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    if from_logits:
        return -(t * F.log_softmax(y_pred, -1)).sum(-1)
    p = _clip(y_pred / y_pred.sum(-1, keepdim=True))
    return -(t * p.log()).sum(-1)


def sparse_categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False
) -> Tensor:
    """-log p[y_true]; p normalised and clipped as in categorical_crossentropy."""
    index = y_true.reshape(y_pred.shape[:-1]).long()
    if from_logits:
        logp = F.log_softmax(y_pred, -1)
    else:
        logp = _clip(y_pred / y_pred.sum(-1, keepdim=True)).log()
    return -logp.gather(-1, index.unsqueeze(-1)).squeeze(-1)


def binary_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    """mean(-(t log p + (1 - t) log(1 - p))) over the last axis, p clipped; t smoothed to
    t (1 - s) + s / 2."""
    t = _same_shape(y_true, y_pred)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        each = F.binary_cross_entropy_with_logits(y_pred, t, reduction="none")
    else:
        p = _clip(y_pred)
        each = -(t * p.log() + (1.0 - t) * (1.0 - p).log())
    return each.mean(-1)


def mse(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """mean((y_pred - y_true)^2) over the last axis."""
    return (y_pred - _same_shape(y_true, y_pred)).square().mean(-1)


def mae(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """mean(|y_pred - y_true|) over the last axis."""
    return (y_pred - _same_shape(y_true, y_pred)).abs().mean(-1)


def mape(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|) over the last axis."""
    t = _same_shape(y_true, y_pred)
    return 100.0 * ((t - y_pred) / t.abs().clamp_min(EPSILON)).abs().mean(-1)


def msle(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2) over the last axis."""
    t = _same_shape(y_true, y_pred)
    a = (y_pred.clamp_min(EPSILON) + 1.0).log()
    b = (t.clamp_min(EPSILON) + 1.0).log()
    return (a - b).square().mean(-1)


def huber(y_true: Tensor, y_pred: Tensor, delta: float = 1.0) -> Tensor:
    """mean(0.5 x^2 if |x| <= delta else delta |x| - 0.5 delta^2), x = y_pred - y_true."""
    x = (y_pred - _same_shape(y_true, y_pred)).abs()
    return torch.where(x <= delta, 0.5 * x.square(), delta * x - 0.5 * delta**2).mean(-1)


def log_cosh(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """mean(log(cosh(x))), computed as x + softplus(-2x) - log 2 (no overflow)."""
    x = y_pred - _same_shape(y_true, y_pred)
    return (x + F.softplus(-2.0 * x) - math.log(2.0)).mean(-1)


def kl_divergence(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """sum(t log(t / p)) over the last axis, t and p clipped to [eps, 1]."""
    t = _same_shape(y_true, y_pred).clamp(EPSILON, 1.0)
    p = y_pred.clamp(EPSILON, 1.0)
    return (t * (t / p).log()).sum(-1)


def _hinge_labels(t: Tensor) -> Tensor:
    # Keras converts 0/1 labels to -1/1 (and leaves -1/1 labels alone).
    if bool(((t == 0) | (t == 1)).all()):
        return 2.0 * t - 1.0
    return t


def hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """mean(max(1 - t y_pred, 0)), t in {-1, 1} (0/1 labels are converted)."""
    t = _hinge_labels(_same_shape(y_true, y_pred))
    return (1.0 - t * y_pred).clamp_min(0.0).mean(-1)


def squared_hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """mean(max(1 - t y_pred, 0)^2), t in {-1, 1} (0/1 labels are converted)."""
    t = _hinge_labels(_same_shape(y_true, y_pred))
    return (1.0 - t * y_pred).clamp_min(0.0).square().mean(-1)


def categorical_hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """max(max((1 - t) y_pred) - sum(t y_pred) + 1, 0) over the last axis."""
    t = _same_shape(y_true, y_pred)
    pos = (t * y_pred).sum(-1)
    neg = ((1.0 - t) * y_pred).amax(-1)
    return (neg - pos + 1.0).clamp_min(0.0)


def poisson(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """mean(y_pred - y_true log(y_pred + eps)) over the last axis."""
    t = _same_shape(y_true, y_pred)
    return (y_pred - t * (y_pred + EPSILON).log()).mean(-1)


def _l2_normalize(x: Tensor) -> Tensor:
    # keras.ops.normalize: x / sqrt(max(sum(x^2), eps)).
    return x * x.square().sum(-1, keepdim=True).clamp_min(EPSILON).rsqrt()


def cosine_similarity(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """sum(normalize(y_true) * normalize(y_pred)) over the last axis (the loss negates it)."""
    t = _same_shape(y_true, y_pred)
    return (_l2_normalize(t) * _l2_normalize(y_pred)).sum(-1)
