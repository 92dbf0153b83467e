"""Numerical gradients by central differences, and a check of autograd gradients against them.

:func:`numerical_gradient` is the lesson's ("deep learning from scratch", chapter 4)
``numerical_gradient``: for each element ``x[i]`` of each parameter, ``(f(x + h e_i) -
f(x - h e_i)) / (2h)``, changing the element in place and putting it back afterwards.
:func:`gradient_check` compares ``value_and_grad``'s gradients with it, parameter by parameter.

Central differences are accurate only in float64 (the lesson's NumPy arrays are float64): the
truncation error is about ``h**2 * f'''`` and the rounding error about ``eps * |f| / h``, which
for float32 (``eps = 1.2e-7``) is 1e-3 of the loss at best. Check gradients in float64.

Example (the lesson's ``function_2``):
    >>> import torch
    >>> def function_2(x):
    ...     return torch.sum(x**2)
    >>> g = numerical_gradient(function_2, torch.tensor([3.0, 4.0], dtype=torch.float64))
    >>> [round(v, 6) for v in g.tolist()]
    [6.0, 8.0]
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import NetTrainError, NetTrainWarning, describe, dtype_name
from ..scalars import as_real
from .grad import value_and_grad
from .tree import is_trainable, leaf_map, named_leaves, rebuild

__all__ = ["GradientCheckReport", "gradient_check", "numerical_gradient"]

Number = Tensor | float


def _callable(f: object, argument: str, expected: str) -> None:
    if not callable(f):
        raise NetTrainError(argument, "is not callable", expected=expected, received=describe(f))


def _positive(value: object, argument: str, *, allow_zero: bool = False) -> float:
    number = as_real(value)
    if (
        number is None
        or not math.isfinite(number)
        or number < 0
        or (number == 0 and not allow_zero)
    ):
        kind = ">= 0" if allow_zero else "> 0"
        raise NetTrainError(
            argument,
            f"must be a finite number {kind}",
            expected=f"a float {kind}",
            received=describe(value),
        )
    return number


def _scalar(value: object, argument: str) -> Number:
    """The value ``f`` returned as a one-element tensor (detached, shape ``()``) or a float."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise NetTrainError(
                argument,
                "must return one number (the loss); a gradient is taken of a scalar",
                expected="a scalar tensor or a float",
                received=f"a tensor of shape {list(value.shape)}",
                hint="reduce it first, e.g. return loss.sum() or loss.mean()",
            )
        if not (value.is_floating_point() or value.is_complex()):
            raise NetTrainError(
                argument,
                "returned an integer or boolean tensor; differences of it are not a gradient",
                expected="a floating-point scalar",
                received=describe(value),
            )
        if value.is_complex():
            raise NetTrainError(
                argument,
                "returned a complex number; a loss is real",
                expected="a real floating-point scalar",
                received=describe(value),
            )
        return value.detach().reshape(())
    number = as_real(value)
    if number is None:
        raise NetTrainError(
            argument,
            "must return one number (the loss)",
            expected="a scalar tensor or a float",
            received=describe(value),
            hint="a function returning (loss, extra...) fits gradient_check, which takes the "
            "first item; numerical_gradient needs the loss alone",
        )
    return number


def _perturbable(params: object, argument: str) -> list[tuple[str, Tensor]]:
    """The leaves a gradient is taken for, named as ``value_and_grad`` names its gradients."""
    if isinstance(params, nn.Module):
        # value_and_grad leaves out frozen parameters (requires_grad=False)
        leaves = [(n, p) for n, p in named_leaves(params, argument) if p.requires_grad]
    else:
        # integer and boolean tensors are constants (value_and_grad gives them None)
        leaves = [(n, t) for n, t in named_leaves(params, argument) if is_trainable(t)]
    if not leaves:
        raise NetTrainError(
            argument,
            "has no parameter to differentiate",
            expected="at least one floating-point tensor"
            + (" with requires_grad=True" if isinstance(params, nn.Module) else ""),
            received=describe(params),
        )
    for name, tensor in leaves:
        if tensor.is_complex():
            raise NetTrainError(
                argument,
                f"{name!r} is complex; central differences here perturb real numbers only",
                expected="real floating-point tensors",
                received=describe(tensor),
            )
    return leaves


