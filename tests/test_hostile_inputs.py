"""Hostile inputs (SPEC S1.6): every user mistake is a ``NetTrainError`` that names the argument,
the index of the first bad example where there is one, and what was expected; never a bare
PyTorch or Python traceback. A call rejected before training leaves the net exactly as it was.
Errors raised by the user's own code (progress functions, criteria, losses, forward passes,
generators, datasets) propagate as themselves, with a note saying where they happened, and the
net keeps the weights of the last complete update.

The table ``CASES`` holds one hostile call per row; the tests after it cover what a row cannot:
that option errors come before any training or timing, that a rejected call changes nothing in
the net (mode, dtype, hooks), and how errors of the user's own code reach the user.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import nettrain
from conftest import make_classification, make_net
from nettrain import NetTrainError

N, FEATURES, CLASSES = 24, 4, 3
X, Y = make_classification(N, features=FEATURES, classes=CLASSES, seed=3)
LABELS = ["cat", "dog", "bird"] * (N // 3)
BASE = {"training_progress_reporting": None, "max_training_rounds": 1}
# Targets that do not fit the net's output: the fault is in the data or in the net, and the
# error names one of them, never loss_function (these calls leave it automatic).
NET_OR_DATA = ("data", "net")


def net3() -> nn.Module:
    return make_net(FEATURES, CLASSES)


def regression_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(FEATURES, 1)


def with_value(tensor: torch.Tensor, index: int, value: float) -> torch.Tensor:
    """A copy of a float tensor with one value of example ``index`` set to ``value``."""
    out = tensor.clone()
    out.view(len(out), -1)[index, -1] = value
    return out


def bad_labels(index: int, value: int) -> torch.Tensor:
    out = Y.clone()
    out[index] = value
    return out


# --- hostile nets -------------------------------------------------------------------------------


class NoParameters(nn.Module):
    def forward(self, input):
        return input[:, :CLASSES] * 2.0


def frozen_net() -> nn.Module:
    net = net3()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class Returns(nn.Module):
    """A net with a real layer whose forward returns ``make(layer, input)``."""

    def __init__(self, make: Callable[[nn.Module, torch.Tensor], Any]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(FEATURES, CLASSES)
        self.make = make

    def forward(self, input):
        return self.make(self.layer, input)


def wants_five_features(layer: nn.Module, input: torch.Tensor) -> torch.Tensor:
    if input.shape[-1] != 5:
        raise TypeError(f"this net takes 5 features, not {input.shape[-1]}")
    return layer(input)


# --- hostile streams ----------------------------------------------------------------------------


def generator_changing_width():
    calls = []

    def batches(batch_size, round):
        calls.append(round)
        width = FEATURES if len(calls) == 1 else FEATURES + 1
        return torch.randn(batch_size, width), torch.randint(0, CLASSES, (batch_size,))

    return batches, {"round_length": N}


class DtypeChangingBatches:
    """Re-iterable batches whose targets turn from int64 into float32 at the second batch."""

    def __iter__(self):
        yield X[:6], Y[:6]
        yield X[6:12], Y[6:12].float()
        yield X[12:18], Y[12:18]


class EmptyDataset(Dataset):
    def __len__(self):
        return 0

    def __getitem__(self, index):
        raise IndexError(index)


class RaggedDataset(Dataset):
    """Item 9 has 3 features instead of 4."""

    def __len__(self):
        return N

    def __getitem__(self, index):
        return (X[index, :3] if index == 9 else X[index]), Y[index]


class NaNDataset(Dataset):
    """Item 13 holds a NaN."""

    def __len__(self):
        return N

    def __getitem__(self, index):
        x = X[index].clone()
        if index == 13:
            x[1] = math.nan
        return x, Y[index]


# --- the table ----------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    data: Callable[[], Any]
    argument: str | tuple[str, ...]  # the argument named (one of them, where several fit)
    patterns: list[str] = field(default_factory=list)  # regexes that str(error) must match
    index: int | None = None  # the example index the error must name (None: not checked)
    expected: str | None = None  # a regex that error.expected must match
    net: Callable[[], Any] = net3
    options: dict[str, Any] = field(default_factory=dict)
    prop: Any = None
    before_training: bool = True  # raised before any update: the net must be unchanged


def frame(**columns: Any) -> pd.DataFrame:
    return pd.DataFrame(columns)


CASES = [
    # ---- data ----------------------------------------------------------------------------------
    Case("mismatched-lengths", lambda: (X, Y[:20]), "data", [r"\b24\b", r"\b20\b"]),
    Case("mismatched-column-lengths", lambda: {"input": X, "target": Y[:10]}, "data", ["10"]),
    Case(
        "ragged-pairs",
        lambda: [(X[i], Y[i]) for i in range(5)] + [(X[5, :3], Y[5])],
        "data",
        [r"\(4,\)", r"\(3,\)"],
        index=5,
    ),
    Case(
        "ragged-nested-lists",
        lambda: ([[1.0, 2.0, 3.0, 4.0]] * 3 + [[1.0, 2.0]], [0, 1, 2, 0]),
        "data",
        [r"\(4,\)", r"\(2,\)"],
        index=3,
    ),
    Case(
        "ragged-object-array",
        lambda: (np.array([np.zeros(4), np.zeros(3)] + [np.zeros(4)] * (N - 2), dtype=object), Y),
        "data",
        [r"\(3,\)"],
        index=1,
    ),
    Case("nan-input", lambda: (with_value(X, 7, math.nan), Y), "data", ["NaN"], index=7),
    Case(
        "inf-input-numpy",
        lambda: (with_value(X, 5, math.inf).numpy(), Y.numpy()),
        "data",
        ["Inf|inf"],
        index=5,
        expected="finite",
    ),
    Case(
        "nan-regression-target",
        lambda: (X, with_value(torch.randn(N), 9, math.nan)),
        "data",
        ["NaN", "target"],
        index=9,
        net=regression_net,
    ),
    Case(
        "inf-regression-target",
        lambda: (X, with_value(torch.randn(N, 1), 2, -math.inf)),
        "data",
        ["target"],
        index=2,
        net=regression_net,
    ),
    Case(
        "nan-in-a-frame-feature",
        lambda: frame(
            a=[1.0, math.nan, 3.0], b=[1.0, 2.0, 3.0], c=[0.0] * 3, d=[1.0] * 3, target=[0, 1, 2]
        ),
        "data",
        ["NaN"],
        index=1,
    ),
    Case(
        "finite-float64-too-large-for-float32",
        lambda: (with_value(X.double(), 5, 1e300).numpy(), Y.numpy()),
        "data",
        ["float32|too large|overflow|range"],
        index=5,
    ),
    Case(
        "missing-value-in-a-nullable-int-column",
        lambda: frame(
            a=[1.0, 2.0, 3.0, 4.0],
            b=[1.0] * 4,
            c=[0.0] * 4,
            d=[1.0] * 4,
            target=pd.array([0, None, 2, 1], dtype="Int64"),
        ),
        "data",
        ["NaN|missing"],
        index=1,
    ),
    Case("empty-list", lambda: [], "data", ["no examples"], expected="at least one example"),
    Case(
        "empty-tensors",
        lambda: (torch.zeros(0, FEATURES), torch.zeros(0, dtype=torch.long)),
        "data",
        ["no examples"],
    ),
    Case("empty-dict", lambda: {}, "data", [r"no ports|no examples"]),
    Case(
        "empty-columns",
        lambda: {"input": [], "target": []},
        "data",
        ["no examples"],
        expected="at least one example",
    ),
    Case(
        "empty-inputs-targets-lists",
        lambda: ([], []),
        "data",
        ["no examples"],
        expected="at least one example",
    ),
    Case(
        "empty-frame-with-ports",
        lambda: pd.DataFrame(columns=["input", "target"]),
        "data",
        [r"no examples|no rows"],
        expected="at least one example",
    ),
    Case("frame-without-columns", lambda: pd.DataFrame(), "data", ["no columns"]),
    Case("a-single-tensor", lambda: X, "data", ["no targets"]),
    Case("a-single-array", lambda: X.numpy(), "data", ["no targets"]),
    Case("non-string-ports", lambda: {0: X, 1: Y}, "data", ["not a string"]),
    Case(
        "rows-with-other-keys",
        lambda: [{"input": X[0], "target": Y[0]}, {"input": X[1], "label": Y[1]}],
        "data",
        ["target", "label"],
        index=1,
    ),
    Case(
        "a-pair-of-length-3",
        lambda: [(X[0], Y[0]), (X[1], Y[1]), (X[2], Y[2], 1)],
        "data",
        ["length 3", r"\(input, target\)"],
        index=2,
    ),
    Case("three-arrays-in-a-tuple", lambda: (X, Y, Y), "data", ["pair"], index=0),
    Case("targets-a-scalar", lambda: (X, 3), "data", ["targets"]),
    Case(
        "a-string-that-is-no-dataset",
        lambda: "not a dataset",
        "data",
        ["MNIST"],
    ),
    Case("a-misspelt-dataset-name", lambda: "MNSIT", "data", ["did you mean 'MNIST'"]),
    Case("an-int", lambda: 7, "data", ["int 7"]),
    Case("none", lambda: None, "data", ["None"]),
    Case("a-set", lambda: {1, 2, 3}, "data", ["int"]),
    Case("a-net-as-data", net3, "data", ["net comes first"]),
    Case("class-index-too-large", lambda: (X, bad_labels(4, 3)), "data", ["0 to 2"], index=4),
    Case("class-index-negative", lambda: (X, bad_labels(11, -1)), "data", ["-1"], index=11),
    Case(
        "float-labels-for-a-classifier",
        lambda: (X, Y.float() + 0.5),
        NET_OR_DATA,
        ["class"],
        expected="int",
    ),
    Case(
        "string-labels-for-one-output",
        lambda: (X, LABELS),
        NET_OR_DATA,
        ["3 classes|'bird', 'cat', 'dog'"],
        expected=r"(one|an) output per class|3 outputs",
        net=regression_net,
    ),
    Case(
        "more-labels-than-outputs",
        lambda: (X, ["a", "b", "c", "d"] * (N // 4)),
        NET_OR_DATA,
        [r"\b4 classes"],
        expected=r"output per class|4 outputs",
        net=lambda: make_net(FEATURES, 2),
    ),
    Case(
        "targets-of-another-shape",
        lambda: (X, torch.randn(N, 5)),
        NET_OR_DATA,
        [r"\(3,\)", r"\(5,\)"],
    ),
    Case(
        "booleans-for-three-outputs",
        lambda: (X, Y == 1),
        NET_OR_DATA,
        ["bool|binary"],
        expected=r"(one|1|a single) output",
    ),
    Case(
        "unknown-label-in-validation",
        lambda: (X, LABELS),
        "validation_set",
        ["'zebra'", "'bird', 'cat', 'dog'"],
        index=2,
        options={"validation_set": (X[:4], ["cat", "dog", "zebra", "cat"])},
    ),
    Case(
        "complex-inputs",
        lambda: (X.to(torch.complex64), Y),
        "data",
        ["complex"],
    ),
    Case(
        "complex-targets",
        lambda: (X, torch.randn(N).to(torch.complex64)),
        "data",
        ["complex"],
        net=regression_net,
    ),
    Case(
        "int-inputs-to-a-float-net",
        lambda: (torch.randint(0, 5, (N, FEATURES)), Y),
        "data",
        ["int64", "float"],
    ),
    Case(
        "two-target-columns-for-one-output",
        lambda: {"input": X, "target": Y, "weight": torch.rand(N)},
        "data",
        ["target"],
    ),
    Case("a-generator-function", lambda: lambda: (yield X, Y), "data", ["return"]),
    # ---- nets ----------------------------------------------------------------------------------
    Case("net-a-string", lambda: (X, Y), "net", ["nn.Module", "str"], net=lambda: "net"),
    Case("net-a-class", lambda: (X, Y), "net", ["nn.Module"], net=lambda: nn.Linear),
    Case("net-none", lambda: (X, Y), "net", ["nn.Module"], net=lambda: None),
    Case(
        "net-without-parameters",
        lambda: (X, Y),
        "net",
        ["parameter"],
        expected="(?i)trainable|parameter",
        net=NoParameters,
    ),
    Case(
        "net-with-every-parameter-frozen",
        lambda: (X, Y),
        "net",
        ["requires_grad|trainable"],
        net=frozen_net,
    ),
    Case(
        "every-multiplier-zero",
        lambda: (X, Y),
        "learning_rate_multipliers",
        ["frozen"],
        options={"learning_rate_multipliers": 0},
    ),
    Case(
        "forward-raises-typeerror-on-the-shape",
        lambda: (X, Y),
        "data",
        ["TypeError", "5 features", r"\(24, 4\)|\(4,\)"],
        net=lambda: Returns(wants_five_features),
    ),
    Case(
        "forward-returns-none",
        lambda: (X, Y),
        "net",
        ["None"],
        net=lambda: Returns(lambda layer, x: None),
    ),
    Case(
        "forward-returns-a-string",
        lambda: (X, Y),
        "net",
        ["str"],
        net=lambda: Returns(lambda layer, x: "y"),
    ),
    Case(
        "forward-returns-a-list",
        lambda: (X, Y),
        "net",
        ["list"],
        net=lambda: Returns(lambda layer, x: [layer(x)]),
    ),
    Case(
        "forward-returns-nan-from-the-start",
        lambda: (X, Y),
        "net",
        ["NaN"],
        net=lambda: Returns(lambda layer, x: layer(x) * math.nan),
    ),
    Case(
        "forward-returns-an-int-tensor",
        lambda: (X, Y),
        "net",
        ["int64"],
        expected="float",
        net=lambda: Returns(lambda layer, x: layer(x).round().long()),
    ),
    # ---- options -------------------------------------------------------------------------------
    Case(
        "unknown-option-suggests",
        lambda: (X, Y),
        "learnig_rate",
        ["unknown option", "did you mean 'learning_rate'"],
        options={"learnig_rate": 0.1},
    ),
    *[
        Case(
            f"batch-size-{value!r}",
            lambda: (X, Y),
            "batch_size",
            ["int >= 1"],
            options={"batch_size": value},
        )
        for value in (0, -1, 2.5, True, "64")
    ],
    Case(
        "max-rounds-0",
        lambda: (X, Y),
        "max_training_rounds",
        ["int >= 1"],
        options={"max_training_rounds": 0},
    ),
    Case(
        "max-rounds-a-word",
        lambda: (X, Y),
        "max_training_rounds",
        ["'ten'"],
        options={"max_training_rounds": "ten"},
    ),
    Case(
        "time-goal-negative",
        lambda: (X, Y),
        "time_goal",
        ["positive", "-1"],
        options={"time_goal": -1},
    ),
    Case(
        "time-goal-parsecs",
        lambda: (X, Y),
        "time_goal",
        ["parsecs", "5 min"],
        options={"time_goal": "5 parsecs"},
    ),
    Case(
        "method-unknown", lambda: (X, Y), "method", ["adamx", "'adam'"], options={"method": "adamx"}
    ),
    Case(
        "method-unknown-sub-option",
        lambda: (X, Y),
        "method",
        ["beta1", "momentum"],
        options={"method": ("sgd", {"beta1": 0.9})},
    ),
    Case(
        "method-unknown-schedule",
        lambda: (X, Y),
        "method",
        ["cosinus", "'cosine'"],
        options={"method": ("sgd", {"learning_rate_schedule": "cosinus"})},
    ),
    *[
        Case(
            f"learning-rate-{value!r}",
            lambda: (X, Y),
            "learning_rate",
            ["> 0"],
            options={"learning_rate": value},
        )
        for value in (0, -1, math.nan, math.inf, "fast")
    ],
    *[
        Case(
            f"seed-{value!r}",
            lambda: (X, Y),
            "random_seeding",
            ["non-negative int"],
            options={"random_seeding": value},
        )
        for value in (-1, 1.5)
    ],
    Case(
        "seed-too-large",
        lambda: (X, Y),
        "random_seeding",
        ["non-negative int"],
        options={"random_seeding": 2**64},
    ),
    Case(
        "device-tpu",
        lambda: (X, Y),
        "target_device",
        ["tpu", "cpu"],
        options={"target_device": "tpu"},
    ),
    Case(
        "device-gpu-99",
        lambda: (X, Y),
        "target_device",
        ["99"],
        options={"target_device": ("gpu", 99)},
    ),
    Case(
        "precision-float8",
        lambda: (X, Y),
        "working_precision",
        ["float8", "float32"],
        options={"working_precision": "float8"},
    ),
    Case(
        "loss-unknown-name",
        lambda: (X, Y),
        "loss_function",
        ["cross_entropi", "did you mean 'cross_entropy'"],
        options={"loss_function": "cross_entropi"},
    ),
    Case(
        "loss-dict-names-a-missing-port",
        lambda: (X, Y),
        "loss_function",
        ["'label'", "'output'"],
        options={"loss_function": {"label": "cross_entropy"}},
    ),
    Case(
        "loss-a-number", lambda: (X, Y), "loss_function", ["int 42"], options={"loss_function": 42}
    ),
    Case(
        "loss-negative-weight",
        lambda: (X, Y),
        "loss_function",
        [">= 0"],
        options={"loss_function": ("cross_entropy", -1.0)},
    ),
    Case(
        "loss-callable-returns-a-float",
        lambda: (X, Y),
        "loss_function",
        ["return", "float"],
        expected="tensor",
        options={"loss_function": lambda output, target: 1.0},
    ),
    Case(
        "multipliers-name-no-parameter",
        lambda: (X, Y),
        "learning_rate_multipliers",
        ["encoder", r"0\.weight"],
        options={"learning_rate_multipliers": {"encoder.*": 0.5}},
    ),
    Case(
        "update-schedule-names-no-parameter",
        lambda: (X, Y),
        "training_update_schedule",
        ["nope"],
        options={"training_update_schedule": ["nope"]},
    ),
    Case(
        "measurement-unknown",
        lambda: (X, Y),
        "training_progress_measurements",
        ["acuracy", "'accuracy'"],
        options={"training_progress_measurements": ["loss", "acuracy"]},
    ),
    Case(
        "measurement-needs-classes-on-a-regression-net",
        lambda: (X, torch.randn(N, 1)),
        "training_progress_measurements",
        ["accuracy", "regression"],
        net=regression_net,
        options={"training_progress_measurements": "accuracy"},
    ),
    Case(
        "measurement-top-10-of-3-classes",
        lambda: (X, Y),
        "training_progress_measurements",
        [r"\(3\)"],
        options={"training_progress_measurements": ("accuracy", 10)},
    ),
    Case(
        "stopping-unknown-measurement",
        lambda: (X, Y),
        "training_stopping_criterion",
        ["acuracy", "'error_rate'"],
        options={"training_stopping_criterion": "acuracy", "validation_set": 0.25},
    ),
    Case(
        "stopping-negative-patience",
        lambda: (X, Y),
        "training_stopping_criterion",
        [">= 0", "-1"],
        options={
            "training_stopping_criterion": {"criterion": "loss", "patience": -1},
            "validation_set": 0.25,
        },
    ),
    Case(
        "stopping-misspelt-sub-option",
        lambda: (X, Y),
        "training_stopping_criterion",
        ["did you mean 'patience'"],
        options={
            "training_stopping_criterion": {"criterion": "loss", "patiense": 2},
            "validation_set": 0.25,
        },
    ),
    Case(
        "validation-of-another-input-shape",
        lambda: (X, Y),
        "validation_set",
        [r"\(4,\)", r"\(7,\)"],
        options={"validation_set": (torch.randn(6, 7), Y[:6])},
    ),
    Case(
        "validation-targets-of-another-shape",
        lambda: (X, Y),
        "validation_set",
        [r"\(5,\)"],
        options={"validation_set": (X[:6], torch.randn(6, 5))},
    ),
    Case(
        "validation-float-labels-for-a-classifier",
        lambda: (X, Y),
        "validation_set",
        ["int64|class"],
        options={"validation_set": (X[:5], torch.tensor([0.5, 1.7, 2.2, 0.1, 1.0]))},
    ),
    Case(
        "validation-class-index-out-of-range",
        lambda: (X, Y),
        "validation_set",
        ["0 to 2"],
        index=3,
        options={"validation_set": (X[:6], torch.tensor([0, 1, 2, 3, 0, 1]))},
    ),
    Case(
        "validation-nan",
        lambda: (X, Y),
        "validation_set",
        ["NaN"],
        index=2,
        options={"validation_set": (with_value(X[:6], 2, math.nan), Y[:6])},
    ),
    Case(
        "validation-nan-regression-target",
        lambda: (X, torch.randn(N)),
        "validation_set",
        ["NaN"],
        index=1,
        net=regression_net,
        options={"validation_set": (X[:3], torch.tensor([1.0, math.nan, 2.0]))},
    ),
    Case(
        "validation-mismatched-lengths",
        lambda: (X, Y),
        "validation_set",
        [r"\b6\b", r"\b5\b"],
        options={"validation_set": (X[:6], Y[:5])},
    ),
    Case(
        "validation-empty",
        lambda: (X, Y),
        "validation_set",
        ["no examples"],
        options={"validation_set": []},
    ),
    Case(
        "validation-a-misspelt-dataset-name",
        lambda: (X, Y),
        "validation_set",
        ["did you mean 'MNIST'"],
        options={"validation_set": "MNSIT"},
    ),
    *[
        Case(
            f"validation-fraction-{value!r}",
            lambda: (X, Y),
            "validation_set",
            ["between 0 and 1"],
            options={"validation_set": value},
        )
        for value in (0, 1, 1.5)
    ],
    Case(
        "validation-interval-unit",
        lambda: (X, Y),
        "validation_set",
        ["parsecs"],
        options={"validation_set": (0.25, {"interval": "2 parsecs"})},
    ),
    Case(
        "reporting-unknown-form",
        lambda: (X, Y),
        "training_progress_reporting",
        ["'pannel'", "did you mean 'panel'"],
        options={"training_progress_reporting": "pannel"},
    ),
    Case(
        "progress-function-not-callable",
        lambda: (X, Y),
        "training_progress_function",
        ["callable"],
        options={"training_progress_function": 5},
    ),
    Case(
        "prop-unknown", lambda: (X, Y), "prop", ["did you mean 'trained_net'"], prop="trained_nett"
    ),
    Case("prop-in-a-list", lambda: (X, Y), "prop", ["bogus"], prop=["trained_net", "bogus"]),
    Case("prop-an-int", lambda: (X, Y), "prop", ["string"], prop=5),
    # ---- streams -------------------------------------------------------------------------------
    Case(
        "generator-changes-shape-at-its-second-call",
        generator_changing_width,
        "data",
        ["round 1", r"\(4,\)", r"\(5,\)"],
        index=1,
        options={"batch_size": 6},
        before_training=False,
    ),
    Case("generator-returns-none", lambda: lambda batch_size: None, "data", ["None"]),
    Case(
        "generator-returns-an-empty-batch",
        lambda: lambda batch_size: (torch.zeros(0, FEATURES), torch.zeros(0, dtype=torch.long)),
        "data",
        ["no examples"],
    ),
    Case(
        "generator-with-unfillable-parameters",
        lambda: lambda batch_size, round, extra: (X, Y),
        "data",
        ["extra"],
    ),
    Case(
        "generator-round-length-0",
        lambda: (lambda batch_size: (X[:batch_size], Y[:batch_size]), {"round_length": 0}),
        "data",
        ["round_length"],
    ),
    Case(
        "loader-batch-size-and-option",
        lambda: DataLoader(TensorDataset(X, Y), batch_size=5),
        "batch_size",
        ["own batches", r"\b5\b", r"\b8\b"],
        options={"batch_size": 8},
    ),
    Case("empty-iterator", lambda: iter([]), "data", ["no batches"]),
    Case(
        "stream-with-an-empty-batch",
        lambda: iter([(X[:6], Y[:6]), (X[:0], Y[:0])]),
        "data",
        ["no examples", "batch 2"],
        before_training=False,
    ),
    Case(
        "iterable-whose-batches-change-dtype",
        DtypeChangingBatches,
        "data",
        ["batch 2", "int64", "float32"],
        before_training=False,
    ),
    Case("iterable-of-strings", lambda: iter(["abc", "def"]), "data", ["str"]),
    Case("empty-dataset", EmptyDataset, "data", ["empty"]),
    Case(
        "dataset-with-a-ragged-item",
        RaggedDataset,
        "data",
        [r"\(3,\)"],
        index=9,
        options={"batch_size": 6},
        before_training=False,
    ),
    Case(
        "dataset-with-a-nan-item",
        NaNDataset,
        "data",
        ["NaN"],
        index=13,
        options={"batch_size": 6},
        before_training=False,
    ),
]


def _state(net: object) -> dict[str, tuple[torch.dtype, bool, torch.Tensor]] | None:
    if not isinstance(net, nn.Module):
        return None
    state = {k: (v.dtype, False, v.detach().clone()) for k, v in net.state_dict().items()}
    for k, p in net.named_parameters():
        state[k] = (p.dtype, p.requires_grad, p.detach().clone())
    return state


def _assert_unchanged(net: nn.Module, before: dict[str, Any]) -> None:
    after = _state(net)
    assert after is not None and after.keys() == before.keys()
    for k, (dtype, flag, value) in before.items():
        dtype2, flag2, value2 = after[k]
        assert dtype2 == dtype, f"{k}: dtype {dtype} became {dtype2}"
        assert flag2 == flag, f"{k}: requires_grad changed"
        assert torch.equal(value2, value), f"{k} changed"


def _check_error(error: NetTrainError, case: Case) -> None:
    message = str(error)
    wanted = (case.argument,) if isinstance(case.argument, str) else case.argument
    assert error.argument.split("[")[0] in wanted, (
        f"argument {error.argument!r}, wanted {' or '.join(map(repr, wanted))}: {message}"
    )
    if case.index is not None:
        assert error.index == case.index, f"index {error.index}, wanted {case.index}: {message}"
    for pattern in case.patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    if case.expected is not None:
        assert error.expected is not None and re.search(case.expected, error.expected), (
            f"expected {error.expected!r} does not match {case.expected!r}: {message}"
        )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_call_is_a_nettrain_error(case: Case) -> None:
    net = case.net()
    before = _state(net)
    with pytest.raises(NetTrainError) as info:
        nettrain.train(net, case.data(), case.prop, **{**BASE, **case.options})
    _check_error(info.value, case)
    if before is not None and case.before_training:
        _assert_unchanged(net, before)


def test_the_table_holds_at_least_60_distinct_cases() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60


# --- option errors come before any training or timing -------------------------------------------


class CountingNet(nn.Module):
    """Counts the forward passes run with gradients on: training steps, timed steps and cost
    measurements all need them; probes and validation do not. The count is kept on the class so
    that a throwaway copy of the net (``copy.deepcopy``) counts too."""

    grad_calls: ClassVar[list[int]] = []

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(FEATURES, CLASSES)

    def forward(self, input):
        if torch.is_grad_enabled():
            CountingNet.grad_calls.append(1)
        return self.layer(input)


EARLY = [
    ("unknown-measurement", {"training_progress_measurements": "acuracy"}),
    ("regression-measurement-on-a-classifier", {"training_progress_measurements": "r_squared"}),
    (
        "unknown-stopping-measurement",
        {"training_stopping_criterion": "acuracy", "validation_set": 0.25},
    ),
    (
        "negative-patience",
        {
            "training_stopping_criterion": {"criterion": "loss", "patience": -1},
            "validation_set": 0.25,
        },
    ),
    ("validation-of-another-shape", {"validation_set": (torch.randn(6, 7), Y[:6])}),
    ("progress-function-not-callable", {"training_progress_function": "print"}),
]


@pytest.mark.parametrize(("what", "options"), EARLY, ids=[e[0] for e in EARLY])
def test_option_errors_are_raised_before_any_training_or_timing(what, options) -> None:
    # No max_training_rounds and no batch_size: automatic choices would time steps and measure
    # batch costs, and neither may happen before the options are known to be good.
    CountingNet.grad_calls.clear()
    net = CountingNet()
    before = _state(net)
    start = time.perf_counter()
    with pytest.raises(NetTrainError) as info:
        nettrain.train(net, (X, Y), training_progress_reporting=None, **options)
    elapsed = time.perf_counter() - start
    assert info.value.argument.split("[")[0] in options, str(info.value)
    assert CountingNet.grad_calls == [], (
        f"{len(CountingNet.grad_calls)} forward passes with gradients ran before the error"
    )
    assert before is not None
    _assert_unchanged(net, before)
    assert elapsed < 1.0


# --- a rejected call leaves the net as it was (mode, dtype, hooks) ------------------------------


class SoftmaxNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(
            nn.Linear(FEATURES, 8), nn.Dropout(0.1), nn.Linear(8, CLASSES), nn.Softmax(-1)
        )

    def forward(self, input):
        return self.layers(input)


def _hooks(net: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())


REJECTED = [
    ("bad-class-index", (X, bad_labels(3, 9)), {}),
    ("bad-class-index-in-float64", (X, bad_labels(3, 9)), {"working_precision": "float64"}),
    ("unknown-validation-label", (X, LABELS), {"validation_set": (X[:2], ["cat", "zebra"])}),
    ("unknown-measurement", (X, Y), {"training_progress_measurements": "acuracy"}),
]


@pytest.mark.parametrize(("what", "data", "options"), REJECTED, ids=[r[0] for r in REJECTED])
def test_a_rejected_call_leaves_mode_dtype_and_hooks_as_they_were(what, data, options) -> None:
    net = SoftmaxNet()
    net.train()
    before = _state(net)
    modes = [m.training for m in net.modules()]
    hooks = _hooks(net)
    with pytest.raises(NetTrainError):
        nettrain.train(net, data, **BASE, **options)
    assert before is not None
    _assert_unchanged(net, before)
    assert [m.training for m in net.modules()] == modes, "the net's train/eval mode changed"
    assert _hooks(net) == hooks, "hooks were left on the net"


# --- errors of the user's own code --------------------------------------------------------------

RUN = {"batch_size": 6, "max_training_rounds": 4, "training_progress_reporting": None}


def _notes(error: BaseException) -> str:
    return " | ".join(getattr(error, "__notes__", []))


def _names_batch(text: str, batch: int) -> bool:
    """Whether ``text`` says which batch of its round it was: "batch 3", or "after 2 of its
    batches" (the batches of the round completed before it)."""
    return bool(re.search(rf"\bbatch {batch}\b|\bafter {batch - 1} of its batches\b", text))


