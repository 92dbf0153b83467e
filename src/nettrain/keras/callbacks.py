"""Keras callbacks on the engine's loop: ``Callback``, TF.js's dicts of functions, built-ins.

``Model.fit`` runs ``nettrain.train``; its callbacks see that one loop through
:class:`CallbackBridge`, which is a ``training_progress_function`` (two, in fact: one called
every batch when some callback wants batches, one every round) translating the engine's events
into Keras' calls, in Keras' order::

    on_train_begin
      on_epoch_begin(0)
        on_train_batch_begin(0) on_train_batch_end(0) ... (only when a callback overrides them)
        on_test_begin on_test_end                          (when the epoch validated)
      on_epoch_end(0, logs)
      on_epoch_begin(1) ...
    on_train_end(logs)

A callback acts by setting ``self.model.stop_training = True`` (the bridge returns
``"stop_training"`` to the engine, which stops after the current batch) or by assigning
``self.model.optimizer.learning_rate`` (the bridge returns ``{"learning_rate": x}``, which the
engine applies before its next update), never by touching the loop. ``logs`` are Keras': at a
batch end the running mean of the epoch's ``loss``; at an epoch end ``loss``, the metrics by
their Keras keys and ``val_loss``/``val_<key>`` when it validated.

Beyond Keras, a callback that defines ``nettrain_progress(batch, logs)`` gets timed updates
within each epoch: about every :data:`PROGRESS_INTERVAL` (on the loop's "report" events, which
read the losses then, never every batch), with ``batch`` the batches done in the epoch so far
(1-based) and ``logs`` ``{"loss": the epoch's running mean}`` (the metrics are measured at the
epoch's end). ``ProgbarLogger`` draws its live bar from them.

Example:
    >>> seen = []
    >>> class Record(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         seen.append((epoch, round(logs["loss"], 3)))
    >>> bridge = CallbackBridge([Record()], model=None, metric_keys={}, epochs=(0, 1))
    >>> for event, live in [("training_started", {}),
    ...                     ("round_complete", {"round": 1, "round_loss": 0.5,
    ...                                         "round_measurements": {}})]:
    ...     _ = bridge(dict(live, event=event))
    >>> seen
    [(0, 0.5)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor

from ..errors import NetTrainError, add_note, describe, did_you_mean

__all__ = [
    "PROGRESS_INTERVAL",
    "Callback",
    "CallbackBridge",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "TerminateOnNaN",
    "as_callbacks",
]

# Keras' callback methods, and TF.js's camelCase names of the same
_METHODS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_batch_end",
)
_CAMEL = {
    "onTrainBegin": "on_train_begin",
    "onTrainEnd": "on_train_end",
    "onEpochBegin": "on_epoch_begin",
    "onEpochEnd": "on_epoch_end",
    "onBatchBegin": "on_train_batch_begin",
    "onBatchEnd": "on_train_batch_end",
    "onYield": "on_train_batch_end",
}
_BATCH_METHODS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
# nettrain's timed updates within an epoch (beyond Keras): the method, and how often
_PROGRESS_METHOD = "nettrain_progress"
PROGRESS_INTERVAL = "0.1 s"


class Callback:
    """The base class of Keras callbacks: override the methods you need.

    ``self.model`` is the :class:`~nettrain.keras.Model` being trained (set by ``fit``), and
    ``self.params`` Keras' ``{"epochs": ..., "steps": ..., "verbose": ...}``.

    >>> class Stop(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if logs["loss"] < 0.1:
    ...             self.model.stop_training = True
    """

    model: Any = None
    params: dict[str, Any] = {}  # noqa: RUF012  (replaced per fit, as Keras does)

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_test_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...


def _wants_batches(callback: Callback) -> bool:
    """Whether a callback overrides a batch method (only then is the loop read every batch)."""
    return any(
        getattr(type(callback), name) is not getattr(Callback, name) for name in _BATCH_METHODS
    )


class LambdaCallback(Callback):
    """Callbacks from plain functions: Keras' ``LambdaCallback`` and TF.js's dict form.

    Args:
        **functions: ``on_epoch_end=f``, ... (Keras' names) or ``onEpochEnd=f``, ``onBatchEnd=f``
            (TF.js's). Each is called with the same arguments as the method.

    Raises:
        NetTrainError: an unknown name (with the closest ones) or a value that is not callable.

    >>> calls = []
    >>> LambdaCallback(onEpochEnd=lambda epoch, logs: calls.append(epoch)).on_epoch_end(3, {})
    >>> calls
    [3]
    """

    def __init__(self, **functions: Callable[..., Any]) -> None:
        self._functions: dict[str, Callable[..., Any]] = {}
        for key, function in functions.items():
            name = _CAMEL.get(key, key)
            if name not in _METHODS:
                raise NetTrainError(
                    "callbacks",
                    f"unknown callback {key!r}",
                    expected=", ".join([*_METHODS, *_CAMEL]),
                    received=repr(key),
                    hint=did_you_mean(key, [*_METHODS, *_CAMEL]),
                )
            if not callable(function):
                raise NetTrainError(
                    "callbacks",
                    f"{key!r} is not callable",
                    expected="a function",
                    received=describe(function),
                )
            if name == "on_batch_end":
                name = "on_train_batch_end"
            if name == "on_batch_begin":
                name = "on_train_batch_begin"
            self._functions[name] = function
        for name, function in self._functions.items():
            setattr(self, name, function)  # an instance attribute: _wants_batches sees it

    def wants_batches(self) -> bool:
        return any(name in self._functions for name in _BATCH_METHODS)


def as_callbacks(callbacks: object) -> list[Callback]:
    """``fit``'s ``callbacks``: None, a Callback, a dict of functions (TF.js), or a list of
    those; each becomes a :class:`Callback`.

    Raises:
        NetTrainError: anything else, naming its position.

    >>> [type(c).__name__ for c in as_callbacks([{"onEpochEnd": print}, TerminateOnNaN()])]
    ['LambdaCallback', 'TerminateOnNaN']
    """
    if callbacks is None:
        return []
    items = callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]
    out: list[Callback] = []
    for i, item in enumerate(items):
        if isinstance(item, Callback):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(LambdaCallback(**item))
        else:
            raise NetTrainError(
                "callbacks",
                f"entry {i} is not a callback",
                expected="a nettrain.keras.Callback, or a dict of functions such as "
                "{'onEpochEnd': f}",
                received=describe(item),
            )
    return out


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float, Tensor)) else math.nan


class CallbackBridge:
    """The engine's events as Keras callback calls; a ``training_progress_function``.

    Args:
        callbacks: the callbacks, in order.
        model: the ``Model`` (``callback.model``; its ``stop_training`` and its optimizer's
            ``learning_rate`` are read after every event's calls).
        metric_keys: ``{engine measurement key: Keras log key}``.
        epochs: ``(initial_epoch, epochs)``: epoch numbers count from ``initial_epoch``.
        validation_every: validation runs every this many epochs (``validation_freq``).
    """

    def __init__(
        self,
        callbacks: Sequence[Callback],
        *,
        model: Any,
        metric_keys: Mapping[str, str],
        epochs: tuple[int, int],
        validation_every: int = 1,
    ) -> None:
        self.callbacks = list(callbacks)
        self.model = model
        self.metric_keys = dict(metric_keys)
        self.first_epoch, self.epochs = epochs
        self.validation_every = validation_every
        self.epoch_logs: dict[str, float] = {}
        self._rate = self._optimizer_rate()  # the engine's rate: fit passes method() as it is

    @property
    def wants_batches(self) -> bool:
        return any(
            c.wants_batches() if isinstance(c, LambdaCallback) else _wants_batches(c)
            for c in self.callbacks
        )

    @property
    def wants_progress(self) -> list[Callback]:
        """The callbacks that define ``nettrain_progress`` (timed updates within an epoch)."""
        return [
            c
            for c in self.callbacks
            if callable(getattr(c, _PROGRESS_METHOD, None))
            # a callback may say it needs none now (ProgbarLogger off a terminal)
            and getattr(c, "wants_nettrain_progress", lambda: True)()
        ]

    def specs(self) -> list[Any]:
        """The ``training_progress_function`` value: one function per round, one per batch
        when a callback wants batches (the loop then reads its loss every batch), and one every
        :data:`PROGRESS_INTERVAL` when a callback defines ``nettrain_progress``."""
        specs: list[Any] = [(self, {"interval": "round"})]
        if self.wants_batches:
            specs.append((self._on_batch, {"interval": "batch"}))
        if self.wants_progress:
            specs.append((self._on_progress, {"interval": PROGRESS_INTERVAL}))
        return specs

    def call(self, method: str, *args: Any, only: Sequence[Callback] | None = None) -> None:
        """Call ``method`` on every callback (or those in ``only``); an error says which
        callback and method raised."""
        for callback in self.callbacks if only is None else only:
            try:
                getattr(callback, method)(*args)
            except Exception as error:
                add_note(error, f"raised by the callback {type(callback).__name__}.{method}")
                raise

    def _stop(self) -> str | None:
        return "stop_training" if getattr(self.model, "stop_training", False) else None

    def _optimizer_rate(self) -> float | None:
        rate = getattr(getattr(self.model, "optimizer", None), "learning_rate", None)
        return float(rate) if isinstance(rate, (int, float)) else None

    def _answer(self) -> str | dict[str, float] | None:
        """The signal for the engine after an event's calls: stop, or the learning rate a
        callback assigned to ``model.optimizer.learning_rate`` (once per change)."""
        stop = self._stop()
        if stop is not None:
            return stop  # no update follows, so a new rate would change nothing
        rate = self._optimizer_rate()
        if rate is not None and rate != self._rate:
            self._rate = rate
            return {"learning_rate": rate}
        return None

    def _epoch(self, live: Mapping[str, Any]) -> int:
        return self.first_epoch + int(live.get("round", 1)) - 1

    def __call__(self, live: dict[str, Any]) -> str | dict[str, float] | None:
        event = live["event"]
        self._rate = live.get("learning_rate", self._rate)  # as the engine runs (resumed too)
        if event == "training_started":  # a resumed run starts where its checkpoint was
            self.call("on_train_begin", {})
            epoch, batch = self._epoch(live) + (not live.get("batch")), int(live.get("batch") or 0)
            if epoch < self.epochs:
                self._begin_epoch(epoch, batch)
        elif event == "round_complete":
            epoch = self._epoch(live)
            logs = self.logs(live)
            if "val_loss" in logs:
                self.call("on_test_begin", {})
                self.call("on_test_end", {k[4:]: v for k, v in logs.items() if k[:4] == "val_"})
            self.epoch_logs = logs
            self.call("on_epoch_end", epoch, logs)
            if self._stop() is None and epoch + 1 < self.epochs:
                self._begin_epoch(epoch + 1)
        elif event == "training_stopped" and live.get("batch"):
            # stopped inside an epoch (stop_training in a batch callback): Keras still ends
            # that epoch with on_epoch_end, with the logs of its batches so far
            logs = self.logs(live)
            logs.pop("val_loss", None)
            logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
            self.epoch_logs = logs
            self.call("on_epoch_end", self._epoch(live), logs)
        return self._answer()

    def _begin_epoch(self, epoch: int, batch: int = 0) -> None:
        self.call("on_epoch_begin", epoch, {})
        if self.wants_batches:
            self.call("on_train_batch_begin", batch, {})

    def _on_batch(self, live: dict[str, Any]) -> str | dict[str, float] | None:
        if live["event"] != "batch_complete":
            return None
        batch = int(live["batch"]) - 1
        self.call("on_train_batch_end", batch, {"loss": _number(live.get("round_loss"))})
        per_round = live.get("batches_per_round")
        if self._stop() is None and (per_round is None or batch + 1 < per_round):
            self.call("on_train_batch_begin", batch + 1, {})
        return self._answer()

    def _on_progress(self, live: dict[str, Any]) -> str | dict[str, float] | None:
        """At a "report" event within an epoch: ``nettrain_progress(batch, logs)``."""
        if live["event"] != "report" or not live.get("batch"):
            return None
        # round_measurements are the last finished round's until this one ends: loss only
        logs = {"loss": _number(live.get("round_loss"))}
        self.call(_PROGRESS_METHOD, int(live["batch"]), logs, only=self.wants_progress)
        return self._answer()

    def logs(self, live: Mapping[str, Any]) -> dict[str, float]:
        """Keras' epoch logs from the engine's live properties."""
        logs = {"loss": _number(live.get("round_loss"))}
        for key, value in (live.get("round_measurements") or {}).items():
            if key in self.metric_keys:
                logs[self.metric_keys[key]] = _number(value)
        validated = (
            live.get("validation_loss") is not None
            and (self._epoch(live) - self.first_epoch + 1) % self.validation_every == 0
        )
        if validated:
            logs["val_loss"] = _number(live["validation_loss"])
            for key, value in (live.get("validation_measurements") or {}).items():
                if key in self.metric_keys:
                    logs["val_" + self.metric_keys[key]] = _number(value)
        return logs


class History(Callback):
    """What ``fit`` returns (Keras' ``History``): the logs of every epoch.

    Attributes:
        history: ``{"loss": [...], "<metric>": [...], "val_loss": [...], ...}``, one entry per
            epoch (``val_`` keys for the epochs that validated).
        epoch: the epoch numbers, from ``initial_epoch``.
        params: ``{"epochs": ..., "steps": ..., "verbose": ...}``.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class TerminateOnNaN(Callback):
    """Stop when a batch's loss is NaN or infinite (Keras' ``TerminateOnNaN``).

    The engine already stops on divergence, keeping the last finite weights; this callback
    stops at the first non-finite batch loss, as Keras does.
    """

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class EarlyStopping(Callback):
    """Stop when a monitored value has stopped improving (Keras' ``EarlyStopping``).

    Args (Keras' names and defaults):
        monitor: the log key to watch, "val_loss".
        min_delta: the smallest change that counts as an improvement, 0.
        patience: epochs without improvement before stopping, 0.
        verbose: 1 prints a line when it stops.
        mode: "auto" ("min", except "max" for accuracy-like keys), "min" or "max".
        baseline: a value the monitored value must beat, or None.
        restore_best_weights: at the end, put back the weights of the best epoch.
        start_from_epoch: epochs to wait before counting, 0.

    Keras' rule: an epoch improves when it beats the best by more than ``min_delta`` (below it
    for mode "min", above it for "max"); after ``patience`` epochs in a row without improvement
    (counting from ``start_from_epoch``) training stops. With a ``baseline``, the wait restarts
    only on epochs that beat it too.

    >>> EarlyStopping(monitor="val_accuracy").mode
    'max'
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise NetTrainError(
                "EarlyStopping: mode",
                "unknown mode",
                expected="'auto', 'min' or 'max'",
                received=repr(mode),
                hint=did_you_mean(str(mode), ["auto", "min", "max"]),
            )
        if mode == "auto":
            accuracy_like = any(k in monitor for k in ("acc", "auc", "precision", "recall"))
            mode = "max" if accuracy_like else "min"
        self.monitor, self.mode, self.patience, self.verbose = monitor, mode, patience, verbose
        self.min_delta = abs(min_delta) if mode == "max" else -abs(min_delta)
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best: float = math.inf if mode == "min" else -math.inf
        self.best_weights: dict[str, Tensor] | None = None

    def _better(self, value: float, reference: float) -> bool:
        # Keras: monitor_op(value - min_delta, reference), min_delta negated for "min"
        if self.mode == "min":
            return value - self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise NetTrainError(
                "EarlyStopping: monitor",
                f"{self.monitor!r} is not in the epoch's logs",
                expected="one of " + ", ".join(repr(k) for k in (logs or {})),
                received=repr(self.monitor),
                hint="'val_...' keys need validation_data or validation_split",
            )
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.state_dict_copy()  # the first epoch's, as Keras
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict_copy()
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.load_state_dict_copy(self.best_weights)