def _element_gradient(evaluate: Callable[[], Number], x: Tensor, h: float) -> Tensor:
    """The lesson's loop for one tensor: perturb each element in place, put it back."""
    grad = torch.zeros_like(x)
    # the lesson's np.nditer(x, flags=["multi_index"]): every index of a tensor of any shape
    for idx in itertools.product(*(range(n) for n in x.shape)):
        tmp_val = x[idx].clone()
        try:
            x[idx] = tmp_val + h  # in x's own dtype, as the lesson's float64 arrays
            fxh1 = evaluate()
            x[idx] = tmp_val - h
            fxh2 = evaluate()
        finally:
            # the original bits, even when f raised
            x[idx] = tmp_val
        grad[idx] = (fxh1 - fxh2) / (2 * h)
    return grad


def _numerical(f: Callable[[Any], Any], params: Any, h: float, argument: str) -> dict[str, Tensor]:
    leaves = _perturbable(params, argument)

    def evaluate() -> Number:
        return _scalar(f(params), "f")

    with torch.no_grad():
        return {name: _element_gradient(evaluate, tensor, h) for name, tensor in leaves}


def numerical_gradient(f: Callable[[Any], Any], x: Any, h: float = 1e-4) -> Any:
    """The gradient of ``f`` at ``x`` by central differences, element by element.

    The lesson's ``numerical_gradient(f, x)``: for every element ``x[i]``,
    ``(f(x) with x[i] + h  -  f(x) with x[i] - h) / (2*h)``. The element is changed **in place**
    and put back (bit for bit, also when ``f`` raises), so ``f`` may ignore its argument and read
    ``x`` through a closure, as the lesson's ``f = lambda w: net.loss(x, t)`` does. Runs under
    ``torch.no_grad()``, in ``x``'s own dtype: use float64 for an accurate gradient (float32's
    rounding error, about ``1.2e-7 * |f| / h``, swamps it). It calls ``f`` twice per element.

    Args:
        f: ``f(x)`` returning one number (a one-element tensor or a float).
        x: a floating-point tensor of any shape; or parameters (a dict/list tree of tensors, or
            an ``nn.Module``): then every floating-point leaf is perturbed in turn, ``f`` is
            called with the whole ``x``, and the result has a gradient per leaf.
        h: the step, default 1e-4 (the lesson's).

    Returns:
        For a tensor, a tensor of its shape and dtype. For a tree, a tree of the same shape with
        ``None`` at integer and boolean leaves (constants, as in ``value_and_grad``). For a
        module, ``{name: tensor}`` for the parameters with ``requires_grad`` (as
        ``named_parameters()`` names them). A module in training mode updates batch-norm
        statistics at each call of ``f``: use :func:`gradient_check`, which restores them, or
        ``eval()``.

    Raises:
        NetTrainError: ``f`` not callable or returning anything but one real number; ``x`` an
            integer, boolean or complex tensor, or not parameters; ``h`` not a positive number.

    Example (the lesson's two-layer net's dict of parameters):
        >>> g = torch.Generator().manual_seed(0)
        >>> params = {"W1": torch.randn(3, 2, generator=g, dtype=torch.float64),
        ...           "b1": torch.zeros(2, dtype=torch.float64)}
        >>> x = torch.randn(5, 3, generator=g, dtype=torch.float64)
        >>> def loss(p):
        ...     return torch.sigmoid(x @ p["W1"] + p["b1"]).sum()
        >>> grads = numerical_gradient(loss, params)
        >>> sorted(grads), grads["W1"].shape
        (['W1', 'b1'], torch.Size([3, 2]))
    """
    _callable(f, "f", "a function f(x) returning one number")
    step = _positive(h, "h")
    if isinstance(x, Tensor):
        if not x.is_floating_point():
            raise NetTrainError(
                "x",
                "must be a real floating-point tensor (an element + h is no integer)",
                expected="a float64 tensor (float32 works, less accurately)",
                received=describe(x),
                hint="convert it first: torch.as_tensor(x, dtype=torch.float64)",
            )

        def evaluate() -> Number:
            return _scalar(f(x), "f")

        with torch.no_grad():
            return _element_gradient(evaluate, x, step)
    grads = _numerical(f, x, step, "x")
    if isinstance(x, nn.Module):
        return grads
    return rebuild(x, {name: grads.get(name) for name, _ in named_leaves(x, "x")})


