"""training_update_schedule: groups updated in turn, against hand-written references.

The net has three linear layers (children 0, 2, 4); the schedule ``["0.*", ("2.*", 2)]``
updates layer 0, then layer 2 twice, cycling, and never names layer 4, which must stay
bit-identical. Nets run in float64 so that a wrong ordering or shared optimizer state shows far
beyond the comparison tolerance.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError
from nettrain.optim import build_updater, parse_method
from nettrain.optim.scheduled import ScheduledUpdater

SCHEDULE: list[Any] = ["0.*", ("2.*", 2)]
# The entry (0: layer 0, 1: layer 2) that steps 0..5 update.
ORDER = [0, 1, 1, 0, 1, 1]
TIGHT: dict[str, Any] = {"rtol": 1e-12, "atol": 1e-14}


def make_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3)
    ).double()


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    return (
        torch.randn(16, 4, generator=g, dtype=torch.float64),
        torch.randn(16, 3, generator=g, dtype=torch.float64),
    )


def backward(net: nn.Module, step: int) -> None:
    x, y = batch(step)
    nn.functional.mse_loss(net(x), y).backward()


def run_updater(net: nn.Module, updater: Any, steps: range) -> None:
    for step in steps:
        updater.zero_grad()
        backward(net, step)
        updater.step()


def layer_params(net: nn.Sequential, index: int) -> list[nn.Parameter]:
    return list(net[index].parameters())


def snapshot(net: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in net.named_parameters()}


def test_sgd_matches_plain_arithmetic_with_multiplier_and_schedule() -> None:
    """SGD: w <- w - lr * multiplier * f(global step) * g, for the active layer only."""

    def f(step: int, total: int) -> float:
        return 1.0 / (1.0 + step)

    lr = 0.1
    net, ref = make_net(), make_net()
    updater = build_updater(
        net,
        parse_method(("sgd", {"momentum": 0.0, "learning_rate_schedule": f}), lr),
        multipliers={"2.weight": 0.5},
        update_schedule=SCHEDULE,
        total_steps=6,
    )
    frozen_before = snapshot(net)["4.weight"]
    run_updater(net, updater, range(6))

    for step, entry in enumerate(ORDER):
        ref.zero_grad()
        backward(ref, step)
        with torch.no_grad():
            layer = ref[0] if entry == 0 else ref[2]
            for name, p in layer.named_parameters():
                multiplier = 0.5 if (entry == 1 and name == "weight") else 1.0
                p -= lr * multiplier * f(step, 6) * p.grad
    for (name, p), q in zip(net.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TIGHT, msg=name)
    assert torch.equal(net[4].weight, frozen_before)
    assert updater.step_count == 6


def test_adam_matches_separate_torch_optimizers() -> None:
    """Adam: one torch.optim.Adam per group, stepped in the schedule's order; moments persist."""
    net, ref = make_net(), make_net()
    untouched = snapshot(net)
    updater = build_updater(net, parse_method("adam", 0.01), update_schedule=SCHEDULE)
    run_updater(net, updater, range(6))

    optimizers = [
        torch.optim.Adam(layer_params(ref, i), lr=0.01, eps=1e-5, foreach=True) for i in (0, 2)
    ]
    for step, entry in enumerate(ORDER):
        for opt in optimizers:
            opt.zero_grad()
        backward(ref, step)
        optimizers[entry].step()
    for (name, p), q in zip(net.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TIGHT, msg=name)
    # Layer 4 is never named: bit-identical, and reported as frozen with multiplier 0.
    for name in ("4.weight", "4.bias"):
        assert torch.equal(dict(net.named_parameters())[name], untouched[name])
    assert updater.frozen == ["4.weight", "4.bias"]
    assert updater.multipliers["4.weight"] == 0.0 and updater.multipliers["0.weight"] == 1.0
    # Control: zeroing the inactive group's gradient instead of skipping its optimizer (its
    # moments and step count would still advance) gives a different trajectory, so the
    # comparison above can tell the two apart.
    control = make_net()
    shared = torch.optim.Adam(
        layer_params(control, 0) + layer_params(control, 2), lr=0.01, eps=1e-5
    )
    for step, entry in enumerate(ORDER):
        shared.zero_grad()
        backward(control, step)
        for p in layer_params(control, 2 - 2 * entry):
            p.grad.zero_()
        shared.step()
    assert not torch.allclose(control[0].weight, net[0].weight, **TIGHT)


