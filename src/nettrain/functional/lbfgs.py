"""``lbfgs_update``: one limited-memory BFGS iteration, with a line search (MATLAB's
``lbfgsupdate``).

The loss is passed as a *function* because the line search evaluates it as often as it needs.
One call: evaluate the loss and gradient where needed, compute the search direction from the
stored curvature pairs (the two-loop recursion, Nocedal and Wright, Algorithm 7.4, with the
initial inverse Hessian ``(s'y / y'y) I`` of eq. 7.20 once a pair is stored), search along it,
move, and store the new pair. The state keeps the loss and gradient at the new point, so the
next call starts without evaluating (as MATLAB's ``lbfgsState`` keeps ``Loss`` and
``Gradients``): L-BFGS is a full-batch method.

With ``line_search="strong_wolfe"`` the step is exactly the engine's ``"lbfgs"`` method
(``torch.optim.LBFGS`` with one iteration per step): the same first step length
``min(1, 1 / ||g||_1) * learning_rate``, the same history rules and torch's own strong-Wolfe
search. ``"weak_wolfe"`` (MATLAB's default) and ``"backtracking"`` are this module's.

Example (a least-squares fit in a few calls):

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(50, 3, generator=g, dtype=torch.float64)
    >>> y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    >>> params, state = {"w": torch.zeros(3, dtype=torch.float64)}, None
    >>> for _ in range(10):
    ...     params, state = lbfgs_update(params, lambda p: ((x @ p["w"] - y) ** 2).mean(), state)
    >>> [round(v, 6) for v in params["w"].tolist()]
    [1.0, -2.0, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lbfgs import _strong_wolfe

from ..errors import NetTrainError, describe, did_you_mean
from ..scalars import as_int, as_real
from .grad import value_and_grad
from .tree import is_trainable, leaf_map, named_leaves, rebuild

__all__ = ["LINE_SEARCHES", "lbfgs_update"]

LINE_SEARCHES = ("weak_wolfe", "strong_wolfe", "backtracking")
_METHOD = "lbfgs_update"
# torch.optim.LBFGS's tolerances, so that the strong-Wolfe path is the engine's step exactly.
_GRADIENT_TOLERANCE = 1e-7  # no step when every gradient element is this small: converged
_DESCENT_TOLERANCE = 1e-9  # no step when g'd > -this: not a descent direction
_CURVATURE_TOLERANCE = 1e-10  # a pair with s'y <= this is not stored (keeps H positive)
_C1, _C2 = 1e-4, 0.9  # sufficient decrease and curvature constants of the Wolfe conditions


class _Point:
    """Evaluates the loss and its flat gradient at ``x0 + t d`` without disturbing ``params``."""

    def __init__(self, params: Any, loss_fn: Callable[..., Any]) -> None:
        self.params = params
        self.loss_fn = loss_fn
        self.module = params if isinstance(params, nn.Module) else None
        leaves = named_leaves(params)
        self.leaves = [
            (n, p)
            for n, p in leaves
            if is_trainable(p) and (self.module is None or p.requires_grad)
        ]
        self.others = {n: p for n, p in leaves if n not in {m for m, _ in self.leaves}}
        if not self.leaves:
            raise NetTrainError(
                f"{_METHOD}: params",
                "has no floating-point parameters to optimise",
                received=describe(params),
            )
        self.names = [n for n, _ in self.leaves]
        self.start = [p.detach().clone() for _, p in self.leaves]
        self.evaluations = 0

    def moved(self, t: float, d: Tensor) -> list[Tensor]:
        """The parameters at ``start + t d``: each ``p + t d_p``, as torch's LBFGS adds them."""
        out, offset = [], 0
        for p in self.start:
            n = p.numel()
            out.append(p.clone().add_(d[offset : offset + n].view_as(p), alpha=t))
            offset += n
        return out

    def set(self, values: list[Tensor]) -> Any:
        """Put ``values`` in: into the module's parameters, or into a new tree."""
        if self.module is not None:
            with torch.no_grad():
                for (_, p), v in zip(self.leaves, values, strict=True):
                    p.copy_(v)
            return self.module
        return rebuild(self.params, {**self.others, **dict(zip(self.names, values, strict=True))})

    def evaluate(self, values: list[Tensor]) -> tuple[float, Tensor]:
        """The loss (a float) and the flat gradient at ``values``."""
        point = self.set(values)
        loss, grads, *extra = value_and_grad(self.loss_fn, point)
        self.evaluations += 1
        if extra:  # loss_fn returned (loss, gradients): MATLAB's [loss, gradients] = f(net)
            grads = extra[0]
        found = leaf_map(grads, self.names, f"{_METHOD}: loss_fn's gradients", allow_missing=True)
        flat = []
        for (name, p), g in zip(self.leaves, (found[n] for n in self.names), strict=True):
            if g is None:
                g = torch.zeros_like(p)
            elif not isinstance(g, Tensor) or g.shape != p.shape:
                raise NetTrainError(
                    f"{_METHOD}: loss_fn",
                    f"returned a gradient for {name!r} that does not fit it",
                    expected=f"a tensor of shape {list(p.shape)}",
                    received=describe(g),
                )
            flat.append(g.detach().reshape(-1).to(p.dtype))
        return float(loss), torch.cat(flat)

    def along(self, d: Tensor) -> Callable[[Any, float, Tensor], tuple[float, Tensor]]:
        """The objective ``(x, t, d) -> (loss, flat gradient)`` torch's line search calls."""
        return lambda _x, t, direction: self.evaluate(self.moved(float(t), direction))


