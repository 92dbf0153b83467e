"""MATLAB's regression losses, normalised the way MATLAB normalises them (and the reduction
that :mod:`.crossentropy` shares).

Every loss builds an array of per-element losses the shape of the predictions ``Y``, multiplies
it by ``weights`` and ``mask`` where given, and then, with ``reduction="sum"`` (the default, as
in MATLAB), sums it and divides by the ``normalization_factor``:

- ``"batch_size"`` (default): the number of observations, ``Y.shape[0]``;
- ``"all_elements"``: the number of elements of ``Y`` (for exclusive
  :func:`~nettrain.functional.crossentropy.crossentropy`, the number of positions
  ``Y.numel() / K``, since the class axis holds one distribution);
- ``"mask_included"``: each observation is divided by its own number of included (mask
  nonzero) elements, then the observations are summed; needs ``mask``;
- ``"none"``: the plain sum.

``reduction="none"`` returns the weighted, masked per-element losses unnormalised (the
normalisation factor then has no effect). MATLAB's hyphenated spellings (``"batch-size"``,
``"all-elements"``, ``"mask-included"``) are accepted, in any case. The batch axis is 0 and the
feature (class) axis is ``dim`` (default 1), torch's layout.

Example:
    >>> y, t = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [3.0, 5.0]])
    >>> float(l2loss(y, t)), float(mse(y, t)), float(l1loss(y, t))  # (4 + 1) / N, N = 2
    (2.5, 1.25, 1.5)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean

__all__ = ["huber", "l1loss", "l2loss", "mse"]

_REDUCTIONS = ("sum", "none")
_NORMALIZATIONS = ("batch_size", "all_elements", "mask_included", "none")


def _choice(value: object, choices: tuple[str, ...] | dict[str, str], argument: str) -> str:
    if not isinstance(value, str):
        raise NetTrainError(
            argument,
            "must be a string",
            expected=" or ".join(map(repr, choices)),
            received=describe(value),
        )
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in choices:
        raise NetTrainError(
            argument,
            f"unknown value {value!r}",
            expected="one of " + ", ".join(repr(c) for c in choices),
            received=repr(value),
            hint=did_you_mean(key, choices),
        )
    return choices[key] if isinstance(choices, dict) else key


def _as_tensor(value: object, argument: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise NetTrainError(
            argument, "must be a tensor (or an array-like of numbers)", received=describe(value)
        ) from None


def _predictions(y: object) -> Tensor:
    if not isinstance(y, Tensor) or not y.is_floating_point():
        raise NetTrainError(
            "Y",
            "the predictions must be a floating-point tensor",
            expected="e.g. a float32 tensor of shape [N, ...] (batch first)",
            received=describe(y),
        )
    if y.dim() == 0 or y.numel() == 0:
        raise NetTrainError(
            "Y", "needs a batch axis and at least one element", received=describe(y)
        )
    return y


def _float_targets(targets: object, y: Tensor) -> Tensor:
    t = _as_tensor(targets, "targets")
    if not (t.is_floating_point() or t.dtype == torch.bool):
        raise NetTrainError(
            "targets",
            "must be floating point like the predictions",
            expected=f"a float tensor of shape {tuple(y.shape)}",
            received=describe(t),
            hint="use targets.float()",
        )
    if t.shape != y.shape:
        raise NetTrainError(
            "targets",
            "must have the same shape as the predictions Y",
            expected=f"shape {tuple(y.shape)}",
            received=describe(t),
        )
    return t.to(y)


def _broadcast(value: Tensor, y: Tensor, argument: str) -> Tensor:
    try:
        shape = torch.broadcast_shapes(value.shape, y.shape)
    except RuntimeError:
        shape = None
    if shape != y.shape:
        raise NetTrainError(
            argument,
            "must have the shape of the predictions Y, or one that broadcasts to it",
            expected=f"a shape broadcastable to {tuple(y.shape)}",
            received=describe(value),
        )
    return value


def _weights(weights: object, y: Tensor, dim: int) -> Tensor | None:
    if weights is None:
        return None
    w = _as_tensor(weights, "weights")
    if w.dtype == torch.bool or w.is_complex():
        raise NetTrainError("weights", "must be real numbers", received=describe(w))
    if w.dim() == 1 and y.dim() >= 2:
        # A vector weights the feature (class) axis, as MATLAB's "C"-formatted weights do.
        axis = dim % y.dim()
        if w.shape[0] != y.shape[axis]:
            raise NetTrainError(
                "weights",
                f"a weight vector weights the feature axis (dim {dim}) and needs its length",
                expected=f"{y.shape[axis]} weights, or a shape broadcastable to {tuple(y.shape)}",
                received=describe(w),
                hint="for one weight per observation pass shape [N, 1, ...]",
            )
        shape = [1] * y.dim()
        shape[axis] = w.shape[0]
        w = w.reshape(shape)
    return _broadcast(w, y, "weights").to(y)


def _mask(mask: object, y: Tensor) -> Tensor | None:
    if mask is None:
        return None
    m = _as_tensor(mask, "mask")
    if m.is_complex():
        raise NetTrainError("mask", "must be logical or 0/1", received=describe(m))
    return (_broadcast(m, y, "mask") != 0).to(device=y.device, dtype=y.dtype).expand(y.shape)


def _check_dim(dim: object, y: Tensor) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool) or not -y.dim() <= dim < y.dim():
        raise NetTrainError(
            "dim",
            "is not an axis of the predictions",
            expected=f"an int in [{-y.dim()}, {y.dim() - 1}] for Y of shape {tuple(y.shape)}",
            received=repr(dim),
        )
    return dim % y.dim()


def _reduce(
    elementwise: Tensor,
    y: Tensor,
    *,
    weights: Tensor | None,
    mask: Tensor | None,
    reduction: object,
    normalization_factor: object,
    class_axis: int | None = None,
) -> Tensor:
    """Weight, mask, sum and normalise ``elementwise`` (shape of ``y``) as MATLAB does."""
    how = _choice(reduction, _REDUCTIONS, "reduction")
    norm = _choice(normalization_factor, _NORMALIZATIONS, "normalization_factor")
    if norm == "mask_included" and mask is None:
        raise NetTrainError(
            "normalization_factor",
            "'mask_included' divides by the number of elements the mask includes, but no mask "
            "was given",
            hint="pass mask=..., or use 'batch_size' or 'all_elements'",
        )
    loss = elementwise
    if weights is not None:
        loss = loss * weights
    if mask is not None:
        # where, not multiply: a masked-out inf/NaN prediction must not poison the sum.
        loss = torch.where(mask != 0, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    if how == "none":
        return loss
    total = loss.sum()
    if norm == "none":
        return total
    if norm == "batch_size":
        return total / y.shape[0]
    if norm == "all_elements":
        per_class = y.shape[class_axis] if class_axis is not None else 1
        return total / (y.numel() // per_class)
    assert mask is not None
    included = mask if class_axis is None else mask.amax(class_axis)
    counts = included.reshape(y.shape[0], -1).sum(1)
    sums = loss.reshape(y.shape[0], -1).sum(1)
    # An observation with nothing included contributes nothing rather than 0/0.
    return torch.where(counts > 0, sums / counts.clamp_min(1), torch.zeros_like(sums)).sum()


def _hide(value: Tensor, mask: Tensor | None, fill: float) -> Tensor:
    """``value`` with the masked-out elements replaced by ``fill`` before the loss sees them.

    Masking the loss alone is not enough: a NaN in the padding would come back through the
    backward pass as 0 * NaN = NaN.
    """
    if mask is None:
        return value
    return torch.where(
        mask != 0, value, torch.full((), fill, dtype=value.dtype, device=value.device)
    )


def _common(
    y: object, targets: object, weights: object, mask: object, dim: int
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    """The checked predictions; predictions and targets with masked elements hidden; the
    weights; the mask."""
    yy = _predictions(y)
    _check_dim(dim, yy)
    t, m = _float_targets(targets, yy), _mask(mask, yy)
    return yy, _hide(yy, m, 0.0), _hide(t, m, 0.0), _weights(weights, yy, dim), m


def l1loss(
    Y: Tensor,
    targets: Any,
    weights: Any = None,
    *,
    mask: Any = None,
    reduction: str = "sum",
    normalization_factor: str = "batch_size",
    dim: int = 1,
) -> Tensor:
    """L1 loss, ``sum(w * m * |Y - T|) / N`` (MATLAB's ``l1loss``; the MAE with the defaults).

    Args:
        Y: predictions, a floating tensor of shape ``[N, ...]`` (batch first).
        targets: the same shape as ``Y``.
        weights: optional, broadcastable to ``Y``; a 1-D vector weights the feature axis
            ``dim`` (one weight per response or class).
        mask: optional, broadcastable to ``Y``; elements where it is 0/False are left out.
        reduction: ``"sum"`` (default) or ``"none"`` (per-element losses, shape of ``Y``).
        normalization_factor: ``"batch_size"`` (default), ``"all_elements"``,
            ``"mask_included"`` or ``"none"`` (see the module docstring); hyphens allowed.
        dim: the feature axis (default 1), used to place a weight vector.

    Returns:
        A 0-d tensor (``reduction="sum"``) or a tensor of ``Y``'s shape, differentiable.

    Raises:
        NetTrainError: ``Y`` not a floating tensor, ``targets`` of another shape or dtype,
        ``weights``/``mask`` that do not broadcast, an unknown option (with a suggestion).

    Example:
        >>> y, t = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 2.0], [3.0, 2.0]])
        >>> float(l1loss(y, t)), float(l1loss(y, t, normalization_factor="all-elements"))
        (1.5, 0.75)
    """
    y, yv, tv, w, m = _common(Y, targets, weights, mask, dim)
    return _reduce(
        (yv - tv).abs(),
        y,
        weights=w,
        mask=m,
        reduction=reduction,
        normalization_factor=normalization_factor,
    )


def l2loss(
    Y: Tensor,
    targets: Any,
    weights: Any = None,
    *,
    mask: Any = None,
    reduction: str = "sum",
    normalization_factor: str = "batch_size",
    dim: int = 1,
) -> Tensor:
    """L2 loss, ``sum(w * m * (Y - T)^2) / N`` (MATLAB's ``l2loss``; the MSE with the defaults).

    Unlike :func:`mse` there is no factor 1/2. Arguments, returns and errors as
    :func:`l1loss`.

    Example:
        >>> y, t = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 2.0], [3.0, 2.0]])
        >>> float(l2loss(y, t)), float(l2loss(y, t, mask=torch.tensor([[1, 1], [1, 0]])))
        (2.5, 0.5)
    """
    y, yv, tv, w, m = _common(Y, targets, weights, mask, dim)
    return _reduce(
        (yv - tv).square(),
        y,
        weights=w,
        mask=m,
        reduction=reduction,
        normalization_factor=normalization_factor,
    )


def mse(
    Y: Tensor,
    targets: Any,
    *,
    mask: Any = None,
    reduction: str = "sum",
    normalization_factor: str = "batch_size",
) -> Tensor:
    """Half mean squared error, ``sum((Y - T)^2) / (2 N)`` (MATLAB's ``mse``).

    MATLAB's ``mse`` divides by twice the number of observations N and has no weights; the
    ``mask``, ``reduction`` and ``normalization_factor`` options are nettrain's, with MATLAB's
    behaviour as the default (the factor 1/2 applies to every choice).

    Args:
        Y: predictions, a floating tensor of shape ``[N, ...]``.
        targets: the same shape as ``Y``.
        mask, reduction, normalization_factor: as :func:`l1loss`.

    Returns:
        A 0-d tensor, or the per-element ``(Y - T)^2 / 2`` with ``reduction="none"``.

    Raises:
        NetTrainError: as :func:`l1loss`.

    Example:
        >>> float(mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])))  # (1 + 4) / 2
        2.5
    """
    y, yv, tv, _, m = _common(Y, targets, None, mask, 0)
    return _reduce(
        0.5 * (yv - tv).square(),
        y,
        weights=None,
        mask=m,
        reduction=reduction,
        normalization_factor=normalization_factor,
    )


def huber(
    Y: Tensor,
    targets: Any,
    weights: Any = None,
    *,
    transition_point: float = 1.0,
    mask: Any = None,
    reduction: str = "sum",
    normalization_factor: str = "batch_size",
    dim: int = 1,
) -> Tensor:
    """Huber loss (MATLAB's ``huber``; the smooth L1 loss for ``transition_point=1``).

    Per element, with ``d = |Y - T|`` and ``δ = transition_point``: ``d^2 / 2`` where
    ``d <= δ``, else ``δ d - δ^2 / 2``; then weighted, masked, summed and normalised as
    :func:`l1loss`. ``F.huber_loss(Y, T, delta=δ, reduction="sum") / N`` is the same number.

    Args:
        transition_point: δ, a positive number (default 1).
        Others: as :func:`l1loss`.

    Returns:
        A 0-d tensor, or per-element losses with ``reduction="none"``.

    Raises:
        NetTrainError: a non-positive ``transition_point``, and as :func:`l1loss`.

    Example:
        >>> float(huber(torch.tensor([[0.5, 3.0]]), torch.tensor([[0.0, 0.0]])))  # 0.125 + 2.5
        2.625
    """
    if (
        isinstance(transition_point, bool)
        or not isinstance(transition_point, (int, float))
        or (not transition_point > 0)
    ):
        raise NetTrainError(
            "transition_point",
            "must be a positive number",
            expected="e.g. 1.0",
            received=describe(transition_point),
        )
    y, yv, tv, w, m = _common(Y, targets, weights, mask, dim)
    d = (yv - tv).abs()
    delta = float(transition_point)
    elementwise = torch.where(d <= delta, 0.5 * d.square(), delta * d - 0.5 * delta * delta)
    return _reduce(
        elementwise,
        y,
        weights=w,
        mask=m,
        reduction=reduction,
        normalization_factor=normalization_factor,
    )
