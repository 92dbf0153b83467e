"""nettrain.keras.metrics: Keras 3's formulas by hand, the engine's measurement on the same data,
the "accuracy" choice table, keys, misspellings and a regression/classification mismatch.

Sources: keras/src/metrics/*.py (formulas, default names) and keras/src/trainers/compile_utils.py
(``get_metric``: a string's key is the string; repeated keys get "_1", "_2").
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from nettrain.errors import NetTrainError
from nettrain.keras import losses as kl
from nettrain.keras import metrics as km
from nettrain.measure import Accumulator, parse_measurements

G = torch.Generator().manual_seed(3)
LOGITS = torch.randn(20, 4, generator=G)
PROBS = LOGITS.softmax(-1)
IDX = torch.randint(0, 4, (20,), generator=G)
HOT = F.one_hot(IDX, 4).float()


def engine(
    metric: km.KerasMetric, y_pred: torch.Tensor, y_true: torch.Tensor, scores: str
) -> float:
    """The engine's value of ``metric.measurement()`` over two uneven batches."""
    task = metric.task or "regression"
    ms = parse_measurements([metric.measurement()], task=task)
    acc = Accumulator(ms, task=task, scores=scores)
    acc.update(y_pred[:7], y_true[:7])
    acc.update(y_pred[7:], y_true[7:])
    value = acc.result()[metric.key]
    assert isinstance(value, float)
    return value


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        (kl.SparseCategoricalCrossentropy(), km.SparseCategoricalAccuracy),
        (kl.SparseCategoricalCrossentropy(from_logits=True), km.SparseCategoricalAccuracy),
        (kl.CategoricalCrossentropy(), km.CategoricalAccuracy),
        (kl.resolve_loss("categorical_hinge"), km.CategoricalAccuracy),
        (kl.resolve_loss("kl_divergence"), km.CategoricalAccuracy),
        (kl.BinaryCrossentropy(), km.BinaryAccuracy),
        (kl.resolve_loss("hinge"), km.BinaryAccuracy),
        (kl.CustomLoss(fn=lambda t, p: p, custom_task="binary"), km.BinaryAccuracy),
    ],
)
def test_accuracy_choice_table(loss: kl.KerasLoss, expected: type) -> None:
    for name in ("accuracy", "acc"):
        [m] = km.resolve_metrics([name], loss)
        assert type(m) is expected and m.key == name
        assert m.chosen_by is not None and loss.name in m.chosen_by


def test_sparse_and_categorical_accuracy_against_engine() -> None:
    [m] = km.resolve_metrics(["accuracy"], kl.SparseCategoricalCrossentropy(from_logits=True))
    hand = float((LOGITS.argmax(-1) == IDX).float().mean())
    assert m.compute(IDX, LOGITS) == pytest.approx(hand)
    assert engine(m, LOGITS, IDX, "logits") == pytest.approx(hand)
    [c] = km.resolve_metrics(["categorical_accuracy"], kl.CategoricalCrossentropy())
    assert c.compute(HOT, PROBS) == pytest.approx(hand)
    assert engine(c, PROBS, HOT, "probabilities") == pytest.approx(hand)
    w = torch.linspace(0.1, 2.0, 20)
    hits = (LOGITS.argmax(-1) == IDX).float()
    assert m.compute(IDX, LOGITS, w) == pytest.approx(float((w * hits).sum() / w.sum()))


def test_top_k() -> None:
    loss = kl.SparseCategoricalCrossentropy()
    [m] = km.resolve_metrics([km.SparseTopKCategoricalAccuracy(k=2)], loss)
    hand = float((PROBS.topk(2, -1).indices == IDX[:, None]).any(-1).float().mean())
    assert m.key == "sparse_top_k_categorical_accuracy"
    assert m.compute(IDX, PROBS) == pytest.approx(hand)
    assert engine(m, PROBS, IDX, "probabilities") == pytest.approx(hand)
    [t] = km.resolve_metrics([km.TopKCategoricalAccuracy(k=3)], kl.CategoricalCrossentropy())
    hand3 = float((PROBS.topk(3, -1).indices == IDX[:, None]).any(-1).float().mean())
    assert t.compute(HOT, PROBS) == pytest.approx(hand3)


def test_binary_accuracy_precision_recall_auc() -> None:
    p = torch.tensor([0.9, 0.8, 0.3, 0.6, 0.1, 0.4, 0.7, 0.2, 0.55, 0.45])[:, None]
    y = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0])[:, None]
    ms = km.resolve_metrics(["accuracy", "precision", "recall", "auc"], kl.BinaryCrossentropy())
    pred = p > 0.5
    tp = float((pred & (y > 0.5)).sum())  # 0.9, 0.6, 0.7 -> 3
    hand = {
        "accuracy": float((pred.float() == y).float().mean()),  # 6 of 10
        "precision": tp / float(pred.sum()),  # 3 / 5
        "recall": tp / float(y.sum()),  # 3 / 5
    }
    # AUC: pairs (positive, negative) ranked right; ties none here: 18 of 25
    pos, neg = p[y > 0.5], p[y < 0.5]
    hand["auc"] = float((pos[:, None] > neg[None, :]).float().mean())
    for m in ms:
        assert m.compute(y, p) == pytest.approx(hand[m.key]), m.key
        assert engine(m, p, y, "probabilities") == pytest.approx(hand[m.key]), m.key
    assert hand["accuracy"] == pytest.approx(0.6) and hand["precision"] == pytest.approx(0.6)


