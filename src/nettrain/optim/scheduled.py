"""The updater for ``training_update_schedule``: one group of parameters per step, in turn.

:class:`ScheduledUpdater` delegates each step to the member :class:`~nettrain.optim.updater.Updater`
of the active group, so each group's optimizer state advances only on its own turns, while the
step count (and with it the learning-rate schedule) is global. It is built by
:func:`~nettrain.optim.builder.build_updater` when ``update_schedule`` is given.

Example:
    >>> from torch import nn
    >>> from nettrain.optim import build_updater
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> updater = build_updater(net, "sgd", update_schedule=[0, 1])
    >>> type(updater).__name__, updater.active_group, len(updater.members)
    ('ScheduledUpdater', 0, 2)
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import NetTrainError, describe
from ..schedules import Schedule
from .methods import MethodSpec
from .schedule_groups import ScheduleGroup
from .updater import Closure, Updater, check_learning_rate

__all__ = ["ScheduledUpdater"]


class ScheduledUpdater(Updater):
    """An :class:`Updater` that updates one group of parameters per step, in turn.

    Built by :func:`~nettrain.optim.build_updater` for ``update_schedule``. Each distinct group
    has a member :class:`Updater` with its own torch optimizer, so a group's optimizer state
    (Adam's moments, momentum, step counts) advances only on its own turns, exactly as if each
    group had a separate optimizer stepped in the schedule's order. The step count is global:
    the learning-rate schedule sees every step, whichever group it updates, and so do
    :attr:`learning_rate` and :attr:`last_learning_rate` (the rate the last step's group used);
    :meth:`set_learning_rate` sets the base rate of every group.
    A step's backward still computes the inactive groups' gradients (the net's
    ``requires_grad`` flags are left alone); :meth:`zero_grad` drops them all.

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
        self._rate = spec.learning_rate  # the base rate (see Updater.set_learning_rate)
        self._last_rate: float | None = None
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
        self._last_rate = member._last_rate
        self.step_count += 1
        return loss

    def set_learning_rate(self, value: float) -> None:
        """Make ``value`` the base rate of every group's updates (see
        :meth:`Updater.set_learning_rate`); each group's optimizer state is kept."""
        rate = check_learning_rate(value, "learning_rate")
        for member in self.members:
            member.set_learning_rate(rate)
        self._rate = rate

    def state_dict(self) -> dict[str, Any]:
        """Every group's optimizer state, the step count and the position in the cycle."""
        return {
            "optimizer": [member.optimizer.state_dict() for member in self.members],
            "step_count": self.step_count,
            **self._rate_state(),
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
        self._load_rate_state(state)

    def describe(self) -> dict[str, Any]:
        """:meth:`Updater.describe` plus ``update_schedule``: each entry's group, hold count
        and parameters."""
        out = super().describe()
        out["update_schedule"] = [group.describe() for group in self.groups]
        return out

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", groups={len(self.groups)})"
