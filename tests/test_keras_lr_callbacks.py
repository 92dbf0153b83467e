"""ReduceLROnPlateau and LearningRateScheduler: Keras 3's rates, and the engine trains with them.

Expected rates are Keras 3's rules written out by hand (Keras is not installed for the tests;
keras/src/callbacks/reduce_lr_on_plateau.py and learning_rate_scheduler.py):

- ReduceLROnPlateau, at each epoch end: log the epoch's rate; if ``cooldown_counter > 0``:
  ``cooldown_counter -= 1``, ``wait = 0``; if ``value < best - min_delta``: ``best = value``,
  ``wait = 0``; elif not in cooldown: ``wait += 1`` and, if ``wait >= patience`` and
  ``lr > min_lr``: ``lr = max(lr * factor, min_lr)``, ``cooldown_counter = cooldown``,
  ``wait = 0``.
- LearningRateScheduler: at each epoch's start ``lr = schedule(epoch, lr)``; the epoch's logs
  get ``learning_rate``.

That the engine uses the rates is checked twice: a batch callback reads
``model.optimizer.learning_rate`` during each epoch, and the weights equal bit for bit those
of a ``nettrain.train`` call whose progress function sets the same rates.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import nettrain
from nettrain import NetTrainError
from nettrain.keras import Callback, LearningRateScheduler, Model, ReduceLROnPlateau
from nettrain.keras.optimizers import SGD


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


class RatesSeen(Callback):
    """The optimizer's rate at every batch of every epoch (what the epoch trains with)."""

    def __init__(self) -> None:
        self.rates: dict[int, set[float]] = {}
        self.epoch = -1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.rates.setdefault(self.epoch, set()).add(self.model.optimizer.learning_rate)

    def per_epoch(self) -> list[float]:
        assert all(len(r) == 1 for r in self.rates.values()), self.rates
        return [next(iter(self.rates[e])) for e in sorted(self.rates)]


def _reference(rates: list[float], epochs: int, model: Model, method: Any) -> nn.Module:
    """``nettrain.train`` with a progress function that sets ``rates[e]`` for epoch ``e``."""

    def set_rates(live: dict[str, Any]) -> object:
        if live["event"] == "training_started":
            return {"learning_rate": rates[0]}
        if live["event"] == "round_complete" and live["round"] < epochs:
            return {"learning_rate": rates[live["round"]]}
        return None

    net = _net()
    x, y = _data()
    nettrain.train(
        net,
        (x, y),
        method=method,
        loss_function=model.compiled.loss,
        batch_size=16,
        max_training_rounds=epochs,
        validation_set=None,
        training_progress_reporting=None,
        training_progress_function=set_rates,
    )
    return net


def _same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name


# val_loss scripted per epoch; the comments trace Keras' rule with patience=2, factor=0.5,
# cooldown=2, min_delta=0.01, min_lr=0.03, starting at lr=0.1
SCRIPT = [1.0, 0.9, 0.895, 0.92, 0.93, 0.94, 0.95, 0.5, 0.6, 0.7, 0.8]
KERAS_RATES = [
    0.1,  # 0: 1.0 improves on inf: best 1.0
    0.1,  # 1: 0.9 < 1.0 - 0.01: best 0.9
    0.1,  # 2: 0.895 is not below 0.89: wait 1
    0.1,  # 3: wait 2 >= patience: lr -> 0.05, cooldown_counter 2, wait 0
    0.05,  # 4: in cooldown: counter 1, wait 0; no improvement; still in cooldown
    0.05,  # 5: counter 0, wait 0; no improvement, not in cooldown: wait 1
    0.05,  # 6: wait 2: lr -> max(0.025, 0.03) = 0.03, counter 2
    0.03,  # 7: counter 1; 0.5 improves: best 0.5
    0.03,  # 8: counter 0; no improvement: wait 1
    0.03,  # 9: wait 2, but lr 0.03 is not above min_lr: unchanged
    0.03,  # 10: wait 3, unchanged
]


