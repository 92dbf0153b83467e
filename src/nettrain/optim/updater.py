"""The updater: one object that applies NetTrain's update rules to a net's parameters.

:func:`build_updater` turns a :class:`~nettrain.optim.methods.MethodSpec` plus the
``learning_rate_multipliers`` option into an :class:`Updater` wrapping a ``torch.optim``
optimizer. Everything that depends on the net (which parameter gets which multiplier, L2
coefficient, clipping bound) is resolved once here, grouped by value, so that a training step
costs one ``torch._foreach_*`` call per distinct value on top of the optimizer's own step.

NetTrain semantics, in the order a step applies them:

1. learning-rate schedule: every group's ``lr = multiplier * learning_rate * f(step, total)``
   (nothing is touched when there is no schedule);
2. negative multipliers reverse the gradient (``g <- -g``), and the rate uses ``|multiplier|``;
3. ``gradient_clipping`` clamps every gradient *element* to ``[-v, v]`` (MXNet's
   ``clip_gradient``, which NetTrain used; not a norm clip), before weight decay is added;
4. the optimizer step, with ``l2_regularization`` as coupled ``weight_decay`` (decoupled for
   adamw, where it replaces the default 0.01);
5. ``weight_clipping`` clamps every weight to ``[-v, v]``.

A multiplier of 0 freezes a parameter: it is not given to the optimizer at all, so its weights
(and, for adamw, its weight decay) stay untouched; :attr:`Updater.frozen` names those parameters.
Parameters whose ``requires_grad`` is already ``False`` are treated as frozen too.

lbfgs (full batch, as MATLAB's ``lbfgsupdate``) has one step length for all parameters, so its
multipliers may only be 0 or one common positive value, and torch's ``LBFGS`` has no weight
decay: ``l2_regularization`` there adds ``0.5 * l2 * ||w||^2`` to the loss and ``l2 * w`` to the
gradient inside the closure, so the line search sees the same objective it descends.

The ``fused`` choice: on this project's CPU (torch 2.13), a fused Adam step of a 2M-parameter
MLP took 0.8 ms against 7 ms for foreach and 11 ms for torch's default per-tensor loop; on a
tiny net the fused kernel was no faster. Hence the choice is exposed, for the engine and the
benchmarks to make.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import NetTrainError, describe
from ..options.parts import resolve_parts
from ..schedules import Schedule, resolve_schedule
from .methods import MethodSpec, parse_method
from .schedule_groups import ScheduleGroup, parse_update_schedule
from .signum import Signum

__all__ = ["ScheduledUpdater", "Updater", "build_updater"]

Closure = Callable[[], torch.Tensor]
_ValueGroups = list[tuple[float, list[torch.Tensor]]]


class Updater:
    """Applies one training update at a time; built by :func:`build_updater`.

    The training loop uses exactly: :attr:`needs_closure`, :meth:`zero_grad`, :meth:`step`,
    :attr:`step_count`, :attr:`learning_rate`, :meth:`state_dict` / :meth:`load_state_dict`.

    Attributes:
        spec: the :class:`MethodSpec` it was built from.
        needs_closure: True for lbfgs, whose :meth:`step` must be given a closure.
        step_count: updates done so far (the schedule's ``batch`` argument).
        initial_learning_rate: the method's base learning rate.
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
        gradient_clipping: _ValueGroups,
        weight_clipping: _ValueGroups,
        closure_l2: _ValueGroups,
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
        # The group's learning rate before the schedule: multiplier * base rate.
        self._base_lrs = [(group, float(group["lr"])) for group in optimizer.param_groups]
        self._reversed = reversed_parameters
        self._gradient_clipping = gradient_clipping
        self._weight_clipping = weight_clipping
        self._closure_l2 = closure_l2
        # Precomputed so the common case (no reversal, no clipping) costs one branch per step.
        self._touch_grads = bool(reversed_parameters or gradient_clipping)

    @property
    def learning_rate(self) -> float:
        """The base learning rate the next update uses: ``initial * f(step_count, total)``."""
        if self._schedule is None:
            return self.initial_learning_rate
        assert self.total_steps is not None  # checked by build_updater
        return self.initial_learning_rate * self._schedule(self.step_count, self.total_steps)

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
        """Everything needed to continue exactly: the optimizer's state and the step count.

        As with ``torch.optim``, tensors are shared with the live state, not copied: serialise
        the result (or ``copy.deepcopy`` it) before taking more steps if you need a snapshot.
        """
        return {"optimizer": self.optimizer.state_dict(), "step_count": self.step_count}

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
        bases = [base for _, base in self._base_lrs]
        self._base_lrs = list(zip(self.optimizer.param_groups, bases, strict=True))
        if self._schedule is None:
            for group, base in self._base_lrs:
                group["lr"] = base

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


class ScheduledUpdater(Updater):
    """An :class:`Updater` that updates one group of parameters per step, in turn.

    Built by :func:`build_updater` for ``update_schedule``. Each distinct group has a member
    :class:`Updater` with its own torch optimizer, so a group's optimizer state (Adam's moments,
    momentum, step counts) advances only on its own turns, exactly as if each group had a
    separate optimizer stepped in the schedule's order. The step count is global: the
    learning-rate schedule sees every step, whichever group it updates. A step's backward still
    computes the inactive groups' gradients (the net's ``requires_grad`` flags are left alone);
    :meth:`zero_grad` drops them all.

    Attributes (beyond :class:`Updater`'s):
        groups: the :class:`~nettrain.optim.schedule_groups.ScheduleGroup` entries, in order.
        members: one :class:`Updater` per distinct group (``group.slot`` indexes it).
        optimizers: the members' torch optimizers; ``optimizer`` is the one used last (the
            first group's before any step).
    """

    def __init__(
        self,
        *,
        spec: MethodSpec,
        members: list[Updater],
        groups: list[ScheduleGroup],
        parameters: list[torch.Tensor],
        multipliers: dict[str, float],
        frozen: list[str],
        schedule: Schedule | None,
        total_steps: int | None,
    ) -> None:
        # Updater.__init__ describes a single optimizer; this one only delegates to members.
        self.spec = spec
        self.members = members
        self.groups = groups
        self.optimizers = [member.optimizer for member in members]
        self.optimizer = members[groups[0].slot].optimizer
        self.implementation = members[0].implementation
        self.parameters = parameters
        self.multipliers = multipliers
        self.frozen = frozen
        self.needs_closure = False  # lbfgs is refused with a schedule
        self.step_count = 0
        self.initial_learning_rate = spec.learning_rate
        self.total_steps = total_steps
        self._schedule = schedule
        # The cycle unrolled, one entry index per step: step n updates entry _cycle[n % len].
        self._cycle = tuple(i for i, group in enumerate(groups) for _ in range(group.steps))

    @property
    def active_group(self) -> int:
        """The index (into :attr:`groups`) of the entry the next :meth:`step` updates."""
        return self._cycle[self.step_count % len(self._cycle)]

    def zero_grad(self) -> None:
        """Drop the gradients of every group's parameters, active or not."""
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)

    def step(self, closure: Closure | None = None) -> torch.Tensor | None:
        """Update the active group's parameters (see :meth:`Updater.step`), then move on."""
        member = self.members[self.groups[self.active_group].slot]
        member.step_count = self.step_count  # the learning-rate schedule counts all steps
        self.optimizer = member.optimizer
        loss = member.step(closure)
        self.step_count += 1
        return loss

    def state_dict(self) -> dict[str, Any]:
        """Every group's optimizer state, the step count and the position in the cycle."""
        return {
            "optimizer": [member.optimizer.state_dict() for member in self.members],
            "step_count": self.step_count,
            "update_schedule": {
                "groups": len(self.members),
                "cycle_length": len(self._cycle),
                "position": self.step_count % len(self._cycle),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, from an updater with the same schedule.

        Raises:
            NetTrainError: if ``state`` is not such a dict or does not fit this schedule.
        """
        saved = state.get("update_schedule") if isinstance(state, dict) else None
        mine = {"groups": len(self.members), "cycle_length": len(self._cycle)}
        if (
            not isinstance(saved, dict)
            or not isinstance(state.get("optimizer"), list)
            or "step_count" not in state
        ):
            raise NetTrainError(
                "state",
                "not the state of an updater with a training_update_schedule",
                expected="a dict from ScheduledUpdater.state_dict()",
                received=describe(state),
                hint="resume with the same training_update_schedule the state was saved with",
            )
        if {key: saved.get(key) for key in mine} != mine:
            raise NetTrainError(
                "state",
                "the saved update schedule differs from this one",
                expected=f"{mine['groups']} groups in a cycle of {mine['cycle_length']} steps",
                received=f"{saved.get('groups')} groups in a cycle of "
                f"{saved.get('cycle_length')} steps",
                hint="resume with the same training_update_schedule the state was saved with",
            )
        step_count = int(state["step_count"])
        for member, optimizer_state in zip(self.members, state["optimizer"], strict=True):
            member.load_state_dict({"optimizer": optimizer_state, "step_count": step_count})
        # The cycle position follows from the step count, so restoring it resumes the cycle.
        self.step_count = step_count

    def describe(self) -> dict[str, Any]:
        """:meth:`Updater.describe` plus ``update_schedule``: each entry's group, hold count
        and parameters."""
        out = super().describe()
        out["update_schedule"] = [group.describe() for group in self.groups]
        return out

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", groups={len(self.groups)})"


def _by_value(
    named: Sequence[tuple[str, torch.Tensor]], values: dict[str, float], skip: float
) -> _ValueGroups:
    """Group parameters by value (first-appearance order), leaving out those equal to ``skip``."""
    groups: dict[float, list[torch.Tensor]] = {}
    for name, p in named:
        value = values[name]
        if value != skip:
            groups.setdefault(value, []).append(p)
    return list(groups.items())


def _resolve(
    net: nn.Module, spec: object, default: float, argument: str, positive: bool
) -> dict[str, float]:
    names = [n for n, _ in net.named_parameters()]
    if spec is None:
        return dict.fromkeys(names, default)
    values = resolve_parts(net, spec, default=default, argument=argument)
    if positive:
        bad = [(n, v) for n, v in values.items() if v == 0]
        if bad:
            raise NetTrainError(
                argument,
                f"a clipping bound of 0 (for {bad[0][0]!r}) would zero every element",
                expected="a finite number > 0",
                received="0",
                hint="leave the parameter out of the rules to not clip it",
            )
    return values


def _check_total_steps(total_steps: object, needed: bool) -> int | None:
    if total_steps is None:
        if needed:
            raise NetTrainError(
                "total_steps",
                "a learning-rate schedule needs the planned number of updates",
                expected="an int >= 1",
                received="None",
                hint="pass total_steps=... to build_updater, or drop learning_rate_schedule",
            )
        return None
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise NetTrainError(
            "total_steps",
            "must be a positive integer",
            expected="an int >= 1",
            received=describe(total_steps),
        )
    return total_steps


def _make_optimizer(
    spec: MethodSpec, groups: list[dict[str, Any]], fused: bool | None
) -> tuple[torch.optim.Optimizer, str]:
    h = spec.hyper
    lr = spec.learning_rate
    if spec.name in ("adam", "adamw", "sgd") and fused:
        try:
            return _torch_optimizer(spec, groups, lr, h, {"fused": True}), "fused"
        except RuntimeError:  # older torch, or a device/dtype without fused kernels
            pass
    if spec.name == "signsgd":
        return Signum(groups, lr=lr, momentum=h["momentum"]), "foreach"
    if spec.name == "lbfgs":
        optimizer = torch.optim.LBFGS(
            groups[0]["params"],
            lr=groups[0]["lr"],
            max_iter=h["max_iterations"],
            history_size=h["history_size"],
            line_search_fn=h["line_search"],
        )
        return optimizer, "lbfgs"
    # torch's own default on CPU is the per-tensor loop; foreach is never slower there.
    return _torch_optimizer(spec, groups, lr, h, {"foreach": True}), "foreach"


def _torch_optimizer(
    spec: MethodSpec, groups: list[dict[str, Any]], lr: float, h: Any, impl: dict[str, bool]
) -> torch.optim.Optimizer:
    if spec.name == "adam":
        return torch.optim.Adam(
            groups, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["epsilon"], **impl
        )
    if spec.name == "adamw":
        return torch.optim.AdamW(
            groups, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["epsilon"], **impl
        )
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=lr, alpha=h["beta"], eps=h["epsilon"], momentum=h["momentum"], **impl
        )
    return torch.optim.SGD(groups, lr=lr, momentum=h["momentum"], **impl)


def build_updater(
    net: nn.Module,
    spec: MethodSpec | object,
    *,
    multipliers: object = None,
    total_steps: int | None = None,
    fused: bool | None = None,
    update_schedule: object = None,
) -> Updater:
    """Build the :class:`Updater` that trains ``net`` with the method ``spec``.

    Args:
        net: the module whose ``named_parameters()`` are trained (materialise lazy modules
            first).
        spec: a :class:`MethodSpec` from :func:`~nettrain.optim.parse_method` (anything else is
            passed to ``parse_method`` first, e.g. ``"sgd"`` or ``("adam", {"beta1": 0.8})``).
        multipliers: the ``learning_rate_multipliers`` option: None (1 for all), a number, or a
            part spec ``{part: r}``. 0 freezes, ``r > 0`` scales the learning rate, ``r < 0``
            reverses the gradient with rate ``|r| * learning_rate``.
        total_steps: the planned number of updates, required when the method has a
            ``learning_rate_schedule`` (its ``total`` argument).
        fused: True to use torch's fused kernels (adam, adamw, sgd, where the torch version,
            device and dtype support them; otherwise foreach); None or False: the foreach
            implementation. ``Updater.implementation`` says which one runs.
        update_schedule: the ``training_update_schedule`` option: None (every parameter at
            every step), or a list of groups updated in turn, one per step, cycling, each a part
            or ``(part, k)`` to hold it for k steps (see :mod:`.schedule_groups`). Parameters no
            group names are frozen; each group keeps its own optimizer state; multipliers, L2,
            clipping and the learning-rate schedule (counted in all steps) still apply.

    Returns:
        The :class:`Updater`; with an update schedule, a :class:`ScheduledUpdater`.

    Raises:
        NetTrainError: a part spec that does not fit the net, every parameter frozen, a
            schedule without ``total_steps``, lbfgs with per-parameter learning rates or
            negative multipliers (L-BFGS has a single step length), or a bad update schedule
            (also refused with lbfgs).

    Example:
        >>> torch.manual_seed(0) and None
        >>> net = nn.Linear(2, 1)
        >>> updater = build_updater(net, parse_method("sgd", 0.1), multipliers={"bias": 0})
        >>> updater.frozen, updater.multipliers
        (['bias'], {'weight': 1.0, 'bias': 0.0})
        >>> net(torch.ones(1, 2)).sum().backward()
        >>> bias = net.bias.detach().clone()
        >>> updater.step() is None, torch.equal(net.bias, bias), updater.step_count
        (True, True, 1)

        Alternating two layers, the second held for two steps; the middle one is frozen:

        >>> net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 1))
        >>> updater = build_updater(net, "adam", update_schedule=[0, (2, 2)])
        >>> updater.frozen
        ['1.weight', '1.bias']
        >>> order = []
        >>> for _ in range(5):
        ...     order.append(updater.active_group)
        ...     updater.step()
        >>> order
        [0, 1, 1, 0, 1]
    """
    if not isinstance(spec, MethodSpec):
        spec = parse_method(spec)
    named = list(net.named_parameters())
    if not named:
        raise NetTrainError(
            "net",
            "the net has no parameters to train",
            received=describe(net),
            hint="materialise lazy modules with one forward pass first",
        )
    rates = (
        dict.fromkeys((n for n, _ in named), 1.0)
        if multipliers is None
        else resolve_parts(
            net,
            multipliers,
            default=1.0,
            argument="learning_rate_multipliers",
            allow_negative=True,
        )
    )
    rates = {n: (rates[n] if p.requires_grad else 0.0) for n, p in named}
    trained = [(n, p) for n, p in named if rates[n] != 0]
    if not trained:
        raise NetTrainError(
            "learning_rate_multipliers",
            "every parameter is frozen, so there is nothing to train",
            expected="a multiplier other than 0 for at least one parameter",
            received=repr(multipliers),
        )
    l2_default = float(spec.hyper["weight_decay"]) if spec.name == "adamw" else 0.0
    l2 = _resolve(net, spec.l2_regularization, l2_default, "method['l2_regularization']", False)
    grad_clip = _resolve(net, spec.gradient_clipping, math.inf, "method['gradient_clipping']", True)
    weight_clip = _resolve(net, spec.weight_clipping, math.inf, "method['weight_clipping']", True)
    schedule = resolve_schedule(spec.schedule, argument="method['learning_rate_schedule']")
    steps = _check_total_steps(total_steps, schedule is not None)

    frozen = [n for n, _ in named if rates[n] == 0]
    values = (l2, grad_clip, weight_clip)
    if update_schedule is not None:
        return _build_scheduled(
            net, spec, update_schedule, named, rates, values, fused, schedule, steps
        )
    return _assemble(spec, trained, rates, frozen, values, fused, schedule, steps)


_PartValues = tuple[dict[str, float], dict[str, float], dict[str, float]]


def _assemble(
    spec: MethodSpec,
    trained: Sequence[tuple[str, torch.Tensor]],
    rates: dict[str, float],
    frozen: list[str],
    values: _PartValues,
    fused: bool | None,
    schedule: Schedule | None,
    steps: int | None,
) -> Updater:
    """One :class:`Updater` over ``trained``.

    Raises:
        NetTrainError: lbfgs with multipliers other than 0 and one common positive value.
    """
    l2, grad_clip, weight_clip = values
    closure_l2: _ValueGroups = []
    if spec.name == "lbfgs":
        distinct = {rates[n] for n, _ in trained}
        if len(distinct) > 1 or min(distinct) < 0:
            raise NetTrainError(
                "learning_rate_multipliers",
                "lbfgs takes one step length for all parameters, so multipliers can only be "
                "0 (frozen) or one common positive value",
                expected="0 or one value > 0",
                received=", ".join(f"{v:g}" for v in sorted(distinct)),
                hint="use another method for per-part or negative multipliers",
            )
        groups = [{"params": [p for _, p in trained], "lr": spec.learning_rate * distinct.pop()}]
        closure_l2 = _by_value(trained, l2, 0.0)
    else:
        # One torch param group per distinct (|multiplier|, L2) pair.
        by_key: dict[tuple[float, float], list[torch.Tensor]] = {}
        for n, p in trained:
            by_key.setdefault((abs(rates[n]), l2[n]), []).append(p)
        groups = [
            {"params": params, "lr": spec.learning_rate * rate, "weight_decay": decay}
            for (rate, decay), params in by_key.items()
        ]
    optimizer, implementation = _make_optimizer(spec, groups, fused)
    return Updater(
        spec=spec,
        optimizer=optimizer,
        implementation=implementation,
        parameters=[p for _, p in trained],
        multipliers=rates,
        frozen=frozen,
        schedule=schedule,
        total_steps=steps,
        # lbfgs's multipliers are all positive (checked above), so none is reversed there.
        reversed_parameters=[p for n, p in trained if rates[n] < 0],
        gradient_clipping=_by_value(trained, grad_clip, math.inf),
        weight_clipping=_by_value(trained, weight_clip, math.inf),
        closure_l2=closure_l2,
    )


def _build_scheduled(
    net: nn.Module,
    spec: MethodSpec,
    update_schedule: object,
    named: Sequence[tuple[str, torch.Tensor]],
    rates: dict[str, float],
    values: _PartValues,
    fused: bool | None,
    schedule: Schedule | None,
    steps: int | None,
) -> ScheduledUpdater:
    """The :class:`ScheduledUpdater` for ``training_update_schedule``: one member per group."""
    if spec.name == "lbfgs":
        raise NetTrainError(
            "training_update_schedule",
            "lbfgs does not support an update schedule: its line search and curvature history "
            "assume the same parameters change at every step",
            expected="no training_update_schedule with lbfgs",
            received=repr(update_schedule),
            hint='use a first-order method such as "adam" or "sgd" to update groups in turn',
        )
    groups = parse_update_schedule(net, update_schedule)
    named_once = {n for g in groups for n in g.names}
    # Parameters no group names are frozen like a multiplier of 0 (and are reported as such).
    rates = {n: (rates[n] if n in named_once else 0.0) for n, _ in named}
    frozen = [n for n, _ in named if rates[n] == 0]
    members: list[Updater] = []
    for group in groups:
        if group.slot < len(members):
            continue  # the same parameters again: shares that group's optimizer
        chosen = set(group.names)
        trained = [(n, p) for n, p in named if n in chosen and rates[n] != 0]
        if not trained:
            raise NetTrainError(
                "training_update_schedule",
                f"group {groups.index(group)} ({group.part!r}) names only frozen parameters "
                "(multiplier 0 or requires_grad=False), so its steps would train nothing",
                expected="a group with at least one trainable parameter",
                received=", ".join(group.names[:8]) + (" ..." if len(group.names) > 8 else ""),
            )
        members.append(_assemble(spec, trained, rates, frozen, values, fused, schedule, steps))
    return ScheduledUpdater(
        spec=spec,
        members=members,
        groups=groups,
        parameters=[p for n, p in named if rates[n] != 0],
        multipliers=rates,
        frozen=frozen,
        schedule=schedule,
        total_steps=steps,
    )