def _direction(g: Tensor, state: Mapping[str, Any]) -> Tensor:
    """The two-loop recursion: ``-H g`` for the inverse Hessian the stored pairs define."""
    steps, differences, rho = (
        state["step_history"],
        state["gradient_difference_history"],
        state["rho"],
    )
    q = g.neg()
    alpha = [0.0] * len(steps)
    for i in range(len(steps) - 1, -1, -1):
        alpha[i] = steps[i].dot(q) * rho[i]
        q.add_(differences[i], alpha=-alpha[i])
    r = torch.mul(q, state["inverse_hessian_factor"])
    for i in range(len(steps)):
        beta = differences[i].dot(r) * rho[i]
        r.add_(steps[i], alpha=alpha[i] - beta)
    return r


def _weak_wolfe(
    point: _Point, d: Tensor, t: float, f0: float, gtd0: float, limit: int
) -> tuple[float, float, Tensor | None, str]:
    """Bisection and doubling until the weak Wolfe conditions hold (Lewis and Overton)."""
    low, high = 0.0, math.inf
    best: tuple[float, float, Tensor | None] = (0.0, f0, None)
    for _ in range(limit):
        f, g = point.evaluate(point.moved(t, d))
        if not math.isfinite(f) or f > f0 + _C1 * t * gtd0:
            high = t  # too long: not enough decrease
        elif g.dot(d) < _C2 * gtd0:
            low, best = t, (t, f, g)  # decrease, but the slope is still steep: go further
        else:
            return t, f, g, "completed"
        t = (low + high) / 2 if math.isfinite(high) else 2 * low
    return (*best, "failed")


def _backtracking(
    point: _Point, d: Tensor, t: float, f0: float, gtd0: float, limit: int
) -> tuple[float, float, Tensor | None, str]:
    """Halve the step until the sufficient-decrease (Armijo) condition holds."""
    for _ in range(limit):
        f, g = point.evaluate(point.moved(t, d))
        if math.isfinite(f) and f <= f0 + _C1 * t * gtd0:
            return t, f, g, "completed"
        t /= 2
    return 0.0, f0, None, "failed"


