"""Two MATLAB operations whose torch counterparts take their arguments differently.

- :func:`crosschannelnorm`: MATLAB's local response normalisation. ``F.local_response_norm``
  computes the same formula but, for an even window, looks one channel further back and one
  less forward than MATLAB; this follows MATLAB for every window size.
- :func:`ctc`: MATLAB's CTC loss on probabilities with masks, averaged over the batch;
  ``F.ctc_loss`` wants log-probabilities ``[T, N, C]``, lengths, and by default divides each
  sequence's loss by its target length before averaging.

Everything else in MATLAB's list of dlarray operations has a direct torch call; see
docs/custom-loops.md for the map.

Example:
    >>> x = torch.ones(1, 3, 1, 1)
    >>> crosschannelnorm(x, 3, k=1.0, alpha=3.0, beta=1.0).flatten().tolist()  # 1 / (1 + ss)
    [0.3333333432674408, 0.25, 0.3333333432674408]
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import NetTrainError, describe
from .losses import _choice

__all__ = ["crosschannelnorm", "ctc"]


def _number(value: object, argument: str, *, positive: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (positive and not value > 0)
    ):
        raise NetTrainError(
            argument,
            "must be a " + ("positive " if positive else "") + "number",
            received=describe(value),
        )
    return float(value)


def crosschannelnorm(
    X: Tensor,
    window_channel_size: int,
    *,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
    dim: int = 1,
) -> Tensor:
    """Cross-channel (local response) normalisation, as MATLAB's ``crosschannelnorm``.

    ``y = x / (k + alpha * ss / window_channel_size) ** beta``, where ``ss`` is the sum of
    squares of ``x`` over a window of ``window_channel_size`` channels around each element: the
    ``floor((w - 1) / 2)`` channels before it and the ``floor(w / 2)`` after it (MATLAB's
    ``crossChannelNormalizationLayer`` window; channels past the edges count as 0).

    Args:
        X: a floating tensor with a channel axis, e.g. ``[N, C, H, W]``.
        window_channel_size: w, the number of channels in the window (a positive int).
        alpha, beta, k: MATLAB's ``Alpha`` (1e-4), ``Beta`` (0.75) and ``K`` (2) defaults.
        dim: the channel axis (default 1).

    Returns:
        A tensor of ``X``'s shape and dtype, differentiable.

    Raises:
        NetTrainError: ``X`` not a floating tensor, a bad window size, ``dim`` or constant.

    Example:
        >>> x = torch.randn(2, 5, 4, 4)
        >>> torch.allclose(crosschannelnorm(x, 3), F.local_response_norm(x, 3, 1e-4, 0.75, 2.0))
        True
    """
    if not isinstance(X, Tensor) or not X.is_floating_point() or X.dim() < 2:
        raise NetTrainError(
            "X",
            "must be a floating tensor with a channel axis",
            expected="e.g. a float32 tensor of shape [N, C, H, W]",
            received=describe(X),
        )
    if not isinstance(dim, int) or isinstance(dim, bool) or not -X.dim() <= dim < X.dim():
        raise NetTrainError("dim", "is not an axis of X", received=repr(dim))
    if (
        isinstance(window_channel_size, bool)
        or not isinstance(window_channel_size, int)
        or (window_channel_size < 1)
    ):
        raise NetTrainError(
            "window_channel_size",
            "must be a positive integer",
            expected="e.g. 5",
            received=describe(window_channel_size),
        )
    a, b, kk = _number(alpha, "alpha"), _number(beta, "beta"), _number(k, "k")
    w = window_channel_size
    squares = X.square().movedim(dim, -1)
    padded = F.pad(squares, ((w - 1) // 2, w // 2))
    ss = padded.unfold(-1, w, 1).sum(-1).movedim(-1, dim)
    return X / (kk + a * ss / w).pow(b)


def _lengths(mask: object, shape: tuple[int, int], argument: str, device: torch.device) -> Tensor:
    if mask is None:
        return torch.full((shape[0],), shape[1], dtype=torch.long, device=device)
    m = mask if isinstance(mask, Tensor) else torch.as_tensor(mask)
    if tuple(m.shape) != shape or m.is_complex():
        raise NetTrainError(
            argument,
            "must be a 0/1 mask of one row per observation",
            expected=f"shape {shape}",
            received=describe(m),
        )
    included = (m != 0).to(device)
    lengths = included.sum(1)
    prefix = torch.arange(shape[1], device=device) < lengths[:, None]
    if not torch.equal(included, prefix):
        row = int((included != prefix).any(1).nonzero()[0])
        raise NetTrainError(
            argument,
            "must mark a prefix of each sequence (padding only at the end)",
            index=row,
            expected="rows like 1 1 1 0 0",
            received=str(m[row].tolist()),
        )
    return lengths.long()


def ctc(
    Y: Tensor,
    targets: Tensor,
    Y_mask: Any = None,
    targets_mask: Any = None,
    *,
    blank: str | int = "first",
    dim: int = 1,
    reduction: str = "mean",
    epsilon: float | None = None,
) -> Tensor:
    """CTC loss of predicted probabilities, as MATLAB's ``ctc(Y, targets, YMask, targetsMask)``.

    The loss of a sequence is ``-log p(targets | Y)``, the probability summed over every
    alignment (repeats merged, blanks removed); with ``reduction="mean"`` the losses are averaged
    over the batch, as MATLAB does (plain mean: not divided by the target lengths, unlike
    ``F.ctc_loss``'s default).

    Args:
        Y: probabilities (softmax applied over the classes), a floating tensor of shape
            ``[N, C, T]`` with the class axis at ``dim`` (default 1; ``dim=2`` for
            ``[N, T, C]``, the layout of a batch-first RNN's output). MATLAB's ``"CBT"``.
        targets: class indices 0..C-1, an integer tensor ``[N, S]`` padded at the end; they
            must not use the blank index. (MATLAB's are 1-based.)
        Y_mask: optional ``[N, T]`` 0/1 mask of the valid time steps of each sequence (a
            prefix); default all valid.
        targets_mask: optional ``[N, S]`` 0/1 mask of the valid target entries (a prefix).
        blank: the blank class: ``"first"`` (index 0, MATLAB's default), ``"last"`` (C-1),
            or an index.
        dim: the class axis of ``Y``.
        reduction: ``"mean"`` (default) over the batch, or ``"none"`` for the ``[N]`` losses.
        epsilon: probabilities are clamped to at least this before the log (default
            ``torch.finfo(Y.dtype).tiny``), so a zero probability gives a finite log.

    Returns:
        A 0-d tensor, or ``[N]`` with ``reduction="none"``; ``inf`` for a sequence whose
        targets cannot be aligned in its time steps (too long).

    Raises:
        NetTrainError: bad shapes or dtypes, masks that are not prefixes, targets using the
        blank or out of range, an unknown option.

    Example:
        >>> Y = torch.tensor([[[0.6, 0.4], [0.4, 0.6]]])  # N=1, C=2 (blank, "a"), T=2
        >>> round(float(ctc(Y, torch.tensor([[1]]))), 4)  # -log(.6*.6 + .4*.6 + .4*.4)
        0.2744
    """
    if not isinstance(Y, Tensor) or not Y.is_floating_point() or Y.dim() != 3:
        raise NetTrainError(
            "Y",
            "must be a floating tensor of probabilities of shape [N, C, T] (or [N, T, C] "
            "with dim=2)",
            received=describe(Y),
        )
    if dim not in (1, 2, -1, -2):
        raise NetTrainError("dim", "must be the class axis, 1 or 2", received=repr(dim))
    how = _choice(reduction, ("mean", "none"), "reduction")
    log_probs = Y.clamp_min(
        torch.finfo(Y.dtype).tiny if epsilon is None else _number(epsilon, "epsilon", positive=True)
    ).log()
    log_probs = log_probs.movedim(dim, -1).movedim(1, 0)  # [T, N, C], F.ctc_loss's layout
    steps, batch, classes = log_probs.shape
    if isinstance(blank, str):
        index = {"first": 0, "last": classes - 1}[_choice(blank, ("first", "last"), "blank")]
    elif isinstance(blank, int) and not isinstance(blank, bool) and 0 <= blank < classes:
        index = blank
    else:
        raise NetTrainError(
            "blank",
            f"must be 'first', 'last' or an index 0..{classes - 1}",
            received=describe(blank),
        )
    t = targets if isinstance(targets, Tensor) else torch.as_tensor(targets)
    if t.dim() != 2 or t.shape[0] != batch or t.is_floating_point() or t.dtype == torch.bool:
        raise NetTrainError(
            "targets",
            "must be an integer tensor of class indices, one row per observation",
            expected=f"shape [{batch}, S]",
            received=describe(t),
        )
    input_lengths = _lengths(Y_mask, (batch, steps), "Y_mask", Y.device)
    target_lengths = _lengths(targets_mask, (batch, t.shape[1]), "targets_mask", Y.device)
    valid = torch.arange(t.shape[1], device=Y.device) < target_lengths[:, None]
    used = t.to(Y.device)[valid]
    if used.numel() and (
        bool((used == index).any()) or int(used.min()) < 0 or int(used.max()) >= classes
    ):
        raise NetTrainError(
            "targets",
            f"has an index that is the blank ({index}) or outside 0..{classes - 1}",
            hint="targets are class indices without the blank; check blank='first'/'last'",
        )
    losses = F.ctc_loss(
        log_probs,
        t.long().to(Y.device),
        input_lengths,
        target_lengths,
        blank=index,
        reduction="none",
    )
    return losses.mean() if how == "mean" else losses
