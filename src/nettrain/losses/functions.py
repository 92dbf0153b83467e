"""The loss functions the automatic choice uses, each as ``fn(output, target) -> mean loss``
and ``fn_each(output, target) -> [batch]`` (one loss per example, the mean over its elements).

Example:
    >>> import torch
    >>> out, t = torch.tensor([[1.0, 3.0], [2.0, 2.0]]), torch.tensor([[1.0, 1.0], [2.0, 4.0]])
    >>> float(mse(out, t)), mse_each(out, t).tolist()
    (2.0, [2.0, 2.0])
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "bce",
    "bce_each",
    "ce_index",
    "ce_index_each",
    "ce_prob",
    "ce_prob_each",
    "each_of",
    "huber",
    "huber_each",
    "mae",
    "mae_each",
    "mean_of",
    "mse",
    "mse_each",
    "nll",
    "nll_each",
    "nll_of_probs",
    "nll_of_probs_each",
    "per_row",
]


def per_row(loss: Tensor, batch: int) -> Tensor:
    return loss.reshape(batch, -1).mean(1)


def ce_index(out: Tensor, t: Tensor) -> Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1))


def ce_index_each(out: Tensor, t: Tensor) -> Tensor:
    loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1), reduction="none")
    return per_row(loss, out.shape[0])


def ce_prob(out: Tensor, t: Tensor) -> Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1, t.shape[-1]))


def ce_prob_each(out: Tensor, t: Tensor) -> Tensor:
    loss = F.cross_entropy(
        out.reshape(-1, out.shape[-1]), t.reshape(-1, t.shape[-1]), reduction="none"
    )
    return per_row(loss, out.shape[0])


def nll_of_probs(out: Tensor, t: Tensor) -> Tensor:
    # A net whose probabilities come from a functional softmax: no logits to be had.
    return F.nll_loss(out.reshape(-1, out.shape[-1]).clamp_min(1e-12).log(), t.reshape(-1))


def nll_of_probs_each(out: Tensor, t: Tensor) -> Tensor:
    logp = out.reshape(-1, out.shape[-1]).clamp_min(1e-12).log()
    return per_row(F.nll_loss(logp, t.reshape(-1), reduction="none"), out.shape[0])


def nll(out: Tensor, t: Tensor) -> Tensor:
    return F.nll_loss(out.reshape(-1, out.shape[-1]), t.reshape(-1))


def nll_each(out: Tensor, t: Tensor) -> Tensor:
    loss = F.nll_loss(out.reshape(-1, out.shape[-1]), t.reshape(-1), reduction="none")
    return per_row(loss, out.shape[0])


def bce(out: Tensor, t: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(out, t.reshape(out.shape))


def bce_each(out: Tensor, t: Tensor) -> Tensor:
    loss = F.binary_cross_entropy_with_logits(out, t.reshape(out.shape), reduction="none")
    return per_row(loss, out.shape[0])


def mse(out: Tensor, t: Tensor) -> Tensor:
    return F.mse_loss(out, t.reshape(out.shape))


def mse_each(out: Tensor, t: Tensor) -> Tensor:
    return per_row(F.mse_loss(out, t.reshape(out.shape), reduction="none"), out.shape[0])


def mae(out: Tensor, t: Tensor) -> Tensor:
    return F.l1_loss(out, t.reshape(out.shape))


def mae_each(out: Tensor, t: Tensor) -> Tensor:
    return per_row(F.l1_loss(out, t.reshape(out.shape), reduction="none"), out.shape[0])


def huber(out: Tensor, t: Tensor) -> Tensor:
    return F.huber_loss(out, t.reshape(out.shape))


def huber_each(out: Tensor, t: Tensor) -> Tensor:
    return per_row(F.huber_loss(out, t.reshape(out.shape), reduction="none"), out.shape[0])


def mean_of(value: Tensor, unused: Tensor) -> Tensor:
    return value.mean()


def each_of(value: Tensor, unused: Tensor) -> Tensor:
    return value.reshape(value.shape[0], -1).mean(1) if value.ndim else value.reshape(1)