def _check_options(
    history_size: object,
    line_search: object,
    factor: object,
    step: object,
    limit: object,
    rate: object,
) -> tuple[int, str, float, float | None, int, float]:
    size = as_int(history_size)
    if size is None or size < 1:
        raise NetTrainError(
            f"{_METHOD}: history_size",
            "must be a whole number >= 1",
            expected="an int >= 1",
            received=describe(history_size),
        )
    search = line_search.replace("-", "_").lower() if isinstance(line_search, str) else None
    if search not in LINE_SEARCHES:
        raise NetTrainError(
            f"{_METHOD}: line_search",
            "unknown line search",
            expected=", ".join(repr(s) for s in LINE_SEARCHES),
            received=describe(line_search),
            hint=did_you_mean(str(search), LINE_SEARCHES) if search else None,
        )
    numbers = {}
    for name, value in (("initial_inverse_hessian_factor", factor), ("learning_rate", rate)):
        number = as_real(value)
        if number is None or not math.isfinite(number) or number <= 0:
            raise NetTrainError(
                f"{_METHOD}: {name}",
                "must be a finite number > 0",
                expected="a number > 0",
                received=describe(value),
            )
        numbers[name] = number
    first: float | None = None
    if not (isinstance(step, str) and step == "auto"):
        first = as_real(step)
        if first is None or not math.isfinite(first) or first <= 0:
            raise NetTrainError(
                f"{_METHOD}: initial_step_size",
                "must be 'auto' or a finite number > 0",
                expected="'auto' or a number > 0",
                received=describe(step),
            )
    count = as_int(limit)
    if count is None or count < 1:
        raise NetTrainError(
            f"{_METHOD}: max_line_search_iterations",
            "must be a whole number >= 1",
            expected="an int >= 1",
            received=describe(limit),
        )
    return (
        size,
        search,
        numbers["initial_inverse_hessian_factor"],
        first,
        count,
        numbers["learning_rate"],
    )


def _start_state(state: object, history_size: int, factor: float) -> dict[str, Any]:
    if state is None:
        return {
            "method": _METHOD,
            "iteration": 0,
            "history_size": history_size,
            "step_history": [],
            "gradient_difference_history": [],
            "rho": [],
            "inverse_hessian_factor": factor,
            "loss": None,
            "gradients": None,
            "line_search_status": None,
            "function_evaluations": 0,
        }
    if not isinstance(state, Mapping) or state.get("method") != _METHOD:
        raise NetTrainError(
            f"{_METHOD}: state",
            "is not the state of lbfgs_update",
            expected="None (a new run) or the state the previous lbfgs_update call returned",
            received=describe(state),
        )
    out = dict(state)
    for key in ("step_history", "gradient_difference_history", "rho"):
        out[key] = list(state[key])  # new lists: the state passed in stays as it was
    return out


