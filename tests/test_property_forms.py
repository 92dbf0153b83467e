"""Property tests (hypothesis) of two promises of the SPEC.

1. Every in-memory data form is normalised into one representation (S1.2): training a freshly
   seeded net on the same examples given as pairs, ``(xs, ys)``, columns, rows, data frames, a
   ``TensorDataset``, numpy arrays or nested lists gives bit-identical weights.
2. Measurements are exact statistics over a round (S2.1): they do not depend on how the round was
   cut into batches, and they equal scikit-learn's values on the whole round at once.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics
from torch import nn
from torch.utils.data import Dataset, TensorDataset

import nettrain
from nettrain.measure import Accumulator, parse_measurements


@contextmanager
def one_thread() -> Iterator[None]:
    """Bit-identical CPU results need one intra-op thread (the previous count is restored)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def quiet_sklearn(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """scikit-learn warns about undefined values; the tests compare those values too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# =================================================================================================
# 1. every in-memory form trains to the same weights
# =================================================================================================

float32s = st.floats(-2.0, 2.0, width=32, allow_subnormal=False)


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 16))
    d = draw(st.integers(1, 4))
    xs = draw(arrays(np.float32, (n, d), elements=float32s))
    if draw(st.booleans()):
        classes = draw(st.integers(2, 4))
        ys = draw(arrays(np.int64, (n,), elements=st.integers(0, classes - 1)))
    else:
        classes = 1
        ys = draw(arrays(np.float32, (n,), elements=float32s))
    return {
        "xs": xs,
        "ys": ys,
        "classes": classes,
        "batch_size": draw(st.integers(1, n + 2)),
        "seed": draw(st.integers(0, 2**20)),
        "init": draw(st.integers(0, 2**16)),
    }


class ItemDataset(Dataset):
    """A map-style dataset that is not a TensorDataset: read item by item."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray) -> None:
        self.xs, self.ys = xs, ys

    def __len__(self) -> int:
        return len(self.xs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.xs[index]), torch.as_tensor(self.ys[index])


def forms(xs: np.ndarray, ys: np.ndarray) -> dict[str, tuple[str, Any]]:
    """The same examples in every in-memory form: name -> (the input_form it reports, data)."""
    n, d = xs.shape
    xt, yt = torch.from_numpy(xs.copy()), torch.from_numpy(ys.copy())
    tabular = {f"f{j}": xs[:, j] for j in range(d)} | {"target": ys}
    return {
        "pairs-of-tensors": ("pairs", [(xt[i], yt[i]) for i in range(n)]),
        "pairs-of-numpy": ("pairs", [(xs[i], ys[i]) for i in range(n)]),
        "pairs-as-lists": ("pairs", [[xs[i].tolist(), ys[i].item()] for i in range(n)]),
        "tensors": ("inputs_targets", (xt, yt)),
        "list-of-two-tensors": ("inputs_targets", [xt, yt]),
        "numpy": ("inputs_targets", (xs, ys)),
        "nested-lists": ("inputs_targets", (xs.tolist(), ys.tolist())),
        "lists-of-tensors": ("inputs_targets", (list(xt), list(yt))),
        "columns": ("port_columns", {"input": xt, "target": yt}),
        "rows": ("port_rows", [{"input": xt[i], "target": yt[i]} for i in range(n)]),
        "frame-input-column": ("data_frame", pd.DataFrame({"input": list(xs), "target": ys})),
        "frame-tabular": ("data_frame", pd.DataFrame(tabular)),
        "tensor-dataset": ("dataset", TensorDataset(xt, yt)),
        "item-dataset": ("dataset", ItemDataset(xs, ys)),
    }


def fresh_net(d: int, classes: int, init: int) -> nn.Module:
    torch.manual_seed(init)
    return nn.Sequential(nn.Linear(d, 5), nn.Tanh(), nn.Linear(5, classes))


def train_on(data: Any, problem: dict[str, Any]) -> tuple[nn.Module, str]:
    net = fresh_net(problem["xs"].shape[1], problem["classes"], problem["init"])
    form = nettrain.train(
        net,
        data,
        "input_form",
        max_training_rounds=2,
        batch_size=problem["batch_size"],
        random_seeding=problem["seed"],
        method="sgd",
        training_progress_reporting=None,
    )
    return net, form


@settings(deadline=None, max_examples=40)
@given(problems())
def test_every_in_memory_form_trains_to_the_weights_of_xs_ys(problem: dict[str, Any]) -> None:
    with one_thread():
        reference, _ = train_on(
            (torch.from_numpy(problem["xs"]), torch.from_numpy(problem["ys"])), problem
        )
        expected = reference.state_dict()
        for name, (input_form, data) in forms(problem["xs"], problem["ys"]).items():
            net, form = train_on(data, problem)
            assert form == input_form, f"{name}: input_form {form!r}, wanted {input_form!r}"
            for key, value in net.state_dict().items():
                assert value.dtype == expected[key].dtype, f"{name}: {key} is {value.dtype}"
                assert torch.equal(value, expected[key]), f"{name}: {key} differs from (xs, ys)"


# =================================================================================================
# 2. measurements: exact over the round, whatever the batches, and equal to scikit-learn
# =================================================================================================

CLASSIFICATION = [
    "loss",
    "accuracy",
    "error_rate",
    ("accuracy", 2),
    {"measurement": "precision", "class_averaging": "macro"},
    {"measurement": "precision", "class_averaging": "micro"},
    {"measurement": "recall", "class_averaging": "macro"},
    {"measurement": "recall", "class_averaging": "micro"},
    {"measurement": "f1_score", "class_averaging": "macro"},
    {"measurement": "f1_score", "class_averaging": "micro"},
    "precision",
    "recall",
    "f1_score",
    "specificity",
    "matthews_correlation_coefficient",
    "cohen_kappa",
    "balanced_accuracy",
    "confusion_matrix",
    "entropy",
]
# values computed from sums of floats (everything else comes from integer counts)
FROM_SUMS = {"loss", "entropy"}

REGRESSION = [
    "loss",
    "mean_square",
    "mean_deviation",
    "standard_deviation",
    "r_squared",
    "fraction_variance_unexplained",
]


@st.composite
def cuts(draw: st.DrawFn, n: int) -> list[int]:
    """Random batch sizes that add up to n."""
    points = draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=8, unique=True))
    bounds = [0, *sorted(p for p in points if 0 < p < n), n]
    return [b - a for a, b in itertools.pairwise(bounds)]


