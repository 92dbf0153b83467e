"""nettrain.keras.losses against Keras 3's documented formulas, written out by hand.

Sources: keras/src/losses/losses.py (each formula) and keras/src/losses/loss.py
(``reduce_weighted_values``: "sum_over_batch_size" = sum(w * l) / l.numel()).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from nettrain.errors import NetTrainError, NetTrainWarning
from nettrain.keras import losses as kl

EPS = 1e-7
P = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])
T_IDX = torch.tensor([0, 1, 1])
T_HOT = F.one_hot(T_IDX, 3).float()


def close(a: object, b: float) -> None:
    assert float(a) == pytest.approx(b, rel=1e-5, abs=1e-6)  # type: ignore[arg-type]


def test_categorical_crossentropy_probabilities_clipped() -> None:
    clipped = P.clamp(EPS, 1 - EPS)
    expected = -(T_HOT * clipped.log()).sum(-1).mean()
    close(kl.resolve_loss("categorical_crossentropy")(T_HOT, P), float(expected))
    close(kl.resolve_loss("categoricalCrossentropy")(T_HOT, P), float(expected))
    # row 2 holds an exact 1: clipped to 1 - 1e-7, so its loss is -log(1 - 1e-7), not 0
    per = kl.CategoricalCrossentropy().per_example(T_HOT, P)
    close(per[2], -math.log(1 - EPS))


def test_categorical_crossentropy_label_smoothing_and_logits() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.3, 1.0]])
    t = F.one_hot(torch.tensor([0, 2]), 3).float()
    smooth = t * 0.8 + 0.2 / 3
    expected = -(smooth * F.log_softmax(logits, -1)).sum(-1).mean()
    loss = kl.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
    close(loss(t, logits), float(expected))
    close(
        kl.CategoricalCrossentropy(from_logits=True)(t, logits), float(F.cross_entropy(logits, t))
    )


def test_sparse_from_logits_equals_torch_and_probabilities() -> None:
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 3, 2, 1, 1, 0])
    loss = kl.SparseCategoricalCrossentropy(from_logits=True)
    assert torch.allclose(loss(t, logits), F.cross_entropy(logits, t))
    assert torch.allclose(loss(t[:, None], logits), F.cross_entropy(logits, t))  # [n, 1] too
    expected = -P.clamp(EPS, 1 - EPS)[torch.arange(3), T_IDX].log().mean()
    close(kl.resolve_loss("sparse_categorical_crossentropy")(T_IDX, P), float(expected))


def test_binary_crossentropy() -> None:
    p = torch.tensor([[0.9, 0.2], [0.0, 0.6]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = p.clamp(EPS, 1 - EPS)
    per = -(t * c.log() + (1 - t) * (1 - c).log()).mean(-1)
    close(kl.resolve_loss("binaryCrossentropy")(t, p), float(per.mean()))
    s = t * 0.9 + 0.05
    smooth = -(s * c.log() + (1 - s) * (1 - c).log()).mean(-1).mean()
    close(kl.BinaryCrossentropy(label_smoothing=0.1)(t, p), float(smooth))
    x = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    close(
        kl.BinaryCrossentropy(from_logits=True)(t, x),
        float(F.binary_cross_entropy_with_logits(x, t)),
    )


@pytest.mark.parametrize("name", ["mse", "mean_squared_error", "meanSquaredError"])
def test_regression_names(name: str) -> None:
    y, p = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[1.5, 2.0], [2.0, 0.0]])
    close(kl.resolve_loss(name)(y, p), float(((p - y) ** 2).mean()))
    assert torch.allclose(kl.resolve_loss(name)(y, p), F.mse_loss(p, y))


def test_regression_formulas() -> None:
    y = torch.tensor([[1.0, 2.0], [0.5, 4.0]])
    p = torch.tensor([[1.5, 1.0], [2.0, 4.0]])
    d = p - y
    close(kl.resolve_loss("mae")(y, p), float(d.abs().mean()))
    close(kl.resolve_loss("mape")(y, p), float(100 * (d / y).abs().mean()))
    msle = ((p.clamp_min(EPS) + 1).log() - (y.clamp_min(EPS) + 1).log()).square().mean()
    close(kl.resolve_loss("msle")(y, p), float(msle))
    close(kl.resolve_loss("log_cosh")(y, p), float(torch.log(torch.cosh(d)).mean()))
    close(kl.resolve_loss("poisson")(y, p), float((p - y * torch.log(p + EPS)).mean()))
    cos = -(F.normalize(y, dim=-1) * F.normalize(p, dim=-1)).sum(-1).mean()
    close(kl.resolve_loss("cosine_similarity")(y, p), float(cos))


def test_huber_delta_equals_torch() -> None:
    y, p = torch.zeros(4, 1), torch.tensor([[0.5], [1.0], [2.0], [-3.0]])
    close(kl.Huber()(y, p), float(F.huber_loss(p, y, delta=1.0)))
    close(kl.Huber(delta=2.0)(y, p), (0.125 + 0.5 + 2.0 + (2 * 3 - 2)) / 4)
    assert torch.allclose(kl.Huber(delta=2.0)(y, p), F.huber_loss(p, y, delta=2.0))


def test_kl_and_hinges() -> None:
    t = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    p = torch.tensor([[0.2, 0.8], [0.4, 0.6]])
    tc, pc = t.clamp(EPS, 1), p.clamp(EPS, 1)
    close(kl.resolve_loss("kl_divergence")(t, p), float((tc * (tc / pc).log()).sum(-1).mean()))
    close(kl.resolve_loss("kld")(t, p), float((tc * (tc / pc).log()).sum(-1).mean()))
    y, s = torch.tensor([[1.0], [0.0], [1.0]]), torch.tensor([[0.3], [0.4], [2.0]])
    pm = 2 * y - 1  # 0/1 labels read as -1/1
    close(kl.resolve_loss("hinge")(y, s), float((1 - pm * s).clamp_min(0).mean()))
    close(kl.resolve_loss("squared_hinge")(y, s), float((1 - pm * s).clamp_min(0).square().mean()))
    oh, sc = T_HOT[:2], torch.tensor([[2.0, 1.5, 0.0], [0.0, 0.5, 3.0]])
    pos, neg = (oh * sc).sum(-1), ((1 - oh) * sc).amax(-1)
    close(kl.resolve_loss("categorical_hinge")(oh, sc), float((neg - pos + 1).clamp_min(0).mean()))


def test_sample_weight_is_sum_over_batch_size() -> None:
    # Keras 3 reduce_weighted_values: sum(w * l) / number of losses, not / sum(w)
    y, p = torch.tensor([[0.0], [0.0], [0.0]]), torch.tensor([[1.0], [2.0], [3.0]])
    w = torch.tensor([1.0, 0.0, 2.0])
    close(kl.MeanSquaredError()(y, p, sample_weight=w), (1 + 0 + 18) / 3)
    close(kl.MeanSquaredError(reduction="sum")(y, p, sample_weight=w), 19.0)
    close(kl.MeanSquaredError(reduction="mean_with_sample_weight")(y, p, w), 19 / 3)
    per = kl.MeanSquaredError().per_example(y, p)
    assert per.tolist() == [1.0, 4.0, 9.0]
    close((w * per).sum() / 3, (1 + 0 + 18) / 3)


def test_per_example_of_sequences() -> None:
    y = torch.randint(0, 3, (2, 4))
    logits = torch.randn(2, 4, 3)
    loss = kl.SparseCategoricalCrossentropy(from_logits=True)
    assert loss.per_example(y, logits).shape == (2,)
    close(loss(y, logits), float(F.cross_entropy(logits.reshape(-1, 3), y.reshape(-1))))


def test_custom_callable_loss() -> None:
    loss = kl.resolve_loss(lambda y_true, y_pred: (y_pred - y_true).abs().sum(-1))
    y, p = torch.zeros(2, 2), torch.tensor([[1.0, 1.0], [3.0, 0.0]])
    close(loss(y, p), 2.5)
    scalar = kl.resolve_loss(lambda y_true, y_pred: (y_pred - y_true).abs().mean())
    assert scalar.per_example(y, p).tolist() == [1.0, 1.5]


def test_misspelt_and_bad_losses() -> None:
    with pytest.raises(NetTrainError, match="categorical_crossentropy"):
        kl.resolve_loss("categorical_crossentropi")
    with pytest.raises(NetTrainError, match="did you mean"):
        kl.resolve_loss("meanSquaredErorr")
    with pytest.raises(NetTrainError, match="cannot use this as a loss"):
        kl.resolve_loss(3)
    with pytest.raises(NetTrainError, match="reduction"):
        kl.MeanSquaredError(reduction="avg")


def test_logits_warning() -> None:
    with pytest.warns(NetTrainWarning, match="from_logits=True"):
        kl.resolve_loss("sparse_categorical_crossentropy").check_outputs(torch.randn(4, 3))
    with pytest.warns(NetTrainWarning, match="sum to 1"):
        kl.CategoricalCrossentropy().check_outputs(torch.tensor([[0.5, 0.9]]))
    with pytest.warns(NetTrainWarning, match="sigmoid"):
        kl.BinaryCrossentropy().check_outputs(torch.tensor([[2.5]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kl.CategoricalCrossentropy().check_outputs(P)
        kl.BinaryCrossentropy().check_outputs(torch.tensor([[0.3], [0.9]]))
        kl.CategoricalCrossentropy(from_logits=True).check_outputs(torch.randn(2, 3))
        kl.MeanSquaredError().check_outputs(-torch.ones(2, 1))


def _train(loss: object, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    return nettrain.train(
        net, (x, y), loss_function=loss, max_training_rounds=2, batch_size=4,
        training_progress_reporting=None, random_seeding=0,
    )  # fmt: skip


def test_usable_as_train_loss_function() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, generator=g), torch.randint(0, 2, (16,), generator=g)
    torch.manual_seed(0)
    a = _train(kl.SparseCategoricalCrossentropy(from_logits=True), nn.Linear(3, 2), x, y)
    torch.manual_seed(0)
    b = _train("cross_entropy", nn.Linear(3, 2), x, y)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6)
    losses = nettrain.train(
        nn.Linear(3, 2), (x, y[:, None]), "example_losses", batch_size=4,
        loss_function=kl.SparseCategoricalCrossentropy(from_logits=True),
        max_training_rounds=1, training_progress_reporting=None,
    )  # fmt: skip
    assert losses.shape == (16,) and bool(torch.isfinite(losses).all())


def test_shape_mismatch_at_train() -> None:
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    with pytest.raises(NetTrainError, match="sparse_categorical_crossentropy"):
        _train(kl.CategoricalCrossentropy(from_logits=True), nn.Linear(3, 2), x, y)


def test_the_engine_term_of_sparse_cce_from_logits_is_keras_formula_in_one_kernel():
    """The term fit trains with uses F.cross_entropy: the same value and gradient as Keras'
    mean of -log_softmax(y_pred)[y_true]."""
    from nettrain.keras.losses import SparseCategoricalCrossentropy

    g = torch.Generator().manual_seed(0)
    out = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 5, (7,), generator=g)
    loss = SparseCategoricalCrossentropy(from_logits=True)
    term = loss.nettrain_loss_term("output", "target", out.detach(), t, torch.float64)
    fast = term.fn(out, t)
    keras = -torch.log_softmax(out, -1).gather(1, t[:, None]).mean()
    assert torch.allclose(fast, keras, rtol=0, atol=1e-15)
    (g_fast,) = torch.autograd.grad(fast, out)
    (g_keras,) = torch.autograd.grad(keras, out)
    assert torch.allclose(g_fast, g_keras, rtol=0, atol=1e-15)
    assert torch.allclose(term.fn(out, t[:, None]), keras)  # targets as a column
