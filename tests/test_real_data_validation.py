"""Early stopping on real data: Fashion-MNIST with a 10% validation split and patience 2."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nettrain
from conftest import FASHION_MNIST, needs_fashion_mnist
from nettrain.data.split import split_fraction
from nettrain.data.table import PortTable
from nettrain.datasets import load_fashion_mnist

pytestmark = [pytest.mark.slow, needs_fashion_mnist]

REAL_DATA = FASHION_MNIST
SUBSET = 20_000  # enough to overfit within a few rounds, so early stopping has work to do


def test_early_stopping_returns_the_best_net_and_its_reported_accuracy_is_true():
    images, labels = load_fashion_mnist(REAL_DATA)["train"]
    x = torch.from_numpy(images[:SUBSET]).reshape(SUBSET, -1).float() / 255
    y = torch.from_numpy(labels[:SUBSET]).long()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    r = nettrain.train(
        net,
        (x, y),
        "all",
        validation_set=0.1,
        max_training_rounds=40,
        training_stopping_criterion={"criterion": "error_rate", "patience": 2},
        training_progress_reporting=None,
    )
    assert r.reason_training_stopped == "stopping_criterion"
    assert r.total_rounds < 40
    errors = r.validation_measurements_lists["error_rate"]
    best = r.best_validation_round
    assert errors[best - 1] == min(errors)
    assert r.total_rounds == best + 3  # three validations without improvement, patience 2
    # the same split, recomputed: the returned net's accuracy on it is the reported one
    table = PortTable({"input": x, "target": y}, "inputs_targets")
    _, held = split_fraction(table, 0.1, seed=r.random_seed, stratify="target")
    with torch.no_grad():
        predicted = net(held.columns["input"]).argmax(1)
    accuracy = (predicted == held.columns["target"]).double().mean().item()
    assert accuracy == pytest.approx(1 - errors[best - 1], abs=1e-12)
    assert accuracy > 0.85
