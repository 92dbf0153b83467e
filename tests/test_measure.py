"""Measurements against scikit-learn and hand-computed values.

Every value is accumulated over uneven batches and must equal the reference computed on all the
data at once: that is the exactness the round statistics promise (SPEC S2.1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nettrain.errors import NetTrainError
from nettrain.measure import (
    MEASUREMENT_NAMES,
    Accumulator,
    Measurement,
    direction_of,
    parse_measurements,
)

sk = pytest.importorskip("sklearn.metrics")
from sklearn.preprocessing import label_binarize  # noqa: E402

SPLITS = (7, 1, 30, 13)  # uneven on purpose: 51 examples
N = sum(SPLITS)
C = 4
LABELS = list(range(C))
AVERAGINGS = (None, "macro", "micro")


def batches(*tensors, splits=SPLITS):
    """Yield the tensors cut along the first dimension into the given batch sizes."""
    start = 0
    for size in splits:
        yield tuple(t[start : start + size] for t in tensors)
        start += size


def accumulate(spec, prediction, target, *, task="classification", splits=SPLITS, **kwargs):
    ms = parse_measurements(spec, task=task)
    acc = Accumulator(ms, task=task, **kwargs)
    for p, t in batches(prediction, target, splits=splits):
        acc.update(p, t)
    return acc.result()


@pytest.fixture(scope="module")
def data():
    """Logits [N, C], their softmax, targets [N] with every class present, argmax predictions."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(N, C, generator=g, dtype=torch.float64) * 2
    target = torch.randint(0, C, (N,), generator=g)
    target[:C] = torch.arange(C)
    probs = torch.softmax(logits, -1)
    return logits, probs, target, logits.argmax(-1)


# ----------------------------------------------------------------------------- classification


def test_accuracy_and_error_rate_top_k(data):
    logits, probs, y, _ = data
    out = accumulate(["accuracy", "error_rate", ("accuracy", 3), ("error_rate", 3)], logits, y)
    top1 = sk.top_k_accuracy_score(y.numpy(), probs.numpy(), k=1, labels=LABELS)
    top3 = sk.top_k_accuracy_score(y.numpy(), probs.numpy(), k=3, labels=LABELS)
    assert list(out) == ["accuracy", "error_rate", "accuracy@3", "error_rate@3"]
    assert out["accuracy"] == pytest.approx(top1, abs=1e-12)
    assert out["error_rate"] == pytest.approx(1 - top1, abs=1e-12)
    assert out["accuracy@3"] == pytest.approx(top3, abs=1e-12)
    assert out["error_rate@3"] == pytest.approx(1 - top3, abs=1e-12)


@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5])
def test_precision_recall_fscore_per_class_and_averaged(data, beta):
    logits, _, y, pred = data
    names = ["precision", "recall", "f1_score"]
    spec = [{"measurement": n, "class_averaging": a} for n in names for a in AVERAGINGS]
    spec += [{"measurement": "f_score", "beta": beta, "class_averaging": a} for a in AVERAGINGS]
    out = accumulate(spec, logits, y)
    yt, yp = y.numpy(), pred.numpy()
    for average in AVERAGINGS:
        p, r, f, _ = sk.precision_recall_fscore_support(
            yt, yp, labels=LABELS, average=average, zero_division=0
        )
        fb = sk.fbeta_score(yt, yp, beta=beta, labels=LABELS, average=average, zero_division=0)
        suffix = "" if average is None else f"({average})"
        params = ([f"beta={beta:g}"] if beta != 1 else []) + ([average] if average else [])
        fkey = f"f_score({', '.join(params)})" if params else "f_score"
        for key, ref in [("precision", p), ("recall", r), ("f1_score", f), (None, fb)]:
            value = out[fkey] if key is None else out[key + suffix]
            if average is None:
                assert isinstance(value, torch.Tensor) and value.shape == (C,)
                np.testing.assert_allclose(value.numpy(), ref, atol=1e-12)
            else:
                assert value == pytest.approx(float(ref), abs=1e-12)


