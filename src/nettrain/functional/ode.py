"""A differentiable ODE solve for neural ODEs (MATLAB's ``dlode45``).

:func:`ode_solve` integrates ``dy/dt = f(t, y, params)`` with an adaptive Dormand-Prince 5(4)
method written in torch operations, so autograd differentiates through the solver's steps
(discretise-then-optimise) to ``y0``, to ``params`` and to any tensor ``f`` closes over.
``adjoint=True`` hands the solve to torchdiffeq's ``odeint_adjoint`` instead, which recomputes
the gradient by solving the adjoint ODE backwards in constant memory.

The solver (``adjoint=False``):

- Dormand-Prince 5(4) with the FSAL property (the last stage of a step is the first of the
  next), advancing with the 5th-order solution;
- the error test of MATLAB's ``ode45``: a step is accepted when, for every component,
  ``|err_i| <= max(rtol * max(|y_i|, |y_new_i|), atol)`` (the maximum norm of the scaled
  error is at most 1);
- step-size control ``h_new = h * clamp(0.8 * norm^(-1/5), 0.1, 5)``, with no growth right after
  a rejected step; the first step from Hairer, Norsett and Wanner's algorithm (II.4), using
  the same error scale;
- the steps end exactly on each requested time (a step that would pass one is shortened, and
  one within 10% of it is stretched to it), so there is no interpolation between outputs
  (MATLAB interpolates instead);
- the step sizes and accept/reject decisions are computed without gradient (they are control
  flow), so the gradient is exactly that of the computed discrete solution.

Example:
    >>> y = ode_solve(lambda t, y, k: -k * y, [0.0, 1.0, 2.0], torch.tensor([1.0]),
    ...               torch.tensor(1.0), relative_tolerance=1e-6, absolute_tolerance=1e-9)
    >>> [round(v, 5) for v in y.flatten().tolist()]  # exp(-1), exp(-2)
    [0.36788, 0.13534]
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import NetTrainError, add_note, describe

__all__ = ["ode_solve"]

# Dormand & Prince (1980), the tableau of MATLAB's ode45 and torchdiffeq's dopri5.
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_B5 = _A[6]  # the 5th-order weights are the last row: that is what makes the method FSAL
# 5th- minus 4th-order weights, for the error estimate.
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)

_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.8, 0.1, 5.0

OdeFunction = Callable[[Tensor, Tensor, Any], Tensor]


def _times(t_span: object) -> list[float]:
    values: object = t_span
    if isinstance(t_span, Tensor) and t_span.dim() <= 1:
        values = t_span.detach().reshape(-1).tolist()
    elif hasattr(t_span, "tolist") and getattr(t_span, "ndim", 2) == 1:  # a NumPy vector
        values = t_span.tolist()
    if (
        not isinstance(values, (list, tuple))
        or len(values) < 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    ):
        raise NetTrainError(
            "t_span",
            "must be a 1-D list or tensor of at least two times",
            expected="e.g. [0.0, 0.5, 1.0] or torch.linspace(0, 1, 11)",
            received=describe(t_span),
        )
    times = [float(v) for v in values]
    if not all(math.isfinite(v) for v in times):
        raise NetTrainError("t_span", "has a non-finite time", received=repr(times))
    steps = [b - a for a, b in itertools.pairwise(times)]
    if not (all(s > 0 for s in steps) or all(s < 0 for s in steps)):
        at = next(i + 1 for i, s in enumerate(steps) if s == 0 or (s > 0) != (steps[0] > 0))
        raise NetTrainError(
            "t_span",
            "must be strictly increasing or strictly decreasing",
            index=at,
            unit="time",
            expected=f"times moving the same way as {times[0]} -> {times[1]}",
            received=f"{times[at - 1]} followed by {times[at]}",
        )
    return times


def _positive(value: object, argument: str, *, integer: bool = False) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int if integer else (int, float))
        or not value > 0
    ):
        raise NetTrainError(
            argument,
            "must be a positive " + ("integer" if integer else "number"),
            received=describe(value),
        )


def _check_f(f: object) -> None:
    if not callable(f):
        raise NetTrainError(
            "f",
            "must be a function f(t, y, params) returning dy/dt",
            expected="a callable such as lambda t, y, p: -p * y",
            received=describe(f),
        )
    try:
        inspect.signature(f).bind(0.0, 0.0, None)
    except TypeError:
        raise NetTrainError(
            "f",
            "must accept three arguments (t, y, params), as MATLAB's dlode45 odefun does",
            received=f"a callable with signature {inspect.signature(f)}",
            hint="add a params argument even if it is unused: lambda t, y, p: ...",
        ) from None
    except ValueError:  # no signature to inspect (some builtins): find out when calling it
        pass


def _call(f: OdeFunction, t: float, y: Tensor, params: Any) -> Tensor:
    try:
        dy = f(torch.tensor(t, dtype=y.dtype, device=y.device), y, params)
    except NetTrainError:
        raise
    except Exception as error:
        add_note(error, f"raised by the ODE function f at t = {t:g}")
        raise
    if not isinstance(dy, Tensor) or dy.shape != y.shape:
        raise NetTrainError(
            "f",
            f"must return dy/dt with the shape of y (at t = {t:g})",
            expected=f"a tensor of shape {tuple(y.shape)}",
            received=describe(dy),
        )
    return dy.to(y.dtype)


def _error_norm(err: Tensor, y: Tensor, y_new: Tensor, rtol: float, atol: float) -> float:
    scale = (rtol * torch.maximum(y.abs(), y_new.abs())).clamp_min(atol)
    return float((err.abs() / scale).amax())


def _initial_step(
    f: OdeFunction,
    t0: float,
    y0: Tensor,
    f0: Tensor,
    params: Any,
    direction: float,
    rtol: float,
    atol: float,
) -> float:
    scale = (rtol * y0.abs()).clamp_min(atol)
    d0, d1 = float((y0 / scale).abs().amax()), float((f0 / scale).abs().amax())
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = _call(f, t0 + direction * h0, y0 + direction * h0 * f0, params)
    d2 = float(((f1 - f0) / scale).abs().amax()) / h0
    if not math.isfinite(d2):
        return h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1 / 5)
    return min(100 * h0, h1)


def _dopri5_step(
    f: OdeFunction, t: float, y: Tensor, k1: Tensor, h: float, params: Any
) -> tuple[Tensor, Tensor, Tensor]:
    """One Dormand-Prince step: the 5th-order y, the last stage (FSAL) and the error."""
    k = [k1]
    for i in range(1, 6):
        incr = sum(
            (a * kj for a, kj in zip(_A[i], k, strict=True) if a != 0.0), torch.zeros_like(y)
        )
        k.append(_call(f, t + _C[i] * h, y + h * incr, params))
    y_new = y + h * sum(
        (b * kj for b, kj in zip(_B5, k, strict=True) if b != 0.0), torch.zeros_like(y)
    )
    k7 = _call(f, t + h, y_new, params)
    k.append(k7)
    err = h * sum((e * kj for e, kj in zip(_E, k, strict=True) if e != 0.0), torch.zeros_like(y))
    return y_new, k7, err


def _solve_direct(
    f: OdeFunction,
    times: list[float],
    y0: Tensor,
    params: Any,
    rtol: float,
    atol: float,
    max_steps: int,
    initial_step: float | None,
    max_step: float,
) -> Tensor:
    direction = 1.0 if times[-1] > times[0] else -1.0
    t, y = times[0], y0
    k1 = _call(f, t, y, params)
    if not bool(torch.isfinite(y0).all() and torch.isfinite(k1.detach()).all()):
        raise NetTrainError(
            "y0" if not bool(torch.isfinite(y0).all()) else "f",
            f"{'y0 has' if not bool(torch.isfinite(y0).all()) else 'f returned'} non-finite "
            f"values (NaN or inf) at the start, t = {t:g}",
            hint="check y0, params and f",
        )
    if initial_step is None:
        with torch.no_grad():
            h_abs = _initial_step(f, t, y.detach(), k1.detach(), params, direction, rtol, atol)
    else:
        h_abs = initial_step
    if not math.isfinite(h_abs) or h_abs <= 0:
        h_abs = 1e-6  # f's scale defeated the estimate; the step control recovers from here
    h_abs = min(h_abs, max_step, abs(times[-1] - times[0]))
    outputs: list[Tensor] = []
    steps = 0
    for t_out in times[1:]:
        while t != t_out:
            remaining = abs(t_out - t)
            h_min = 16 * math.ulp(max(abs(t), abs(t_out)))
            h_step = remaining if h_abs >= 0.9 * remaining else h_abs
            shortened = h_step < h_abs
            rejected = False
            while True:
                steps += 1
                if steps > max_steps:
                    raise NetTrainError(
                        "max_steps",
                        f"the solve needed more than {max_steps} steps (stopped at t = {t:g} "
                        f"on the way to {t_out:g})",
                        hint="raise max_steps, loosen the tolerances, or check f for stiffness",
                    )
                h = direction * h_step
                t_new = t_out if h_step == remaining else t + h
                y_new, k7, err = _dopri5_step(f, t, y, k1, t_new - t, params)
                with torch.no_grad():
                    finite = bool(torch.isfinite(y_new).all() and torch.isfinite(k7).all())
                    norm = _error_norm(err, y, y_new, rtol, atol) if finite else math.inf
                if norm <= 1.0:
                    break
                rejected = True
                factor = _SAFETY * norm ** (-1 / 5) if math.isfinite(norm) else _MIN_FACTOR
                h_step = h_step * max(_MIN_FACTOR, factor)
                if not h_step >= h_min:  # also catches a NaN step
                    problem = (
                        "the solution became non-finite (NaN or inf)"
                        if not finite
                        else "the step size fell below what the time's precision can resolve"
                    )
                    raise NetTrainError(
                        "f",
                        f"{problem} at t = {t:g} (step size {h_step:.3g})",
                        hint="the ODE may blow up (finite-time singularity) or be very stiff; "
                        "check f, y0 and params, or shorten t_span",
                    )
            t, y, k1 = t_new, y_new, k7
            grow = _SAFETY * norm ** (-1 / 5) if norm > 0 else _MAX_FACTOR
            grow = min(_MAX_FACTOR, grow) if not rejected else min(1.0, grow)
            h_next = abs(h) * max(_MIN_FACTOR, grow)
            # A step cut short to land on an output time says nothing against the longer one.
            h_abs = min(max_step, max(h_next, h_abs) if shortened and not rejected else h_next)
        outputs.append(y)
    return torch.stack(outputs)


class _Dynamics(nn.Module):
    """f with params bound, the ``func(t, y)`` module torchdiffeq's adjoint expects."""

    def __init__(self, f: OdeFunction, params: Any) -> None:
        super().__init__()
        self.f = f
        self.params = params

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        dy = self.f(t, y, self.params)
        if not isinstance(dy, Tensor) or dy.shape != y.shape:
            raise NetTrainError(
                "f",
                "must return dy/dt with the shape of y",
                expected=f"a tensor of shape {tuple(y.shape)}",
                received=describe(dy),
            )
        return dy


