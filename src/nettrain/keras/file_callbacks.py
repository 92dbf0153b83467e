"""Keras' callbacks that write: ``ModelCheckpoint``, ``CSVLogger`` and ``ProgbarLogger``.

Each is a :class:`~nettrain.keras.callbacks.Callback` with Keras 3's arguments and behaviour
(``keras/src/callbacks/model_checkpoint.py``, ``csv_logger.py``, ``progbar_logger.py`` and
``keras/src/utils/progbar.py``); where we differ, the class docstring says so and why.

- :class:`ModelCheckpoint` saves the model every epoch (or every ``save_freq`` batches) to a
  file named from ``epoch`` and the logs, optionally only when the monitored value improves.
  Files are nettrain's one-file safetensors format, written atomically (a temporary file
  renamed over the target: :func:`nettrain.netfile.write`), never pickled.
- :class:`CSVLogger` appends one row per epoch, flushed at once.
- :class:`ProgbarLogger` prints Keras' ``Epoch 1/5`` header and its progress bar or
  end-of-epoch line; it lives in :mod:`nettrain.keras.progbar` (with :class:`Progbar` and
  :func:`epoch_line`) and is imported here too.

Example:
    >>> import os, tempfile, torch
    >>> from torch import nn
    >>> from nettrain.keras import Model, load_model
    >>> folder = tempfile.mkdtemp()
    >>> x = torch.randn(32, 3); y = x.sum(1, keepdim=True)
    >>> model = Model(nn.Linear(3, 1))
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> checkpoint = ModelCheckpoint(os.path.join(folder, "m-{epoch:02d}.safetensors"))
    >>> log = CSVLogger(os.path.join(folder, "log.csv"))
    >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[checkpoint, log],
    ...               validation_split=0.25)
    >>> sorted(os.listdir(folder))
    ['log.csv', 'm-01.safetensors', 'm-02.safetensors']
    >>> load_model(os.path.join(folder, "m-02.safetensors"))
    Model(Linear, compiled)
"""

from __future__ import annotations

import csv
import math
import os
import string
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..errors import NetTrainError, NetTrainWarning, describe, did_you_mean
from .backup import TrainingStates, path_argument
from .callbacks import Callback
from .progbar import ProgbarLogger, epoch_line

__all__ = ["CSVLogger", "ModelCheckpoint", "ProgbarLogger", "epoch_line"]

_MODES = ("auto", "min", "max")
_ACCURACY_LIKE = ("acc", "auc", "precision", "recall")  # EarlyStopping's "auto" rule


def _check_mode(mode: object, owner: str) -> str:
    if mode not in _MODES:
        raise NetTrainError(
            f"{owner}: mode",
            "unknown mode",
            expected="'auto', 'min' or 'max'",
            received=repr(mode),
            hint=did_you_mean(str(mode), _MODES),
        )
    return str(mode)


def _auto_mode(monitor: str, model: Any) -> str:
    """Keras 3's "auto" (monitor_callback.py): "loss" is minimised, a compiled metric goes its
    own direction; for any other key, EarlyStopping's rule here (accuracy-like keys are
    maximised, the rest minimised) where Keras would raise."""
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    compiled = getattr(model, "compiled", None)
    for metric in getattr(compiled, "metrics", None) or []:
        if getattr(metric, "key", None) == name:
            return "max" if getattr(metric, "direction", "") == "increasing" else "min"
    return "max" if any(k in monitor for k in _ACCURACY_LIKE) else "min"


