"""Keras' ``class_weight`` and ``sample_weight`` in ``fit``, ``evaluate`` and ``train_on_batch``.

Expected values follow Keras' documented semantics, written down here (Keras is not installed
for the tests): a weighted loss is ``sum(w_i * loss_i) / batch_size`` (the default reduction
"sum_over_batch_size"); ``class_weight`` maps class indices to weights "used for weighting the
loss function (during training only)", so the validation loss is not class-weighted;
``sample_weight`` is a flat array, one weight per sample, split with ``validation_split`` like
x and y; ``validation_data`` may be ``(x_val, y_val, val_sample_weights)``; a dataset gives its
weights as the third element of its batches, and ``sample_weight`` with a dataset is an error;
the metrics (``metrics=``) are not weighted; Keras' SGD has no momentum by default.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from nettrain import NetTrainError
from nettrain.keras import Model
from nettrain.keras import losses as kl
from nettrain.keras.optimizers import SGD

N = 40


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    w = torch.rand(N, generator=g) * 2
    return x, y, w


def _model(seed: int = 0, lr: float = 0.1) -> Model:
    torch.manual_seed(seed)
    model = Model(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)))
    model.compile(optimizer=SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    return model


def _weighted_step(model: Model, x, y, w, lr: float):
    """Keras' full-batch SGD step on sum(w * l) / n, by hand: (loss before, new weights)."""
    linear = model.module[0]
    weight = linear.weight.detach().clone().requires_grad_()
    bias = linear.bias.detach().clone().requires_grad_()
    each = F.nll_loss(torch.log(torch.softmax(x @ weight.T + bias, 1)), y, reduction="none")
    loss = (each * w).sum() / len(y)
    gw, gb = torch.autograd.grad(loss, [weight, bias])
    return float(loss.detach()), weight.detach() - lr * gw, bias.detach() - lr * gb


def test_sample_weight_scales_each_example_loss_over_the_batch_size():
    x, y, w = _data()
    model = _model()
    expected_loss, expected_w, expected_b = _weighted_step(model, x, y, w, 0.1)
    history = model.fit(x, y, batch_size=N, epochs=1, verbose=0, sample_weight=w)
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    torch.testing.assert_close(model.module[0].weight, expected_w)
    torch.testing.assert_close(model.module[0].bias, expected_b)


def test_class_weight_is_a_weight_per_target_class():
    x, y, _ = _data()
    model = _model()
    table = {0: 0.5, 2: 3.0}  # class 1 left out: weight 1
    w = torch.tensor([table.get(int(c), 1.0) for c in y])
    expected_loss, expected_w, _ = _weighted_step(model, x, y, w, 0.1)
    history = model.fit(x, y, batch_size=N, epochs=1, verbose=0, class_weight=table)
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    torch.testing.assert_close(model.module[0].weight, expected_w)


def test_class_weight_weighs_training_only_and_metrics_are_never_weighted():
    x, y, _ = _data()
    model = _model()
    history = model.fit(x[:30], y[:30], batch_size=10, epochs=2, verbose=0,
                        class_weight={0: 9.0}, validation_data=(x[30:], y[30:]))  # fmt: skip
    plain = model.evaluate(x[30:], y[30:], return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(plain["loss"], rel=1e-5)
    assert history.history["val_accuracy"][-1] == pytest.approx(plain["accuracy"])


def test_validation_split_takes_the_tail_of_the_sample_weights_too():
    x, y, w = _data()
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, sample_weight=w,
                        validation_split=0.25)  # fmt: skip
    at = int(N * 0.75)  # Keras: split_at = int(n * (1 - validation_split))
    tail = model.evaluate(x[at:], y[at:], sample_weight=w[at:], return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(tail["loss"], rel=1e-5)
    unweighted = model.evaluate(x[at:], y[at:], return_dict=True)["loss"]
    assert history.history["val_loss"][-1] != pytest.approx(unweighted, rel=1e-3)


def test_validation_data_with_sample_weights_weighs_the_validation_loss():
    x, y, w = _data()
    model = _model()
    history = model.fit(x[:30], y[:30], batch_size=10, epochs=1, verbose=0,
                        validation_data=(x[30:], y[30:], w[30:]))  # fmt: skip
    weighted = model.evaluate(x[30:], y[30:], sample_weight=w[30:], return_dict=True)["loss"]
    assert history.history["val_loss"][-1] == pytest.approx(weighted, rel=1e-5)
    # and the training examples weighed 1 each: the same training as without validation weights
    other = _model()
    other.fit(x[:30], y[:30], batch_size=10, epochs=1, verbose=0)
    torch.testing.assert_close(model.module[0].weight, other.module[0].weight)


def test_a_dataset_of_weighted_batches_trains_as_arrays_with_sample_weight_in_order():
    x, y, w = _data()
    batches = [(x[i : i + 10], y[i : i + 10], w[i : i + 10]) for i in range(0, N, 10)]
    by_dataset = _model()
    by_dataset.fit_dataset(batches, epochs=2, verbose=0)
    by_fit = _model()
    by_fit.fit(iter(batches), epochs=1, verbose=0)  # a one-shot iterator: no batch lost
    by_arrays = _model()
    by_arrays.fit(x, y, batch_size=10, epochs=2, verbose=0, sample_weight=w, shuffle=False)
    assert torch.equal(by_dataset.module[0].weight, by_arrays.module[0].weight)
    once = _model()
    once.fit(x, y, batch_size=10, epochs=1, verbose=0, sample_weight=w, shuffle=False)
    assert torch.equal(by_fit.module[0].weight, once.module[0].weight)


def test_fit_with_sample_weight_is_the_weighted_train_call():
    x, y, w = _data()
    model = _model()
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, sample_weight=w)
    torch.manual_seed(0)
    reference = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
    nettrain.train(
        reference, (x, y), method=model.optimizer.method(), loss_function=model.compiled.loss,
        batch_size=8, max_training_rounds=3, training_progress_reporting=None,
        example_weights=w,
    )  # fmt: skip
    assert torch.equal(model.module[0].weight, reference[0].weight)


