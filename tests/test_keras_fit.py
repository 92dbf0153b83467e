"""Model.fit on the one engine: parity with nettrain.train, History, callbacks, Keras' rules.

Expected values are Keras' documented semantics, written down here (Keras is not installed for
the tests): ``validation_split`` takes the last fraction before shuffling
(``split_at = int(n * (1 - validation_split))``); History holds one entry per epoch under
"loss", the metrics' keys and "val_" keys; EarlyStopping(patience=p) stops after p epochs in a
row without an improvement larger than min_delta and, with restore_best_weights, puts back the
best epoch's weights; the callback order is on_train_begin, then per epoch on_epoch_begin,
on_train_batch_begin/end per batch, on_test_begin/end when validating, on_epoch_end, and last
on_train_end.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nettrain
from nettrain import NetTrainError, NetTrainWarning
from nettrain.keras import Callback, EarlyStopping, LambdaCallback, Model


def _regression(n: int = 48, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1


def _classification(n: int = 60, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()


def _net(features: int = 3, out: int = 1, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, out))


def _classifier(seed: int = 0) -> nn.Module:
    """Probabilities out: what Keras' cross-entropies named by string expect."""
    return nn.Sequential(_net(4, 3, seed), nn.Softmax(dim=1))


def test_fit_trains_exactly_as_the_equivalent_train_call():
    x, y = _regression()
    model = Model(_net())
    model.compile(optimizer="adam", loss="mean_squared_error")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    reference = _net()
    nettrain.train(
        reference,
        (x, y),
        method=model.optimizer.method(),
        loss_function=model.compiled.loss,
        batch_size=16,
        max_training_rounds=3,
        validation_set=None,
        training_progress_reporting=None,
    )
    for (name, a), b in zip(model.module.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_history_holds_one_entry_per_epoch_with_val_keys():
    x, y = _classification()
    model = Model(_classifier())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x[:40], y[:40], batch_size=8, epochs=4, verbose=0, validation_data=(x[40:], y[40:])
    )
    assert history is model.history and history.epoch == [0, 1, 2, 3]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 for v in history.history.values())
    assert history.params == {"epochs": 4, "steps": 5, "verbose": 0}
    # the last val_loss is the loss evaluate gives on the validation data, with the final weights
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x[40:], y[40:], return_dict=True)["loss"], rel=1e-5
    )


def test_initial_epoch_numbers_the_epochs_from_it():
    x, y = _regression()
    model = Model(_net())
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2


def test_the_callback_order_is_keras_order():
    x, y = _regression(24)
    events: list[str] = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_train_end(self, logs=None):
            events.append("train_end")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_batch_begin(self, batch, logs=None):
            events.append(f"batch_begin {batch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch}")

        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_end(self, logs=None):
            events.append("test_end")

    model = Model(_net())
    model.compile(optimizer="sgd", loss="mse")
    model.fit(
        x, y, batch_size=10, epochs=2, verbose=0, validation_split=0.25, callbacks=[Recorder()]
    )
    epoch = [
        "batch_begin 0", "batch_end 0", "batch_begin 1", "batch_end 1",
        "test_begin", "test_end",
    ]  # fmt: skip
    assert events == [
        "train_begin",
        "epoch_begin 0",
        *epoch,
        "epoch_end 0 ['loss', 'val_loss']",
        "epoch_begin 1",
        *epoch,
        "epoch_end 1 ['loss', 'val_loss']",
        "train_end",
    ]


def test_validation_split_takes_the_tail_before_shuffling_and_warns_on_sorted_classes():
    x, y = _classification(40)
    order = torch.argsort(y, stable=True)  # sorted by class: the tail holds only the last class
    xs, ys = x[order], y[order]
    seen = {}

    model = Model(_classifier())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.warns(NetTrainWarning, match="classes the training part lacks"):
        history = model.fit(
            xs,
            ys,
            batch_size=8,
            epochs=1,
            verbose=0,
            validation_split=0.25,
            callbacks=[LambdaCallback(on_train_begin=lambda logs: seen.setdefault("ok", True))],
        )
    split_at = int(40 * (1 - 0.25))  # Keras' rule: 30 for training, the last 10 to validate
    tail = model.evaluate(xs[split_at:], ys[split_at:], return_dict=True)["loss"]
    assert history.history["val_loss"][0] == pytest.approx(tail, rel=1e-5)
    assert seen == {"ok": True}