def test_binary_from_logits_thresholds_the_sigmoid() -> None:
    x = torch.tensor([[2.0], [-1.0], [0.3], [-0.2]])
    y = torch.tensor([[1.0], [1.0], [0.0], [0.0]])
    [m] = km.resolve_metrics(["binary_accuracy"], kl.BinaryCrossentropy(from_logits=True))
    assert m.compute(y, x) == pytest.approx(0.5)
    assert engine(m, x, y, "logits") == pytest.approx(0.5)


def test_regression_metrics_against_engine() -> None:
    y = torch.randn(20, 2, generator=G)
    p = y + 0.3 * torch.randn(20, 2, generator=G)
    d = p - y
    names = ["mse", "mae", "rmse", "mape", "msle", "cosine_similarity", "logcosh"]
    ms = km.resolve_metrics(names, kl.MeanSquaredError())
    hand = {
        "mse": float(d.square().mean()),
        "mae": float(d.abs().mean()),
        "rmse": math.sqrt(float(d.square().mean())),
        "mape": float(100 * (d / y.abs().clamp_min(1e-7)).abs().mean()),
        "msle": float(
            ((p.clamp_min(1e-7) + 1).log() - (y.clamp_min(1e-7) + 1).log()).square().mean()
        ),
        "cosine_similarity": float(
            (F.normalize(y, dim=-1) * F.normalize(p, dim=-1)).sum(-1).mean()
        ),
        "logcosh": float(torch.log(torch.cosh(d)).mean()),
    }
    for m in ms:
        assert m.key in hand
        assert m.compute(y, p) == pytest.approx(hand[m.key], rel=1e-5), m.key
        assert engine(m, p, y, "logits") == pytest.approx(hand[m.key], rel=1e-5), m.key
    assert ms[0].measurement() == {"measurement": "mean_square", "key": "mse"}
    assert ms[2].measurement() == {"measurement": "root_mean_square", "key": "rmse"}


def test_camel_case_keys_and_duplicates() -> None:
    ms = km.resolve_metrics(
        ["binaryAccuracy", km.Precision(), km.Precision(), "AUC"], kl.BinaryCrossentropy()
    )
    assert [m.key for m in ms] == ["binaryAccuracy", "precision", "precision_1", "AUC"]
    assert [type(m).__name__ for m in ms] == ["BinaryAccuracy", "Precision", "Precision", "AUC"]


def test_custom_metric() -> None:
    def mean_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_pred - y_true).mean(-1)

    [m] = km.resolve_metrics([mean_error], kl.MeanSquaredError())
    y = torch.zeros(10, 1)
    p = torch.arange(10.0)[:, None]
    assert m.key == "mean_error" and m.compute(y, p) == 4.5
    assert engine(m, p, y, "logits") == pytest.approx(4.5)


def test_metric_needing_classes_on_regression() -> None:
    with pytest.raises(NetTrainError, match=r"'accuracy' needs classes.*mean_squared_error"):
        km.resolve_metrics(["accuracy"], kl.resolve_loss("mean_squared_error"))
    with pytest.raises(NetTrainError, match="needs classes"):
        km.resolve_metrics([km.Precision()], kl.resolve_loss("mae"))
    with pytest.raises(NetTrainError, match="binary outputs"):
        km.resolve_metrics(["precision"], kl.CategoricalCrossentropy())
    with pytest.raises(NetTrainError, match="custom_task"):
        km.resolve_metrics(["mae"], kl.resolve_loss(lambda t, p: (p - t).abs()))


def test_misspelt_metrics() -> None:
    with pytest.raises(NetTrainError, match="did you mean 'precision'"):
        km.resolve_metrics(["precison"], kl.BinaryCrossentropy())
    with pytest.raises(NetTrainError, match="did you mean"):
        km.resolve_metrics(["acuracy"], kl.BinaryCrossentropy())
    with pytest.raises(NetTrainError, match="thresholds"):
        km.Precision(thresholds=0.3)


def test_metrics_through_train() -> None:
    x = torch.randn(40, 3, generator=G)
    y = (x[:, 0] > 0).long()
    loss = kl.SparseCategoricalCrossentropy(from_logits=True)
    ms = km.resolve_metrics(["accuracy", km.SparseTopKCategoricalAccuracy(k=1)], loss)
    torch.manual_seed(0)
    result = nettrain.train(
        nn.Linear(3, 2), (x, y), ["trained_net", "validation_measurements"],
        loss_function=loss, training_progress_measurements=[m.measurement() for m in ms],
        validation_set=(x, y), max_training_rounds=1, batch_size=8,
        training_progress_reporting=None,
    )  # fmt: skip
    net, measured = result
    with torch.no_grad():
        out = net(x)
    for m in ms:
        assert measured[m.key] == pytest.approx(m.compute(y, out))