def test_train_on_batch_and_evaluate_take_sample_and_class_weights():
    x, y, w = _data()
    model = _model()
    expected_loss, expected_w, _ = _weighted_step(model, x, y, w, 0.1)
    loss, accuracy = model.train_on_batch(x, y, sample_weight=w)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    torch.testing.assert_close(model.module[0].weight, expected_w)

    by_class = _model()
    table = {1: 4.0}
    per_class = torch.tensor([table.get(int(c), 1.0) for c in y])
    expected_loss, expected_w, _ = _weighted_step(by_class, x, y, per_class, 0.1)
    assert by_class.train_on_batch(x, y, class_weight=table)[0] == pytest.approx(
        expected_loss, rel=1e-5
    )
    torch.testing.assert_close(by_class.module[0].weight, expected_w)

    probabilities = model.predict(x)
    each = F.nll_loss(torch.log(probabilities), y, reduction="none")
    values = model.evaluate(x, y, sample_weight=w, return_dict=True)
    assert values["loss"] == pytest.approx(float((each * w).sum() / N), rel=1e-5)
    accuracy = float((probabilities.argmax(1) == y).float().mean())
    assert values["accuracy"] == pytest.approx(accuracy)  # not weighted


# ---- bad input ----------------------------------------------------------------------------


def test_both_kinds_of_weights_at_once_are_refused_as_in_keras():
    x, y, w = _data()
    with pytest.raises(NetTrainError, match="cannot be given together with sample_weight"):
        _model().fit(x, y, verbose=0, class_weight={0: 2.0}, sample_weight=w)
    batches = [(x[:10], y[:10], w[:10])]
    with pytest.raises(NetTrainError, match="cannot be given for data with sample weights"):
        _model().fit_dataset(batches, verbose=0, class_weight={0: 2.0})


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"sample_weight": torch.ones(N - 1)}, "one weight per example"),
        ({"sample_weight": -torch.ones(N)}, "finite number >= 0"),
        ({"class_weight": [1.0, 2.0]}, "must be a dict"),
        ({"class_weight": {7: 2.0}}, "is not one of the classes"),
    ],
)
def test_bad_weights_name_the_argument(kwargs, words):
    x, y, _ = _data()
    model = _model()
    before = model.module[0].weight.detach().clone()
    with pytest.raises(NetTrainError) as error:
        model.fit(x, y, verbose=0, **kwargs)
    assert words in str(error.value)
    argument = str(error.value).split(":")[0].split("[")[0].split(",")[0]
    assert argument == next(iter(kwargs))  # named as the user wrote it
    assert torch.equal(model.module[0].weight, before)


def test_sample_weight_with_a_dataset_and_a_sum_reduction_are_refused():
    x, y, w = _data()
    loader = [(x[:10], y[:10])]
    with pytest.raises(NetTrainError, match=r"yield \(x, y, sample_weight\)"):
        _model().fit(loader, verbose=0, sample_weight=w)
    model = Model(nn.Linear(4, 1))
    model.compile("sgd", kl.MeanSquaredError(reduction="sum"))
    with pytest.raises(NetTrainError, match="reduction is 'sum'"):
        model.fit(x, torch.randn(N, 1), verbose=0, sample_weight=w)