def _weights_after(batches: int, **options: Any) -> dict[str, torch.Tensor]:
    """The weights of a run stopped right after update ``batches`` (an abort keeps them)."""

    def abort(live):
        if live["event"] == "batch_complete" and live["absolute_batch"] == batches:
            return "abort_training"
        return None

    net = options.pop("net", None)
    net = net3() if net is None else net
    data = options.pop("data", (X, Y))
    nettrain.train(
        net, data, training_progress_function=(abort, {"interval": "batch"}), **{**RUN, **options}
    )
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _assert_weights(net: nn.Module, reference: dict[str, torch.Tensor]) -> None:
    state = net.state_dict()
    assert state.keys() == reference.keys()
    for k, v in reference.items():
        assert torch.equal(state[k], v), f"{k} is not the weight of the last complete update"


def test_a_progress_function_error_propagates_with_a_note_and_the_last_update_is_kept() -> None:
    def fails(live):
        if live["round"] == 2:
            raise ValueError("my progress function broke")

    net = net3()
    with pytest.raises(ValueError, match="my progress function broke") as info:
        nettrain.train(net, (X, Y), training_progress_function=fails, **RUN)
    error = info.value
    assert type(error) is ValueError, "the user's exception must not be wrapped"
    notes = _notes(error)
    assert "training_progress_function" in notes, f"no note names the function: {notes!r}"
    assert re.search(r"round 2\b", notes), f"no note names round 2: {notes!r}"
    # the function ran at the end of round 2: the net holds exactly round 2's last update
    reference = net3()
    nettrain.train(reference, (X, Y), **{**RUN, "max_training_rounds": 2})
    _assert_weights(net, {k: v.detach().clone() for k, v in reference.state_dict().items()})


