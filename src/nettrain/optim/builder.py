"""Building an updater: bind a method to a net (multipliers, L2, clipping, schedules).

:func:`build_updater` turns a :class:`~nettrain.optim.methods.MethodSpec` plus the
``learning_rate_multipliers`` option into an :class:`~nettrain.optim.updater.Updater` wrapping a
``torch.optim`` optimizer (or, with ``update_schedule``, a
:class:`~nettrain.optim.scheduled.ScheduledUpdater`). Everything that depends on the net is
resolved once here, grouped by value: one torch param group per distinct
``(|multiplier|, L2)`` pair, one clamp per distinct clipping bound.

A multiplier of 0 freezes a parameter: it is not given to the optimizer at all, so its weights
(and, for adamw, its weight decay) stay untouched; :attr:`Updater.frozen` names those parameters.
Parameters whose ``requires_grad`` is already ``False`` are treated as frozen too.

lbfgs has one step length for all parameters, so its multipliers may only be 0 or one common
positive value.

A user's learning-rate schedule function is called once at batch 0 and once at batch
``total_steps - 1`` while the updater is built, so a function that returns something other than
a number from 0 to 1 there is refused before any weight changes (it is still checked at every
step).

The ``fused`` choice: on this project's CPU (torch 2.13), a fused Adam step of a 2M-parameter
MLP took 0.8 ms against 7 ms for foreach and 11 ms for torch's default per-tensor loop; on a
tiny net the fused kernel was no faster. Hence the choice is exposed, for the engine and the
benchmarks to make.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import NetTrainError, describe
from ..options.parts import resolve_parts
from ..scalars import as_int
from ..schedules import Schedule, UserSchedule, resolve_schedule
from .methods import MethodSpec, parse_method
from .schedule_groups import parse_update_schedule
from .scheduled import ScheduledUpdater
from .signum import Signum
from .updater import Updater, ValueGroups

__all__ = ["build_updater"]

_LINE_SEARCH_EVALUATIONS = 25  # torch's own default for its strong-Wolfe search (max_ls)
# The methods whose torch class has a fused kernel (torch 2.13: Adagrad's is CPU only; Adadelta,
# Adamax and RMSprop have none).
_FUSED = ("adam", "adamw", "sgd", "adagrad")


def _by_value(
    named: Sequence[tuple[str, torch.Tensor]], values: dict[str, float], skip: float
) -> ValueGroups:
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
    steps = as_int(total_steps)
    if steps is None or steps < 1:
        raise NetTrainError(
            "total_steps",
            "must be a positive integer",
            expected="an int >= 1",
            received=describe(total_steps),
        )
    return steps


def _check_user_schedule(schedule: Schedule | None, steps: int | None) -> None:
    """Call a user's schedule function at the first and the last planned update, now.

    A function that returns a bad multiplier would otherwise be found only at the step where it
    does so, after the net's weights have changed. The ends are where such functions usually go
    wrong (a decay that starts above 1, a ramp that overshoots 1 at the end); values in between
    are still checked at every step. Named schedules stay in [0, 1] by construction.
    """
    if not isinstance(schedule, UserSchedule) or steps is None:
        return
    for batch in sorted({0, steps - 1}):
        schedule(batch, steps)  # raises NetTrainError naming method['learning_rate_schedule']


def _make_optimizer(
    spec: MethodSpec, groups: list[dict[str, Any]], fused: bool | None
) -> tuple[torch.optim.Optimizer, str]:
    h = spec.hyper
    lr = spec.learning_rate
    if spec.name in _FUSED and fused:
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
            # torch's default budget (max_iter * 5 // 4 evaluations per step) is 1 for one
            # iteration per step, which leaves the strong-Wolfe search no evaluation to search
            # with: it could only take the full step or none. Each iteration gets the search's
            # own budget (25 evaluations) on top of its first evaluation.
            max_eval=h["max_iterations"] * (1 + _LINE_SEARCH_EVALUATIONS),
        )
        return optimizer, "lbfgs"
    # torch's own default on CPU is the per-tensor loop; foreach is never slower there.
    return _torch_optimizer(spec, groups, lr, h, {"foreach": True}), "foreach"


def _torch_optimizer(
    spec: MethodSpec, groups: list[dict[str, Any]], lr: float, h: Any, impl: dict[str, bool]
) -> torch.optim.Optimizer:
    # The switches (amsgrad, centered, nesterov) are in ``h`` only when on (see .methods).
    if spec.name in ("adam", "adamw"):
        adam = torch.optim.Adam if spec.name == "adam" else torch.optim.AdamW
        return adam(
            groups,
            lr=lr,
            betas=(h["beta1"], h["beta2"]),
            eps=h["epsilon"],
            amsgrad=h.get("amsgrad", False),
            **impl,
        )
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(
            groups,
            lr=lr,
            alpha=h["beta"],
            eps=h["epsilon"],
            momentum=h["momentum"],
            centered=h.get("centered", False),
            **impl,
        )
    if spec.name == "adagrad":
        return torch.optim.Adagrad(
            groups,
            lr=lr,
            initial_accumulator_value=h["initial_accumulator_value"],
            eps=h["epsilon"],
            **impl,
        )
    if spec.name == "adadelta":
        return torch.optim.Adadelta(groups, lr=lr, rho=h["rho"], eps=h["epsilon"], **impl)
    if spec.name == "adamax":
        return torch.optim.Adamax(
            groups, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["epsilon"], **impl
        )
    return torch.optim.SGD(
        groups, lr=lr, momentum=h["momentum"], nesterov=h.get("nesterov", False), **impl
    )


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
        total_steps: the planned number of updates (an int >= 1; a NumPy integer is read as
            an int), required when the method has a ``learning_rate_schedule`` (its ``total``
            argument). A user's schedule function is called here at batches 0 and
            ``total_steps - 1`` (see the module docstring).
        fused: True to use torch's fused kernels (adam, adamw, sgd, adagrad, where the torch
            version, device and dtype support them; otherwise foreach); None or False: the foreach
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
            schedule without ``total_steps``, a schedule function whose value at batch 0 or
            ``total_steps - 1`` is not a number from 0 to 1 (naming
            ``method['learning_rate_schedule']``), lbfgs with per-parameter learning rates or
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
    _check_user_schedule(schedule, steps)

    frozen = [n for n, _ in named if rates[n] == 0]
    values = (l2, grad_clip, weight_clip)
    if update_schedule is not None:
        if spec.state is not None:
            raise NetTrainError(
                "method['state']",
                "an optimizer state cannot be carried over with a training_update_schedule "
                "(each group keeps its own optimizer)",
                hint="leave the state sub-option out",
            )
        return _build_scheduled(
            net, spec, update_schedule, named, rates, values, fused, schedule, steps
        )
    updater = _assemble(spec, trained, rates, frozen, values, fused, schedule, steps)
    if spec.state is not None:
        spec.state.restore(updater)  # the last run's moments, this run's rates and settings
    return updater


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
    closure_l2: ValueGroups = []
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
