"""Gradient accumulation (the ``method`` sub-option ``gradient_accumulation``): one update per
group of k batches.

Each batch's loss is backpropagated times its number of examples, so a group's gradients add up
to the gradient of the group's summed loss; at the group's end they are divided by the group's
examples, which makes them the gradient of the mean loss over the concatenated batches: for a
mean-reduced loss, the update one batch of all of them would give, an uneven last batch
included (weighting each batch equally, as Keras does, would overweight a short last batch).
The update then runs as any other (gradient clipping, multipliers, the optimizer).

Groups start with each round, so that every round updates the same way: a round's last,
incomplete group is updated with what it has when the round ends. A run that stops within a
group (a time goal, a stop request, an error) drops that group's gradients: the net holds its
last update. The learning-rate schedule counts updates, planned by :func:`planned_updates`.
A checkpoint written within a group holds the group's summed gradients (:meth:`state_dict`), so
a resumed run adds the next batch to the same bits.

Example:
    >>> import torch
    >>> w = torch.zeros(1, requires_grad=True)
    >>> group = GradientAccumulation(2, [w])
    >>> for x in (torch.tensor([1.0, 2.0]), torch.tensor([6.0])):  # batches of 2 and 1
    ...     full = group.backward((w * x).mean(), len(x), lambda: None)
    >>> full, group.finish(), w.grad.item()  # the mean of 1, 2 and 6
    (True, True, 3.0)
    >>> planned_updates(10 * 7, 7, 3)  # 10 rounds of 7 batches, groups of 3, 3, 1
    30
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["GradientAccumulation", "planned_updates"]


def planned_updates(batches: int | None, per_round: int | None, every: int) -> int | None:
    """The updates ``batches`` planned batches make in groups of ``every``, groups starting
    with each round of ``per_round`` batches (unknown: ``ceil(batches / every)``)."""
    if batches is None or every == 1:
        return batches
    if not per_round:
        return math.ceil(batches / every)
    rounds, rest = divmod(batches, per_round)
    return rounds * math.ceil(per_round / every) + math.ceil(rest / every)


class GradientAccumulation:
    """The gradients of the current group of batches (see the module docstring).

    Attributes:
        every: the batches of a full group (k >= 2).
        parameters: the trained parameters, whose ``.grad`` holds the group's sum.
        batches / examples: what the current group holds so far.
    """

    def __init__(self, every: int, parameters: Sequence[Tensor]) -> None:
        self.every = every
        self.parameters = list(parameters)
        self.batches = 0
        self.examples = 0

    def backward(self, loss: Tensor, examples: int, zero_grad: Callable[[], None]) -> bool:
        """Add the gradient of ``examples * loss`` to the group's (``zero_grad`` first when the
        group starts); True when the group is full: time to :meth:`finish` and update."""
        if self.batches == 0:
            zero_grad()
        (loss * examples).backward()
        self.batches += 1
        self.examples += examples
        return self.batches == self.every

    def finish(self) -> bool:
        """Turn the group's summed gradients into their mean per example and start a new group;
        False when the group is empty (nothing to update)."""
        if self.batches == 0:
            return False
        grads = [p.grad for p in self.parameters if p.grad is not None]
        if grads:
            torch._foreach_div_(grads, float(self.examples))
        self.batches = self.examples = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        """The group so far: its counts and summed gradients (live tensors: a checkpoint
        copies them), by the parameter's index."""
        held = enumerate(self.parameters) if self.batches else ()  # between groups: nothing
        grads = {str(i): p.grad for i, p in held if p.grad is not None}
        return {"batches": self.batches, "examples": self.examples, "gradients": grads}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Put back what :meth:`state_dict` gave: the same bits in each ``.grad``."""
        self.batches, self.examples = int(state["batches"]), int(state["examples"])
        grads = state["gradients"]
        for i, p in enumerate(self.parameters):
            saved = grads.get(str(i)) if self.batches else None
            p.grad = None if saved is None else saved.to(p.device, p.dtype, copy=True)