# --- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GradientCheckReport:
    """What :func:`gradient_check` found, parameter by parameter.

    Attributes:
        ok: every element of every gradient passed: ``max_relative_error <= rtol``.
        max_relative_error: the largest of ``errors`` (NaN when a gradient has a NaN).
        errors: ``{name: max over elements of |a - n| / max(|a|, |n|, atol / rtol)}``, ``a``
            the autograd and ``n`` the numerical gradient.
        absolute_errors: ``{name: max over elements of |a - n|}``.
        failed: the names whose error is above ``rtol`` (or NaN), in parameter order.
        loss: the loss at ``params``.
        h, rtol, atol: the settings used.
        numerical: ``{name: numerical gradient}``.
        autograd: ``{name: autograd gradient}`` (``value_and_grad``'s).

    ``str(report)`` is a table, one line per parameter.
    """

    ok: bool
    max_relative_error: float
    errors: dict[str, float]
    absolute_errors: dict[str, float]
    failed: tuple[str, ...]
    loss: float
    h: float
    rtol: float
    atol: float
    numerical: dict[str, Tensor] = field(repr=False)
    autograd: dict[str, Tensor] = field(repr=False)

    def __str__(self) -> str:
        verdict = (
            "passed" if self.ok else f"FAILED for {', '.join(self.failed)}"
        ) + f": max relative error {self.max_relative_error:.2e} (rtol {self.rtol:g})"
        head = ("parameter", "shape", "dtype", "relative error", "absolute error", "")
        rows = [
            (
                name,
                "x".join(str(n) for n in self.autograd[name].shape) or "scalar",
                dtype_name(self.autograd[name].dtype),
                f"{self.errors[name]:.2e}",
                f"{self.absolute_errors[name]:.2e}",
                "FAILED" if name in self.failed else "ok",
            )
            for name in self.errors
        ]
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
        lines = [
            f"gradient check {verdict}; h={self.h:g}, atol={self.atol:g}, loss={self.loss:.6g}",
            *(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                for row in [head, *rows]
            ),
        ]
        return "\n".join(lines)


def _first(out: object) -> object:
    """The loss of ``fn``'s result: the result itself or the first item of a tuple."""
    if isinstance(out, tuple):
        if not out:
            raise NetTrainError(
                "fn", "returned an empty tuple", expected="the loss first", received="()"
            )
        return out[0]
    return out


@contextmanager
def _restored(params: object) -> Iterator[None]:
    """Put every tensor of ``params`` (a module's parameters and buffers too) back afterwards."""
    if isinstance(params, nn.Module):
        tensors = [t for _, t in params.named_parameters()] + [b for _, b in params.named_buffers()]
    else:
        tensors = [t for _, t in named_leaves(params, "params")]
    saved = [t.detach().clone() for t in tensors]
    try:
        yield
    finally:
        with torch.no_grad():
            for tensor, value in zip(tensors, saved, strict=True):
                tensor.copy_(value)


def _compare(a: Tensor, n: Tensor, floor: float) -> tuple[float, float]:
    """(max relative error, max absolute error) of two gradients, in float64."""
    if a.numel() == 0:
        return 0.0, 0.0
    a64, n64 = a.detach().double(), n.detach().double().to(a.device)
    diff = (a64 - n64).abs()
    scale = torch.maximum(a64.abs(), n64.abs()).clamp_min(floor)
    return (diff / scale).max().item(), diff.max().item()


