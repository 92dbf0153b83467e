"""Options at the level of ``train``: multipliers, lazy nets, precision, reporting, devices."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import nettrain
from conftest import QUIET, make_classification, make_net, weights
from nettrain.errors import NetTrainError
from nettrain.options.parts import resolve_parts
from nettrain.options.resolved import resolve_options
from nettrain.train import _train

X, Y = make_classification(64)
OPTS = {"batch_size": 16, "max_training_rounds": 3, **QUIET}


def test_multiplier_zero_leaves_weights_bit_identical_and_restores_requires_grad():
    net = make_net()
    before = weights(net)
    r = nettrain.train(net, (X, Y), "all", learning_rate_multipliers={"0.*": 0}, **OPTS)
    after = weights(net)
    assert torch.equal(after["0.weight"], before["0.weight"])
    assert torch.equal(after["0.bias"], before["0.bias"])
    assert not torch.equal(after["2.weight"], before["2.weight"])
    assert r.weights_learning_rate_multipliers == {
        "0.weight": 0.0,
        "0.bias": 0.0,
        "2.weight": 1.0,
        "2.bias": 1.0,
    }
    assert all(p.requires_grad for p in net.parameters())


def test_negative_multiplier_moves_weights_the_other_way():
    sgd = {
        "method": ("sgd", {"momentum": 0.0}),
        "learning_rate": 0.1,
        "batch_size": 64,
        "max_training_rounds": 1,
        **QUIET,
    }
    plus, minus = make_net(), make_net()
    w0 = weights(plus)
    nettrain.train(plus, (X, Y), **sgd)
    nettrain.train(minus, (X, Y), learning_rate_multipliers={"2.*": -1, "*": 1}, **sgd)
    # one full-batch step: the last layer moves by exactly the opposite amount
    torch.testing.assert_close(
        weights(minus)["2.weight"] - w0["2.weight"], -(weights(plus)["2.weight"] - w0["2.weight"])
    )
    torch.testing.assert_close(weights(minus)["0.weight"], weights(plus)["0.weight"])


def test_part_specs_globs_module_names_indices_and_ranges():
    net = nn.Sequential()
    net.add_module("encoder", nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 3)))
    net.add_module("act", nn.ReLU())
    net.add_module("head", nn.Linear(3, 1))
    spec = [("encoder.1", 0.5), ("*.bias", 0.0), (range(0, 1), 2.0), (-1, 3.0)]
    got = resolve_parts(net, spec, default=1.0, argument="m")
    assert got == {
        "encoder.0.weight": 2.0,
        "encoder.0.bias": 0.0,
        "encoder.1.weight": 0.5,
        "encoder.1.bias": 0.5,
        "head.weight": 3.0,
        "head.bias": 0.0,
    }
    assert resolve_parts(net, 0.25, default=1.0, argument="m") == dict.fromkeys(got, 0.25)
    with pytest.raises(NetTrainError, match="matches no parameter"):
        resolve_parts(net, {"decoder": 1.0}, default=1.0, argument="m")
    with pytest.raises(NetTrainError, match="out of range"):
        resolve_parts(net, {7: 1.0}, default=1.0, argument="m")
    with pytest.raises(NetTrainError, match=r"finite number >= 0"):
        resolve_parts(net, {"head": -1.0}, default=1.0, argument="m")


def test_lazy_modules_are_materialised_from_the_data():
    torch.manual_seed(0)
    net = nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.LazyLinear(3))
    r = nettrain.train(net, (X, Y), "all", **OPTS)
    assert net[0].weight.shape == (8, 5) and net[2].weight.shape == (3, 8)
    assert r.round_loss < r.round_loss_list[0] or r.total_rounds == 3


def test_existing_weights_are_kept_and_training_continues():
    net = make_net()
    before = weights(net)
    losses1 = nettrain.train(net, (X, Y), "round_loss_list", learning_rate=0.01, **OPTS)
    assert not torch.equal(weights(net)["0.weight"], before["0.weight"])
    losses2 = nettrain.train(net, (X, Y), "round_loss_list", learning_rate=0.01, **OPTS)
    # the second call starts where the first ended, not from fresh weights
    assert losses2[0] < losses1[0]
    assert abs(losses2[0] - losses1[-1]) < abs(losses1[0] - losses1[-1])


def test_float64_precision_converts_net_and_data():
    net = make_net()
    r = nettrain.train(net, (X, Y), "all", working_precision="float64", **OPTS)
    assert r.working_precision == "float64"
    assert all(p.dtype == torch.float64 for p in net.parameters())
    # float64 and float32 runs agree to float32 precision
    net32 = make_net()
    nettrain.train(net32, (X, Y), **OPTS)
    torch.testing.assert_close(net[0].weight.float(), net32[0].weight, rtol=1e-4, atol=1e-5)


def test_print_reporting_writes_a_line_every_two_seconds_without_carriage_returns(capsys):
    counter = itertools.count()
    clock = lambda: next(counter) * 0.05  # noqa: E731 - every reading advances 50 ms
    r = _train(
        make_net(),
        (X, Y),
        "all",
        {"batch_size": 4, "max_training_rounds": 20, "training_progress_reporting": "print"},
        clock,
    )
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("round")]
    assert "\r" not in out
    expected = r.total_training_time / 2.0
    assert expected - 2 <= len(lines) <= expected + 1
    assert all("loss" in line and "examples/s" in line and "ETA" in line for line in lines)


def test_reporting_none_prints_nothing(capsys):
    nettrain.train(make_net(), (X, Y), **OPTS)
    assert capsys.readouterr().out == ""


def test_cpu_device_and_auto_device_on_a_machine_without_gpu():
    r = nettrain.train(make_net(), (X, Y), "target_device", target_device="cpu", **OPTS)
    assert r == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(NetTrainError, match="no GPU is available"):
            nettrain.train(make_net(), (X, Y), target_device="gpu", **OPTS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_training_matches_cpu_closely():
    cpu, gpu = make_net(), make_net()
    nettrain.train(cpu, (X, Y), target_device="cpu", **OPTS)
    r = nettrain.train(gpu, (X, Y), "all", target_device="gpu", **OPTS)
    assert r.target_device == "cuda:0"
    torch.testing.assert_close(gpu[0].weight.cpu(), cpu[0].weight, rtol=1e-3, atol=1e-4)


def test_learning_rate_schedule_reaches_the_end_of_the_plan():
    r = nettrain.train(
        make_net(),
        (X, Y),
        "all",
        method=("sgd", {"learning_rate_schedule": "linear"}),
        learning_rate=0.1,
        **OPTS,
    )
    # linear: lr * (1 - b / T) before update b (0-based) of T; the last update is b = T - 1
    assert r.total_batches == 12
    assert r.initial_learning_rate == pytest.approx(0.1)
    assert r.final_learning_rate == pytest.approx(0.1 / 12, rel=1e-12)


def test_performance_goal_names_and_refusals():
    assert resolve_options({"performance_goal": "TrainingSpeed"}).performance_goal == (
        "training_speed",
    )
    goals = resolve_options({"performance_goal": ["training_memory", "TrainingSpeed"]})
    assert goals.performance_goal == ("training_memory", "training_speed")
    assert resolve_options({}).performance_goal == ()
    with pytest.raises(NetTrainError) as info:
        resolve_options({"performance_goal": 1})
    assert str(info.value) == (
        'performance_goal: a goal is a name; expected "training_speed", "training_memory", '
        'a list of them, or "auto", received int 1.'
    )


def test_a_list_of_progress_functions_each_at_its_own_interval():
    """training_progress_function may be a list: each function keeps its interval, and the
    first that asks to stop stops training (the Keras face runs its callbacks this way)."""
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    y = x.sum(1, keepdim=True)
    batches: list[int] = []
    rounds: list[int] = []

    def per_round(live):
        if live["event"] == "round_complete":
            rounds.append(live["round"])
            return "stop_training" if live["round"] == 2 else None
        return None

    result = nettrain.train(
        nn.Linear(3, 1),
        (x, y),
        "all",
        batch_size=10,
        max_training_rounds=5,
        training_progress_reporting=None,
        training_progress_function=[
            (
                lambda live: (
                    live["event"] == "batch_complete" and batches.append(live["absolute_batch"])
                ),
                {"interval": "batch"},
            ),
            per_round,
        ],
    )
    assert rounds == [1, 2] and result.reason_training_stopped == "progress_function"
    assert batches == list(range(1, 9))  # every batch of the two rounds