def test_zero_division_counts_as_zero():
    # Class 3 is never predicted and never a target; class 2 is a target but never predicted.
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    pred = torch.tensor([0, 1, 1, 0, 0, 1, 0])
    logits = F.one_hot(pred, 4).double()
    spec = [
        {"measurement": n, "class_averaging": a}
        for n in ("precision", "recall", "f1_score")
        for a in (None, "macro")
    ]
    out = accumulate(spec, logits, y, splits=(3, 4))
    for name, index in (("precision", 0), ("recall", 1), ("f1_score", 2)):
        ref = sk.precision_recall_fscore_support(
            y.numpy(), pred.numpy(), labels=[0, 1, 2, 3], zero_division=0
        )[index]
        np.testing.assert_allclose(out[name].numpy(), ref, atol=1e-12)
        macro = sk.precision_recall_fscore_support(
            y.numpy(), pred.numpy(), labels=[0, 1, 2, 3], average="macro", zero_division=0
        )[index]
        assert out[f"{name}(macro)"] == pytest.approx(macro, abs=1e-12)
    assert out["precision"][3] == 0 and out["recall"][3] == 0


def test_specificity_false_positive_and_negative_rates(data):
    logits, _, y, pred = data
    names = ["specificity", "false_positive_rate", "false_negative_rate"]
    spec = [{"measurement": n, "class_averaging": a} for n in names for a in AVERAGINGS]
    out = accumulate(spec, logits, y)
    mcm = sk.multilabel_confusion_matrix(y.numpy(), pred.numpy(), labels=LABELS)
    tn, fp, fn, tp = (mcm[:, i // 2, i % 2].astype(float) for i in range(4))
    refs = {
        "specificity": (tn, tn + fp),
        "false_positive_rate": (fp, fp + tn),
        "false_negative_rate": (fn, fn + tp),
    }
    for name, (num, den) in refs.items():
        np.testing.assert_allclose(out[name].numpy(), num / den, atol=1e-12)
        assert out[f"{name}(macro)"] == pytest.approx((num / den).mean(), abs=1e-12)
        assert out[f"{name}(micro)"] == pytest.approx(num.sum() / den.sum(), abs=1e-12)


def test_matrix_measurements(data):
    logits, _, y, pred = data
    spec = [
        "matthews_correlation_coefficient",
        "cohen_kappa",
        "balanced_accuracy",
        "confusion_matrix",
    ]
    out = accumulate(spec, logits, y)
    yt, yp = y.numpy(), pred.numpy()
    assert out["matthews_correlation_coefficient"] == pytest.approx(
        sk.matthews_corrcoef(yt, yp), abs=1e-12
    )
    assert out["cohen_kappa"] == pytest.approx(sk.cohen_kappa_score(yt, yp), abs=1e-12)
    assert out["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(yt, yp), abs=1e-12)
    cm = out["confusion_matrix"]
    assert cm.dtype == torch.int64
    np.testing.assert_array_equal(cm.numpy(), sk.confusion_matrix(yt, yp, labels=LABELS))


def test_roc_curves_per_class(data):
    _, probs, y, _ = data
    out = accumulate(["roc_curve", "area_under_roc_curve"], probs, y, scores="probabilities")
    curves = out["roc_curve"]
    assert sorted(curves) == LABELS
    for c in LABELS:
        fpr, tpr, thresholds = curves[c]
        ref_fpr, ref_tpr, ref_thr = sk.roc_curve(
            (y == c).numpy(), probs[:, c].numpy(), drop_intermediate=False
        )
        np.testing.assert_allclose(fpr.numpy(), ref_fpr)
        np.testing.assert_allclose(tpr.numpy(), ref_tpr)
        np.testing.assert_allclose(thresholds.numpy(), ref_thr)
        auc = sk.roc_auc_score((y == c).numpy(), probs[:, c].numpy())
        assert sk.auc(fpr.numpy(), tpr.numpy()) == pytest.approx(auc, abs=1e-12)
        assert out["area_under_roc_curve"][c] == pytest.approx(auc, abs=1e-12)


def test_roc_from_logits_matches_probabilities(data):
    logits, probs, y, _ = data
    from_logits = accumulate(["area_under_roc_curve"], logits, y)
    from_logp = accumulate(
        ["area_under_roc_curve"], torch.log_softmax(logits, -1), y, scores="log_probabilities"
    )
    ref = sk.roc_auc_score(label_binarize(y.numpy(), classes=LABELS), probs.numpy(), average=None)
    np.testing.assert_allclose(from_logits["area_under_roc_curve"].numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(from_logp["area_under_roc_curve"].numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("average", ["macro", "micro"])
def test_area_under_roc_averaged(data, average):
    _, probs, y, _ = data
    out = accumulate(
        [{"measurement": "auc", "class_averaging": average}], probs, y, scores="probabilities"
    )
    onehot = label_binarize(y.numpy(), classes=LABELS)
    ref = sk.roc_auc_score(onehot, probs.numpy(), average=average)
    assert out[f"area_under_roc_curve({average})"] == pytest.approx(ref, abs=1e-12)


def test_roc_handles_ties():
    # Tied scores move the curve diagonally, as in scikit-learn.
    probs = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.2, 0.8], [0.8, 0.2], [0.5, 0.5]])
    y = torch.tensor([1, 0, 1, 0, 1])
    out = accumulate(["roc_curve", "auc"], probs, y, scores="probabilities", splits=(2, 3))
    fpr, tpr, thr = out["roc_curve"][1]
    ref = sk.roc_curve(y.numpy(), probs[:, 1].numpy(), drop_intermediate=False)
    for mine, theirs in zip((fpr, tpr, thr), ref, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs)
    assert out["area_under_roc_curve"][1] == pytest.approx(
        sk.roc_auc_score(y.numpy(), probs[:, 1].numpy())
    )


def test_entropy_and_perplexity(data):
    logits, probs, y, _ = data
    expected = float(-(probs * probs.log()).sum(-1).mean())
    for scores, pred in (
        ("logits", logits),
        ("probabilities", probs),
        ("log_probabilities", probs.log()),
    ):
        out = accumulate(["entropy", "perplexity"], pred, y, scores=scores)
        assert out["entropy"] == pytest.approx(expected, rel=1e-12)
        assert out["perplexity"] == pytest.approx(math.exp(expected), rel=1e-12)


def test_probability_targets_and_sequences(data):
    logits, _, y, _ = data
    # Probability-vector targets: argmax is the class.
    soft = F.one_hot(y, C).double() * 0.7 + 0.075
    a = accumulate(["accuracy", "confusion_matrix"], logits, y)
    b = accumulate(["accuracy", "confusion_matrix"], logits, soft)
    assert a["accuracy"] == b["accuracy"]
    assert torch.equal(a["confusion_matrix"], b["confusion_matrix"])
    # A sequence per example: positions are counted, the loss is weighted by examples.
    seq_logits, seq_y = logits[:48].reshape(12, 4, C), y[:48].reshape(12, 4)
    acc = Accumulator(["loss", "accuracy"], task="classification")
    for p, t in batches(seq_logits, seq_y, splits=(5, 7)):
        acc.update(p, t, loss=F.cross_entropy(p.reshape(-1, C), t.reshape(-1)))
    out = acc.result()
    assert out["accuracy"] == pytest.approx(
        float((logits[:48].argmax(-1) == y[:48]).double().mean())
    )
    assert out["loss"] == pytest.approx(float(F.cross_entropy(logits[:48], y[:48])), rel=1e-12)


# ----------------------------------------------------------------------------------- binary


@pytest.fixture(scope="module")
def binary():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(N, generator=g, dtype=torch.float64) * 2
    y = (torch.rand(N, generator=g) < 0.4).long()
    return logits, torch.sigmoid(logits), y


def test_binary_counts_measurements(binary):
    logits, _, y = binary
    pred = (logits > 0).long().numpy()
    yt = y.numpy()
    spec = [
        "accuracy",
        "error_rate",
        "precision",
        "recall",
        "f1_score",
        ("f_score", 2),
        "specificity",
        "fpr",
        "fnr",
        "mcc",
        "kappa",
        "balanced_accuracy",
        "confusion_matrix",
        {"measurement": "precision", "class_averaging": "macro"},
        {"measurement": "recall", "class_averaging": "micro"},
    ]
    # Targets as bool with a trailing 1 on the prediction: both are accepted.
    out = accumulate(spec, logits[:, None], y.bool(), task="binary")
    assert out["accuracy"] == pytest.approx(sk.accuracy_score(yt, pred))
    assert out["error_rate"] == pytest.approx(1 - sk.accuracy_score(yt, pred))
    assert isinstance(out["precision"], float)
    assert out["precision"] == pytest.approx(sk.precision_score(yt, pred, zero_division=0))
    assert out["recall"] == pytest.approx(sk.recall_score(yt, pred))
    assert out["f1_score"] == pytest.approx(sk.f1_score(yt, pred))
    assert out["f_score(beta=2)"] == pytest.approx(sk.fbeta_score(yt, pred, beta=2))
    tn, fp, fn, tp = sk.confusion_matrix(yt, pred).ravel()
    assert out["specificity"] == pytest.approx(tn / (tn + fp))
    assert out["false_positive_rate"] == pytest.approx(fp / (fp + tn))
    assert out["false_negative_rate"] == pytest.approx(fn / (fn + tp))
    assert out["matthews_correlation_coefficient"] == pytest.approx(sk.matthews_corrcoef(yt, pred))
    assert out["cohen_kappa"] == pytest.approx(sk.cohen_kappa_score(yt, pred))
    assert out["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(yt, pred))
    np.testing.assert_array_equal(out["confusion_matrix"].numpy(), sk.confusion_matrix(yt, pred))
    assert out["precision(macro)"] == pytest.approx(
        sk.precision_score(yt, pred, average="macro", labels=[0, 1], zero_division=0)
    )
    assert out["recall(micro)"] == pytest.approx(
        sk.recall_score(yt, pred, average="micro", labels=[0, 1])
    )


def test_binary_scores_and_forms(binary):
    logits, probs, y = binary
    spec = ["roc_curve", "auc", "entropy", "accuracy"]
    ref_curve = sk.roc_curve(y.numpy(), probs.numpy(), drop_intermediate=False)
    ref_auc = sk.roc_auc_score(y.numpy(), probs.numpy())
    p = probs.numpy()
    ref_entropy = float(-(p * np.log(p) + (1 - p) * np.log(1 - p)).mean())
    forms = [
        ("logits", logits, y),
        ("probabilities", probs, y.double()),  # float 0/1 targets
        ("log_probabilities", probs.log()[:, None], y[:, None]),
    ]
    for scores, pred, target in forms:
        out = accumulate(spec, pred, target, task="binary", scores=scores)
        fpr, tpr, thr = out["roc_curve"]
        np.testing.assert_allclose(fpr.numpy(), ref_curve[0])
        np.testing.assert_allclose(tpr.numpy(), ref_curve[1])
        np.testing.assert_allclose(thr.numpy(), ref_curve[2], rtol=1e-12)
        assert isinstance(out["area_under_roc_curve"], float)
        assert out["area_under_roc_curve"] == pytest.approx(ref_auc, abs=1e-12)
        assert out["entropy"] == pytest.approx(ref_entropy, rel=1e-10)
        assert out["accuracy"] == pytest.approx(sk.accuracy_score(y.numpy(), p > 0.5))
    # Averaged AUC treats the binary task as the two classes [0, 1].
    spec = [{"measurement": "auc", "class_averaging": a} for a in ("macro", "micro")]
    out = accumulate(spec, logits, y, task="binary")
    two = np.stack([1 - p, p], 1)
    onehot = np.stack([1 - y.numpy(), y.numpy()], 1)
    assert out["area_under_roc_curve(macro)"] == pytest.approx(ref_auc, abs=1e-12)
    assert out["area_under_roc_curve(micro)"] == pytest.approx(
        sk.roc_auc_score(onehot, two, average="micro"), abs=1e-12
    )


# ------------------------------------------------------------------------------- regression


def test_regression_measurements():
    g = torch.Generator().manual_seed(2)
    # A large target offset: the streaming spreads must not lose SStot to cancellation.
    y = torch.randn(N, 3, generator=g, dtype=torch.float64) + 1e4
    pred = y + 0.3 * torch.randn(N, 3, generator=g, dtype=torch.float64) + 0.1
    spec = ["r2", "mean_square", "mean_deviation", "standard_deviation", "fvu"]
    out = accumulate(spec, pred, y, task="regression")
    yt, yp = y.numpy().ravel(), pred.numpy().ravel()
    r2 = sk.r2_score(yt, yp)
    assert list(out) == [
        "r_squared",
        "mean_square",
        "mean_deviation",
        "standard_deviation",
        "fraction_variance_unexplained",
    ]
    assert out["r_squared"] == pytest.approx(r2, rel=1e-10)
    assert out["fraction_variance_unexplained"] == pytest.approx(1 - r2, rel=1e-8)
    assert out["mean_square"] == pytest.approx(sk.mean_squared_error(yt, yp), rel=1e-12)
    assert out["mean_deviation"] == pytest.approx(sk.mean_absolute_error(yt, yp), rel=1e-12)
    assert out["standard_deviation"] == pytest.approx(np.std(yp - yt), rel=1e-10)


def test_regression_target_reshaped_and_float32():
    y = torch.arange(10, dtype=torch.float32)
    pred = (y * 1.1)[:, None]  # [10, 1] against [10]
    out = accumulate(["mean_square", "r_squared"], pred, y, task="regression", splits=(3, 7))
    assert out["mean_square"] == pytest.approx(sk.mean_squared_error(y.numpy(), pred.numpy()[:, 0]))
    assert out["r_squared"] == pytest.approx(sk.r2_score(y.numpy(), pred.numpy()[:, 0]), rel=1e-6)


def test_intersection_over_union_boxes():
    target = torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 2.0, 2.0],
            [0.0, 0.0, 4.0, 4.0],
            [1.0, 1.0, 1.0, 1.0],
        ]
    )
    pred = torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0],
            [2.0, 2.0, 3.0, 3.0],
            [1.0, 0.0, 3.0, 2.0],
            [1.0, 1.0, 3.0, 3.0],
            [1.0, 1.0, 1.0, 1.0],
        ]
    )
    # identical 1, disjoint 0, half overlap 2/6, contained 4/16, same degenerate box 1.
    expected = (1 + 0 + 1 / 3 + 0.25 + 1) / 5
    out = accumulate(["iou"], pred, target, task="regression", splits=(2, 3))
    assert out["intersection_over_union"] == pytest.approx(expected)
    # Boxes inside examples ([batch, boxes, 4]) count per box.
    out = accumulate(
        ["iou"],
        pred[:4].reshape(2, 2, 4),
        target[:4].reshape(2, 2, 4),
        task="regression",
        splits=(1, 1),
    )
    assert out["intersection_over_union"] == pytest.approx((1 + 0 + 1 / 3 + 0.25) / 4)