def test_early_stopping_with_patience_and_restore_best_weights():
    x, y = _regression()
    losses = iter([1.0, 0.8, 0.9, 0.85, 0.95, 0.7])  # best at epoch 1, then 3 without gain
    kept: dict[int, dict[str, torch.Tensor]] = {}

    class FakeValidation(Callback):
        """Replaces val_loss by a scripted sequence, and keeps each epoch's weights."""

        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(losses)
            kept[epoch] = self.model.state_dict_copy()

    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = Model(_net())
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(
        x, y, batch_size=16, epochs=6, verbose=0, callbacks=[FakeValidation(), stopper]
    )
    # epoch 1 is the best (0.8); epochs 2 and 3 do not improve: patience 2 -> stop after 3
    assert history.epoch == [0, 1, 2, 3] and stopper.stopped_epoch == 3
    assert history.history["val_loss"] == [1.0, 0.8, 0.9, 0.85]
    for name, value in model.module.state_dict().items():
        assert torch.equal(value, kept[1][name]), name


def test_early_stopping_min_delta_and_mode():
    stopper = EarlyStopping(monitor="accuracy", min_delta=0.05, patience=1)
    assert stopper.mode == "max"
    stopper.model = Model(_net())
    stopper.on_train_begin()
    for epoch, value in enumerate([0.50, 0.54, 0.60]):  # +0.04 is not an improvement of 0.05
        stopper.on_epoch_end(epoch, {"accuracy": value})
        if stopper.model.stop_training:
            break
    assert stopper.stopped_epoch == 1 and stopper.best == 0.50


def test_stop_training_from_a_batch_callback_stops_after_that_batch():
    x, y = _regression(40)
    model = Model(_net())
    model.compile(optimizer="sgd", loss="mse")

    def stop_at_third(batch, logs):
        if batch == 2:
            model.stop_training = True

    history = model.fit(
        x, y, batch_size=4, epochs=3, verbose=0, callbacks=[{"onBatchEnd": stop_at_third}]
    )
    # stopped after batch 2 of the first epoch; Keras still ends that epoch (on_epoch_end)
    assert history.epoch == [0] and model.stop_training
    assert len(history.history["loss"]) == 1


def test_predict_and_evaluate_return_forms():
    x, y = _classification(50)
    model = Model(_classifier())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    out = model.predict(x, batch_size=7)  # uneven batches
    with torch.no_grad():
        assert torch.allclose(out, model.module.eval()(x))
    loss, accuracy = model.evaluate(x, y, batch_size=7)
    assert accuracy == pytest.approx(float((out.argmax(1) == y).float().mean()))
    assert model.evaluate(x, y, return_dict=True) == {"loss": loss, "accuracy": accuracy}
    plain = Model(_classifier())
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(plain.evaluate(x, y), float)


@pytest.mark.parametrize(
    ("call", "argument", "words"),
    [
        (lambda m, x, y: m.fit(x, y, verbose=0), "fit", "not compiled"),
        (lambda m, x, y: (m.compile("sgd", "mse"), m.fit(x, y[:-1], verbose=0)), "y", "different"),
        (lambda m, x, y: (m.compile("sgd", "mse"), m.fit(x, y, epochs=0)), "epochs", "above"),
        (
            lambda m, x, y: (m.compile("sgd", "mse"), m.fit(x, y, validation_split=1.5)),
            "validation_split",
            "fraction",
        ),
        (lambda m, x, y: m.compile("sgd", None), "loss", "needed"),
        (lambda m, x, y: m.evaluate(x, y), "evaluate", "not compiled"),
        (
            lambda m, x, y: (m.compile("sgd", "mse"), m.fit(x, y, callbacks=[42])),
            "callbacks",
            "entry 0",
        ),
        (
            lambda m, x, y: (
                m.compile("sgd", "mse"),
                m.fit(x, y, callbacks=[{"onEpocEnd": print}]),
            ),
            "callbacks",
            "onEpochEnd",
        ),
    ],
)
def test_bad_input_gets_a_nettrain_error(call, argument, words):
    x, y = _regression(20)
    with pytest.raises(NetTrainError) as caught:
        call(Model(_net()), x, y)
    assert caught.value.argument == argument and words in str(caught.value)


