"""A run's checkpoints: what ``train`` writes at the end of a round, and how it resumes from one.

A checkpoint holds the whole state of the run at a round's end (the weights, the optimizer and
its schedule's position, the random state, every history, the best net and its weights, the
stopping criterion's counters, the weights of the last sane round, the CPU threads) and a
fingerprint of the options and data it belongs to. It is written with
:func:`nettrain.checkpoint.write_checkpoint` (crash-safe, verified), so a run killed at any
moment resumes from its last checkpoint: ``train(..., resume=path)`` loads the latest good one,
checks the fingerprint, puts the state back and goes on. Since a round's data order is a pure
function of (seed, round), the resumed run trains exactly the batches the uninterrupted run
trains from there, and on the CPU with a fixed thread count ends with the same bits.

Example:
    >>> import os, tempfile, torch, torch.nn as nn
    >>> import nettrain
    >>> x = torch.randn(32, 3); y = x.sum(1, keepdim=True)
    >>> folder = tempfile.mkdtemp()
    >>> opts = dict(batch_size=8, method="sgd", training_progress_reporting=None)
    >>> net = nn.Linear(3, 1)
    >>> files = nettrain.train(net, (x, y), "checkpointing_files", max_training_rounds=2, **opts,
    ...     training_progress_checkpointing={"directory": folder})
    >>> len(files), len(os.listdir(folder))
    (2, 2)
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean
from ..options.durations import parse_interval
from ..plain_data import PlainDecoder, PlainEncoder
from .files import write_checkpoint
from .latest import checkpoint_name, clean_temporaries

__all__ = [
    "CheckpointSpec",
    "Checkpointer",
    "RunParts",
    "capture",
    "fingerprint",
    "parse_checkpointing",
    "restore_run",
]

ARGUMENT = "training_progress_checkpointing"
_KEYS = ("file", "directory", "interval")
EXPECTED = (
    '{"file": path} or {"directory": folder}, with "interval": N rounds (default 1), or a '
    "list of such specs"
)


@dataclass(frozen=True)
class CheckpointSpec:
    """Where checkpoints go (``file``: one file, replaced, its previous generation kept;
    ``directory``: one file per checkpoint, all kept) and every how many rounds."""

    target: str
    directory: bool
    rounds: int = 1


def _one(spec: object) -> CheckpointSpec:
    if not isinstance(spec, Mapping):
        raise NetTrainError(ARGUMENT, "cannot use this", expected=EXPECTED, received=describe(spec))
    unknown = [k for k in spec if k not in _KEYS]
    if unknown:
        raise NetTrainError(
            ARGUMENT,
            f"unknown key {unknown[0]!r}",
            expected=EXPECTED,
            received=repr(unknown[0]),
            hint=did_you_mean(str(unknown[0]), _KEYS),
        )
    if ("file" in spec) == ("directory" in spec):
        raise NetTrainError(
            ARGUMENT,
            'needs exactly one of "file" and "directory"',
            expected=EXPECTED,
            received=repr(dict(spec)),
        )
    directory = "directory" in spec
    target = spec["directory" if directory else "file"]
    if not isinstance(target, str | os.PathLike):
        raise NetTrainError(ARGUMENT, "needs a path", received=describe(target))
    rounds = 1
    if "interval" in spec:
        every = parse_interval(spec["interval"], argument=f"{ARGUMENT}['interval']")
        if every.unit != "rounds" or not every.amount.is_integer():
            raise NetTrainError(
                f"{ARGUMENT}['interval']",
                "checkpoints are written at the end of a round in this version: the interval "
                "is a whole number of rounds",
                expected='an int >= 1, or "N rounds"',
                received=repr(spec["interval"]),
                hint="checkpoints in batches or seconds within a round are planned",
            )
        rounds = int(every.amount)
    return CheckpointSpec(os.fspath(target), directory, rounds)


def parse_checkpointing(value: object) -> tuple[CheckpointSpec, ...]:
    """Read ``training_progress_checkpointing`` (None: no checkpoints).

    >>> parse_checkpointing({"directory": "ckpt", "interval": "2 rounds"})
    (CheckpointSpec(target='ckpt', directory=True, rounds=2),)
    """
    if value is None:
        return ()
    specs = value if isinstance(value, list) else [value]
    return tuple(_one(spec) for spec in specs)


def fingerprint(options: Mapping[str, object], columns: Mapping[str, Tensor] | None) -> dict:
    """What a checkpoint belongs to: the options that shape training (as text) and, for data
    held in memory, each column's shape, dtype and a hash of its bytes."""
    left_out = {"time_goal", "training_progress_reporting", ARGUMENT, "resume",
                "training_progress_function"}  # fmt: skip
    shown = {k: repr(v) for k, v in sorted(options.items()) if k not in left_out}
    data: dict[str, Any] = {}
    for name, column in sorted((columns or {}).items()):
        flat = column.detach().cpu().contiguous()
        digest = hashlib.sha256(flat.view(torch.uint8).numpy().tobytes()).hexdigest()
        data[name] = [list(flat.shape), str(flat.dtype), digest]
    return {"options": shown, "data": data}