# ------------------------------------------------------------------------------ loss, custom


def test_loss_is_example_weighted_mean(data):
    logits, _, y, _ = data
    acc = Accumulator("auto", task="classification")
    assert acc.needs == {"loss", "correct@1"}  # the cheap default: no confusion matrix
    for p, t in batches(logits, y):
        acc.update(p, t, loss=F.cross_entropy(p, t))
    out = acc.result()
    assert list(out) == ["loss", "error_rate"]
    assert out["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-12)
    assert acc._confusion is None


def test_custom_measurements(data):
    logits, probs, y, _ = data

    def confidence(prediction, target):  # one value per example
        return torch.softmax(prediction, -1).amax(-1)

    def batch_margin(prediction, target):  # the batch mean
        return (prediction.amax(-1) - prediction.amin(-1)).mean()

    batch_margin.key = "margin"  # type: ignore[attr-defined]
    batch_margin.direction = "increasing"  # type: ignore[attr-defined]
    spec = [
        {"measurement": confidence, "key": "confidence", "direction": "increasing"},
        batch_margin,
    ]
    ms = parse_measurements(spec, task="classification")
    assert [(m.key, m.direction, m.scalar) for m in ms] == [
        ("confidence", "increasing", True),
        ("margin", "increasing", True),
    ]
    out = accumulate(spec, logits, y)
    assert out["confidence"] == pytest.approx(float(probs.amax(-1).mean()), rel=1e-12)
    margin = float((logits.amax(-1) - logits.amin(-1)).mean())
    assert out["margin"] == pytest.approx(margin, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=1, max_size=8))
