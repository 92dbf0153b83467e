"""Keras 3's ``use_ema`` / ``ema_momentum`` and ``gradient_accumulation_steps`` on the engine:
``Model.fit`` gives bit for bit the weights of the equivalent ``nettrain.train`` call (Keras'
``fit`` ends with the averaged weights, as ``weights_averaging``'s "averaged"), and the Core API
refuses accumulation (each of its calls is one update)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nettrain
from nettrain import NetTrainError
from nettrain.keras import Model
from nettrain.keras import optimizers as ko


def _regression(n: int = 44):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


def _fit_and_train(optimizer: ko.Optimizer, **fit: object) -> tuple[nn.Module, nn.Module, object]:
    x, y = _regression()
    model = Model(_net())
    model.compile(optimizer=optimizer, loss="mean_squared_error")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, **fit)
    reference = _net()
    result = nettrain.train(
        reference, (x, y), "all", method=optimizer.method(), loss_function=model.compiled.loss,
        batch_size=8, max_training_rounds=3, validation_set=None, training_progress_reporting=None,
        weights_averaging=optimizer.weights_averaging(),
    )  # fmt: skip
    return model.module, reference, result


def _equal(a: nn.Module, b: nn.Module) -> None:
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), name


def test_fit_with_use_ema_ends_with_the_averaged_weights_of_train():
    optimizer = ko.Adam(0.01, use_ema=True, ema_momentum=0.9)
    assert optimizer.weights_averaging() == {"decay": 0.9, "trained_net": "averaged"}
    trained, reference, result = _fit_and_train(optimizer)
    _equal(trained, reference)
    assert result["averaged_net"] is reference
    assert not torch.equal(trained[0].weight, result["final_net"][0].weight)  # not the last


def test_fit_with_use_ema_and_validation_still_ends_with_the_average():
    """Keras validates the weights being trained and overwrites them with their average at the
    end: the engine's "averaged" rule, which puts the average above its best validation net."""
    x, y = _regression()
    optimizer = ko.SGD(0.05, use_ema=True)
    model = Model(_net())
    model.compile(optimizer=optimizer, loss="mean_squared_error")
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, validation_data=(x[:10], y[:10]))
    reference = _net()
    nettrain.train(reference, (x, y), method=optimizer.method(), batch_size=8,
                   loss_function=model.compiled.loss, max_training_rounds=4,
                   validation_set=((x[:10], y[:10]), {"interval": "1 rounds"}),
                   weights_averaging={"decay": 0.99}, training_progress_reporting=None,
                   training_progress_measurements=["loss"])  # fmt: skip
    _equal(model.module, reference)


def test_fit_with_gradient_accumulation_steps_trains_as_train():
    optimizer = ko.SGD(0.05, momentum=0.9, gradient_accumulation_steps=2)
    assert optimizer.method()[1]["gradient_accumulation"] == 2
    trained, reference, result = _fit_and_train(optimizer)
    _equal(trained, reference)
    assert result["optimization_method"]["total_steps"] == 3 * 3  # 6 batches an epoch: 3 updates
    assert optimizer.iterations == 3 * 3  # Keras counts updates too (iterations // steps)


def test_both_together_and_the_config_round_trip():
    optimizer = ko.AdamW(0.01, use_ema=True, ema_momentum=0.8, gradient_accumulation_steps=3)
    again = ko.AdamW.from_config(optimizer.get_config())
    assert again.method() == optimizer.method()
    assert again.weights_averaging() == optimizer.weights_averaging()
    trained, reference, _ = _fit_and_train(optimizer)
    _equal(trained, reference)


def test_the_core_api_refuses_gradient_accumulation():
    optimizer = ko.SGD(0.1, gradient_accumulation_steps=2)
    w = torch.tensor([1.0], requires_grad=True)
    for call in (
        lambda: optimizer.minimize(lambda: (w**2).sum()),
        lambda: optimizer.apply_gradients([(torch.ones(1), w)]),
    ):
        with pytest.raises(NetTrainError, match="updates at every call") as info:
            call()
        assert info.value.argument == "SGD(gradient_accumulation_steps)"
    model = Model(nn.Linear(3, 1))
    model.compile(optimizer=optimizer, loss="mse")
    with pytest.raises(NetTrainError, match="updates at every call"):
        model.train_on_batch(torch.ones(4, 3), torch.zeros(4, 1))
