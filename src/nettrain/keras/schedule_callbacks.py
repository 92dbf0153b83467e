"""Keras' callbacks that change the learning rate: ``LearningRateScheduler``, ``ReduceLROnPlateau``.

Both act as Keras 3's do (keras/src/callbacks/learning_rate_scheduler.py and
reduce_lr_on_plateau.py): they assign ``self.model.optimizer.learning_rate``. The
:class:`~nettrain.keras.callbacks.CallbackBridge` sees the change after the event and returns
``{"learning_rate": x}`` to the engine, which runs its next update at the new rate; neither
callback touches the loop. Both add ``"learning_rate"`` to the epoch's logs (so to the
``History``), the rate that epoch trained with.

Where nettrain differs from Keras: the rate is a Python float, where Keras keeps it in a float32
variable (Keras' logged rates are the float32 roundings of these); a ``monitor`` key missing from
the logs is an error, as for ``EarlyStopping`` here (Keras warns and goes on).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from nettrain.keras import Model
    >>> model = Model(nn.Linear(3, 1))
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
    >>> history = model.fit(torch.randn(32, 3), torch.randn(32, 1), epochs=3, verbose=0,
    ...                     callbacks=[halve])
    >>> history.history["learning_rate"], model.optimizer.learning_rate
    ([0.01, 0.005, 0.0025], 0.0025)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from ..errors import NetTrainError, describe, did_you_mean
from ..scalars import as_real
from .callbacks import Callback

__all__ = ["LearningRateScheduler", "ReduceLROnPlateau"]


def _takes_two(function: Callable[..., Any]) -> bool:
    """Whether ``function`` can be called as ``f(epoch, lr)`` (Keras 3's form), rather than
    ``f(epoch)`` (Keras 2's)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the current form
        return True
    kinds = [p.kind for p in parameters]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return inspect.Parameter.VAR_POSITIONAL in kinds or sum(k in positional for k in kinds) >= 2


def _current_rate(callback: Callback) -> float:
    return float(callback.model.optimizer.learning_rate)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch (Keras' ``LearningRateScheduler``).

    Args:
        schedule: ``f(epoch, lr) -> new lr`` (``epoch`` counts from 0, or from ``fit``'s
            ``initial_epoch``; ``lr`` is the optimizer's current rate), or ``f(epoch)``.
        verbose: 1 prints a line each epoch, as Keras does.

    Keras 3's rule: at ``on_epoch_begin(epoch)``, ``lr = schedule(epoch, lr)`` is assigned to
    ``model.optimizer.learning_rate``, and so trains the whole epoch; ``on_epoch_end`` adds
    ``logs["learning_rate"]``. Keras tells the two forms apart by calling ``f(epoch, lr)`` and
    retrying ``f(epoch)`` on any ``TypeError``; here the signature decides, so a
    ``TypeError`` inside a two-argument schedule is not hidden. Keras takes only floats from
    the schedule; any real number > 0 is taken here.

    Raises:
        NetTrainError: ``schedule`` is not callable; it returns something that is not a finite
            number > 0 (at that epoch's start, naming the epoch).

    >>> def step_decay(epoch, lr):
    ...     return 0.1 * 0.5 ** (epoch // 2)
    >>> LearningRateScheduler(step_decay).schedule(3, 0.1)
    0.05
    """

    def __init__(self, schedule: Callable[..., Any], verbose: int = 0) -> None:
        if not callable(schedule):
            raise NetTrainError(
                "LearningRateScheduler: schedule",
                "is not callable",
                expected="a function schedule(epoch, lr) -> lr, or schedule(epoch) -> lr",
                received=describe(schedule),
            )
        self.schedule, self.verbose = schedule, verbose
        self._two = _takes_two(schedule)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        rate = _current_rate(self)
        value = self.schedule(epoch, rate) if self._two else self.schedule(epoch)
        number = as_real(value)
        if number is None or not math.isfinite(number) or number <= 0:
            raise NetTrainError(
                "LearningRateScheduler: schedule",
                f"returned a learning rate that is not a finite number > 0 for epoch {epoch}",
                expected="a finite number > 0",
                received=describe(value),
            )
        self.model.optimizer.learning_rate = number
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {number}.")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = _current_rate(self)


class ReduceLROnPlateau(Callback):
    """Reduce the learning rate when a monitored value has stopped improving (Keras').

    Args (Keras 3's names and defaults):
        monitor: the log key to watch, "val_loss".
        factor: the new rate is ``lr * factor``, 0.1; in [0, 1).
        patience: epochs without improvement before the rate is reduced, 10.
        verbose: 1 prints a line when it reduces the rate.
        mode: "auto" ("min", except "max" for accuracy-like keys, as ``EarlyStopping``), "min"
            or "max".
        min_delta: the smallest change that counts as an improvement, 1e-4.
        cooldown: epochs after a reduction during which no epoch counts towards ``patience``, 0.
        min_lr: the lowest rate, 0.

    Keras 3's rule, at each ``on_epoch_end``: ``logs["learning_rate"]`` is set to the rate the
    epoch trained with; then, if in cooldown (``cooldown_counter > 0``), the counter drops by
    one and ``wait`` is reset to 0. An epoch improves when ``value < best - min_delta`` (mode
    min; ``value > best + min_delta`` for max): ``best = value``, ``wait = 0``. Otherwise,
    when not in cooldown, ``wait += 1``, and once ``wait >= patience`` and ``lr > min_lr``, the
    rate becomes ``max(lr * factor, min_lr)`` (from the next epoch on), ``cooldown_counter =
    cooldown`` and ``wait = 0``. ``on_train_begin`` resets ``wait`` and the cooldown, not
    ``best`` (as Keras 3 since its ``MonitorCallback``): a second ``fit`` must beat the first's
    best.

    Raises:
        NetTrainError: a bad ``factor``, ``mode``, ``min_lr``, ``patience`` or ``cooldown``;
            at an epoch's end, a ``monitor`` key the logs lack.

    >>> ReduceLROnPlateau(monitor="val_accuracy").mode, ReduceLROnPlateau().best
    ('max', inf)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        where = "ReduceLROnPlateau: "
        number = as_real(factor)
        if number is None or not 0 <= number < 1:
            raise NetTrainError(
                where + "factor",
                "must be in [0, 1): the rate is multiplied by it",
                expected="a number in [0, 1), e.g. 0.1 or 0.5",
                received=describe(factor),
            )
        low = as_real(min_lr)
        if low is None or not (math.isfinite(low) and low >= 0):
            raise NetTrainError(
                where + "min_lr", "must be a finite number >= 0", received=describe(min_lr)
            )
        if number == 0 and low == 0:
            raise NetTrainError(
                where + "factor",
                "factor=0 with min_lr=0 would set the learning rate to 0",
                received="factor=0, min_lr=0",
                hint="give min_lr > 0 (factor=0 then drops straight to it), or a factor > 0",
            )
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise NetTrainError(
                    where + name, "must be a whole number >= 0", received=describe(value)
                )
        if mode not in ("auto", "min", "max"):
            raise NetTrainError(
                where + "mode",
                "unknown mode",
                expected="'auto', 'min' or 'max'",
                received=repr(mode),
                hint=did_you_mean(str(mode), ["auto", "min", "max"]),
            )
        if mode == "auto":
            accuracy_like = any(k in monitor for k in ("acc", "auc", "precision", "recall"))
            mode = "max" if accuracy_like else "min"
        self.monitor, self.mode, self.verbose = monitor, mode, verbose
        self.factor, self.min_lr, self.patience, self.cooldown = number, low, patience, cooldown
        self.min_delta = abs(float(min_delta))
        self.best: float = math.inf if mode == "min" else -math.inf
        self.wait, self.cooldown_counter = 0, 0

    def _improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait, self.cooldown_counter = 0, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _current_rate(self)
        value = logs.get(self.monitor)
        if value is None:
            raise NetTrainError(
                "ReduceLROnPlateau: monitor",
                f"{self.monitor!r} is not in the epoch's logs",
                expected="one of " + ", ".join(repr(k) for k in logs),
                received=repr(self.monitor),
                hint="'val_...' keys need validation_data or validation_split",
            )
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(value):
            self.best, self.wait = value, 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        rate = _current_rate(self)
        if self.wait >= self.patience and rate > self.min_lr:
            new = max(rate * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
            self.cooldown_counter, self.wait = self.cooldown, 0
