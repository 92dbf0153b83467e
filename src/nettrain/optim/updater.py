"""The updater: one object that applies NetTrain's update rules to a net's parameters.

An :class:`Updater` wraps a ``torch.optim`` optimizer built by
:func:`~nettrain.optim.builder.build_updater`, which resolves everything that depends on the net
(which parameter gets which multiplier, L2 coefficient, clipping bound) once, grouped by value,
so that a training step costs one ``torch._foreach_*`` call per distinct value on top of the
optimizer's own step.

NetTrain semantics, in the order a step applies them:

1. learning-rate schedule: every group's ``lr = multiplier * learning_rate * f(step, total)``
   (nothing is touched when there is no schedule);
2. negative multipliers reverse the gradient (``g <- -g``), and the rate uses ``|multiplier|``;
3. ``gradient_clipping`` clamps every gradient *element* to ``[-v, v]`` (MXNet's
   ``clip_gradient``, which NetTrain used; not a norm clip), before weight decay is added;
4. the optimizer step, with ``l2_regularization`` as coupled ``weight_decay`` (decoupled for
   adamw, where it replaces the default 0.01);
5. ``weight_clipping`` clamps every weight to ``[-v, v]``.

Two learning rates can be read at any time: :attr:`Updater.learning_rate`, the base rate the
*next* update will use (``base * f(step_count, total)``), and
:attr:`Updater.last_learning_rate`, the base rate the most recent update *used* (the initial
rate before the first update). After the last planned update the two differ: a linear
schedule's next rate is 0, but its last update used ``initial / total``.

:meth:`Updater.set_learning_rate` replaces the base rate (the method's ``learning_rate`` at
the start) from the next update on; it is how a progress function's ``{"learning_rate": x}``
reaches the updates. The three factors compose: a parameter group's rate is ``x * |multiplier|
* f(step_count, total)``, so a schedule keeps shaping the rate around the new base (a
``"cosine"`` schedule goes on decaying from ``x``, not from the initial rate), and
``learning_rate_multipliers`` keep their ratios. The optimizer's state (momentum, Adam's
moments) is kept, exactly as setting ``group["lr"]`` on a ``torch.optim`` optimizer.

lbfgs (full batch, as MATLAB's ``lbfgsupdate``) has one step length for all parameters, and
torch's ``LBFGS`` has no weight decay: ``l2_regularization`` there adds ``0.5 * l2 * ||w||^2``
to the loss and ``l2 * w`` to the gradient inside the closure, so the line search sees the same
objective it descends.

Example:
    >>> import torch
    >>> from nettrain.optim import build_updater
    >>> net = torch.nn.Linear(2, 1)
    >>> updater = build_updater(
    ...     net, ("sgd", {"learning_rate_schedule": lambda b, t: 1 - b / t}), total_steps=2
    ... )
    >>> for _ in range(2):
    ...     net(torch.ones(1, 2)).sum().backward()
    ...     _ = updater.step()
    >>> updater.last_learning_rate, updater.learning_rate
    (0.005, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..errors import NetTrainError, describe
from ..scalars import as_real
from ..schedules import Schedule
from .methods import MethodSpec

__all__ = ["Closure", "Updater", "ValueGroups", "check_learning_rate"]

Closure = Callable[[], torch.Tensor]
# (value, parameters) pairs: one foreach call per distinct clipping bound or L2 coefficient.
ValueGroups = list[tuple[float, list[torch.Tensor]]]


class Updater:
    """Applies one training update at a time; built by :func:`~nettrain.optim.build_updater`.

    The training loop uses exactly: :attr:`needs_closure`, :meth:`zero_grad`, :meth:`step`,
    :attr:`step_count`, :attr:`learning_rate`, :meth:`state_dict` / :meth:`load_state_dict`;
    ``train`` calls :meth:`set_learning_rate` for a progress function's request.
    :attr:`last_learning_rate` is the rate to report as the one the training ended with.

    Attributes:
        spec: the :class:`MethodSpec` it was built from.
        needs_closure: True for lbfgs, whose :meth:`step` must be given a closure.
        step_count: updates done so far (the schedule's ``batch`` argument).
        initial_learning_rate: the method's base learning rate (kept when
            :meth:`set_learning_rate` changes the base rate).
        total_steps: the number of updates the schedule is planned over (or None).
        multipliers: ``{parameter name: effective multiplier}`` for every parameter, 0 if frozen.
        frozen: names of the parameters that are not trained.
        parameters: the trained parameters, in the net's order.
        implementation: "fused", "foreach" or "lbfgs": how the optimizer runs.
        optimizer: the wrapped ``torch.optim.Optimizer``.
    """

    def __init__(
        self,
        *,
        spec: MethodSpec,
        optimizer: torch.optim.Optimizer,
        implementation: str,
        parameters: list[torch.Tensor],
        multipliers: dict[str, float],
        frozen: list[str],
        schedule: Schedule | None,
        total_steps: int | None,
        reversed_parameters: list[torch.Tensor],
        gradient_clipping: ValueGroups,
        weight_clipping: ValueGroups,
        closure_l2: ValueGroups,
    ) -> None:
        self.spec = spec
        self.optimizer = optimizer
        self.implementation = implementation
        self.parameters = parameters
        self.multipliers = multipliers
        self.frozen = frozen
        self.needs_closure = spec.name == "lbfgs"
        self.step_count = 0
        self.initial_learning_rate = spec.learning_rate
        self.total_steps = total_steps
        self._schedule = schedule
        # The base rate: the method's, until set_learning_rate replaces it.
        self._rate = spec.learning_rate
        # The base rate times the schedule's factor that the last step used (None before any
        # step, and after load_state_dict from a state that does not say).
        self._last_rate: float | None = None
        # The group's learning rate before the schedule: multiplier * base rate.
        self._base_lrs = [(group, float(group["lr"])) for group in optimizer.param_groups]
        self._group_multipliers = [
            _group_multiplier(lr, spec.learning_rate, multipliers) for _, lr in self._base_lrs
        ]
        self._reversed = reversed_parameters
        self._gradient_clipping = gradient_clipping
        self._weight_clipping = weight_clipping
        self._closure_l2 = closure_l2
        # Precomputed so the common case (no reversal, no clipping) costs one branch per step.
        self._touch_grads = bool(reversed_parameters or gradient_clipping)

    @property
    def learning_rate(self) -> float:
        """The base learning rate the next update uses: ``base * f(step_count, total)``.

        ``base`` is the method's learning rate, or the last :meth:`set_learning_rate` value.
        Use :attr:`last_learning_rate` for the rate an update already made used.
        """
        return self._rate_at(self.step_count)

    @property
    def last_learning_rate(self) -> float:
        """The base learning rate the most recent update used.

        ``base * f(step_count - 1, total)`` with a schedule, else ``base``, where ``base`` is
        the base rate that update ran with (see :meth:`set_learning_rate`); before the first
        update (``step_count == 0``) it is :attr:`initial_learning_rate`. "Base" means before
        ``learning_rate_multipliers``: a parameter with multiplier ``r`` was updated with
        ``|r|`` times this rate. It is also right after :meth:`load_state_dict`: the state
        holds it.
        """
        if self.step_count == 0:
            return self.initial_learning_rate
        if self._last_rate is not None:
            return self._last_rate
        # a state saved before the rate was recorded: schedules are pure functions of
        # (batch, total), so the rate follows from the step count
        return self._rate_at(self.step_count - 1)

    def _rate_at(self, batch: int) -> float:
        if self._schedule is None:
            return self._rate
        assert self.total_steps is not None  # checked by build_updater
        return self._rate * self._schedule(batch, self.total_steps)

    def set_learning_rate(self, value: float) -> None:
        """Make ``value`` the base learning rate of every update from the next one on.

        Every parameter group's rate becomes ``value * |multiplier|`` (times the learning-rate
        schedule's factor ``f(step_count, total)`` at each step, when the method has one); the
        optimizer's state is kept. :attr:`learning_rate` shows the new rate at once,
        :attr:`last_learning_rate` after the next update. lbfgs takes it as its step length
        (torch's ``LBFGS`` reads ``lr`` at every step). :attr:`initial_learning_rate` stays the
        method's rate.

        Raises:
            NetTrainError: ``value`` is not a finite number > 0.

        >>> import torch
        >>> from nettrain.optim import build_updater
        >>> updater = build_updater(torch.nn.Linear(2, 1), ("sgd", {"learning_rate": 0.1}),
        ...                         multipliers={"bias": 0.5})
        >>> updater.set_learning_rate(0.02)
        >>> updater.learning_rate, sorted(g["lr"] for g in updater.optimizer.param_groups)
        (0.02, [0.01, 0.02])
        """
        rate = check_learning_rate(value, "learning_rate")
        self._rate = rate
        self._base_lrs = [
            (group, rate * m)
            for (group, _), m in zip(self._base_lrs, self._group_multipliers, strict=True)
        ]
        if self._schedule is None:  # with a schedule, step() sets the rates
            for group, base in self._base_lrs:
                group["lr"] = base

    def zero_grad(self) -> None:
        """Drop every trained parameter's gradient (``set_to_none=True``: no memset)."""
        self.optimizer.zero_grad(set_to_none=True)

    def _prepare_grads(self) -> None:
        # Reversal first, then clipping: the clip bound applies to the gradient actually used.
        if self._reversed:
            grads = [p.grad for p in self._reversed if p.grad is not None]
            if grads:
                torch._foreach_neg_(grads)
        for bound, params in self._gradient_clipping:
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                torch._foreach_clamp_min_(grads, -bound)
                torch._foreach_clamp_max_(grads, bound)

    def _lbfgs_closure(self, closure: Closure) -> Closure:
        # L-BFGS evaluates the closure several times per step (line search) and reads the
        # gradients after each call, so the gradient rules must run inside it. L2 is added to
        # both the loss and the gradient (torch's LBFGS has no weight_decay), keeping the line
        # search consistent with the gradient it follows.
        def wrapped() -> torch.Tensor:
            loss = closure()
            with torch.no_grad():
                self._prepare_grads()
                for coefficient, params in self._closure_l2:
                    for p in params:
                        if p.grad is None:
                            p.grad = torch.zeros_like(p)
                    grads = [p.grad for p in params]
                    torch._foreach_add_(grads, params, alpha=coefficient)  # type: ignore[arg-type]
                    norms = torch.stack(torch._foreach_norm(params))
                    loss = loss + 0.5 * coefficient * norms.square().sum()
            return loss

        return wrapped

    def step(self, closure: Closure | None = None) -> torch.Tensor | None:
        """Apply one update to the trained parameters from their current gradients.

        Args:
            closure: a function that zeroes the gradients, runs forward and backward and
                returns the loss. Required for lbfgs (called several times per step); optional
                otherwise (called once, before the update).

        Returns:
            The closure's loss (for lbfgs: the loss at the start of the step), else None.

        Raises:
            TypeError: lbfgs without a closure.
        """
        if self._schedule is not None:
            factor = self._schedule(self.step_count, self.total_steps)  # type: ignore[arg-type]
            for group, base in self._base_lrs:
                group["lr"] = base * factor
            self._last_rate = self._rate * factor
        else:
            self._last_rate = self._rate
        loss: torch.Tensor | None = None
        if self.needs_closure:
            if closure is None:
                raise TypeError("lbfgs needs a closure: step(closure) with closure() -> loss")
            # torch types the closure as returning float; LBFGS accepts (and returns) a tensor.
            loss = self.optimizer.step(self._lbfgs_closure(closure))  # type: ignore[arg-type,assignment]
        else:
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            if self._touch_grads:
                with torch.no_grad():
                    self._prepare_grads()
            self.optimizer.step()
        if self._weight_clipping:
            with torch.no_grad():
                for bound, params in self._weight_clipping:
                    torch._foreach_clamp_min_(params, -bound)
                    torch._foreach_clamp_max_(params, bound)
        self.step_count += 1
        return loss

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: the optimizer's state, the step count, the
        base learning rate and the rate the last update used.

        As with ``torch.optim``, tensors are shared with the live state, not copied: serialise
        the result (or ``copy.deepcopy`` it) before taking more steps if you need a snapshot.
        """
        return {
            "optimizer": self.optimizer.state_dict(),
            "step_count": self.step_count,
            **self._rate_state(),
        }

    def _rate_state(self) -> dict[str, float | None]:
        return {"learning_rate": self._rate, "last_learning_rate": self._last_rate}

    def _load_rate_state(self, state: dict[str, Any]) -> None:
        """The rates of a state (one saved before they were recorded: the method's)."""
        rate = state.get("learning_rate")
        self._last_rate = state.get("last_learning_rate")
        if rate is not None:
            self.set_learning_rate(rate)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (from an updater built the same way).

        Raises:
            NetTrainError: if ``state`` is not such a dict or does not fit this updater.
        """
        if not isinstance(state, dict) or "optimizer" not in state or "step_count" not in state:
            raise NetTrainError(
                "state",
                "not an updater state",
                expected="a dict with 'optimizer' and 'step_count' from Updater.state_dict()",
                received=describe(state),
            )
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, TypeError) as err:
            raise NetTrainError(
                "state",
                f"the optimizer state does not fit this net or method ({err})",
                hint="resume with the same net, method and learning_rate_multipliers",
            ) from None
        self.step_count = int(state["step_count"])
        # torch replaces the group dicts with copies of the saved ones (their rates included):
        # point the schedule at the new dicts and put back this updater's base rates.
        self.rebind_groups()
        if self._schedule is None:
            for group, base in self._base_lrs:
                group["lr"] = base
        self._load_rate_state(state)

    def rebind_groups(self) -> None:
        """Point the rates at the optimizer's param groups again, after ``load_state_dict``
        replaced the group dicts (the base rates stay this updater's)."""
        bases = [base for _, base in self._base_lrs]
        self._base_lrs = list(zip(self.optimizer.param_groups, bases, strict=True))

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: the method's description plus how it runs on this net.

        Keys: those of :meth:`MethodSpec.describe`, ``implementation``, ``frozen``,
        ``learning_rate_multipliers`` (only the parameters whose multiplier is not 1) and
        ``total_steps``.
        """
        out = self.spec.describe()
        out["implementation"] = self.implementation
        out["frozen"] = list(self.frozen)
        out["learning_rate_multipliers"] = {
            name: value for name, value in self.multipliers.items() if value != 1.0
        }
        out["total_steps"] = self.total_steps
        return out

    def __repr__(self) -> str:
        return (
            f"Updater({self.spec.name}, learning_rate={self.initial_learning_rate:g}, "
            f"parameters={len(self.parameters)}, frozen={len(self.frozen)}, "
            f"implementation={self.implementation!r}, step_count={self.step_count})"
        )


def check_learning_rate(value: object, argument: str) -> float:
    """``value`` as a float when it is a finite number > 0, else a NetTrainError naming
    ``argument``.

    >>> check_learning_rate(0.5, "learning_rate")
    0.5
    """
    number = as_real(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise NetTrainError(
            argument,
            "a learning rate must be a finite number > 0",
            expected="a finite number > 0",
            received=describe(value),
            hint="to reverse the gradient of some parameters, keep the rate positive and give "
            "them a negative learning_rate_multipliers entry"
            if number is not None and number < 0
            else None,
        )
    return number


def _group_multiplier(lr: float, initial: float, multipliers: dict[str, float]) -> float:
    """The |multiplier| a param group's rate was built with (``initial * |m|``).

    The builder's exact product is matched against the net's multipliers, so the rate
    ``value * |m|`` after :meth:`Updater.set_learning_rate` is the same float a torch
    optimizer built with ``value`` would hold; the quotient is only a fallback.
    """
    for m in sorted({abs(v) for v in multipliers.values() if v != 0}):
        if initial * m == lr:
            return m
    return lr / initial