def test_any_batching_gives_the_same_counts(sizes):
    g = torch.Generator().manual_seed(3)
    total = sum(sizes)
    logits = torch.randn(total, 3, generator=g)
    y = torch.randint(0, 3, (total,), generator=g)
    spec = ["accuracy", "confusion_matrix", "mcc"]
    split = accumulate(spec, logits, y, splits=sizes)
    whole = accumulate(spec, logits, y, splits=(total,))
    assert split["accuracy"] == whole["accuracy"]
    assert torch.equal(split["confusion_matrix"], whole["confusion_matrix"])
    assert split["matthews_correlation_coefficient"] == whole["matthews_correlation_coefficient"]


@pytest.mark.parametrize("task", ["classification", "binary", "regression"])
def test_update_never_reads_values(task):
    # On the meta device a tensor has no values, so any host read in update (.item(), bool(),
    # bincount's max, nonzero) would raise: update queues device work only.
    meta = torch.device("meta")
    regression = [
        "r_squared",
        "mean_square",
        "mean_deviation",
        "standard_deviation",
        "fraction_variance_unexplained",
        "intersection_over_union",
        "root_mean_square",
    ]
    if task == "regression":
        names: list = ["loss", *regression]
        p, t = torch.randn(8, 4, device=meta), torch.randn(8, 4, device=meta)
    else:
        names = [n for n in MEASUREMENT_NAMES if n not in regression]
        p = (
            torch.randn(8, 5, device=meta)
            if task == "classification"
            else torch.randn(8, device=meta)
        )
        t = torch.zeros(8, dtype=torch.long, device=meta)
        names += [("accuracy", 3)] if task == "classification" else []
    custom = {"measurement": lambda a, b: a.sum(), "key": "c", "direction": "increasing"}
    acc = Accumulator([*names, custom], task=task, device=meta)
    for _ in range(2):
        acc.update(p, t, loss=torch.zeros((), device=meta))
    with pytest.raises((RuntimeError, NotImplementedError)):
        bool(torch.zeros((), device=meta) > 0)  # the proxy does catch host reads