def test_reduce_lr_on_plateau_gives_keras_rates_and_the_engine_trains_with_them() -> None:
    script = iter(SCRIPT)

    class FakeValidation(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            assert logs is not None
            logs["val_loss"] = next(script)

    reducer = ReduceLROnPlateau(patience=2, factor=0.5, cooldown=2, min_delta=0.01, min_lr=0.03)
    seen = RatesSeen()
    model = Model(_net())
    model.compile(optimizer=SGD(learning_rate=0.1, momentum=0.9), loss="mse")
    method = model.optimizer.method()
    x, y = _data()
    epochs = len(SCRIPT)
    history = model.fit(
        x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=[FakeValidation(), reducer, seen]
    )
    assert history.history["learning_rate"] == KERAS_RATES
    assert seen.per_epoch() == KERAS_RATES
    assert model.optimizer.learning_rate == 0.03
    assert reducer.best == 0.5 and reducer.wait == 3
    _same_weights(model.module, _reference(KERAS_RATES, epochs, model, method))


def test_reduce_lr_on_plateau_in_max_mode_and_without_cooldown() -> None:
    reducer = ReduceLROnPlateau(monitor="val_accuracy", factor=0.2, patience=1, min_delta=0.0)
    assert reducer.mode == "max"
    model = Model(_net())
    model.compile(optimizer=SGD(learning_rate=1.0), loss="mse")
    reducer.set_model(model)
    reducer.on_train_begin()
    rates = []
    for epoch, value in enumerate([0.5, 0.6, 0.6, 0.7, 0.65, 0.65]):
        logs = {"val_accuracy": value}
        reducer.on_epoch_end(epoch, logs)
        rates.append((logs["learning_rate"], model.optimizer.learning_rate))
    # epoch 2 and 4 do not improve (patience 1): reduce; epoch 5 does not either: reduce again
    assert rates == [
        (1.0, 1.0),
        (1.0, 1.0),
        (1.0, 0.2),
        (0.2, 0.2),
        (0.2, 0.2 * 0.2),
        (0.2 * 0.2, 0.2 * 0.2 * 0.2),
    ]


def step_decay(epoch: int, lr: float) -> float:
    """Keras' usual step decay: 0.1, halved every 2 epochs."""
    return 0.1 * 0.5 ** (epoch // 2)


def test_learning_rate_scheduler_gives_keras_rates_and_equals_train() -> None:
    seen = RatesSeen()
    model = Model(_net())
    model.compile(optimizer=SGD(learning_rate=0.7, momentum=0.5), loss="mse")
    method = model.optimizer.method()
    x, y = _data()
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=5,
        verbose=0,
        callbacks=[LearningRateScheduler(step_decay), seen],
    )
    want = [0.1, 0.1, 0.05, 0.05, 0.025]  # epoch 0 already runs at schedule(0) = 0.1, not 0.7
    assert history.history["learning_rate"] == want
    assert seen.per_epoch() == want
    assert model.optimizer.learning_rate == 0.025
    _same_weights(model.module, _reference(want, 5, model, method))


def test_scheduler_without_batch_callbacks_equals_train_bitwise() -> None:
    # no batch callback: the bridge is called per round only, and still sets each epoch's rate
    model = Model(_net())
    model.compile(optimizer="adam", loss="mse")
    method = model.optimizer.method()
    x, y = _data()
    model.fit(
        x, y, batch_size=16, epochs=4, verbose=0, callbacks=[LearningRateScheduler(step_decay)]
    )
    _same_weights(model.module, _reference([step_decay(e, 0) for e in range(4)], 4, model, method))


def test_scheduler_one_argument_form_and_initial_epoch() -> None:
    calls: list[int] = []

    def by_epoch(epoch: int) -> float:
        calls.append(epoch)
        return 0.01 * (epoch + 1)

    model = Model(_net())
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    history = model.fit(
        x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[LearningRateScheduler(by_epoch)]
    )
    assert calls == [2, 3]
    assert history.history["learning_rate"] == [0.03, 0.04]


def test_scheduler_receives_the_current_rate() -> None:
    model = Model(_net())
    model.compile(optimizer=SGD(learning_rate=0.08), loss="mse")
    x, y = _data()
    history = model.fit(
        x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: lr / 2)]
    )
    assert history.history["learning_rate"] == [0.04, 0.02, 0.01]


@pytest.mark.parametrize("value", ["0.1", None, 0.0, -1.0, float("nan")])
def test_scheduler_refuses_a_bad_rate(value: object) -> None:
    model = Model(_net())
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    with pytest.raises(NetTrainError, match=r"^LearningRateScheduler: schedule: .*epoch 0"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda e: value)])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(NetTrainError, match=r"^LearningRateScheduler: schedule: is not callable"):
        LearningRateScheduler(0.1)  # type: ignore[arg-type]
    with pytest.raises(NetTrainError, match=r"^ReduceLROnPlateau: factor"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(NetTrainError, match=r"^ReduceLROnPlateau: factor"):
        ReduceLROnPlateau(factor=0.0)
    with pytest.raises(NetTrainError, match=r"^ReduceLROnPlateau: mode.*'max'"):
        ReduceLROnPlateau(mode="maximum")
    with pytest.raises(NetTrainError, match=r"^ReduceLROnPlateau: min_lr"):
        ReduceLROnPlateau(min_lr=-1)
    with pytest.raises(NetTrainError, match=r"^ReduceLROnPlateau: patience"):
        ReduceLROnPlateau(patience=1.5)  # type: ignore[arg-type]


def test_reduce_lr_on_plateau_needs_its_monitor_in_the_logs() -> None:
    model = Model(_net())
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    with pytest.raises(NetTrainError, match=r"^ReduceLROnPlateau: monitor: 'val_loss'"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[ReduceLROnPlateau()])


def test_a_batch_callback_may_change_the_rate_mid_epoch() -> None:
    class Warmup(Callback):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if batch == 0:
                self.model.optimizer.learning_rate = 0.05

    model = Model(_net())
    model.compile(optimizer=SGD(learning_rate=0.01), loss="mse")
    method = model.optimizer.method()
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[Warmup()])

    def after_first(live: dict[str, Any]) -> object:
        return {"learning_rate": 0.05} if live.get("absolute_batch") == 1 else None

    net = _net()
    nettrain.train(
        net,
        (x, y),
        method=method,
        loss_function=model.compiled.loss,
        batch_size=16,
        max_training_rounds=1,
        validation_set=None,
        training_progress_reporting=None,
        training_progress_function=(after_first, {"interval": "batch"}),
    )
    _same_weights(model.module, net)
