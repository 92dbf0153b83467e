"""The loop's checkpoint writer: when a checkpoint is due, and where it goes.

The loop calls :meth:`Checkpointer.after_batch` once a batch is wholly done (updated, measured,
validated when due, reported) and :meth:`Checkpointer.after_round` once a round is (its
measurements, validation, best net and stopping checks recorded), and only while the run goes
on: a run that stopped at that moment is not checkpointed there, so a resumed run reaches the
stop again itself, the same way. Each spec's interval is in rounds (at a round's end), batches
(counted over the whole run) or seconds of training; ``minimum_interval`` skips a due
checkpoint that comes sooner than that after the spec's last one. A checkpoint that cannot be
written (a full disk) is a warning, not the end of the run: the earlier ones stay as they were.

Example:
    >>> import os, tempfile, torch, torch.nn as nn
    >>> import nettrain
    >>> x = torch.randn(40, 3); y = x.sum(1, keepdim=True)
    >>> folder = tempfile.mkdtemp()
    >>> files = nettrain.train(nn.Linear(3, 1), (x, y), "checkpointing_files", batch_size=8,
    ...     max_training_rounds=2, training_progress_reporting=None,
    ...     training_progress_checkpointing={"directory": folder, "interval": "4 batches"})
    >>> len(files)  # after batches 4 and 8 of the 10
    2
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import NetTrainError, NetTrainWarning
from .files import write_checkpoint
from .latest import checkpoint_name, clean_temporaries
from .run import RunParts, capture
from .spec import CheckpointSpec

__all__ = ["Checkpointer"]


class Checkpointer:
    """Writes the run's checkpoints as its specs ask (see the module docstring).

    Args:
        specs: where and how often.
        run: the parts of the run a checkpoint captures.
        meta: what every checkpoint's metadata carries (fingerprint, choices).
        net_description: ``json.dumps(Net.config())`` of the net trained, so that each file
            also loads with ``nettrain.Net.load``; None when the net cannot be described.
        resumed: the metadata of the checkpoint the run resumed from: the counter goes on from
            it and file names keep the original run's start time.
    """

    def __init__(
        self,
        specs: Sequence[CheckpointSpec],
        run: RunParts,
        meta: Mapping[str, Any],
        net_description: str | None = None,
        resumed: Mapping[str, Any] | None = None,
    ) -> None:
        self.specs, self.run, self.meta = list(specs), run, dict(meta)
        self.net_description = net_description
        self.files: list[str] = []
        self.counter = int(resumed.get("counter", 0)) if resumed else 0
        start = resumed.get("start") if resumed else None
        self.start = float(start) if isinstance(start, int | float) else time.time()
        began = run.state.time_spent
        self._next = [
            began + s.every.amount if s.every.unit == "seconds" else math.inf for s in self.specs
        ]
        self._last: list[float | None] = [None] * len(self.specs)
        self._warned: set[int] = set()
        for spec in self.specs:
            folder = Path(spec.target) if spec.directory else Path(spec.target).parent
            folder.mkdir(parents=True, exist_ok=True)
            clean_temporaries(folder)

    @property
    def batchwise(self) -> bool:
        """Whether any spec may fall due within a round (batches or seconds)."""
        return any(s.every.unit != "rounds" for s in self.specs)

    def after_batch(self, absolute_batch: int, elapsed: float) -> None:
        due = []
        for i, spec in enumerate(self.specs):
            unit, amount = spec.every.unit, spec.every.amount
            if unit == "batches" and absolute_batch % int(amount) == 0:
                due.append(i)
            elif unit == "seconds" and elapsed >= self._next[i]:
                self._next[i] = elapsed + amount
                due.append(i)
        if due:
            self._write(due, elapsed)

    def after_round(self, round: int, elapsed: float) -> None:
        due = [
            i
            for i, spec in enumerate(self.specs)
            if spec.every.unit == "rounds" and round % int(spec.every.amount) == 0
        ]
        if due:
            self._write(due, elapsed)

    def _write(self, due: list[int], elapsed: float) -> None:
        due = [i for i in due if not self._too_soon(i, elapsed)]
        if not due:
            return
        state = self.run.state
        state.time_spent = elapsed  # a resumed run's clock goes on from here
        self.counter += 1
        tensors, data = capture(self.run, self._warn)
        meta = {**self.meta, "counter": self.counter, "start": self.start, "run": data}
        for i in due:
            spec = self.specs[i]
            if spec.directory:
                losses = state.round_losses
                name = checkpoint_name(
                    self.start, self.counter, state.round, state.absolute_batch,
                    state.current_round_loss() if state.batch_in_round else
                    (losses[-1] if losses else math.nan),
                    state.validation_losses[-1] if state.validation_losses else None,
                )  # fmt: skip
                path = Path(spec.target) / name
            else:
                path = Path(spec.target)
            try:
                written = write_checkpoint(path, tensors, meta,
                                           net_description=self.net_description)  # fmt: skip
            except NetTrainError as error:
                self._failed(error)  # the run goes on: hours of training outweigh one file
                continue
            self.files.append(str(written))
            self._last[i] = elapsed

    def _failed(self, error: NetTrainError) -> None:
        latest = f"the latest written is {self.files[-1]!r}" if self.files else "none written yet"
        warnings.warn(
            f"{error.problem}. Training goes on without this checkpoint ({latest}); "
            f"{error.hint or ''}",
            NetTrainWarning,
            stacklevel=2,
        )

    def _too_soon(self, i: int, elapsed: float) -> bool:
        minimum, last = self.specs[i].minimum, self._last[i]
        return minimum is not None and last is not None and elapsed - last < minimum

    def _warn(self, index: int, problem: str) -> None:
        """A custom history that a checkpoint cannot hold: said once per history."""
        if index in self._warned:
            return
        self._warned.add(index)
        warnings.warn(
            f"custom history {index + 1} {problem}, so checkpoints leave it out: a run resumed "
            "from one collects that history from the resume point on (return numbers, lists, "
            "dicts or tensors to have it kept)",
            NetTrainWarning,
            stacklevel=2,
        )


def describe_net(net: Any) -> str | None:
    """``json.dumps(net.config())`` for a :class:`nettrain.Net`, or None where its encoders'
    parameters cannot be written (the checkpoint then loads only as a checkpoint)."""
    try:
        return json.dumps(net.config())
    except (NetTrainError, TypeError, ValueError):
        return None