def _differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    found = []
    for part in ("options", "data"):
        a, b = saved.get(part, {}), now.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                what = "the data's column" if part == "data" else "the option"
                found.append(
                    f"{what} {key!r}: {a.get(key, 'absent')} then, {b.get(key, 'absent')} now"
                )
    return found


class Checkpointer:
    """The loop observer that writes the run's checkpoints at the end of rounds."""

    wants_batches = False
    label = "checkpointing"

    def __init__(self, specs: Sequence[CheckpointSpec], run: Any, meta: Mapping[str, Any]) -> None:
        self.specs, self.run, self.meta = list(specs), run, dict(meta)
        self.interval: float | None = None  # at the ends of rounds only
        self.files: list[str] = []
        self.counter = 0
        self.start = time.time()
        for spec in self.specs:
            folder = Path(spec.target) if spec.directory else Path(spec.target).parent
            folder.mkdir(parents=True, exist_ok=True)
            clean_temporaries(folder)

    def due(self, absolute_batch: int, fraction: float) -> bool:
        return False

    def notify(self, event: str, live: dict[str, Any]) -> None:
        if event != "round_complete":
            return
        due = [s for s in self.specs if int(live["round"]) % s.rounds == 0]
        if not due:
            return
        self.counter += 1
        tensors, data = capture(self.run)
        meta = {**self.meta, "counter": self.counter, "run": data}
        state = self.run.state
        for spec in due:
            if spec.directory:
                name = checkpoint_name(self.start, self.counter, state.round,
                                       state.absolute_batch, _last(state.round_losses) or math.nan,
                                       _last(state.validation_losses))  # fmt: skip
                path = Path(spec.target) / name
            else:
                path = Path(spec.target)
            self.files.append(str(write_checkpoint(path, tensors, meta)))


def _last(values: list[float]) -> float | None:
    return values[-1] if values else None


@dataclass
class RunParts:
    """What a checkpoint captures of a run: its state, monitor, snapshot and threads."""

    state: Any
    monitor: Any
    snapshot: Any
    threads: int


def capture(run: RunParts) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The run's state as tensors and JSON-able data."""
    monitor = run.monitor
    best = monitor.best.best if monitor.best is not None else None
    value = {
        "state": run.state.state_dict(),
        "stopping": monitor.stopping.state_dict() if monitor.stopping is not None else None,
        "best": best,
        "next_validation": monitor._next_time,
        "snapshot": {"tensors": run.snapshot.tensors, "round": run.snapshot.round},
        "threads": run.threads,
    }
    encoder = PlainEncoder()
    data = encoder.encode(value)
    return encoder.tensors, data


def restore_run(checkpoint: Any, run: RunParts, now: Mapping[str, Any]) -> dict[str, Any]:
    """Put ``checkpoint`` (:func:`~nettrain.checkpoint.read_latest`'s) back into the run;
    returns its metadata.

    Raises:
        NetTrainError: a checkpoint made for other options or data, naming what differs.
    """
    meta = checkpoint.meta
    differences = _differences(meta.get("fingerprint", {}), now)
    if differences:
        raise NetTrainError(
            "resume",
            f"the checkpoint {str(checkpoint.path)!r} belongs to another run: "
            + "; ".join(differences[:5]),
            hint="resume with the options and data of the run that wrote it (time_goal and "
            "reporting may change), or start a new run without resume",
        )

    def damaged(where: str, problem: str) -> NetTrainError:
        return NetTrainError(
            "resume", f"the checkpoint {str(checkpoint.path)!r}: {where} {problem}"
        )

    value = PlainDecoder(str(checkpoint.path), checkpoint.tensors, damaged).decode(
        meta["run"], "run"
    )
    state = run.state
    state.load_state_dict(value["state"])
    monitor = run.monitor
    if monitor.stopping is not None and value["stopping"] is not None:
        monitor.stopping.load_state_dict(value["stopping"])
    if monitor.best is not None and value["best"] is not None:
        monitor.best.best = tuple(value["best"])
    monitor._next_time = value["next_validation"]
    run.snapshot.tensors = {k: v.clone() for k, v in value["snapshot"]["tensors"].items()}
    run.snapshot.round = value["snapshot"]["round"]
    return meta
