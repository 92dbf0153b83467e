"""Training on a named dataset: the name's training split, its test split for validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nettrain
from conftest import DATA_ROOT, needs_fashion_mnist
from nettrain import Net, NetTrainError

QUIET = {"training_progress_reporting": None}
SHARED = DATA_ROOT


def digits_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("NETTRAIN_OFFLINE", "1")


def test_training_on_digits_validates_on_its_test_split_and_answers_class_names():
    r = nettrain.train(
        digits_mlp(), "Digits", "all", max_training_rounds=40, learning_rate=3e-3, **QUIET
    )
    test = nettrain.datasets.load("Digits", "test")
    assert r.input_form == "named_dataset"
    assert r.validation_examples == len(test.labels)
    assert r.training_examples + r.validation_examples == 1797
    net = r.trained_net
    assert isinstance(net, Net)
    answers = net(list(test.inputs))
    truth = [test.class_names[i] for i in test.labels]
    accuracy = float(np.mean([a == t for a, t in zip(answers, truth, strict=True)]))
    assert accuracy > 0.95
    # the reported validation accuracy is this very accuracy (the best net is the returned one)
    best = r.validation_measurements_lists["error_rate"][r.best_validation_round - 1]
    assert accuracy == pytest.approx(1 - best, abs=1e-9)


def test_a_name_as_validation_set_means_its_test_split():
    train = nettrain.datasets.load("Digits", "train")
    images = torch.from_numpy(train.inputs).float().div(255)[:, None]
    labels = torch.from_numpy(train.labels)
    r = nettrain.train(
        digits_mlp(),
        (images, labels),
        "all",
        validation_set="Digits",
        max_training_rounds=2,
        **QUIET,
    )
    assert r.validation_examples == len(nettrain.datasets.load("Digits", "test").labels)


def test_a_loaded_split_trains_like_its_name_and_validates_on_a_loaded_split():
    train = nettrain.datasets.load("Digits", "train")
    test = nettrain.datasets.load("Digits", "test")
    by_name = nettrain.train(digits_mlp(), "Digits", "all", max_training_rounds=3, **QUIET)
    by_split = nettrain.train(
        digits_mlp(), train, "all", validation_set=test, max_training_rounds=3, **QUIET
    )
    assert by_split.input_form == "named_dataset"
    assert by_split.validation_examples == len(test) == 359
    # the same data, order and net: the same run, loss for loss
    assert by_split.round_loss_list == by_name.round_loss_list
    assert by_split.validation_loss_list == by_name.validation_loss_list
    assert by_split.trained_net(test.inputs[0]) in test.class_names


def test_a_loaded_split_without_a_validation_set_validates_on_its_test_split():
    r = nettrain.train(
        digits_mlp(),
        nettrain.datasets.load("Digits"),
        "validation_examples",
        max_training_rounds=1,
        **QUIET,
    )
    assert r == 359


def test_validation_none_turns_the_automatic_test_split_off():
    r = nettrain.train(
        digits_mlp(), "Digits", "all", validation_set=None, max_training_rounds=1, **QUIET
    )
    assert r.validation_examples is None and r.validation_loss_list == []


def test_unknown_name_suggests_close_matches():
    with pytest.raises(NetTrainError, match="Fashion"):
        nettrain.train(digits_mlp(), "FashonMNIST", **QUIET)


@pytest.mark.slow
@needs_fashion_mnist
def test_fashion_mnist_is_found_in_the_shared_folder(monkeypatch):
    monkeypatch.setenv("NETTRAIN_DATA", str(SHARED))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    r = nettrain.train(net, "FashionMNIST", "all", max_training_rounds=1, batch_size=256, **QUIET)
    assert (r.training_examples, r.validation_examples) == (60_000, 10_000)
    assert 1 - r.validation_measurements["error_rate"] > 0.75
    test = nettrain.datasets.load("FashionMNIST", "test", data_dir=SHARED)
    assert r.trained_net(test.inputs[0]) in test.class_names