def _adjoint_params(params: Any) -> tuple[Tensor, ...]:
    """The tensors in params that want a gradient: the adjoint solve integrates one per tensor."""
    if isinstance(params, nn.Module):
        return tuple(p for p in params.parameters() if p.requires_grad)
    if isinstance(params, Tensor):
        return (params,) if params.requires_grad else ()
    if isinstance(params, Mapping):
        return tuple(t for v in params.values() for t in _adjoint_params(v))
    if isinstance(params, (list, tuple)):
        return tuple(t for v in params for t in _adjoint_params(v))
    return ()  # numbers, strings, None: constants of f


def _solve_adjoint(
    f: OdeFunction,
    times: list[float],
    y0: Tensor,
    params: Any,
    rtol: float,
    atol: float,
    max_steps: int,
    initial_step: float | None,
) -> Tensor:
    try:
        from torchdiffeq import odeint_adjoint
    except ImportError:
        raise NetTrainError(
            "adjoint",
            "the adjoint method needs torchdiffeq, which is not installed",
            hint="pip install 'nettrain[ode]' (or pip install torchdiffeq), or use adjoint=False",
        ) from None
    with torch.no_grad():
        _call(f, times[0], y0.detach(), params)  # shape check with a clear message, once
    options: dict[str, Any] = {"max_num_steps": max_steps}
    if initial_step is not None:
        options["first_step"] = initial_step
    t = torch.tensor(times, dtype=y0.dtype, device=y0.device)
    try:
        out = odeint_adjoint(
            _Dynamics(f, params),
            y0,
            t,
            rtol=rtol,
            atol=atol,
            method="dopri5",
            options=options,
            adjoint_params=_adjoint_params(params),
        )
    except AssertionError as error:  # torchdiffeq reports runaway solves by assertion
        text = str(error)
        if "max_num_steps" in text:
            raise NetTrainError(
                "max_steps",
                f"the adjoint solve needed more than {max_steps} steps",
                hint="raise max_steps or loosen the tolerances",
            ) from error
        if "underflow" in text:
            raise NetTrainError(
                "f",
                "the step size underflowed in the adjoint solve",
                hint="the ODE may blow up or be very stiff; check f, y0 and params",
            ) from error
        raise
    return out[1:]