def test_reset_and_empty_round(data):
    logits, _, y, _ = data
    acc = Accumulator(["loss", "accuracy"], task="classification")
    assert all(math.isnan(v) for v in acc.result().values())
    acc.update(logits, y, loss=torch.tensor(1.0))
    acc.reset()
    acc.update(logits[:2], y[:2], loss=torch.tensor(3.0))
    assert acc.result()["loss"] == 3.0


# ------------------------------------------------------------------------------- naming, keys


def test_keys_synonyms_directions():
    ms = parse_measurements(
        [
            "Sensitivity",
            "MCC",
            "ErrorRate",
            "F1Score",
            "AreaUnderROCCurve",
            "kappa",
            "roc",
            ("accuracy", 5),
            {"measurement": "f_score", "beta": 0.5, "class_averaging": "Macro"},
            {"measurement": "precision", "key": "ppv"},
        ],
        task="classification",
    )
    assert [m.key for m in ms[2:]] == [
        "error_rate",
        "f1_score",
        "area_under_roc_curve",
        "cohen_kappa",
        "roc_curve",
        "accuracy@5",
        "f_score(beta=0.5, macro)",
        "ppv",
    ]
    assert ms[0].name == "recall" and ms[1].key == "matthews_correlation_coefficient"
    assert parse_measurements("TPR", task="classification")[0].key == "recall"
    roc = ms[6]
    assert roc.direction is None and not roc.scalar
    assert not ms[0].scalar  # per-class tensor
    assert parse_measurements("recall", task="binary")[0].scalar  # a float for binary
    assert isinstance(ms[0], Measurement)
    assert direction_of("error_rate@5") == "decreasing"
    assert direction_of("precision(macro)") == "increasing"
    assert direction_of("confusion_matrix") is None
    assert direction_of("fvu") == "decreasing"
    assert "intersection_over_union" in MEASUREMENT_NAMES
    assert [m.key for m in parse_measurements(None, task="binary")] == ["loss", "error_rate"]
    assert [m.key for m in parse_measurements([], task="binary")] == []