class ModelCheckpoint(Callback):
    """Save the model, or its weights, every epoch or every ``save_freq`` batches (Keras').

    Args (Keras 3's names, order and defaults):
        filepath: the file; it may hold ``str.format`` fields filled from ``epoch`` (1-based,
            as Keras: ``{epoch:02d}`` gives ``01`` for the first epoch), ``batch`` (1-based,
            with an integer ``save_freq``) and the logs' keys (``{val_loss:.2f}``). Any suffix
            is accepted; the file is always nettrain's safetensors file (``.safetensors``
            recommended: Keras' ``.keras`` / ``.weights.h5`` would name a format it is not).
            A missing folder is created, as Keras does.
        monitor: the log key compared with the best so far when ``save_best_only``.
        verbose: 1 prints a line for each save or skip, Keras' text.
        save_best_only: save only when ``monitor`` improves on the best so far (strictly:
            below it for mode "min", above for "max"). Without ``{epoch}`` in ``filepath`` the
            one file always holds the best model.
        save_weights_only: save only the module and its architecture
            (``nettrain.keras.saving.save_model(model.module, path)``), without the compile
            settings: ``load_model`` then returns an uncompiled model. Otherwise
            ``model.save(path)``: weights, architecture and compile settings. Neither holds
            the optimizer's state (``fit``'s optimizer lives inside the engine's loop): for
            that, and to resume exactly, ``save_training_state``.
        mode: "auto", "min" or "max". "auto" (Keras 3): ``loss``/``val_loss`` are minimised,
            a compiled metric goes its own direction (accuracy up, mse down), any other key
            follows EarlyStopping's rule (accuracy-like names up), where Keras would raise.
        save_freq: "epoch", or a whole number N >= 1: save every N batches, counted across
            epochs (the logs are then the batch's: ``{"loss": running mean}``).
        initial_value_threshold: the best value to beat at the start (None: the first value
            monitored is an improvement).
        save_training_state: (keyword only, beyond Keras) also keep the run's whole state at
            each epoch this callback saves a file (the engine's checkpoint: weights, optimizer
            state, random streams, position, histories), in ``training_state/`` beside the
            files (``filepath``'s folder, which may then hold no ``{}`` field). A ``fit`` given
            this callback with ``initial_epoch=k`` then resumes exactly from the end of epoch
            ``k`` (the file named ``{epoch}`` = k): the same final weights, bit for bit, as the
            uninterrupted ``fit`` (CPU, fixed thread count), on a model compiled as before
            (``load_model(file)`` or built again) with the same ``fit`` arguments and data.
            States no file needs (epochs not saved, files replaced by a later save) are
            removed as training goes on; ``initial_epoch=0`` starts a new run, removing the
            last run's states. Needs ``save_freq="epoch"`` (``BackupAndRestore`` backs up
            within epochs).

    Where we differ from Keras: a monitored value that is missing raises a NetTrainError
    naming the keys there are, except a ``val_`` key in an epoch that did not validate
    (``validation_freq``) or at a batch, which skips that save (Keras 3 warns and saves an
    unjudged model, which can overwrite the best file); a NaN is never an improvement (Keras
    would keep a NaN as the best and never save again); a bad ``mode`` is refused, not
    replaced by "auto".

    Raises:
        NetTrainError: a bad argument (when made); a ``filepath`` field missing from the logs,
            a monitored key missing from them (when saving); with ``save_training_state``, at
            ``fit``: ``initial_epoch`` at an epoch without a state, other ``epochs`` or
            settings than the run's (naming them), data a run cannot resume on (a stream).

    >>> ModelCheckpoint("best.safetensors", save_best_only=True).save_freq
    'epoch'
    >>> try:
    ...     ModelCheckpoint("m.safetensors", save_freq=0)
    ... except NetTrainError as error:
    ...     print(error.argument)
    ModelCheckpoint: save_freq
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ModelCheckpoint:
        # The bridge reads the loss every batch (a device sync) for a callback whose class
        # overrides a batch method, so only a checkpoint saving every N batches gets one.
        save_freq = kwargs.get("save_freq", args[6] if len(args) > 6 else "epoch")
        if cls is ModelCheckpoint and save_freq != "epoch":
            cls = _BatchModelCheckpoint
        return super().__new__(cls)

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
        *,
        save_training_state: bool = False,
    ) -> None:
        self.filepath = path_argument(filepath, "ModelCheckpoint: filepath", "file")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.filepath) if f is not None]
        except ValueError as error:
            raise NetTrainError(
                "ModelCheckpoint: filepath",
                f"is not a valid format string ({error})",
                expected="a path with fields such as {epoch:02d} or {val_loss:.2f}",
                received=repr(self.filepath),
                hint="write a literal brace as {{ or }}",
            ) from error
        if any(f == "" or f.isdigit() for f in fields):
            raise NetTrainError(
                "ModelCheckpoint: filepath",
                "has a positional field {}; only named fields can be filled",
                expected="fields such as {epoch:02d} or {val_loss:.2f}",
                received=repr(self.filepath),
            )
        if not isinstance(monitor, str):
            raise NetTrainError(
                "ModelCheckpoint: monitor",
                "must be a log key",
                received=describe(monitor),
            )
        if save_freq != "epoch" and (
            not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1
        ):
            raise NetTrainError(
                "ModelCheckpoint: save_freq",
                "must be 'epoch' or a whole number of batches >= 1",
                received=describe(save_freq),
            )
        if initial_value_threshold is not None and not isinstance(
            initial_value_threshold, (int, float)
        ):
            raise NetTrainError(
                "ModelCheckpoint: initial_value_threshold",
                "must be a number or None",
                received=describe(initial_value_threshold),
            )
        self.training_states = _training_states(self.filepath, save_training_state, save_freq)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.mode = _check_mode(mode, "ModelCheckpoint")
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best: float | None = initial_value_threshold
        self._batches_since_save = 0
        self._epoch = 0
        self._direction = self.mode

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.best = self.initial_value_threshold
        self._batches_since_save = 0
        self._direction = self.mode if self.mode != "auto" else _auto_mode(self.monitor, self.model)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.training_states is not None:
            self.training_states.prune()  # the last epoch's state, unless a file needs it

    def file_path(self, epoch: int, batch: int | None, logs: Mapping[str, Any]) -> str:
        """``filepath`` filled for ``epoch`` (0-based, shown 1-based) and ``batch``, as Keras'
        ``_get_file_path``.

        >>> ModelCheckpoint("m-{epoch:02d}-{val_loss:.2f}.safetensors").file_path(
        ...     0, None, {"val_loss": 0.12345})
        'm-01-0.12.safetensors'
        """
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields.setdefault("batch", batch + 1)
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            key = error.args[0]
            raise NetTrainError(
                "ModelCheckpoint: filepath",
                f"the field {{{key}}} is not in the logs",
                expected="epoch"
                + ("" if batch is None else ", batch")
                + ", or one of "
                + ", ".join(repr(k) for k in logs),
                received=repr(self.filepath),
                hint=did_you_mean(str(key), [*logs, "epoch"])
                or "'val_...' keys need validation_data or validation_split",
            ) from error

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self._direction == "min" else value > self.best

    def _should_save(
        self, epoch: int, batch: int | None, logs: Mapping[str, Any], path: str
    ) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        value = logs.get(self.monitor)
        if value is None:
            validated = any(k.startswith("val_") for k in logs)
            if self.monitor.startswith("val_") and (batch is not None or not validated):
                return False  # this epoch did not validate (validation_freq), or a batch
            raise NetTrainError(
                "ModelCheckpoint: monitor",
                f"{self.monitor!r} is not in the logs",
                expected="one of " + ", ".join(repr(k) for k in logs),
                received=repr(self.monitor),
                hint=did_you_mean(self.monitor, list(logs))
                or "'val_...' keys need validation_data or validation_split",
            )
        value = float(value)
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._improved(value):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{value:.5f}, saving model to {path}"
                )
            self.best = value
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch: int, batch: int | None, logs: Mapping[str, Any]) -> None:
        path = self.file_path(epoch, batch, logs)
        if not self._should_save(epoch, batch, logs, path):
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)  # Keras creates the folder too
        if self.save_weights_only:
            from .saving import save_model

            save_model(self.model.module, path)
        else:
            self.model.save(path)
        if self.training_states is not None:
            self.training_states.saved(epoch, path)


def _training_states(filepath: str, wanted: object, save_freq: object) -> TrainingStates | None:
    """ModelCheckpoint's ``save_training_state``: where the states go, or None."""
    argument = "ModelCheckpoint: save_training_state"
    if not isinstance(wanted, bool):
        raise NetTrainError(argument, "must be True or False", received=describe(wanted))
    if not wanted:
        return None
    if save_freq != "epoch":
        raise NetTrainError(
            argument,
            "keeps a state at the end of an epoch, so it needs save_freq='epoch'",
            received=f"save_freq={save_freq!r}",
            hint="BackupAndRestore(backup_dir, save_freq=N) backs up every N batches",
        )
    folder = os.path.dirname(filepath)
    if "{" in folder.replace("{{", "").replace("}}", ""):
        raise NetTrainError(
            argument,
            "keeps the states in the folder of filepath, which must then hold no {} field",
            received=repr(filepath),
            hint="put the fields in the file name, e.g. 'ckpt/m-{epoch:02d}.safetensors'",
        )
    return TrainingStates(
        os.path.join(folder.replace("{{", "{").replace("}}", "}"), "training_state")
    )