@st.composite
def classification_rounds(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    n = draw(st.integers(1, 60))
    classes = draw(st.integers(3, 5))
    logits = draw(arrays(np.float64, (n, classes), elements=st.floats(-4, 4)))
    labels = draw(arrays(np.int64, (n,), elements=st.integers(0, classes - 1)))
    return logits, labels, draw(cuts(n))


@st.composite
def regression_rounds(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    n = draw(st.integers(1, 60))
    predictions = draw(arrays(np.float64, (n,), elements=st.floats(-100, 100)))
    targets = draw(arrays(np.float64, (n,), elements=st.floats(-100, 100)))
    return predictions, targets, draw(cuts(n))


def accumulate(
    spec: list[Any], task: str, prediction: torch.Tensor, target: torch.Tensor, sizes: list[int]
) -> dict[str, Any]:
    measurements = parse_measurements(spec, task=task, num_classes=None)
    acc = Accumulator(measurements, task=task)
    begin = 0
    for size in sizes:
        p, t = prediction[begin : begin + size], target[begin : begin + size]
        loss = F.cross_entropy(p, t) if task == "classification" else F.mse_loss(p, t)
        acc.update(p, t, loss=loss)
        begin += size
    return acc.result()


def same(a: Any, b: Any, *, exact: bool, key: str, rel: float = 1e-12) -> None:
    """``a == b`` (NaN equal to NaN) when ``exact``, else equal to ``rel`` relative."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape, key
        if exact:
            nan = a.isnan() if a.is_floating_point() else torch.zeros_like(a, dtype=torch.bool)
            assert torch.equal(nan, b.isnan() if b.is_floating_point() else nan), key
            assert torch.equal(a[~nan], b[~nan]), f"{key}: {a} != {b}"
        else:
            assert torch.allclose(a, b, rtol=rel, atol=1e-12, equal_nan=True), f"{key}: {a} {b}"
        return
    if math.isnan(a) or math.isnan(b):
        assert math.isnan(a) and math.isnan(b), f"{key}: {a!r} != {b!r}"
    elif exact:
        assert a == b, f"{key}: {a!r} != {b!r}"
    else:
        assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-12), f"{key}: {a!r} != {b!r}"


def close(value: float, reference: float, key: str) -> None:
    if math.isnan(reference):
        assert math.isnan(value), f"{key}: {value!r}, scikit-learn says nan"
    else:
        assert math.isclose(value, reference, rel_tol=1e-12, abs_tol=1e-12), (
            f"{key}: {value!r}, scikit-learn says {reference!r}"
        )


def sklearn_classification(y: np.ndarray, pred: np.ndarray, classes: int) -> dict[str, Any]:
    """scikit-learn's values; per-class ones under the bare name, averages as "name(macro)"."""
    labels = list(range(classes))
    out: dict[str, Any] = {
        "accuracy": metrics.accuracy_score(y, pred),
        "matthews_correlation_coefficient": quiet_sklearn(metrics.matthews_corrcoef, y, pred),
        "cohen_kappa": quiet_sklearn(metrics.cohen_kappa_score, y, pred, labels=labels),
        "balanced_accuracy": quiet_sklearn(metrics.balanced_accuracy_score, y, pred),
    }
    for average in (None, "macro", "micro"):
        values = quiet_sklearn(
            metrics.precision_recall_fscore_support,
            y,
            pred,
            labels=labels,
            average=average,
            zero_division=0,
        )[:3]
        for name, value in zip(("precision", "recall", "f1_score"), values, strict=True):
            out[name if average is None else f"{name}({average})"] = value
    return out


@settings(deadline=None, max_examples=80)
@given(classification_rounds())
def test_classification_measurements_are_exact_whatever_the_batches(case) -> None:
    logits, labels, sizes = case
    prediction, target = torch.from_numpy(logits), torch.from_numpy(labels)
    whole = accumulate(CLASSIFICATION, "classification", prediction, target, [len(labels)])
    split = accumulate(CLASSIFICATION, "classification", prediction, target, sizes)
    assert whole.keys() == split.keys()
    for key in whole:
        same(split[key], whole[key], exact=key not in FROM_SUMS, key=key)

    classes = logits.shape[1]
    pred = logits.argmax(1)
    for key, reference in sklearn_classification(labels, pred, classes).items():
        if isinstance(reference, np.ndarray):  # per class
            same(split[key], torch.from_numpy(reference).double(), exact=False, key=key)
        else:
            close(float(split[key]), float(reference), key)
    cm = metrics.confusion_matrix(labels, pred, labels=list(range(classes)))
    assert torch.equal(split["confusion_matrix"], torch.from_numpy(cm).to(torch.int64))
    assert math.isclose(
        split["loss"], float(F.cross_entropy(prediction, target)), rel_tol=1e-12, abs_tol=1e-15
    )


def spread(values: np.ndarray) -> bool:
    return len(values) < 2 or float(np.ptp(values)) > 1e-3 * max(1.0, float(np.abs(values).max()))


@settings(deadline=None, max_examples=150)
@given(regression_rounds())
def test_regression_measurements_are_exact_whatever_the_batches(case) -> None:
    predictions, targets, sizes = case
    # Spreads (r_squared, standard_deviation) of values that are (nearly) all the same are
    # ill-conditioned in any summation order; constant targets have their own test below.
    assume(spread(targets) and spread(predictions - targets))
    prediction, target = torch.from_numpy(predictions), torch.from_numpy(targets)
    whole = accumulate(REGRESSION, "regression", prediction, target, [len(targets)])
    split = accumulate(REGRESSION, "regression", prediction, target, sizes)
    for key in whole:
        same(split[key], whole[key], exact=False, key=key)

    close(split["mean_square"], metrics.mean_squared_error(targets, predictions), "mean_square")
    close(split["mean_deviation"], metrics.mean_absolute_error(targets, predictions), "mae")
    close(split["standard_deviation"], float(np.std(predictions - targets)), "std")
    if len(targets) >= 2:  # scikit-learn leaves r2 undefined (nan) for a single example
        close(split["r_squared"], quiet_sklearn(metrics.r2_score, targets, predictions), "r2")


@pytest.mark.parametrize("sizes", [[3], [1, 2]], ids=["one-batch", "two-batches"])
def test_r_squared_of_a_constant_target_is_0_or_1_as_documented(sizes) -> None:
    """measure/regression.py: "for a constant target it is 1 if the fit is perfect, else 0".
    The mean of [0.1, 0.1, 0.1] in floating point is not exactly 0.1, so SStot must not be
    taken from the rounding residue of the mean."""
    target = torch.full((3,), 0.1, dtype=torch.float64)
    imperfect = accumulate(
        ["r_squared"], "regression", torch.zeros(3, dtype=torch.float64), target, sizes
    )
    perfect = accumulate(["r_squared"], "regression", target.clone(), target, sizes)
    assert perfect["r_squared"] == 1.0
    assert imperfect["r_squared"] == 0.0, imperfect


# =================================================================================================
# 3. the same, end to end: a round's measurements in train() do not depend on batch_size
# =================================================================================================


class Identity(nn.Module):
    """Predicts its inputs. Its one parameter gets a zero gradient, so training changes nothing
    and every batch size sees the same predictions."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, input):
        return input + 0.0 * self.unused


TRAINED_CLASSIFICATION = [
    "loss",
    "accuracy",
    "error_rate",
    {"measurement": "precision", "class_averaging": "macro"},
    {"measurement": "recall", "class_averaging": "micro"},
    {"measurement": "f1_score", "class_averaging": "macro"},
    "matthews_correlation_coefficient",
    "cohen_kappa",
    "confusion_matrix",
]


def measured(data: Any, spec: list[Any], batch_size: int) -> tuple[dict, dict]:
    round_values, validation_values = nettrain.train(
        Identity(),
        data,
        ["round_measurements", "validation_measurements"],
        validation_set=data,
        training_progress_measurements=spec,
        batch_size=batch_size,
        max_training_rounds=1,
        method="sgd",
        working_precision="float64",
        training_progress_reporting=None,
    )
    return round_values, validation_values


@settings(deadline=None, max_examples=50)
@given(classification_rounds(), st.integers(1, 70))
def test_round_and_validation_measurements_do_not_depend_on_batch_size(case, batch_size) -> None:
    logits, labels, _ = case
    data = (torch.from_numpy(logits), torch.from_numpy(labels))
    with one_thread():
        whole_round, whole_validation = measured(data, TRAINED_CLASSIFICATION, len(labels))
        round_values, validation_values = measured(data, TRAINED_CLASSIFICATION, batch_size)
    for values in (whole_round, round_values, whole_validation, validation_values):
        assert set(values) >= {"accuracy", "confusion_matrix"}, values
    for key in whole_validation:
        # the round loss of a float64 run is float32-rounded: see the test after this one
        rel = 1e-12 if key != "loss" else 1e-6
        same(validation_values[key], whole_validation[key], exact=key != "loss", key=key)
        same(round_values[key], whole_round[key], exact=key != "loss", key=key, rel=rel)
        same(round_values[key], validation_values[key], exact=key != "loss", key=key, rel=rel)
    reference = sklearn_classification(labels, logits.argmax(1), logits.shape[1])
    for key in ("accuracy", "precision(macro)", "recall(micro)", "f1_score(macro)", "cohen_kappa"):
        close(float(validation_values[key]), float(reference[key]), key)


LOGITS = torch.tensor(
    [[2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 4.0], [5.0, 1.0, 0.0], [0.5, 0.2, 0.1]],
    dtype=torch.float64,
)
LABELS = torch.tensor([0, 1, 1, 2, 0])


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_measured_predictions_are_the_inputs_of_the_identity_net(batch_size) -> None:
    """Guards property 3: the identity net really leaves its predictions alone."""
    round_values, validation_values = measured((LOGITS, LABELS), ["loss", "accuracy"], batch_size)
    assert round_values["accuracy"] == validation_values["accuracy"] == 0.6


def test_a_float64_run_keeps_its_round_loss_in_float64() -> None:
    """With working_precision="float64" the round loss is a float64 sum like the validation
    loss, not rounded to float32 on the way."""
    round_loss, validation_loss = nettrain.train(
        Identity(),
        (LOGITS, LABELS),
        ["round_loss", "validation_loss"],
        validation_set=(LOGITS, LABELS),
        batch_size=2,
        max_training_rounds=1,
        method="sgd",
        working_precision="float64",
        training_progress_reporting=None,
    )
    exact = float(F.cross_entropy(LOGITS, LABELS))
    assert math.isclose(validation_loss, exact, rel_tol=1e-12)
    assert math.isclose(round_loss, exact, rel_tol=1e-12), (round_loss, exact)


def test_validation_with_measurements_that_leave_out_the_loss() -> None:
    """The best net is chosen by validation loss when there is no error rate; a measurement
    list without "loss" must still train (the loss is always known), not fail on a key."""
    values = nettrain.train(
        Identity(),
        (LOGITS, LABELS),
        "validation_measurements",
        validation_set=(LOGITS, LABELS),
        training_progress_measurements=["accuracy"],
        batch_size=2,
        max_training_rounds=1,
        method="sgd",
        working_precision="float64",
        training_progress_reporting=None,
    )
    assert values["accuracy"] == 0.6