def lbfgs_update(
    params: Any,
    loss_fn: Callable[..., Any],
    state: dict[str, Any] | None = None,
    *,
    history_size: int = 10,
    line_search: str = "weak_wolfe",
    initial_inverse_hessian_factor: float = 1.0,
    initial_step_size: float | str = "auto",
    max_line_search_iterations: int = 20,
    learning_rate: float = 1.0,
) -> tuple[Any, dict[str, Any]]:
    """One L-BFGS iteration (MATLAB's ``lbfgsupdate``): direction, line search, step.

    Args:
        params: an ``nn.Module`` (updated in place and returned) or a tree of tensors (a new
            tree is returned). Integer leaves and frozen parameters are left alone.
        loss_fn: ``loss_fn(params)`` returning the loss (differentiated here), or
            ``(loss, grads)`` with your own gradients. Evaluate the *whole* training set in it:
            the line search compares losses at several points.
        state: None to start, or the state the previous call returned (plain data: the
            curvature pairs, the loss and gradient at the current point, the iteration count,
            ``line_search_status`` ("completed", "failed" or "converged") and
            ``function_evaluations``). Pass the same parameters each time.
        history_size: curvature pairs kept (MATLAB's ``HistorySize``, 10).
        line_search: ``"weak_wolfe"`` (MATLAB's default), ``"strong_wolfe"`` (torch's, the
            engine's) or ``"backtracking"``; MATLAB's spellings ("weak-wolfe") work too.
        initial_inverse_hessian_factor: the initial inverse Hessian ``lambda I`` before any
            pair is stored (MATLAB's ``InitialInverseHessianFactor``, 1).
        initial_step_size: the first iteration's trial step; ``"auto"``:
            ``min(1, 1 / ||g||_1) * learning_rate`` (torch's rule). Later iterations try
            ``learning_rate``.
        max_line_search_iterations: loss evaluations a line search may take (20, MATLAB's).
        learning_rate: the trial step length after the first iteration (1: the quasi-Newton
            step).

    Returns:
        ``(params, state)``. A failed line search keeps the best point it found that
        decreases the loss (or does not move) and says ``"failed"``; a gradient whose every
        element is below 1e-7, or a direction that does not descend (``g'd >= 0``; with
        ``"strong_wolfe"``, ``g'd > -1e-9`` as in torch's LBFGS) does not move and says
        ``"converged"``.

    Raises:
        NetTrainError: bad options, a state from another update, ``loss_fn`` not callable or
            returning something that is not a loss (see
            :func:`~nettrain.functional.value_and_grad`).

    Example:
        >>> rosen = lambda p: (1 - p["x"][0]) ** 2 + 100 * (p["x"][1] - p["x"][0] ** 2) ** 2
        >>> params, state = {"x": torch.tensor([-1.2, 1.0], dtype=torch.float64)}, None
        >>> for _ in range(60):
        ...     params, state = lbfgs_update(params, rosen, state)
        >>> [round(v, 5) for v in params["x"].tolist()], state["line_search_status"]
        ([1.0, 1.0], 'converged')
    """
    if not callable(loss_fn):
        raise NetTrainError(
            f"{_METHOD}: loss_fn",
            "is not callable",
            expected="a function loss_fn(params) returning the loss",
            received=describe(loss_fn),
        )
    size, search, factor, first, limit, rate = _check_options(
        history_size,
        line_search,
        initial_inverse_hessian_factor,
        initial_step_size,
        max_line_search_iterations,
        learning_rate,
    )
    new = _start_state(state, size, factor)
    point = _Point(params, loss_fn)
    if new["gradients"] is None:
        f0, g0 = point.evaluate(point.start)
    else:
        f0, g0 = float(new["loss"]), new["gradients"]
        if g0.numel() != sum(p.numel() for p in point.start):
            raise NetTrainError(
                f"{_METHOD}: state",
                "belongs to other parameters",
                expected=f"a state for {sum(p.numel() for p in point.start)} parameter values",
                received=f"a state for {g0.numel()}",
            )
    result = params
    status = "converged"
    if g0.abs().max() > _GRADIENT_TOLERANCE:
        d = _direction(g0, new)
        if new["iteration"] == 0:
            # 1 / ||g||_1 rounded in the gradient's dtype first, as torch's LBFGS computes it
            t = first if first is not None else min(1.0, float(1.0 / g0.abs().sum())) * rate
        else:
            t = rate
        gtd = float(g0.dot(d))
        # torch's LBFGS stops once the predicted decrease is below an absolute 1e-9 (kept for
        # the strong-Wolfe path, which is the engine's step); the other searches go on while
        # the direction descends at all, so a loss of small scale still converges tightly.
        if gtd > (-_DESCENT_TOLERANCE if search == "strong_wolfe" else 0.0):
            status = "converged"  # the predicted decrease is below round-off: nothing to gain
            point.set(point.start)
        else:
            if search == "strong_wolfe":
                f1, g1, t, _ = _strong_wolfe(point.along(d), None, t, d, f0, g0, gtd, max_ls=limit)
                status = "completed"
            elif search == "weak_wolfe":
                t, f1, g1, status = _weak_wolfe(point, d, t, f0, gtd, limit)
            else:
                t, f1, g1, status = _backtracking(point, d, t, f0, gtd, limit)
            t = float(t)
            if g1 is None:  # no acceptable point: stay where we are
                t, f1, g1 = 0.0, f0, g0
            result = point.set(point.moved(t, d) if t else point.start)
            s, y = d.mul(t), g1.sub(g0)
            ys = y.dot(s)  # kept as tensors, as torch's LBFGS keeps them: the same rounding
            if ys > _CURVATURE_TOLERANCE:
                if len(new["step_history"]) == size:
                    for key in ("step_history", "gradient_difference_history", "rho"):
                        new[key].pop(0)
                new["step_history"].append(s)
                new["gradient_difference_history"].append(y)
                new["rho"].append(1.0 / ys)
                new["inverse_hessian_factor"] = ys / y.dot(y)
            f0, g0 = f1, g1
            new["iteration"] += 1
    else:
        result = point.set(point.start)
    new.update(
        loss=f0,
        gradients=g0,
        line_search_status=status,
        function_evaluations=new["function_evaluations"] + point.evaluations,
    )
    return result, new