class _BatchModelCheckpoint(ModelCheckpoint):
    """A :class:`ModelCheckpoint` with an integer ``save_freq`` (``ModelCheckpoint(...)``
    makes it): saves every ``save_freq`` batches, counted across epochs, as Keras'."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches_since_save += 1
        if self._batches_since_save >= int(self.save_freq):
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})


class CSVLogger(Callback):
    """Write one row per epoch to a CSV file (Keras' ``CSVLogger``).

    Args (Keras'):
        filename: the file (its folder must exist).
        separator: the one-character field separator, ",".
        append: True: add rows to an existing file, writing the header only when the file
            is new or empty (for continuing training); False: overwrite it.

    Keras' columns: ``epoch`` (0-based, from ``initial_epoch``), then the first epoch's log
    keys sorted, and when that epoch has no ``val_`` key, ``val_<key>`` for each of them too
    (so an epoch that validates later, with ``validation_freq``, still has its columns). A key
    missing from an epoch's logs is written ``NA``; numbers as Python writes them (``repr``,
    exact). Lines end in ``\\r\\n`` (the csv module's ``excel`` dialect). Each row is flushed
    at once, so a crash loses no row written.

    Beyond Keras: with ``append=True`` and a file that already has a header, the rows follow
    that header's columns (Keras writes its own order, which misaligns a file whose columns
    differ); keys the header lacks are not written, with a warning.

    Raises:
        NetTrainError: a bad ``filename`` or ``separator`` (when made); a file that cannot be
            opened (at the start of training).

    >>> CSVLogger("log.csv", separator=";").separator
    ';'
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        self.filename = path_argument(filename, "CSVLogger: filename", "file")
        if not isinstance(separator, str) or len(separator) != 1:
            raise NetTrainError(
                "CSVLogger: separator",
                "must be one character",
                expected="',' or ';' or '\\t'",
                received=describe(separator),
            )
        self.separator, self.append = separator, bool(append)
        self.keys: list[str] | None = None
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None
        self._header: list[str] | None = None  # an existing file's header (append)

    def _dialect(self) -> type[csv.Dialect]:
        class Dialect(csv.excel):
            delimiter = self.separator

        return Dialect

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.close()
        self.keys, self._writer, self._header = None, None, None
        path = Path(self.filename)
        if self.append and path.is_file():
            with path.open(newline="", encoding="utf-8") as existing:
                first = next(csv.reader(existing, dialect=self._dialect()), None)
            self._header = first or None
        try:
            self._file = path.open("a" if self.append else "w", newline="", encoding="utf-8")
        except OSError as error:
            raise NetTrainError(
                "CSVLogger: filename",
                f"cannot be opened for writing ({error.strerror or error})",
                expected="a file path in an existing folder you may write in",
                received=repr(self.filename),
            ) from error

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self._file is None:  # used outside fit: open as on_train_begin would
            self.on_train_begin()
        assert self._file is not None
        if self.keys is None:
            keys = sorted(logs)
            if keys and not any(k.startswith("val_") for k in keys):
                keys += ["val_" + k for k in keys]  # Keras' rule, for later validations
            self.keys = keys
        if self._writer is None:
            columns = self._header if self._header is not None else ["epoch", *self.keys]
            dropped = [k for k in self.keys if k not in columns]
            if dropped:
                warnings.warn(
                    f"CSVLogger: {self.filename!r} already has the columns {columns}; "
                    f"{dropped} are not written (append=False starts a new file)",
                    NetTrainWarning,
                    stacklevel=2,
                )
            self._writer = csv.DictWriter(
                self._file, fieldnames=columns, dialect=self._dialect(), extrasaction="ignore"
            )
            if self._header is None:
                self._writer.writeheader()
        row: dict[str, Any] = {"epoch": epoch}
        row.update((k, logs.get(k, "NA")) for k in self._writer.fieldnames if k != "epoch")
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (``fit`` does at the end of training)."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file, self._writer = None, None