def gradient_check(
    fn: Callable[..., Any],
    params: Any,
    *args: Any,
    h: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> GradientCheckReport:
    """Compare ``value_and_grad(fn, params, *args)`` with central differences.

    The autograd gradient ``a`` of each parameter is compared with :func:`numerical_gradient`'s
    ``n`` element by element. The relative error of an element is
    ``|a - n| / max(|a|, |n|, atol / rtol)`` (the standard ``|a - n| / max(|a|, |n|)``, with
    gradients below ``atol / rtol`` compared absolutely, so that rounding noise on a zero
    gradient is not a relative error of 1); a parameter's error is the largest over its
    elements. The check passes when every error is at most ``rtol``: equivalently, every element
    has ``|a - n| <= max(rtol * max(|a|, |n|), atol)``.

    The defaults suit float64: with ``h = 1e-6`` the truncation error (``~h**2``) and the
    rounding error (``~2e-16 * |loss| / h``) are both far below ``rtol = 1e-5``; a wrong
    gradient is usually off by 1e-2 or more. For a loss far above 1 raise ``atol`` in
    proportion. Parameters that are not float64 get a :class:`NetTrainWarning`: in float32 the
    numerical gradient is too noisy to trust. Anything random in ``fn`` (dropout) must be off
    or seeded identically at each call.

    The parameters are perturbed in place, one element at a time (``fn`` is called
    ``2 * numel + 1`` times), and restored bit for bit afterwards, also when ``fn`` raises; a
    module's buffers (batch-norm statistics) are restored too.

    Args:
        fn: ``fn(params, *args)`` returning the loss, or a tuple whose first item is the loss
            (as for ``value_and_grad``).
        params: an ``nn.Module`` or a tree (dict, list) of tensors.
        *args: passed on to ``fn``.
        h: the central-difference step, default 1e-6.
        rtol: the largest relative error that passes, default 1e-5.
        atol: the absolute error that passes whatever the gradient's size, default 1e-7.

    Returns:
        A :class:`GradientCheckReport`: ``ok``, ``max_relative_error``, ``errors`` per
        parameter (dotted names for a tree, ``named_parameters()`` names for a module, as
        ``value_and_grad`` names its gradients), ``failed``, both gradients, and a table as
        ``str()``.

    Raises:
        NetTrainError: ``fn`` not callable or not returning one real number; no floating-point
            parameter; ``h`` or ``rtol`` not positive, ``atol`` negative.

    Example:
        >>> w = {"W": torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)}
        >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
        >>> def loss(p, x):
        ...     return torch.tanh(x @ p["W"]).sum()
        >>> report = gradient_check(loss, w, x)
        >>> report.ok, report.failed, report.max_relative_error < 1e-8
        (True, (), True)
    """
    _callable(fn, "fn", "a function fn(params, *args) returning the loss")
    step = _positive(h, "h")
    rel = _positive(rtol, "rtol")
    tol = _positive(atol, "atol", allow_zero=True)
    leaves = _perturbable(params, "params")
    coarse = [(name, t.dtype) for name, t in leaves if t.dtype != torch.float64]
    if coarse:
        warnings.warn(
            NetTrainWarning(
                f"gradient_check: {', '.join(n for n, _ in coarse[:4])}"
                f"{' ...' if len(coarse) > 4 else ''} {'is' if len(coarse) == 1 else 'are'} "
                f"{dtype_name(coarse[0][1])}, not "
                "float64: central differences in this precision are too noisy to trust (errors "
                "of 1e-3 and more). Check in float64: net.double() or "
                "{k: v.double() for k, v in params.items()}, with float64 inputs."
            ),
            stacklevel=2,
        )
    names = [name for name, _ in leaves]
    with _restored(params):
        out = value_and_grad(fn, params, *args)
        loss, grads = out[0], out[1]
        if isinstance(params, nn.Module):
            autograd = {name: grads[name] for name in names}
        else:
            every = leaf_map(grads, [n for n, _ in named_leaves(params, "params")], "grads")
            autograd = {name: every[name] for name in names}
        numerical = _numerical(lambda p: _first(fn(p, *args)), params, step, "params")
    floor = tol / rel if tol > 0 else torch.finfo(torch.float64).tiny
    errors: dict[str, float] = {}
    absolute: dict[str, float] = {}
    for name in names:
        errors[name], absolute[name] = _compare(autograd[name], numerical[name], floor)
    # NaN never passes (a comparison with NaN is False) and is the largest error
    failed = tuple(name for name in names if not errors[name] <= rel)
    nan = [e for e in errors.values() if math.isnan(e)]
    worst = nan[0] if nan else max(errors.values())
    return GradientCheckReport(
        ok=not failed,
        max_relative_error=worst,
        errors=errors,
        absolute_errors=absolute,
        failed=failed,
        loss=float(loss.item()),
        h=step,
        rtol=rel,
        atol=tol,
        numerical=numerical,
        autograd={name: g.detach() for name, g in autograd.items()},
    )
