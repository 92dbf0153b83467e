"""``TrainState``: everything needed to continue a training run later.

The state is data: counters, histories, the weights, the optimizer state and the random state.
:meth:`TrainState.state_dict` gives plain tensors and numbers (no live objects), so a run can be
saved and resumed mid-round; resuming means loading a state and calling the same loop again.

Example:
    >>> import torch.nn as nn
    >>> state = TrainState(net=nn.Linear(2, 1), updater=None, seed=1, batch_size=4)
    >>> state.record_batch_count(4); state.round
    0
    >>> sorted(state.state_dict()["progress"])[:3]
    ['absolute_batch', 'batch_in_round', 'batch_losses']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["REASONS", "TrainState"]

# Why training stopped: the fixed, documented set of values of ``reason_training_stopped``.
REASONS = {
    "max_training_rounds": "the requested number of rounds was done",
    "time_goal": "the time goal was reached",
    "weights_diverged": "the loss or the weights became NaN or infinite, or the loss exploded "
    "(10,000 times above the untrained net's loss or the first round's)",
    "stopped_by_user": "interrupted (Ctrl-C), or a custom loop set ProgressMonitor.stop",
    "data_exhausted": "a one-shot data stream ran out",
    "stopping_criterion": "the stopping criterion said training no longer improves",
    "progress_function": "the training_progress_function returned 'stop_training'",
    "aborted": "the training_progress_function returned 'abort_training'",
    "loop_finished": "a custom training loop ended without being asked to stop (its "
    "ProgressMonitor was closed)",
}

_PROGRESS_FIELDS = (
    "seed",
    "batch_size",
    "max_rounds",
    "round",
    "batch_in_round",
    "absolute_batch",
    "examples_processed",
    "time_spent",
    "batch_losses",
    "batch_sizes",
    "round_losses",
    "round_positions",
    "reason",
    "round_measurements",
    "validation_losses",
    "validation_measurements",
    "validation_positions",
    "validation_rounds",
    "best_round",
    "best_position",
    "best_weights",
    "initial_loss",
)


@dataclass
class TrainState:
    """The whole state of a training run.

    Attributes:
        net: the module being trained. updater: its optimizer (``nettrain.optim.Updater``).
        seed: the run's seed; the data order of round r is a function of (seed, r).
        batch_size: examples per batch. max_rounds: the round limit (None: none).
        round: the current round, 1-based (0 before training starts).
        batch_in_round: batches done in the current round (the position inside it).
        absolute_batch: batches done in all. examples_processed: examples done in all.
        time_spent: seconds of training so far.
        batch_losses / batch_sizes: one entry per batch (filled in when a round is read).
        round_losses / round_positions: one entry per round that ended (its mean loss per
            example, and the absolute batch at which it ended).
        pending: this round's losses still on the device (read at once when something reports).
        reason: why training stopped, one of ``REASONS``, or None while it runs.
        round_measurements: the training measurements of each round that ended.
        validation_*: one entry per validation: loss, measurements, absolute batch, round.
        best_round / best_position / best_weights: the best validation so far and a copy of
            the weights it had (S2.2).
        initial_loss: the loss of the net before training, on a sample of the data (the
            reference of the divergence check, :meth:`loss_reference`).
    """

    net: nn.Module
    updater: Any
    seed: int
    batch_size: int
    max_rounds: int | None = None
    round: int = 0
    batch_in_round: int = 0
    absolute_batch: int = 0
    examples_processed: int = 0
    time_spent: float = 0.0
    batch_losses: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    round_losses: list[float] = field(default_factory=list)
    round_positions: list[int] = field(default_factory=list)
    pending: list[Tensor] = field(default_factory=list)
    pending_sizes: list[int] = field(default_factory=list)
    reason: str | None = None
    round_measurements: list[dict[str, Any]] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    validation_measurements: list[dict[str, Any]] = field(default_factory=list)
    validation_positions: list[int] = field(default_factory=list)
    validation_rounds: list[int] = field(default_factory=list)
    best_round: int | None = None
    best_position: int | None = None
    best_weights: dict[str, Tensor] | None = None
    initial_loss: float | None = None

    def record_batch_count(self, examples: int) -> None:
        self.batch_in_round += 1
        self.absolute_batch += 1
        self.examples_processed += examples

    def flush(self) -> list[float]:
        """Read this round's pending losses from the device (one sync) into the history."""
        if not self.pending:
            return []
        # float64: Python floats hold it exactly, and a float64 run keeps its precision
        values = torch.stack(self.pending).double().tolist()
        self.batch_losses.extend(values)
        self.batch_sizes.extend(self.pending_sizes)
        self.pending.clear()
        self.pending_sizes.clear()
        return values

    def current_round_loss(self) -> float:
        """Mean loss per example over the batches of the current round so far (NaN if none)."""
        self.flush()
        n = self.batch_in_round
        if n == 0:
            return float("nan")
        losses, sizes = self.batch_losses[-n:], self.batch_sizes[-n:]
        return sum(v * s for v, s in zip(losses, sizes, strict=True)) / sum(sizes)

    def end_round(self) -> float:
        """Close the current round: record its loss and position; return the loss."""
        loss = self.current_round_loss()
        self.round_losses.append(loss)
        self.round_positions.append(self.absolute_batch)
        self.batch_in_round = 0
        return loss

    def loss_reference(self) -> float | None:
        """The loss level the run started from, which a sane run never exceeds by a large
        factor: the larger of ``initial_loss`` (the untrained net on a sample of the data) and
        the first round's loss (None when neither is known). Not a single batch's loss, which
        can be near 0 by chance."""
        known = [v for v in (self.initial_loss, *self.round_losses[:1]) if v is not None]
        known = [v for v in known if math.isfinite(v)]
        return max(known) if known else None

    def state_dict(self) -> dict[str, Any]:
        """The state as plain data: progress numbers, net weights, optimizer state, RNG state."""
        self.flush()
        progress = {name: getattr(self, name) for name in _PROGRESS_FIELDS}
        return {
            "progress": {k: list(v) if isinstance(v, list) else v for k, v in progress.items()},
            "net": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            "optimizer": self.updater.state_dict() if self.updater is not None else None,
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` into this state's net and updater."""
        for name, value in data["progress"].items():
            setattr(self, name, list(value) if isinstance(value, list) else value)
        self.pending.clear()
        self.pending_sizes.clear()
        self.net.load_state_dict(data["net"])
        if self.updater is not None and data["optimizer"] is not None:
            self.updater.load_state_dict(data["optimizer"])
        torch.set_rng_state(data["rng"])
