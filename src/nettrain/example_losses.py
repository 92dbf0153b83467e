"""``example_losses``: each training example's loss when it was last trained on (NetTrain's
"ExampleLosses"), kept live during training.

The step already computes every batch's outputs; the tracker turns them into one loss per
example (the loss's unreduced form) and writes them, on the device, at the examples' places in
data order, found from the round's permutation and the loop's position in it. Nothing is read
back from the device per batch: the values are copied out only when something asks for them (a
report, a history, the end of the run). Examples not trained on yet are NaN.

It runs only when asked for by name (the property, or a custom history of it), because it costs
an unreduced loss and a scatter per batch.

Example:
    >>> import torch, torch.nn as nn
    >>> import nettrain
    >>> x = torch.linspace(-1, 1, 8)[:, None]; y = 2 * x
    >>> losses = nettrain.train(nn.Linear(1, 1), (x, y), "example_losses", batch_size=4,
    ...                         max_training_rounds=1, training_progress_reporting=None)
    >>> losses.shape, bool(torch.isfinite(losses).all())
    (torch.Size([8]), True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .data.batching import BatchSource, orders_examples
from .errors import NetTrainError
from .losses import LossPlan
from .state import TrainState

__all__ = ["ExampleLosses", "check_example_losses"]


def check_example_losses(source: BatchSource, plan: LossPlan) -> None:
    """Refuse ``example_losses`` where examples have no identity or no loss of their own.

    Raises:
        NetTrainError: a stream whose examples cannot be told apart (a DataLoader, an iterable,
            a generator), or a net that returns one loss for the whole batch.
    """
    if not orders_examples(source):
        raise NetTrainError(
            "prop",
            "example_losses needs data whose examples nettrain orders itself",
            expected="data held in memory (tensors, pairs, columns) or a map-style Dataset",
            received=f"a {source.form.replace('_', ' ')} stream",
            hint="pass the data as tensors or pairs, or as a Dataset instead of a DataLoader",
        )
    if any(term.per_example is None for term in plan.terms):
        raise NetTrainError(
            "prop",
            "example_losses needs a loss per example, and the net returns one loss per batch",
            expected="a net whose loss nettrain computes, or one returning a loss per example",
            received="a scalar loss from the net",
        )


class ExampleLosses:
    """Keeps each example's latest training loss (see the module docstring).

    Args:
        plan: the run's loss.
        source: the training data (it has ``permutation(round)``).
        state: the run's state, read for the current round and position in it.
        device: where the values live.
    """

    def __init__(
        self, plan: LossPlan, source: Any, state: TrainState, device: torch.device
    ) -> None:
        self.plan, self.source, self.state = plan, source, state
        self.device = device
        self.values: Tensor | None = None  # made at the first batch, in the loss's dtype
        self._round = 0
        self._order: Tensor | None = None

    def observe(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> None:
        """Write the batch's per-example losses (called by the step, before the loop counts the
        batch: ``state.batch_in_round`` is this batch's position)."""
        state = self.state
        if self._order is None or self._round != state.round:
            self._order = self.source.permutation(state.round).to(self.device)
            self._round = state.round
        losses = self.plan.per_example(outputs, batch).detach()
        if self.values is None:
            size = (self.source.num_examples,)
            self.values = torch.full(size, math.nan, dtype=losses.dtype, device=self.device)
        begin = state.batch_in_round * state.batch_size
        where = self._order[begin : begin + len(losses)]
        self.values.index_copy_(0, where, losses.to(self.values.dtype))

    def value(self) -> Tensor:
        """A copy on the CPU, in data order (NaN: not trained on yet)."""
        if self.values is None:
            return torch.full((self.source.num_examples,), math.nan)
        return self.values.cpu().clone()