# ----------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("spec", "task", "fragments"),
    [
        ("acuracy", "classification", ["unknown measurement 'acuracy'", "'accuracy'"]),
        ("r_squared", "classification", ["'r_squared'", "'classification'"]),
        ("precision", "regression", ["'precision'", "'regression'"]),
        (("accuracy", 0), "classification", ["'k'", "positive integer"]),
        (("accuracy", 2.5), "classification", ["'k'"]),
        ({"measurement": "accuracy", "k": True}, "classification", ["'k'"]),
        (("accuracy", 2), "binary", ["'k'", "binary"]),
        ({"measurement": "precision", "k": 2}, "classification", ["'k'", "'precision'"]),
        (("f_score", -1), "classification", ["'beta'", "positive"]),
        ({"measurement": "f_score", "beta": "two"}, "classification", ["'beta'"]),
        ({"measurement": "recall", "beta": 2}, "classification", ["'beta'", "f_score"]),
        (
            {"measurement": "recall", "class_averaging": "weighted"},
            "classification",
            ["'class_averaging'", "'weighted'"],
        ),
        (
            {"measurement": "accuracy", "class_averaging": "macro"},
            "classification",
            ["'class_averaging'", "per-class"],
        ),
        ({"measurement": "accuracy", "kk": 2}, "classification", ["'kk'", "'k'"]),
        ({"measurement": "mcc", "direction": "up"}, "classification", ["'direction'"]),
        (("precision", 2), "classification", ["pair form"]),
        (42, "classification", ["cannot read"]),
        (["loss", "loss"], "classification", ["[1]", "key 'loss'"]),
    ],
)
def test_bad_specs(spec, task, fragments):
    with pytest.raises(NetTrainError) as info:
        parse_measurements(spec, task=task)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_custom_without_key_or_direction():
    def f(prediction, target):
        return prediction.sum()

    with pytest.raises(NetTrainError, match="needs a key"):
        parse_measurements(f, task="regression")
    with pytest.raises(NetTrainError, match="needs a direction"):
        parse_measurements({"measurement": f, "key": "s"}, task="regression")
    with pytest.raises(NetTrainError, match="one value per example"):
        acc = Accumulator(
            [{"measurement": lambda p, t: p, "key": "raw", "direction": "increasing"}],
            task="regression",
        )
        acc.update(torch.zeros(3, 2), torch.zeros(3, 2))


def test_top_k_beyond_classes_and_bad_updates():
    with pytest.raises(NetTrainError, match="cannot exceed"):
        parse_measurements(("accuracy", 5), task="classification", num_classes=3)
    acc = Accumulator(["loss", "accuracy"], task="classification")
    with pytest.raises(NetTrainError, match="mean loss"):
        acc.update(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(NetTrainError, match="leading shape"):
        acc.update(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long), loss=torch.tensor(0.0))
    acc = Accumulator(["accuracy"], task="classification", num_classes=4)
    with pytest.raises(NetTrainError, match=r"\[\.\.\., 4\]"):
        acc.update(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(NetTrainError, match="one 0/1 value"):
        Accumulator(["accuracy"], task="binary").update(torch.zeros(4), torch.zeros(3))
    with pytest.raises(NetTrainError, match="prediction's shape"):
        Accumulator(["r2"], task="regression").update(torch.zeros(4), torch.zeros(3))
    with pytest.raises(NetTrainError, match=r"\[\.\.\., 4\]"):
        Accumulator(["iou"], task="regression").update(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(NetTrainError, match="did you mean 'probabilities'"):
        Accumulator(["accuracy"], task="classification", scores="probabilites")
