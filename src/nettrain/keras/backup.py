"""``BackupAndRestore``, and the training states of ``ModelCheckpoint``: fit that resumes exactly.

Both are the engine's checkpoints and ``resume`` (the guide's "Checkpoints and resume"), never a
second loop and never a state of their own: :func:`plan_resume` turns them into the
``training_progress_checkpointing`` and ``resume`` options of ``fit``'s one ``nettrain.train``
call. A checkpoint holds the whole run (weights, optimizer, random streams, the position in the
epoch, the histories), and the data order of an epoch is a function of the seed and the epoch,
so a resumed ``fit`` trains exactly the batches the uninterrupted one trains from there: on the
CPU with a fixed thread count, it ends with the same bits.

- :class:`BackupAndRestore` (Keras 3's): ``backup_dir/backup.safetensors``, replaced every epoch
  or every ``save_freq`` batches; a ``fit`` that finds it resumes from it; deleted when ``fit``
  ends (``delete_checkpoint``).
- ``ModelCheckpoint(..., save_training_state=True)`` (beyond Keras): :class:`TrainingStates`
  keeps the run's state at each epoch the callback saves a file, and ``fit(...,
  initial_epoch=k)`` with that callback resumes from epoch ``k``'s.

Example:
    >>> import os, tempfile, torch
    >>> from torch import nn
    >>> from nettrain.keras import Model, LambdaCallback
    >>> x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0)); y = x.sum(1, True)
    >>> def fit(*more):
    ...     torch.manual_seed(0)
    ...     model = Model(nn.Linear(3, 1)); model.compile("adam", "mse")
    ...     model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[*more])
    ...     return model
    >>> def crash(epoch, logs):
    ...     if epoch == 3:
    ...         raise RuntimeError("interrupted")
    >>> folder = os.path.join(tempfile.mkdtemp(), "backup")
    >>> try:
    ...     _ = fit(BackupAndRestore(folder), LambdaCallback(on_epoch_begin=crash))
    ... except RuntimeError:
    ...     print(os.listdir(folder))
    ['backup.safetensors', 'backup.safetensors.prev']
    >>> resumed = fit(BackupAndRestore(folder))  # epoch 2 again: its backup came after the crash
    >>> torch.equal(resumed.module.weight, fit().module.weight), os.path.exists(folder)
    (True, False)
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NetTrainError, describe
from .callbacks import Callback

__all__ = ["BACKUP_NAME", "BackupAndRestore", "Resumption", "TrainingStates", "plan_resume"]

BACKUP_NAME = "backup.safetensors"
_STATES_FORMAT = "nettrain.keras.training_states/1"
_RUN_FILE = "run.json"
# the engine's names for the files of a checkpoint directory (nettrain.checkpoint.checkpoint_name)
_STATE_NAME = re.compile(r".+_\d{4,}_round-(\d+)_batch-\d+_loss-.+_val-.+\.safetensors")
# the engine's options, as fit's arguments name them (for a refused resume)
_KERAS_NAMES = {
    "max_training_rounds": "epochs - initial_epoch",
    "method": "the compiled optimizer",
    "loss_function": "the compiled loss",
    "training_progress_measurements": "the compiled metrics",
    "validation_set": "validation_split / validation_data / validation_freq",
    "example_weights": "class_weight / sample_weight",
    "input": "x",
    "target": "y",
}


def path_argument(value: object, argument: str, kind: str = "folder") -> str:
    """A callback's path argument as a str (``kind``: "file" or "folder", for the message).

    Raises:
        NetTrainError: not a non-empty str or ``os.PathLike``.
    """
    try:
        name = os.fspath(value)  # type: ignore[call-overload]
    except TypeError:
        name = None
    if not isinstance(name, str) or not name:
        raise NetTrainError(
            argument,
            f"must be the path of a {kind}",
            expected="a non-empty str or pathlib.Path",
            received=describe(value),
        )
    return name


def _flag(value: object, argument: str) -> bool:
    if not isinstance(value, bool):
        raise NetTrainError(argument, "must be True or False", received=describe(value))
    return value


class BackupAndRestore(Callback):
    """Back up the training state, and resume from it after an interruption (Keras 3's).

    Args (Keras 3's names, order and defaults):
        backup_dir: the folder of the backup (created when needed); use it for this training
            only. The backup is one file, ``backup.safetensors`` (:data:`BACKUP_NAME`): the
            engine's checkpoint of the whole run.
        save_freq: "epoch" (a backup at the end of every epoch) or a whole number N >= 1 (every
            N batches, counted across epochs, so a fit resumes within an epoch).
        double_checkpoint: Keras keeps the previous backup too when True. Ours always does, at
            no cost in safety: every backup is written to a temporary file, verified and renamed
            into place, the previous one kept as ``backup.safetensors.prev``, and a damaged
            backup falls back to it (with a warning). True and False behave the same.
        delete_checkpoint: delete the backup when ``fit`` ends (True), or keep it.

    A ``fit`` given this callback backs up the run into ``backup_dir``; when ``backup_dir``
    already holds a backup, the ``fit`` resumes from it instead of starting afresh, on a model
    built and compiled as before (fresh or the one interrupted: the backup replaces its weights
    and optimizer state) and the same ``fit`` arguments and data. Ours resumes *exactly* (Keras
    cannot promise it): the same final weights bit for bit as an uninterrupted ``fit`` on the
    CPU with a fixed thread count (``torch.set_num_threads``). As in Keras, the returned
    ``History`` holds the epochs run by this call (from the restored one on, with their Keras
    numbers); an epoch resumed in its middle ends with the logs of the whole epoch. Other
    callbacks start afresh (EarlyStopping's patience, ReduceLROnPlateau's wait), as in Keras;
    the optimizer's ``learning_rate`` is the backup's.

    When ``fit`` ends, also when stopped (EarlyStopping) or after a divergence, the backup is
    deleted with ``delete_checkpoint``: its files, then ``backup_dir`` itself when nothing else
    is left in it (Keras removes the folder whatever it holds). It is kept after an exception,
    a kill, or a Ctrl-C (the engine stops at the batch, and the next ``fit`` resumes).

    Raises:
        NetTrainError: a bad argument (when made); at ``fit``: data that a run cannot resume on
            (a stream: a DataLoader, ``shuffle=False``, ``steps_per_epoch``), a backup made by
            a ``fit`` with other settings or data (naming what differs), no good backup file.

    >>> BackupAndRestore("backup", save_freq=100).spec()["interval"]
    '100 batches'
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike[str],
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        self.backup_dir = path_argument(backup_dir, "BackupAndRestore: backup_dir")
        if save_freq != "epoch" and (
            not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1
        ):
            raise NetTrainError(
                "BackupAndRestore: save_freq",
                "must be 'epoch' or a whole number of batches >= 1",
                received=describe(save_freq),
                hint="Keras' save_freq=False (preemption checkpoints only) has no counterpart",
            )
        self.save_freq = save_freq
        self.double_checkpoint = _flag(double_checkpoint, "BackupAndRestore: double_checkpoint")
        self.delete_checkpoint = _flag(delete_checkpoint, "BackupAndRestore: delete_checkpoint")

    @property
    def path(self) -> Path:
        """The backup file."""
        return Path(self.backup_dir) / BACKUP_NAME

    def spec(self) -> dict[str, Any]:
        """The engine's ``training_progress_checkpointing`` value."""
        spec: dict[str, Any] = {"file": str(self.path)}
        if self.save_freq != "epoch":
            spec["interval"] = f"{self.save_freq} batches"
        return spec

    def found(self) -> bool:
        """Whether there is a backup to resume from (the file or its previous generation)."""
        return self.path.exists() or Path(f"{self.path}.prev").exists()

    def delete(self) -> None:
        """Remove the backup's files, then ``backup_dir`` when it is left empty."""
        for name in (self.path, Path(f"{self.path}.prev")):
            name.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # other files in it: not ours to remove
            os.rmdir(self.backup_dir)


class TrainingStates:
    """The training states that ``ModelCheckpoint(..., save_training_state=True)`` keeps.

    A folder of the engine's checkpoints (``training_state/`` beside the model files), one for
    each epoch at which the callback saved a file, named as the engine names them (with the
    run's round), and ``run.json``: the first epoch and ``epochs`` of the run they belong to.
    States of epochs the callback did not save, or whose file a later save replaced, are
    removed as the run goes on.

    >>> TrainingStates("ckpt/training_state").spec()
    {'directory': 'ckpt/training_state'}
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.first_epoch = 0
        self._saved: dict[int, str] = {}  # this fit's saves: the run's round -> file
        self._since = 1  # the first round this fit trains

    def spec(self) -> dict[str, Any]:
        return {"directory": self.folder}

    def states(self) -> dict[int, Path]:
        """The states there are, by the run's round (1 = the run's first epoch)."""
        found: dict[int, Path] = {}
        for path in sorted(Path(self.folder).glob("*.safetensors")):
            match = _STATE_NAME.fullmatch(path.name)
            if match is not None:
                found[int(match.group(1))] = path  # the newest of a round last (by counter)
        return found

    def _run(self) -> dict[str, Any] | None:
        try:
            run = json.loads((Path(self.folder) / _RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ok = isinstance(run, dict) and run.get("format") == _STATES_FORMAT
        return run if ok and all(type(run.get(k)) is int for k in ("first", "epochs")) else None

    def begin(self, initial_epoch: int, epochs: int) -> Path | None:
        """Start this fit's part of the run: the state to resume from, or None for a new run
        (``initial_epoch`` 0, no run here, the run's own first epoch, or going on after its
        last one), which removes the last run's states.

        Raises:
            NetTrainError: ``initial_epoch`` within the run here, with other ``epochs``, or
                at an epoch of which no state was kept.
        """
        run, states = self._run(), self.states()
        self._saved = {}
        if run is not None and run["first"] < initial_epoch < run["epochs"]:
            if epochs != run["epochs"]:
                raise NetTrainError(
                    "epochs",
                    f"the training states in {self.folder!r} belong to a fit with "
                    f"epochs={run['epochs']}",
                    received=f"epochs={epochs}",
                    hint=f"resume with epochs={run['epochs']}, or start a new run with "
                    "initial_epoch=0 (which removes the states)",
                )
            resume = states.get(initial_epoch - run["first"])
            if resume is None:
                there = sorted(run["first"] + r for r in states)
                raise NetTrainError(
                    "initial_epoch",
                    f"{self.folder!r} holds no training state of the end of epoch "
                    f"{initial_epoch} (no file saved there, or a later save replaced it)",
                    expected="one of " + (", ".join(map(str, there)) or "none: no state kept"),
                    received=str(initial_epoch),
                )
            self.first_epoch, self._since = run["first"], initial_epoch - run["first"] + 1
            return resume
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        for path in states.values():
            path.unlink(missing_ok=True)
        text = json.dumps({"format": _STATES_FORMAT, "first": initial_epoch, "epochs": epochs})
        temporary = Path(self.folder) / f".{_RUN_FILE}.part"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, Path(self.folder) / _RUN_FILE)
        self.first_epoch, self._since = initial_epoch, 1
        return None

    def saved(self, epoch: int, path: str) -> None:
        """ModelCheckpoint saved ``path`` at the end of ``epoch`` (0-based): the state the
        engine writes next (after the callbacks) is kept for it."""
        self.prune()
        self._saved[epoch - self.first_epoch + 1] = path

    def prune(self) -> None:
        """Remove the states of this fit that no saved file needs: epochs not saved, and files
        replaced by a later save (only states already written: the last one follows later)."""
        latest: dict[str, int] = {}
        for round, path in sorted(self._saved.items()):
            latest[path] = round
        for round, state in self.states().items():
            kept = round in self._saved and latest[self._saved[round]] == round
            if round >= self._since and not kept:
                state.unlink(missing_ok=True)


@dataclass
class Resumption:
    """What :func:`plan_resume` decided for one ``fit``.

    Attributes:
        first_epoch: the epoch the run began at (the bridge numbers epochs from it; a run
            resumed from a training state began before this call's ``initial_epoch``).
        options: ``training_progress_checkpointing`` and ``resume`` for ``nettrain.train``.
        backup: the ``BackupAndRestore``, if any.
        source: the checkpoint resumed from, if any.
    """

    first_epoch: int
    options: dict[str, Any] = field(default_factory=dict)
    backup: BackupAndRestore | None = None
    source: str | None = None

    def progress(self, model: Any, specs: list[Any]) -> list[Any]:
        """The ``training_progress_function`` value: the callbacks' ``specs``, and on a resumed
        run one function before them and one after. Before: the checkpoint's learning rate
        becomes the optimizer's ``learning_rate``, which the callbacks read (a
        LearningRateScheduler's ``schedule(epoch, lr)``). After, when the run resumes within an
        epoch: that epoch keeps the rate it ran at (its ``on_epoch_begin`` ran before the
        backup; a scheduler called again would change the rate twice)."""
        if self.source is None:
            return specs
        every = {"interval": "round"}
        return [(_RateSync(model, True), every), *specs, (_RateSync(model, False), every)]

    def refused(self, error: NetTrainError) -> NetTrainError:
        """The engine's refusal to resume, in fit's words."""
        named = [f"{k!r} is {v}" for k, v in _KERAS_NAMES.items() if repr(k) in error.problem]
        owner = "BackupAndRestore" if self.backup is not None else "ModelCheckpoint"
        folder = self.backup.backup_dir if self.backup is not None else None
        hint = error.hint
        if "belongs to another run" in error.problem:
            hint = "call fit with the compile and fit settings and the data of the fit that "
            hint += "wrote it, " + (
                f"or remove {folder!r} to start afresh" if folder else "or initial_epoch=0"
            )
        return NetTrainError(
            f"callbacks: {owner}",
            error.problem + (f" ({'; '.join(named)})" if named else ""),
            expected=error.expected,
            received=error.received,
            hint=hint,
        )

    def finish(self, reason: object) -> None:
        """After a ``fit`` that ended (not after an exception): delete the backup unless a
        Ctrl-C stopped it (an interruption the next fit resumes from)."""
        backup = self.backup
        if backup is not None and backup.delete_checkpoint and reason != "stopped_by_user":
            backup.delete()


class _RateSync:
    """A resumed run's learning rate, as a progress function.

    ``before`` the callbacks: at the start, the optimizer's ``learning_rate`` becomes the
    checkpoint's (the engine's already), which the callbacks then read. After them, on a run
    resumed within an epoch: the optimizer and the engine go back to the checkpoint's rate
    (the rate the epoch ran at, which its ``on_epoch_begin`` had set), and at that epoch's end
    the callbacks' rate for the next epoch is asked for again, since our request from the start
    may still be waiting (the engine takes requests before an update) and would win.
    """

    def __init__(self, model: Any, before: bool) -> None:
        self.model, self.before, self.waiting = model, before, False

    def __call__(self, live: dict[str, Any]) -> dict[str, float] | None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        if live["event"] == "training_started" and (self.before or live.get("batch")):
            optimizer.learning_rate = live["learning_rate"]
            self.waiting = not self.before
            return None if self.before else {"learning_rate": live["learning_rate"]}
        if self.waiting and live["event"] == "round_complete":
            self.waiting = False
            return {"learning_rate": optimizer.learning_rate}
        return None


def _check_data(data: object, owner: str) -> None:
    """Refuse, before training, data whose position a resumed run could not find again."""
    if not isinstance(data, (tuple, Mapping)):
        raise NetTrainError(
            f"callbacks: {owner}",
            "a fit resumes only on data held in memory (x and y), which nettrain orders itself",
            received=describe(data),
            hint="pass x and y as tensors or arrays; a DataLoader, a dataset of batches, "
            "shuffle=False and steps_per_epoch make a stream, whose position is not known",
        )


def _optimizer_as_it_began(model: Any, source: str) -> None:
    """Resuming on the model object whose ``fit`` was interrupted (an exception, a Ctrl-C), or
    that went on since: its optimizer has carried that fit's updates, and a scheduler may have
    changed its learning rate, both of which the checkpoint replaces. The checkpoint's
    fingerprint says what the optimizer was when its run began; when it differs from ours only
    in the rate and the carried state, and the run began from a fresh optimizer (compile, then
    fit), ours becomes that again, so the run is recognised and ``iterations`` counts as in the
    uninterrupted run. (Anything else differing is refused by the engine, naming it.)"""
    from ..checkpoint.files import read_header
    from ..optim.carry import UpdaterState

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.iterations == 0:
        return  # as compiled: another rate is another setting
    name, options = optimizer.method()
    then = None
    for path in (Path(source), Path(f"{source}.prev")):  # the engine falls back to .prev too
        try:
            then = read_header(path)["fingerprint"]["options"]["method"]
            began = ast.literal_eval(re.sub(r"UpdaterState\([^)]*\)", "None", then))
            rate = began[1]["learning_rate"]
            break
        except Exception:  # damaged, or not fit's checkpoint: the engine says what is wrong
            then = None
    if then is None:
        return
    if then == repr((name, {**options, "state": optimizer._carry})):
        return  # as it began (a fresh model built again)
    if then == repr((name, {**options, "learning_rate": rate, "state": UpdaterState()})):
        optimizer.learning_rate = rate
        optimizer._carry = UpdaterState()


def plan_resume(
    callbacks: Sequence[Callback], data: object, initial_epoch: int, epochs: int, model: Any
) -> Resumption:
    """The checkpoints and resume of one ``fit``, from its ``BackupAndRestore`` (at most one)
    and its ``ModelCheckpoint(..., save_training_state=True)`` (at most one).

    A backup found is resumed from; a training state, at ``initial_epoch`` within its run.

    Raises:
        NetTrainError: more than one such callback; data a run cannot resume on; training
            states that do not fit (see :meth:`TrainingStates.begin`).
    """
    backups = [c for c in callbacks if isinstance(c, BackupAndRestore)]
    keepers = [c for c in callbacks if getattr(c, "training_states", None) is not None]
    if len(backups) + len(keepers) > 1:
        raise NetTrainError(
            "callbacks",
            "has more than one callback that keeps the training state (BackupAndRestore, "
            "ModelCheckpoint(save_training_state=True))",
            hint="keep one: BackupAndRestore resumes the latest state, ModelCheckpoint's "
            "states resume at the epoch initial_epoch names",
        )
    plan = Resumption(first_epoch=initial_epoch)
    if not backups and not keepers:
        return plan
    _check_data(data, "BackupAndRestore" if backups else "ModelCheckpoint")
    if keepers:
        states: TrainingStates = keepers[0].training_states  # type: ignore[attr-defined]
        start = states.begin(initial_epoch, epochs)
        plan.first_epoch = states.first_epoch
        plan.source = None if start is None else str(start)
        plan.options["training_progress_checkpointing"] = states.spec()
    else:
        plan.backup = backups[0]
        plan.options["training_progress_checkpointing"] = plan.backup.spec()
        if plan.backup.found():
            plan.source = str(plan.backup.path)
    if plan.source is not None:
        _optimizer_as_it_began(model, plan.source)
        plan.options["resume"] = plan.source
    return plan