def test_a_per_batch_progress_function_error_keeps_the_weights_of_that_batch() -> None:
    def fails(live):
        if live["event"] == "batch_complete" and live["absolute_batch"] == 6:
            raise ValueError("broke at batch 6")

    net = net3()
    with pytest.raises(ValueError, match="broke at batch 6") as info:
        nettrain.train(
            net, (X, Y), training_progress_function=(fails, {"interval": "batch"}), **RUN
        )
    notes = _notes(info.value)
    assert "training_progress_function" in notes and re.search(r"round 2\b", notes), notes
    # it ran after batch 2 of round 2 had completed
    assert re.search(r"\bbatch 2\b|\bafter 2 of its batches\b", notes), notes
    _assert_weights(net, _weights_after(6))


def test_a_stopping_criterion_that_raises_propagates_with_a_note() -> None:
    def criterion(values):
        raise ArithmeticError("my criterion broke")

    net = net3()
    with pytest.raises(ArithmeticError, match="my criterion broke") as info:
        nettrain.train(
            net, (X, Y), training_stopping_criterion=criterion, validation_set=0.25, **RUN
        )
    assert type(info.value) is ArithmeticError
    notes = _notes(info.value)
    assert "training_stopping_criterion" in notes, notes
    assert re.search(r"round 1\b", notes), notes
    reference = net3()
    nettrain.train(reference, (X, Y), validation_set=0.25, **{**RUN, "max_training_rounds": 1})
    _assert_weights(net, {k: v.detach().clone() for k, v in reference.state_dict().items()})