def test_a_callback_that_raises_says_where():
    x, y = _regression(20)

    class Broken(Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyError("oops")

    model = Model(_net())
    model.compile("sgd", "mse")
    with pytest.raises(KeyError) as caught:
        model.fit(x, y, verbose=0, callbacks=[Broken()])
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "Broken.on_epoch_end" in notes


def test_summary_weights_and_a_saved_model_that_comes_back_compiled(tmp_path):
    module = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10), nn.Softmax(dim=1))
    model = Model(module, input_shape=(784,))
    text = model.summary(print_fn=None)
    assert "25,120" in text and "330" in text and "25,450" in text
    assert [w.name for w in model.weights] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [tuple(w.shape) for w in model.weights] == [(32, 784), (32,), (10, 32), (10,)]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = torch.rand(20, 784, generator=torch.Generator().manual_seed(1))
    y = torch.arange(20) % 10
    model.fit(x, y, epochs=1, verbose=0)
    path = model.save(tmp_path / "model.safetensors")
    again = nettrain.keras.load_model(path)
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        assert (a == b).all()
    assert again.compiled is not None and [m.key for m in again.compiled.metrics] == ["accuracy"]
    assert type(again.optimizer).__name__ == "Adam"
    assert again.evaluate(x, y) == model.evaluate(x, y)


def test_a_probability_loss_fed_logits_warns_once_before_training():
    x, y = _classification(30)
    model = Model(_net(4, 3))  # ends with a Linear: logits
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.warns(NetTrainWarning, match="from_logits=True"):
        model.fit(x, y, epochs=1, verbose=0)
    fixed = Model(nn.Sequential(_net(4, 3), nn.Softmax(dim=1)))
    fixed.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    fixed.fit(x, y, epochs=1, verbose=0)  # warnings are errors in the tests: none here


def test_shuffle_false_visits_the_data_in_order_every_epoch():
    x, y = _regression(30)
    seen: list[torch.Tensor] = []

    class Inputs(nn.Module):  # records the inputs of every training forward pass
        def __init__(self):
            super().__init__()
            self.inner = _net()

        def forward(self, inputs):
            if self.training and torch.is_grad_enabled():
                seen.append(inputs[:, 0].detach().clone())
            return self.inner(inputs)

    model = Model(Inputs())
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    order = torch.cat(seen[-8:])  # the two epochs' 4 batches each (8, 8, 8, 6)
    assert torch.equal(order[:30], x[:, 0]) and torch.equal(order[30:], x[:, 0])
    with pytest.raises(NetTrainError, match="True or False"):
        model.fit(x, y, shuffle="batch")


def test_train_on_batch_steps_like_torch_optim_and_keeps_the_optimizer_state():
    x, y = _regression(16)
    model = Model(_net())
    model.compile(optimizer=nettrain.keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    reference = _net()
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01, eps=1e-7)
    for _ in range(3):
        loss = model.train_on_batch(x, y)
        optimizer.zero_grad()
        ref_loss = torch.nn.functional.mse_loss(reference(x), y)
        ref_loss.backward()
        optimizer.step()
        assert loss == pytest.approx(ref_loss.detach().item(), rel=1e-6)
    for a, b in zip(model.module.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)  # Keras' epsilon placement: close, not equal


def test_steps_per_epoch_goes_on_where_the_last_epoch_stopped():
    """Keras 3: with steps_per_epoch, epoch e+1 continues the data where epoch e stopped; a new
    (reshuffled) pass begins when one ends."""
    x, y = _regression(20)  # 5 batches of 4 per pass
    seen: list[torch.Tensor] = []

    class Inputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = _net()

        def forward(self, inputs):
            if self.training and torch.is_grad_enabled():
                seen.append(inputs[:, 0].detach().clone())
            return self.inner(inputs)

    model = Model(Inputs())
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=3, steps_per_epoch=3, verbose=0, shuffle=False)
    assert history.params["steps"] == 3 and len(history.history["loss"]) == 3
    visited = torch.cat(seen[-9:])  # 3 epochs x 3 batches: 9 batches, through 2 passes
    in_order = torch.cat([x[:, 0], x[:, 0]])[:36]
    assert torch.equal(visited, in_order)
    with pytest.raises(NetTrainError, match="steps_per_epoch"):
        model.fit(x, y, steps_per_epoch=0, verbose=0)
