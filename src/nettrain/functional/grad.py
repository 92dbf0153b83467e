"""Gradients of a model loss function: MATLAB's ``dlfeval`` + ``dlgradient`` in one call.

Example:
    >>> import torch
    >>> params = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor(0.5)}
    >>> def model_loss(p, x, t):
    ...     y = x @ p["w"] + p["b"]
    ...     return ((y - t) ** 2).mean()
    >>> x, t = torch.tensor([[1.0, 1.0]]), torch.tensor([3.0])
    >>> loss, grads = value_and_grad(model_loss, params, x, t)
    >>> loss.item(), grads["w"].tolist(), grads["b"].item()
    (0.25, [1.0, 1.0], 1.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import NetTrainError, describe
from .tree import is_trainable, named_leaves, rebuild

__all__ = ["value_and_grad"]


def _loss_tensor(value: object) -> Tensor:
    """The loss ``fn`` returned, as a one-element tensor; else raise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # a plain number cannot depend on the parameters: every gradient is zero
        return torch.tensor(float(value))
    if not isinstance(value, Tensor):
        raise NetTrainError(
            "fn",
            "must return the loss (a tensor), or a tuple whose first item is the loss",
            expected="a scalar tensor",
            received=describe(value),
        )
    if value.numel() != 1:
        raise NetTrainError(
            "fn",
            "returned a loss with more than one element; a gradient needs one number to "
            "differentiate (MATLAB's dlgradient refuses it too)",
            expected="a scalar tensor",
            received=f"a tensor of shape {list(value.shape)}",
            hint="reduce it first, e.g. return loss.mean() or loss.sum()",
        )
    if not (value.is_floating_point() or value.is_complex()):
        raise NetTrainError(
            "fn",
            "returned an integer loss, which has no gradient",
            expected="a floating-point scalar tensor",
            received=describe(value),
            hint="compute the loss in floating point (e.g. with .float())",
        )
    return value


def value_and_grad(fn: Callable[..., Any], params: Any, *args: Any) -> tuple[Any, ...]:
    """Evaluate ``fn(params, *args)`` and the gradient of its loss with respect to ``params``.

    MATLAB's ``[loss, gradients] = dlfeval(@modelLoss, net, X, T)`` with
    ``gradients = dlgradient(loss, net.Learnables)`` inside ``modelLoss``: here ``fn`` returns
    the loss and this function differentiates it.

    Args:
        fn: ``fn(params, *args)`` returning the loss (a one-element tensor), or a tuple
            ``(loss, *extra)`` (e.g. the updated state of a batch-norm, or the predictions).
        params: an ``nn.Module`` or a (nested) dict of tensors; ``fn`` receives it as it is.
            Tensors that do not require a gradient are given one for this call only (as
            detached aliases: no copy, and the caller's tensors keep ``requires_grad`` as it
            was); tensors that already require one are used as they are.
        *args: passed on to ``fn``.

    Returns:
        ``(loss, grads)``, or ``(loss, grads, *extra)`` when ``fn`` returned a tuple. ``loss``
        is detached. ``grads`` has one entry per parameter: for a module
        ``{name: tensor}`` as ``named_parameters()`` names them (parameters with
        ``requires_grad=False`` are left out: they are frozen); for a tree, a tree of the same
        shape. A parameter the loss does not depend on gets a zero gradient (MATLAB gives
        zeros); integer and boolean tensors are constants and get ``None``; the updates leave
        them unchanged.

    Raises:
        NetTrainError: ``fn`` not callable, ``params`` not a module or a tree of tensors, a loss
            that is not a tensor, has more than one element or is an integer.

    Example (a siamese pair: one set of weights used twice, so their gradients add up):

        >>> w = {"W": torch.tensor([[2.0]])}
        >>> def contrast(p, a, b):
        ...     return ((a @ p["W"]) - (b @ p["W"])).pow(2).sum()
        >>> loss, g = value_and_grad(contrast, w, torch.tensor([[1.0]]), torch.tensor([[3.0]]))
        >>> loss.item(), g["W"].item()
        (16.0, 16.0)
    """
    if not callable(fn):
        raise NetTrainError(
            "fn",
            "is not callable",
            expected="a function fn(params, *args) returning the loss",
            received=describe(fn),
        )
    if isinstance(params, nn.Module):
        named = [(n, p) for n, p in named_leaves(params) if p.requires_grad]
        call_with: Any = params
        targets = [p for _, p in named]
    else:
        leaves = named_leaves(params)
        given = {}
        aliases: dict[int, Tensor] = {}  # one alias per tensor object, even if it is in two places
        for name, tensor in leaves:
            if is_trainable(tensor) and not tensor.requires_grad:
                tensor = aliases.setdefault(id(tensor), tensor.detach().requires_grad_(True))
            given[name] = tensor
        call_with = rebuild(params, given)
        named = [(n, t) for n, t in given.items() if is_trainable(t)]
        targets = list({id(t): t for _, t in named}.values())
    with torch.enable_grad():
        out = fn(call_with, *args)
        extra: tuple[Any, ...] = ()
        if isinstance(out, tuple):
            if not out:
                raise NetTrainError(
                    "fn", "returned an empty tuple", expected="the loss first", received="()"
                )
            out, extra = out[0], tuple(out[1:])
        loss = _loss_tensor(out)
        found: tuple[Tensor | None, ...]
        if loss.requires_grad and targets:
            found = torch.autograd.grad(loss.reshape(()), targets, allow_unused=True)
        else:
            found = (None,) * len(targets)
    by_tensor = {id(t): g for t, g in zip(targets, found, strict=True)}
    # a tensor that sits at two leaves gets its whole gradient at both
    grads = {
        name: torch.zeros_like(t) if by_tensor[id(t)] is None else by_tensor[id(t)]
        for name, t in named
    }
    if isinstance(params, nn.Module):
        out_grads: Any = grads
    else:
        out_grads = rebuild(params, {n: grads.get(n) for n, _ in named_leaves(params)})
    return (loss.detach(), out_grads, *extra)