def _loss_failing_at(k: int | None):
    calls = []

    def loss(output, target):
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) == k:
                raise RuntimeError(f"my loss broke at call {k}")
        return nn.functional.cross_entropy(output, target)

    return loss


def test_a_custom_loss_that_raises_at_batch_k_propagates_with_a_note() -> None:
    net = net3()
    with pytest.raises(RuntimeError, match="my loss broke at call 3") as info:
        nettrain.train(net, (X, Y), loss_function=_loss_failing_at(3), **RUN)
    assert type(info.value) is RuntimeError
    notes = _notes(info.value)
    assert re.search("loss_function|loss function", notes), notes
    assert re.search(r"round 1\b", notes) and _names_batch(notes, 3), notes
    _assert_weights(net, _weights_after(2, loss_function=_loss_failing_at(None)))


class FailingForward(nn.Module):
    """make_net's layers; the k-th forward pass with gradients raises."""

    def __init__(self, k: int | None) -> None:
        super().__init__()
        self.body = net3()
        self.k = k
        self.calls = 0

    def forward(self, input):
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.k:
                raise IndexError(f"my forward broke at call {self.k}")
        return self.body(input)


def test_a_forward_that_raises_at_batch_k_propagates_with_a_note() -> None:
    net = FailingForward(7)
    with pytest.raises(IndexError, match="my forward broke at call 7") as info:
        nettrain.train(net, (X, Y), **RUN)
    assert type(info.value) is IndexError
    notes = _notes(info.value)
    # 4 batches a round: the 7th update is batch 3 of round 2
    assert re.search(r"round 2\b", notes) and _names_batch(notes, 3), notes
    _assert_weights(net, _weights_after(6, net=FailingForward(None)))


