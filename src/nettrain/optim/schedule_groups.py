"""Reading the ``training_update_schedule`` option (NetTrain's TrainingUpdateSchedule).

The option is a list of parameter groups updated in turn, one group per training step, cycling:
``["discriminator", "generator"]`` alternates two submodules (the canonical GAN use). Each group
is a part, in the syntax of ``learning_rate_multipliers`` (a glob over parameter names, a module
name, an int or range of top-level children, or a tuple of these for a union), optionally
written ``(group, k)`` to hold the group for ``k`` consecutive steps.

Reading a tuple: a 2-tuple whose last item is an int (a NumPy integer too; a bool is refused as
a hold count) is ``(group, k)``, a hold count, never a union with child ``k``. For such a union
put the int first (``(2, "0.*")``) or wrap it: ``(("0.*", 2), 1)``.

Parameters that no group names are frozen. Each distinct group keeps its own optimizer state
(Adam's moments, momentum) across its turns; an entry that selects exactly the same parameters
as an earlier one is the same group again (``["d", "g", "d", "h"]``) and shares its state. Two
groups that share only some parameters are an error: a shared parameter would have two
conflicting optimizer states.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> for group in parse_update_schedule(net, ["0.*", (2, 3), 0]):
    ...     print(group.names, group.steps, group.slot)
    ['0.weight', '0.bias'] 1 0
    ['2.weight', '2.bias'] 3 1
    ['0.weight', '0.bias'] 1 0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from ..errors import NetTrainError, describe
from ..options.parts import plain_part, resolve_parts
from ..scalars import as_int, is_bool

__all__ = ["ScheduleGroup", "parse_update_schedule"]

ARGUMENT = "training_update_schedule"
EXPECTED = (
    "a non-empty list of parameter groups, each a part (glob, module name, int, range, or a "
    "tuple of these) or (part, k) with an int k >= 1"
)


@dataclass(frozen=True)
class ScheduleGroup:
    """One entry of the schedule.

    Attributes:
        part: the part spec as given (without the hold count; NumPy integers in it as ints).
        steps: how many consecutive steps the group is held for (k >= 1).
        names: the parameter names it selects, in the net's order.
        slot: which distinct group (and optimizer state) it is: entries selecting the same
            parameters share a slot; slots are numbered by first appearance.
    """

    part: object
    steps: int
    names: list[str]
    slot: int

    def describe(self) -> dict[str, object]:
        """A JSON-able summary: the part (as written), the hold count and the parameters."""
        part = self.part if isinstance(self.part, str) else repr(self.part)
        return {"group": part, "steps": self.steps, "parameters": list(self.names)}


def _split_hold(entry: object, index: int) -> tuple[object, int]:
    """``(part, k)`` -> (part, k); anything else -> (entry, 1). NumPy ints count as ints."""
    if not (isinstance(entry, tuple) and len(entry) == 2):
        return plain_part(entry), 1
    part, last = entry
    steps = as_int(last)
    # A bool in the last place was surely meant as a hold count, so it is refused as one.
    if steps is None and not is_bool(last):
        return plain_part(entry), 1  # a union of two parts
    if steps is None or steps < 1:
        raise NetTrainError(
            ARGUMENT,
            f"group {index} is held for {last!r} steps",
            expected="a hold count k >= 1 in (group, k)",
            received=repr(entry),
        )
    return plain_part(part), steps


def parse_update_schedule(net: nn.Module, spec: object) -> list[ScheduleGroup]:
    """Resolve the schedule's groups against ``net``'s parameter names.

    Args:
        net: the module whose ``named_parameters()`` the groups select from.
        spec: the ``training_update_schedule`` value (see the module docstring).

    Returns:
        One :class:`ScheduleGroup` per list entry, in order.

    Raises:
        NetTrainError: naming ``training_update_schedule``, for a spec that is not a non-empty
            list, a hold count below 1, a group that matches no parameter, or a parameter named
            by two groups.
    """
    # A tuple is one group (a union), so only a list (or another non-tuple sequence) is a
    # schedule; a bare string would otherwise be read as a list of one-letter globs.
    if isinstance(spec, str | tuple | bytes) or not isinstance(spec, Sequence):
        raise NetTrainError(
            ARGUMENT,
            "must be a list of groups",
            expected=EXPECTED,
            received=describe(spec),
            hint='wrap a single group in a list, e.g. ["generator.*"]',
        )
    if len(spec) == 0:
        raise NetTrainError(
            ARGUMENT,
            "the list of groups is empty, so nothing would ever be trained",
            expected=EXPECTED,
            received="[]",
            hint="leave the option out to update every parameter at every step",
        )
    groups: list[ScheduleGroup] = []
    owner: dict[str, int] = {}  # parameter name -> index of the first entry naming it
    slots: dict[tuple[str, ...], int] = {}
    for index, entry in enumerate(spec):
        part, steps = _split_hold(entry, index)
        # resolve_parts checks the part's syntax and that it matches some parameter.
        values = resolve_parts(net, [(part, 1.0)], default=0.0, argument=ARGUMENT)
        names = [name for name, value in values.items() if value == 1.0]
        key = tuple(names)
        if key in slots:
            groups.append(ScheduleGroup(part=part, steps=steps, names=names, slot=slots[key]))
            continue
        for name in names:
            if name in owner:
                first = owner[name]
                raise NetTrainError(
                    ARGUMENT,
                    f"parameter {name!r} is named by group {first} ({spec[first]!r}) and by "
                    f"group {index} ({entry!r}); each group keeps its own optimizer state, so "
                    "a parameter can belong to one group only",
                    expected="groups that are either the same or share no parameter",
                    received=repr(list(spec)),
                )
            owner[name] = index
        slots[key] = len(slots)
        groups.append(ScheduleGroup(part=part, steps=steps, names=names, slot=slots[key]))
    return groups
