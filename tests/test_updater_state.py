"""The method sub-option "state": an optimizer state carried from one ``train`` run to the next,
checked against one ``torch.optim`` optimizer stepping through the same batches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from nettrain.data.batching import round_permutation
from nettrain.errors import NetTrainError
from nettrain.optim import UpdaterState

SEED, N, BATCH = 5, 24, 8


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-1.0], [2.0]])


def _net() -> nn.Module:
    torch.manual_seed(2)
    return nn.Linear(3, 1)


def _run(net, x, y, method, rounds=1):
    return nettrain.train(
        net, (x, y), method=method, batch_size=BATCH, max_training_rounds=rounds,
        random_seeding=SEED, training_progress_reporting=None,
    )  # fmt: skip


def test_two_runs_with_one_state_step_like_one_torch_optimizer():
    x, y = _data()
    net, state = _net(), UpdaterState()
    method = ("sgd", {"momentum": 0.9, "learning_rate": 0.05, "state": state})
    _run(net, x, y, method)
    _run(net, x, y, method)
    assert state.updates == 2 * (N // BATCH)

    reference = _net()
    opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):  # each run's round 1: the same permutation
        order = round_permutation(SEED, 1, N)
        for begin in range(0, N, BATCH):
            i = order[begin : begin + BATCH]
            loss = F.mse_loss(reference(x[i]), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.testing.assert_close(net.weight, reference.weight)

    fresh = _net()  # without the state the second run starts its momentum from zero
    for _ in range(2):
        _run(fresh, x, y, ("sgd", {"momentum": 0.9, "learning_rate": 0.05}))
    assert not torch.allclose(fresh.weight, reference.weight, atol=1e-4)


def test_adam_moments_carry_and_the_new_run_keeps_its_own_learning_rate():
    x, y = _data()
    net, state = _net(), UpdaterState()
    _run(net, x, y, ("adam", {"learning_rate": 0.01, "state": state}))
    _run(net, x, y, ("adam", {"learning_rate": 0.002, "state": state}))
    reference = _net()
    opt = torch.optim.Adam(reference.parameters(), lr=0.01, eps=1e-5)
    for rate in (0.01, 0.002):
        for group in opt.param_groups:
            group["lr"] = rate
        order = round_permutation(SEED, 1, N)
        for begin in range(0, N, BATCH):
            i = order[begin : begin + BATCH]
            opt.zero_grad()
            F.mse_loss(reference(x[i]), y[i]).backward()
            opt.step()
    torch.testing.assert_close(net.weight, reference.weight)


def test_automatic_rounds_time_a_copy_without_touching_the_state():
    x, y = _data()
    net, state = _net(), UpdaterState()
    result = nettrain.train(
        # a schedule with a time goal: steps are timed on a copy of the net first
        net, (x, y), "all", method=("sgd", {"state": state, "learning_rate_schedule": "cosine"}),
        batch_size=BATCH,
        time_goal=0.3, training_progress_reporting=None,
    )  # fmt: skip
    assert state.updates == result["total_batches"]


def test_a_state_of_another_method_or_type_is_refused():
    x, y = _data()
    net, state = _net(), UpdaterState()
    _run(net, x, y, ("sgd", {"state": state}))
    with pytest.raises(NetTrainError, match="holds the state of a sgd optimizer"):
        _run(net, x, y, ("adam", {"state": state}))
    with pytest.raises(NetTrainError, match="UpdaterState"):
        _run(net, x, y, ("adam", {"state": {"m": 1}}))
    with pytest.raises(NetTrainError, match="training_update_schedule"):
        nettrain.train(
            net, (x, y), method=("sgd", {"state": UpdaterState()}),
            training_update_schedule=["weight", "bias"], max_training_rounds=1,
        )  # fmt: skip