def _assert_located(
    error: BaseException, original: type, patterns: list[str], batch: int | None = None
) -> None:
    """A failure in the user's data code: either the original exception with a note, or a
    NetTrainError on "data" raised from it; either way it says where."""
    if isinstance(error, NetTrainError):
        assert error.argument == "data", str(error)
        assert isinstance(error.__cause__, original), "the user's exception is lost"
        text = str(error)
    else:
        assert type(error) is original
        text = _notes(error)
        assert "data" in text, f"no note names the data: {text!r}"
    for pattern in patterns:
        assert re.search(pattern, text), f"{pattern!r} not in {text!r}"
    if batch is not None:
        assert _names_batch(text, batch), f"batch {batch} is not named in {text!r}"


def test_a_generator_that_raises_during_training_says_where() -> None:
    calls = []

    def batches(batch_size, round):
        calls.append(round)
        if len(calls) == 3:  # round 2's first call (2 calls a round; the first is replayed)
            raise ZeroDivisionError("my generator broke")
        return X[:batch_size], Y[:batch_size]

    with pytest.raises((ZeroDivisionError, NetTrainError)) as info:
        nettrain.train(net3(), (batches, {"round_length": 12}), **RUN)
    _assert_located(info.value, ZeroDivisionError, [r"round 2\b"], batch=1)


def test_a_generator_that_raises_at_its_first_call_says_where() -> None:
    def batches(batch_size, round):
        raise ZeroDivisionError("my generator broke")

    net = net3()
    before = _state(net)
    with pytest.raises((ZeroDivisionError, NetTrainError)) as info:
        nettrain.train(net, batches, **RUN)
    _assert_located(info.value, ZeroDivisionError, [r"round 1\b"], batch=1)
    assert before is not None
    _assert_unchanged(net, before)


class FlakyDataset(Dataset):
    def __len__(self):
        return N

    def __getitem__(self, index):
        if index == 17:
            raise KeyError(f"cannot read item {index}")
        return X[index], Y[index]


def test_a_dataset_that_raises_on_example_k_names_k() -> None:
    with pytest.raises((KeyError, NetTrainError)) as info:
        nettrain.train(net3(), FlakyDataset(), **RUN)
    error = info.value
    if isinstance(error, NetTrainError):
        assert error.index == 17, str(error)
    _assert_located(error, KeyError, [r"\b17\b"])