def ode_solve(
    f: OdeFunction,
    t_span: Sequence[float] | Tensor,
    y0: Tensor,
    params: Any = None,
    *,
    relative_tolerance: float = 1e-3,
    absolute_tolerance: float = 1e-6,
    adjoint: bool = False,
    max_steps: int = 10_000,
    initial_step: float | None = None,
    max_step: float | None = None,
) -> Tensor:
    """Solve ``dy/dt = f(t, y, params)`` from ``y0`` and return y at ``t_span[1:]`` (``dlode45``).

    Args:
        f: the dynamics, called as ``f(t, y, params)`` with ``t`` a 0-d tensor of ``y0``'s
            dtype, ``y`` of ``y0``'s shape, and ``params`` passed through as given; returns
            dy/dt of ``y``'s shape.
        t_span: the times, a 1-D list or tensor of at least two, strictly increasing or
            strictly decreasing (integrating backwards). ``t_span[0]`` is the time of ``y0``.
            The times are not differentiated.
        y0: the initial state, a floating tensor of any shape (e.g. ``[N, D]`` for a batch).
        params: anything ``f`` needs: a tensor, a (nested) dict of tensors, an ``nn.Module``
            or ``None``. Gradients reach its tensors through the solve.
        relative_tolerance, absolute_tolerance: ode45's RelTol and AbsTol (defaults 1e-3 and
            1e-6, MATLAB's): each step keeps every component's local error estimate within
            ``max(rtol * |y_i|, atol)``.
        adjoint: ``False`` (default) differentiates through the solver's own steps;
            ``True`` uses torchdiffeq's ``odeint_adjoint`` (``pip install 'nettrain[ode]'``),
            whose gradients reach ``y0`` and the tensors in ``params`` (or its module
            parameters) only, not tensors ``f`` closes over. torchdiffeq's dopri5 measures the
            error with an RMS norm, so its steps differ slightly from the direct solver's.
        max_steps: the most steps (accepted and rejected) before giving up (default 10000).
        initial_step: the first step size; default chosen from f, y0 and the tolerances.
        max_step: the largest step size allowed (default: unbounded). Direct solver only.

    Returns:
        A tensor of shape ``[len(t_span) - 1, *y0.shape]``: y at ``t_span[1]``, ``t_span[2]``,
        ... stacked along a new leading axis. (MATLAB's ``dlode45`` puts time last, as a "T"
        dimension; here time is first, so ``out[-1]`` is the final state.)

    Raises:
        NetTrainError: ``f`` not callable or not taking three arguments, ``f`` returning a
        wrong shape, a ``t_span`` that is not monotone, non-positive tolerances, ``y0`` not a
        floating tensor, more than ``max_steps`` steps, a step size that underflows or a
        solution that becomes non-finite, ``adjoint=True`` without torchdiffeq.

    Example:
        >>> A = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # rotation: y(t) = (cos t, -sin t)
        >>> y = ode_solve(lambda t, y, A: A @ y, torch.linspace(0, 3.14159, 3),
        ...               torch.tensor([1.0, 0.0]), A, relative_tolerance=1e-7,
        ...               absolute_tolerance=1e-9)
        >>> y.shape, [round(v, 3) for v in y[-1].tolist()]
        (torch.Size([2, 2]), [-1.0, -0.0])
    """
    _check_f(f)
    times = _times(t_span)
    if not isinstance(y0, Tensor) or not y0.is_floating_point() or y0.numel() == 0:
        raise NetTrainError(
            "y0",
            "must be a non-empty floating-point tensor",
            expected="e.g. torch.tensor([1.0, 0.0])",
            received=describe(y0),
        )
    _positive(relative_tolerance, "relative_tolerance")
    _positive(absolute_tolerance, "absolute_tolerance")
    _positive(max_steps, "max_steps", integer=True)
    if initial_step is not None:
        _positive(initial_step, "initial_step")
    if max_step is not None:
        _positive(max_step, "max_step")
    rtol, atol = float(relative_tolerance), float(absolute_tolerance)
    if adjoint and max_step is not None:
        raise NetTrainError(
            "max_step",
            "is not supported with adjoint=True (torchdiffeq's dopri5 has no step-size bound)",
            hint="leave max_step out, or use adjoint=False",
        )
    if adjoint:
        return _solve_adjoint(f, times, y0, params, rtol, atol, max_steps, initial_step)
    return _solve_direct(
        f,
        times,
        y0,
        params,
        rtol,
        atol,
        max_steps,
        None if initial_step is None else float(initial_step),
        math.inf if max_step is None else float(max_step),
    )