def test_state_dict_round_trip_mid_cycle_continues_bitwise() -> None:
    net = make_net()
    updater = build_updater(net, parse_method("adam", 0.01), update_schedule=SCHEDULE)
    run_updater(net, updater, range(4))  # position 1: inside layer 2's two-step hold
    state = copy.deepcopy(updater.state_dict())
    weights = copy.deepcopy(net.state_dict())
    assert state["update_schedule"] == {"groups": 2, "cycle_length": 3, "position": 1}
    assert isinstance(state["optimizer"], list) and len(state["optimizer"]) == 2
    run_updater(net, updater, range(4, 9))

    resumed = make_net(seed=7)
    resumed.load_state_dict(weights)
    again = build_updater(resumed, parse_method("adam", 0.01), update_schedule=SCHEDULE)
    again.load_state_dict(state)
    assert isinstance(again, ScheduledUpdater)
    assert again.step_count == 4 and again.active_group == 1
    run_updater(resumed, again, range(4, 9))
    for (name, p), q in zip(net.named_parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_state_from_another_schedule_is_refused() -> None:
    net = make_net()
    updater = build_updater(net, "adam", update_schedule=SCHEDULE)
    with pytest.raises(NetTrainError, match="differs"):
        build_updater(net, "adam", update_schedule=["0.*", "2.*"]).load_state_dict(
            updater.state_dict()
        )
    with pytest.raises(NetTrainError, match="training_update_schedule"):
        updater.load_state_dict(build_updater(net, "adam").state_dict())
    with pytest.raises(NetTrainError, match="does not fit"):
        build_updater(net, "adam").load_state_dict(updater.state_dict())


def test_describe_records_the_schedule() -> None:
    net = make_net()
    updater = build_updater(net, "adam", update_schedule=[0, ("2.*", 2)])
    out = updater.describe()
    assert out["update_schedule"] == [
        {"group": "0", "steps": 1, "parameters": ["0.weight", "0.bias"]},
        {"group": "2.*", "steps": 2, "parameters": ["2.weight", "2.bias"]},
    ]
    assert out["frozen"] == ["4.weight", "4.bias"]
    assert out["method"] == "adam"
    assert "groups=2" in repr(updater)
    assert len(updater.optimizers) == 2 and updater.optimizer is updater.optimizers[0]


def test_repeated_group_shares_its_optimizer_state() -> None:
    """["0.*", "2.*", "0.*", ("4.*", 1)]: entries 0 and 2 are one group with one Adam."""
    net, ref = make_net(), make_net()
    updater = build_updater(
        net, parse_method("adam", 0.01), update_schedule=["0.*", "2.*", (0,), ("4.*", 1)]
    )
    assert isinstance(updater, ScheduledUpdater)
    assert [g.slot for g in updater.groups] == [0, 1, 0, 2]
    run_updater(net, updater, range(8))
    optimizers = [
        torch.optim.Adam(layer_params(ref, i), lr=0.01, eps=1e-5, foreach=True) for i in (0, 2, 4)
    ]
    for step, slot in enumerate([0, 1, 0, 2] * 2):
        for opt in optimizers:
            opt.zero_grad()
        backward(ref, step)
        optimizers[slot].step()
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TIGHT)


def test_no_schedule_builds_a_plain_updater() -> None:
    updater = build_updater(make_net(), "adam")
    assert type(updater).step is not ScheduledUpdater.step
    assert "update_schedule" not in updater.describe()


@pytest.mark.parametrize(
    ("schedule", "fragments"),
    [
        ("0.*", ["training_update_schedule", "must be a list", "received"]),
        (("0.*", "2.*"), ["training_update_schedule", "must be a list"]),
        ({"0.*": 1}, ["training_update_schedule", "must be a list", "expected"]),
        ([], ["training_update_schedule", "empty", "received []"]),
        ([("0.*", 0)], ["training_update_schedule", "held for 0 steps", "k >= 1"]),
        ([("0.*", -2)], ["training_update_schedule", "held for -2 steps", "('0.*', -2)"]),
        ([("0.*", True)], ["training_update_schedule", "held for True steps"]),
        (["0.*", "decoder.*"], ["training_update_schedule", "'decoder.*' matches no parameter"]),
        ([0, 7], ["training_update_schedule", "index 7 is out of range"]),
        ([0, 2.5], ["training_update_schedule", "cannot read this part", "received"]),
        (
            ["0.*", ("0.weight", "2.*")],
            ["training_update_schedule", "'0.weight'", "group 0", "group 1", "one group only"],
        ),
    ],
)
def test_bad_specs(schedule: object, fragments: list[str]) -> None:
    with pytest.raises(NetTrainError) as info:
        build_updater(make_net(), "adam", update_schedule=schedule)
    message = str(info.value)
    assert info.value.argument == "training_update_schedule"
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_lbfgs_is_refused() -> None:
    with pytest.raises(NetTrainError) as info:
        build_updater(make_net(), "lbfgs", update_schedule=["0.*"])
    assert info.value.argument == "training_update_schedule"
    assert "lbfgs does not support an update schedule" in str(info.value)


def test_group_of_only_frozen_parameters_is_refused() -> None:
    with pytest.raises(NetTrainError) as info:
        build_updater(make_net(), "adam", multipliers={"2.*": 0}, update_schedule=["0.*", "2.*"])
    assert info.value.argument == "training_update_schedule"
    assert "group 1 ('2.*') names only frozen parameters" in str(info.value)


def test_through_train_never_named_parameters_stay_identical() -> None:
    net = make_net().float()
    before = snapshot(net)
    x, y = batch(0)
    result = nettrain.train(
        net,
        (x.float(), y.float()),
        "all",
        training_update_schedule=["0.*", ("2.*", 2)],
        max_training_rounds=3,
        batch_size=4,
        training_progress_reporting=None,
    )
    after = snapshot(net)
    assert torch.equal(after["4.weight"], before["4.weight"])
    assert torch.equal(after["4.bias"], before["4.bias"])
    assert not torch.equal(after["0.weight"], before["0.weight"])
    assert not torch.equal(after["2.weight"], before["2.weight"])
    method = result["optimization_method"]
    assert [g["group"] for g in method["update_schedule"]] == ["0.*", "2.*"]
