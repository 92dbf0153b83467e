"""A compiled model keeps one optimizer state across ``fit`` calls, ``train_on_batch`` and the
Core API, and in its saved file, as Keras does: checked against one ``torch.optim.SGD`` with
momentum stepping through the same (full) batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nettrain.keras import Model, load_model
from nettrain.keras.optimizers import SGD

N = 32


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-1.0], [2.0]])


def _model() -> Model:
    torch.manual_seed(1)
    model = Model(nn.Linear(3, 1))
    model.compile(SGD(learning_rate=0.05, momentum=0.9), "mse")
    return model


def _reference(steps: int) -> nn.Linear:
    x, y = _data()
    torch.manual_seed(1)
    net = nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(net(x), y).backward()
        opt.step()
    return net


def _close(model: Model, reference: nn.Module) -> None:
    torch.testing.assert_close(model.module.weight, reference.weight)
    torch.testing.assert_close(model.module.bias, reference.bias)


def test_fit_called_again_goes_on_with_the_momentum():
    x, y = _data()
    model = _model()
    for _ in range(3):
        model.fit(x, y, batch_size=N, epochs=1, verbose=0)
    _close(model, _reference(3))
    assert model.optimizer.iterations == 3
    # a new compile is a new optimizer: its momentum starts from zero, as Keras'
    model.compile(SGD(learning_rate=0.05, momentum=0.9), "mse")
    assert model.optimizer.iterations == 0


def test_fit_train_on_batch_and_apply_gradients_share_one_state():
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=N, epochs=1, verbose=0)
    model.train_on_batch(x, y)
    params = list(model.module.parameters())
    grads = torch.autograd.grad(F.mse_loss(model.module(x), y), params)
    model.optimizer.apply_gradients(zip(grads, params, strict=True))
    model.fit(x, y, batch_size=N, epochs=2, verbose=0)
    _close(model, _reference(5))
    assert model.optimizer.iterations == 5


def test_a_saved_model_goes_on_from_its_optimizer_state(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=N, epochs=2, verbose=0)
    path = model.save(tmp_path / "model.safetensors")
    loaded = load_model(path)
    assert loaded.optimizer.iterations == 2
    loaded.fit(x, y, batch_size=N, epochs=1, verbose=0)
    _close(loaded, _reference(3))


def test_a_model_file_with_optimizer_state_loads_as_a_net(tmp_path):
    import nettrain

    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=N, epochs=1, verbose=0)
    path = model.save(tmp_path / "model.safetensors")
    net = nettrain.Net.load(path)  # the optimizer's tensors are not the net's
    torch.testing.assert_close(torch.as_tensor(net(x)).reshape(-1, 1), model.predict(x))
