"""Optimizers: every method against torch.optim (or a hand reference), step by step.

The nets run in float64 so that a wrong hyperparameter (an epsilon of 1e-8 instead of 1e-5, a
beta off by 0.01) changes the trajectory far beyond the comparison tolerance; a control test
checks that this is so.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from nettrain.errors import NetTrainError
from nettrain.optim import MethodSpec, ScheduledUpdater, Updater, build_updater, parse_method
from nettrain.optim.methods import DEFAULT_LEARNING_RATES, METHOD_DEFAULTS

TIGHT: dict[str, Any] = {"rtol": 1e-10, "atol": 1e-12}

Factory = Callable[[list[Any]], torch.optim.Optimizer]


def make_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    return (
        torch.randn(16, 4, generator=g, dtype=torch.float64),
        3 * torch.randn(16, 3, generator=g, dtype=torch.float64),
    )


def loss_of(net: nn.Module, step: int) -> torch.Tensor:
    x, y = batch(step)
    return nn.functional.mse_loss(net(x), y)


def snapshot(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def updater_trajectory(
    net: nn.Module, updater: Updater, steps: int = 3
) -> list[list[torch.Tensor]]:
    out = []
    for k in range(steps):
        updater.zero_grad()
        loss_of(net, k).backward()
        updater.step()
        out.append(snapshot(net))
    return out


def torch_trajectory(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: int = 3,
    before_step: Callable[[int], None] | None = None,
) -> list[list[torch.Tensor]]:
    out = []
    for k in range(steps):
        optimizer.zero_grad()
        loss_of(net, k).backward()
        if before_step is not None:
            before_step(k)
        optimizer.step()
        out.append(snapshot(net))
    return out


def assert_same_trajectory(got: list[list[torch.Tensor]], want: list[list[torch.Tensor]]) -> None:
    assert len(got) == len(want)
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            torch.testing.assert_close(x, y, **TIGHT, msg=f"step {step}, parameter {i}")


# --- every method against torch.optim -----------------------------------------------------

CASES: list[tuple[str, object, object, Factory]] = [
    (
        "adam default",
        "adam",
        "auto",
        lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-5),
    ),
    (
        "adam custom",
        ("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-3}),
        0.01,
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-3),
    ),
    (
        "adamw default",
        "adamw",
        "auto",
        lambda p: torch.optim.AdamW(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-5, weight_decay=0.01),
    ),
    (
        "adamw custom",
        ("AdamW", {"beta1": 0.7, "weight_decay": 0.5, "learning_rate": 0.05}),
        "auto",
        lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.7, 0.999), eps=1e-5, weight_decay=0.5),
    ),
    (
        "rmsprop default",
        "rmsprop",
        "auto",
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.95, eps=1e-6, momentum=0.9),
    ),
    (
        "rmsprop custom",
        ("RMSProp", {"beta": 0.8, "epsilon": 1e-2, "momentum": 0.0}),
        0.02,
        lambda p: torch.optim.RMSprop(p, lr=0.02, alpha=0.8, eps=1e-2, momentum=0.0),
    ),
    ("sgd default", "sgd", "auto", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.93)),
    (
        "sgd custom",
        ("SGD", {"momentum": 0.5}),
        0.2,
        lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.5),
    ),
]


@pytest.mark.parametrize("fused", [None, True], ids=["foreach", "fused"])
@pytest.mark.parametrize(("case", "method", "rate", "reference"), CASES, ids=[c[0] for c in CASES])
def test_method_matches_torch_optim(
    case: str, method: object, rate: object, reference: Factory, fused: bool | None
) -> None:
    net, ref = make_net(), make_net()
    updater = build_updater(net, parse_method(method, rate), fused=fused)
    supports_fused = updater.spec.name in ("adam", "adamw", "sgd")
    assert updater.implementation == ("fused" if fused and supports_fused else "foreach")
    got = updater_trajectory(net, updater)
    want = torch_trajectory(ref, reference(list(ref.parameters())))
    assert_same_trajectory(got, want)
    assert updater.step_count == 3


def test_comparison_detects_a_wrong_epsilon() -> None:
    # Control: NetTrain's Adam epsilon (1e-5) vs torch's default (1e-8) must not compare equal,
    # otherwise the tests above could not tell the defaults apart.
    net, ref = make_net(), make_net()
    got = updater_trajectory(net, build_updater(net, parse_method("adam")))
    want = torch_trajectory(ref, torch.optim.Adam(ref.parameters(), lr=1e-3))
    with pytest.raises(AssertionError):
        assert_same_trajectory(got, want)


# --- signsgd against plain tensor arithmetic ----------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.93])
@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_signsgd_matches_hand_reference(momentum: float, weight_decay: float) -> None:
    lr = 0.01
    net, ref = make_net(), make_net()
    method = ("signsgd", {"momentum": momentum, "l2_regularization": weight_decay})
    got = updater_trajectory(net, build_updater(net, parse_method(method, lr)))

    weights = [p.detach().clone().requires_grad_(True) for p in ref.parameters()]
    buffers = [torch.zeros_like(w) for w in weights]
    want = []
    for k in range(3):
        x, y = batch(k)
        hidden = torch.tanh(x @ weights[0].T + weights[1])
        loss = ((hidden @ weights[2].T + weights[3] - y) ** 2).mean()
        grads = torch.autograd.grad(loss, weights)
        with torch.no_grad():
            for w, g, m in zip(weights, grads, buffers, strict=True):
                g = g + weight_decay * w
                m.copy_(momentum * m + (1 - momentum) * g)
                w -= lr * torch.sign(m)
        want.append([w.detach().clone() for w in weights])
    assert_same_trajectory(got, want)
    if weight_decay == 0:
        # A sign method: every element moved by exactly lr in each step (no gradient is 0 here).
        w0 = snapshot(make_net())
        for before, after in zip(w0, got[0], strict=True):
            torch.testing.assert_close((after - before).abs(), torch.full_like(before, lr), **TIGHT)


# --- lbfgs against torch.optim.LBFGS ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "rate", "settings"),
    [
        (
            "lbfgs",
            "auto",
            {
                "lr": 1.0,
                "max_iter": 1,
                "max_eval": 26,
                "history_size": 10,
                "line_search_fn": "strong_wolfe",
            },
        ),
        (
            ("lbfgs", {"history_size": 3, "line_search": None, "max_iterations": 4}),
            0.5,
            {"lr": 0.5, "max_iter": 4, "max_eval": 104, "history_size": 3, "line_search_fn": None},
        ),
    ],
)
def test_lbfgs_matches_torch(method: object, rate: object, settings: dict[str, Any]) -> None:
    net, ref = make_net(), make_net()
    updater = build_updater(net, parse_method(method, rate))
    assert updater.needs_closure
    optimizer = torch.optim.LBFGS(ref.parameters(), **settings)
    for k in range(3):

        def closure(n: nn.Module = net, step: int = k) -> torch.Tensor:
            updater.zero_grad()
            loss = loss_of(n, step)
            loss.backward()
            return loss

        def ref_closure(n: nn.Module = ref, step: int = k) -> torch.Tensor:
            optimizer.zero_grad()
            loss = loss_of(n, step)
            loss.backward()
            return loss

        got_loss = updater.step(closure)
        want_loss = optimizer.step(ref_closure)
        assert got_loss is not None
        torch.testing.assert_close(got_loss, want_loss, **TIGHT)
        assert_same_trajectory([snapshot(net)], [snapshot(ref)])
    with pytest.raises(TypeError, match="closure"):
        updater.step()


def test_lbfgs_l2_adds_penalty_to_loss_and_gradient() -> None:
    net, ref = make_net(), make_net()
    updater = build_updater(net, parse_method(("lbfgs", {"l2_regularization": 0.1})))
    optimizer = torch.optim.LBFGS(
        ref.parameters(), lr=1.0, max_iter=1, max_eval=26, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        updater.zero_grad()
        loss = loss_of(net, 0)
        loss.backward()
        return loss

    def ref_closure() -> torch.Tensor:
        optimizer.zero_grad()
        penalty = sum((p**2).sum() for p in ref.parameters())
        loss = loss_of(ref, 0) + 0.05 * penalty
        loss.backward()
        return loss

    for _ in range(2):
        torch.testing.assert_close(updater.step(closure), optimizer.step(ref_closure), **TIGHT)
    assert_same_trajectory([snapshot(net)], [snapshot(ref)])


# --- sub-options -----------------------------------------------------------------------------


def _grads(net: nn.Module, step: int) -> list[torch.Tensor]:
    net.zero_grad()
    loss_of(net, step).backward()
    return [p.grad.detach().clone() for p in net.parameters()]  # type: ignore[union-attr]


def test_gradient_clipping_is_elementwise_and_before_weight_decay() -> None:
    bound, lr, decay = 0.05, 0.1, 0.2
    net, ref = make_net(), make_net()
    method = ("sgd", {"momentum": 0, "gradient_clipping": bound, "l2_regularization": decay})
    updater = build_updater(net, parse_method(method, lr))
    for k in range(3):
        grads = _grads(ref, k)
        if k == 0:
            flat = torch.cat([g.flatten() for g in grads]).abs()
            assert (flat > bound).any() and (flat < bound).any()  # some clipped, some not
        with torch.no_grad():
            for p, g in zip(ref.parameters(), grads, strict=True):
                p.sub_(lr * (g.clamp(-bound, bound) + decay * p))
        updater.zero_grad()
        loss_of(net, k).backward()
        updater.step()
        assert_same_trajectory([snapshot(net)], [snapshot(ref)])


def test_gradient_clipping_per_part() -> None:
    bound, lr = 0.05, 0.1
    net, ref = make_net(), make_net()
    method = ("sgd", {"momentum": 0, "gradient_clipping": {"0": bound}})
    updater = build_updater(net, parse_method(method, lr))
    grads = _grads(ref, 0)
    assert (grads[2].abs() > bound).any()  # the unclipped layer has large elements
    with torch.no_grad():
        for i, (p, g) in enumerate(zip(ref.parameters(), grads, strict=True)):
            p.sub_(lr * (g.clamp(-bound, bound) if i < 2 else g))
    updater_trajectory(net, updater, 1)
    assert_same_trajectory([snapshot(net)], [snapshot(ref)])


def test_l2_global_equals_torch_weight_decay() -> None:
    net, ref = make_net(), make_net()
    updater = build_updater(net, parse_method(("adam", {"l2_regularization": 0.3}), 0.01))
    optimizer = torch.optim.Adam(ref.parameters(), lr=0.01, eps=1e-5, weight_decay=0.3)
    assert_same_trajectory(updater_trajectory(net, updater), torch_trajectory(ref, optimizer))


def test_l2_per_part_equals_torch_param_groups() -> None:
    net, ref = make_net(), make_net()
    method = ("rmsprop", {"l2_regularization": {"*.bias": 0.0, "2": 0.5}})
    updater = build_updater(net, parse_method(method, 0.01), fused=True)
    optimizer = torch.optim.RMSprop(
        [
            {"params": [ref[0].weight], "weight_decay": 0.0},
            {"params": [ref[0].bias, ref[2].bias], "weight_decay": 0.0},
            {"params": [ref[2].weight], "weight_decay": 0.5},
        ],
        lr=0.01,
        alpha=0.95,
        eps=1e-6,
        momentum=0.9,
    )
    assert_same_trajectory(updater_trajectory(net, updater), torch_trajectory(ref, optimizer))


def test_l2_sets_decoupled_weight_decay_for_adamw() -> None:
    net, ref = make_net(), make_net()
    updater = build_updater(net, parse_method(("adamw", {"l2_regularization": 0.2}), 0.01))
    optimizer = torch.optim.AdamW(ref.parameters(), lr=0.01, eps=1e-5, weight_decay=0.2)
    assert_same_trajectory(updater_trajectory(net, updater), torch_trajectory(ref, optimizer))


def test_adamw_l2_part_spec_defaults_to_weight_decay() -> None:
    net, ref = make_net(), make_net()
    method = ("adamw", {"weight_decay": 0.05, "l2_regularization": {"*.bias": 0}})
    updater = build_updater(net, parse_method(method, 0.01))
    assert sorted(g["weight_decay"] for g in updater.optimizer.param_groups) == [0.0, 0.05]
    w0, b0, w2, b2 = ref.parameters()
    groups: list[dict[str, Any]] = [
        {"params": [w0, w2], "weight_decay": 0.05},
        {"params": [b0, b2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=0.01, eps=1e-5)
    assert_same_trajectory(updater_trajectory(net, updater), torch_trajectory(ref, optimizer))


def test_weight_clipping_matches_hand_reference() -> None:
    bound, lr = 0.3, 0.5
    net, ref = make_net(), make_net()
    method = ("sgd", {"momentum": 0, "weight_clipping": bound})
    updater = build_updater(net, parse_method(method, lr))
    for k in range(3):
        grads = _grads(ref, k)
        with torch.no_grad():
            for p, g in zip(ref.parameters(), grads, strict=True):
                p.copy_((p - lr * g).clamp(-bound, bound))
        updater_trajectory_step(net, updater, k)
        assert_same_trajectory([snapshot(net)], [snapshot(ref)])
    flat = torch.cat([p.detach().flatten() for p in net.parameters()])
    assert flat.abs().max() <= bound
    assert (flat.abs() == bound).sum() > 0  # the bound was actually hit


def updater_trajectory_step(net: nn.Module, updater: Updater, step: int) -> None:
    updater.zero_grad()
    loss_of(net, step).backward()
    updater.step()


def test_multiplier_zero_freezes_bit_identical() -> None:
    net = make_net()
    before = snapshot(net)
    updater = build_updater(net, parse_method("adam", 0.1), multipliers={"0": 0})
    assert updater.frozen == ["0.weight", "0.bias"]
    assert updater.multipliers == {"0.weight": 0, "0.bias": 0, "2.weight": 1, "2.bias": 1}
    in_optimizer = {id(p) for g in updater.optimizer.param_groups for p in g["params"]}
    assert id(net[0].weight) not in in_optimizer and id(net[0].bias) not in in_optimizer
    assert [id(p) for p in updater.parameters] == [id(net[2].weight), id(net[2].bias)]
    updater_trajectory(net, updater)  # the frozen layer even gets gradients: still untouched
    after = snapshot(net)
    assert torch.equal(after[0], before[0]) and torch.equal(after[1], before[1])
    assert not torch.equal(after[2], before[2])


def test_requires_grad_false_counts_as_frozen() -> None:
    net = make_net()
    net[2].bias.requires_grad_(False)
    updater = build_updater(net, parse_method("sgd"))
    assert updater.frozen == ["2.bias"]
    assert updater.multipliers["2.bias"] == 0.0


def test_multiplier_half_equals_torch_group_with_half_rate() -> None:
    net, ref = make_net(), make_net()
    updater = build_updater(net, parse_method("adam", 0.01), multipliers=[("*.bias", 0.5)])
    w0, b0, w2, b2 = ref.parameters()
    groups: list[dict[str, Any]] = [{"params": [w0, w2]}, {"params": [b0, b2], "lr": 0.005}]
    optimizer = torch.optim.Adam(
        groups,
        lr=0.01,
        eps=1e-5,
    )
    assert_same_trajectory(updater_trajectory(net, updater), torch_trajectory(ref, optimizer))
    assert sorted(g["lr"] for g in updater.optimizer.param_groups) == [0.005, 0.01]


def test_negative_multiplier_reverses_the_update() -> None:
    w0 = snapshot(make_net())
    pos_net, neg_net = make_net(), make_net()
    sgd = parse_method(("sgd", {"momentum": 0}), 0.1)
    updater_trajectory(pos_net, build_updater(pos_net, sgd, multipliers=2.0), 1)
    neg = build_updater(neg_net, sgd, multipliers=-2.0)
    assert neg.multipliers["0.weight"] == -2.0
    assert neg.optimizer.param_groups[0]["lr"] == pytest.approx(0.2)
    updater_trajectory(neg_net, neg, 1)
    for a, p, n in zip(w0, snapshot(pos_net), snapshot(neg_net), strict=True):
        torch.testing.assert_close(n, a - (p - a), **TIGHT)
        assert not torch.equal(n, a)


def test_negative_multiplier_only_on_its_part_with_adam() -> None:
    w0 = snapshot(make_net())
    pos_net, neg_net = make_net(), make_net()
    adam = parse_method("adam", 0.01)
    updater_trajectory(pos_net, build_updater(pos_net, adam), 1)
    updater_trajectory(neg_net, build_updater(neg_net, adam, multipliers={"2": -1}), 1)
    for i, (a, p, n) in enumerate(zip(w0, snapshot(pos_net), snapshot(neg_net), strict=True)):
        if i < 2:
            torch.testing.assert_close(n, p, **TIGHT)  # layer 0 unaffected
        else:  # Adam's first step is lr * sign(g) (up to epsilon): exactly mirrored
            torch.testing.assert_close(n - a, -(p - a), **TIGHT)


@pytest.mark.parametrize("name", ["cosine", "linear", "one_cycle"])
def test_schedule_sets_learning_rate_and_matches_hand_set_torch(name: str) -> None:
    total, base = 10, 0.05
    net, ref = make_net(), make_net()
    method = ("sgd", {"learning_rate_schedule": name})
    updater = build_updater(
        net, parse_method(method, base), multipliers={"*.bias": 0.5}, total_steps=total
    )
    f = updater._schedule
    assert f is not None
    assert updater.learning_rate == base * f(0, total) == updater.initial_learning_rate * f(0, 10)
    got = updater_trajectory(net, updater, 4)
    assert updater.learning_rate == pytest.approx(base * f(4, total), rel=1e-15)
    w0, b0, w2, b2 = ref.parameters()
    groups: list[dict[str, Any]] = [{"params": [w0, w2]}, {"params": [b0, b2], "lr": base / 2}]
    optimizer = torch.optim.SGD(
        groups,
        lr=base,
        momentum=0.93,
    )

    def set_rate(k: int) -> None:
        optimizer.param_groups[0]["lr"] = base * f(k, total)
        optimizer.param_groups[1]["lr"] = base * 0.5 * f(k, total)

    want = torch_trajectory(ref, optimizer, 4, before_step=set_rate)
    assert_same_trajectory(got, want)


def test_user_schedule_function() -> None:
    calls: list[tuple[int, int]] = []

    def step_decay(batch: int, total: int) -> float:
        calls.append((batch, total))
        return 0.1 if batch >= 2 else 1.0

    net = make_net()
    spec = parse_method(("adam", {"learning_rate_schedule": step_decay}), 0.01)
    updater = build_updater(net, spec, total_steps=6)
    updater_trajectory(net, updater, 3)
    assert (0, 6) in calls and (1, 6) in calls and (2, 6) in calls
    assert updater.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
    assert updater.describe()["learning_rate_schedule"] == "step_decay"


# --- last_learning_rate: the rate the most recent update used -------------------------------


def record_rates(optimizer: torch.optim.Optimizer) -> list[list[float]]:
    """The param groups' rates as torch's optimizer sees them during each of its steps."""
    seen: list[list[float]] = []

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        seen.append([float(group["lr"]) for group in opt.param_groups])

    optimizer.register_step_pre_hook(hook)
    return seen


def linear_decay(batch: int, total: int) -> float:
    # Clamped as the named schedules are: a step past the plan keeps the final value (0).
    return 1 - min(batch, total) / total


@pytest.mark.parametrize("name", ["sgd", "adam"])
@pytest.mark.parametrize("schedule", [linear_decay, "cosine", "one_cycle", None])
def test_last_learning_rate_is_the_rate_the_last_step_used(name: str, schedule: object) -> None:
    total, base = 5, 0.1
    method: object = name if schedule is None else (name, {"learning_rate_schedule": schedule})
    net = make_net()
    updater = build_updater(
        net, parse_method(method, base), multipliers={"*.bias": 0.5}, total_steps=total
    )
    seen = record_rates(updater.optimizer)
    assert updater.last_learning_rate == base  # no update yet: the initial rate
    for k in range(total + 2):  # two steps past the plan too
        updater_trajectory_step(net, updater, k)
        weights_rate, bias_rate = seen[k]
        assert updater.last_learning_rate == weights_rate  # multiplier 1: exactly the group's
        assert bias_rate == pytest.approx(0.5 * updater.last_learning_rate, rel=1e-15)
    assert len(seen) == total + 2


def test_last_learning_rate_after_the_plan_is_not_the_next_rate() -> None:
    """The example of the bug report: the updates used 0.1 and 0.05; the next would use 0."""
    net = make_net()
    method = ("sgd", {"learning_rate_schedule": linear_decay})
    updater = build_updater(net, parse_method(method, 0.1), total_steps=2)
    seen = record_rates(updater.optimizer)
    for k in range(2):
        updater_trajectory_step(net, updater, k)
    assert [rates[0] for rates in seen] == [0.1, 0.05]
    assert updater.last_learning_rate == 0.05
    assert updater.learning_rate == 0.0


def test_last_learning_rate_survives_a_state_round_trip() -> None:
    spec = parse_method(("adam", {"learning_rate_schedule": "linear"}), 0.01)
    first = make_net()
    updater = build_updater(first, spec, total_steps=4)
    for k in range(3):
        updater_trajectory_step(first, updater, k)
    resumed = build_updater(copy.deepcopy(first), spec, total_steps=4)
    assert resumed.last_learning_rate == 0.01
    resumed.load_state_dict(copy.deepcopy(updater.state_dict()))
    assert resumed.last_learning_rate == updater.last_learning_rate == 0.01 * (1 - 2 / 4)


@pytest.mark.parametrize("schedule", [linear_decay, "cosine"])
def test_scheduled_updater_last_learning_rate_is_the_active_groups_rate(schedule: object) -> None:
    total, base = 6, 0.05
    net = make_net()
    method = ("adam", {"learning_rate_schedule": schedule})
    updater = build_updater(
        net, parse_method(method, base), total_steps=total, update_schedule=[0, (2, 2)]
    )
    assert isinstance(updater, ScheduledUpdater)
    seen = [record_rates(member.optimizer) for member in updater.members]
    used: list[float] = []
    for k in range(total):
        slot = updater.groups[updater.active_group].slot
        before = len(seen[slot])
        updater_trajectory_step(net, updater, k)
        assert len(seen[slot]) == before + 1  # only the active group's optimizer stepped
        used.append(seen[slot][-1][0])
        assert updater.last_learning_rate == used[-1]
    f = updater._schedule
    assert f is not None
    assert used == [base * f(k, total) for k in range(total)]


def test_no_schedule_never_touches_the_rate() -> None:
    net = make_net()
    updater = build_updater(net, parse_method("sgd", 0.1))
    updater.optimizer.param_groups[0]["lr"] = 0.123  # e.g. set by the user: left alone
    updater_trajectory(net, updater, 2)
    assert updater.optimizer.param_groups[0]["lr"] == 0.123
    assert updater.learning_rate == 0.1


# --- state_dict: resuming equals never stopping ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "fused"),
    [
        ("adam", None),
        ("adamw", True),
        ("rmsprop", None),
        ("sgd", True),
        ("signsgd", None),
        (("adam", {"learning_rate_schedule": "cosine", "gradient_clipping": 0.1}), None),
    ],
)
def test_state_dict_round_trip_is_bitwise(method: object, fused: bool | None) -> None:
    spec = parse_method(method)
    multipliers = {"0.bias": -1, "2": 0.5}
    straight = make_net()
    updater_trajectory(
        straight,
        build_updater(straight, spec, multipliers=multipliers, total_steps=4, fused=fused),
        4,
    )

    first = make_net()
    updater = build_updater(first, spec, multipliers=multipliers, total_steps=4, fused=fused)
    for k in range(2):
        updater_trajectory_step(first, updater, k)
    saved = copy.deepcopy(updater.state_dict())
    assert saved["step_count"] == 2

    resumed_net = copy.deepcopy(first)
    resumed = build_updater(resumed_net, spec, multipliers=multipliers, total_steps=4, fused=fused)
    resumed.load_state_dict(saved)
    assert resumed.step_count == 2
    for k in range(2, 4):
        updater_trajectory_step(resumed_net, resumed, k)
    for a, b in zip(resumed_net.parameters(), straight.parameters(), strict=True):
        assert torch.equal(a, b)


def test_load_state_dict_rejects_foreign_state() -> None:
    updater = build_updater(make_net(), parse_method("adam"))
    with pytest.raises(NetTrainError, match="not an updater state"):
        updater.load_state_dict({"step": 3})
    other = build_updater(make_net(), parse_method("adam"), multipliers={"*.bias": 0.5})
    with pytest.raises(NetTrainError, match="does not fit"):
        updater.load_state_dict(other.state_dict())


# --- build errors and description ------------------------------------------------------------


def test_describe_is_json_able() -> None:
    spec = parse_method(
        ("sgd", {"l2_regularization": {range(0, 1): 0.1}, "learning_rate_schedule": "warmup"})
    )
    updater = build_updater(make_net(), spec, multipliers={"2.bias": 0}, total_steps=100)
    described = json.loads(json.dumps(updater.describe()))
    assert described["method"] == "sgd"
    assert described["learning_rate"] == 0.01
    assert described["momentum"] == 0.93
    assert described["l2_regularization"] == {"range(0, 1)": 0.1}
    assert described["learning_rate_schedule"] == {"name": "warmup", "fraction": 0.05}
    assert described["frozen"] == ["2.bias"]
    assert described["learning_rate_multipliers"] == {"2.bias": 0.0}
    assert described["implementation"] == "foreach"
    assert "sgd" in repr(updater)


@pytest.mark.parametrize(
    ("method", "kwargs", "fragments"),
    [
        (("sgd", {"learning_rate_schedule": "cosine"}), {}, ["total_steps", "planned number"]),
        ("sgd", {"total_steps": 0}, ["total_steps", "an int >= 1"]),
        ("adam", {"multipliers": 0}, ["every parameter is frozen"]),
        ("adam", {"multipliers": {"decoder": 2}}, ["learning_rate_multipliers", "'decoder'"]),
        ("lbfgs", {"multipliers": {"0": 0.5}}, ["lbfgs", "one common positive value"]),
        ("lbfgs", {"multipliers": -1}, ["learning_rate_multipliers", "-1"]),
        (("sgd", {"gradient_clipping": {"0": 0}}), {}, ["gradient_clipping", "> 0"]),
        (("sgd", {"weight_clipping": {9: 1}}), {}, ["weight_clipping", "out of range"]),
        (("sgd", {"weight_clipping": {"9": 1}}), {}, ["weight_clipping", "matches no parameter"]),
    ],
)
def test_build_errors(method: object, kwargs: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(NetTrainError) as info:
        build_updater(make_net(), parse_method(method), **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_net_without_parameters() -> None:
    with pytest.raises(NetTrainError, match="no parameters"):
        build_updater(nn.ReLU(), parse_method())


def test_build_updater_accepts_a_raw_method() -> None:
    updater = build_updater(make_net(), ("sgd", {"momentum": 0.5}))
    assert isinstance(updater.spec, MethodSpec) and updater.spec.hyper["momentum"] == 0.5


def test_lbfgs_uniform_multiplier_scales_the_step_length() -> None:
    updater = build_updater(make_net(), parse_method("lbfgs"), multipliers={"0": 0, "2": 0.5})
    assert updater.optimizer.param_groups[0]["lr"] == 0.5
    assert updater.frozen == ["0.weight", "0.bias"]


# --- parse_method ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rate", "hyper"),
    [
        ("adam", 1e-3, {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-5}),
        ("adamw", 1e-3, {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-5, "weight_decay": 0.01}),
        ("rmsprop", 1e-3, {"beta": 0.95, "epsilon": 1e-6, "momentum": 0.9}),
        ("sgd", 0.01, {"momentum": 0.93}),
        ("signsgd", 1e-3, {"momentum": 0.93}),
        ("lbfgs", 1.0, {"history_size": 10, "line_search": "strong_wolfe", "max_iterations": 1}),
    ],
)
def test_defaults_table(name: str, rate: float, hyper: dict[str, object]) -> None:
    spec = parse_method(name)
    assert spec.name == name
    assert spec.learning_rate == rate == DEFAULT_LEARNING_RATES[name]
    assert dict(spec.hyper) == hyper == dict(METHOD_DEFAULTS[name])
    assert spec.schedule is None and spec.l2_regularization is None
    assert spec.gradient_clipping is None and spec.weight_clipping is None
    with pytest.raises(TypeError):
        spec.hyper["x"] = 1  # type: ignore[index]


def test_auto_is_adam() -> None:
    assert parse_method() == parse_method("auto") == parse_method(None) == parse_method("adam")


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("ADAM", "adam"),
        ("RMSProp", "rmsprop"),
        ("SignSGD", "signsgd"),
        ("AdamW", "adamw"),
        ("SGD", "sgd"),
        ("L-BFGS", "lbfgs"),
    ],
)
def test_names_are_case_insensitive(given: str, name: str) -> None:
    assert parse_method(given).name == name


def test_sub_options_in_any_spelling() -> None:
    spec = parse_method(
        (
            "ADAM",
            {
                "Beta1": 0.8,
                "LearningRateSchedule": "cosine",
                "L2Regularization": 0.1,
                "GradientClipping": {"*.bias": 1.0},
                "WeightClipping": 2,
                "InitialLearningRate": 0.02,
            },
        )
    )
    assert spec.hyper["beta1"] == 0.8 and spec.hyper["beta2"] == 0.999
    assert spec.learning_rate == 0.02
    assert spec.schedule == "cosine"
    assert spec.l2_regularization == 0.1
    assert spec.gradient_clipping == {"*.bias": 1.0}
    assert spec.weight_clipping == 2.0
    assert parse_method(("sgd", {"learning_rate": 0.3})).learning_rate == 0.3
    assert parse_method(("lbfgs", {"line_search": None})).hyper["line_search"] is None
    assert parse_method(("sgd", {"gradient_clipping": None})).gradient_clipping is None


def test_method_spec_is_frozen() -> None:
    spec = parse_method()
    with pytest.raises(AttributeError):
        spec.learning_rate = 1.0  # type: ignore[misc]


BAD_INPUTS: list[tuple[object, object, str, list[str]]] = [
    ("adma", "auto", "method", ["unknown method 'adma'", "did you mean 'adam'"]),
    ("rmsporp", "auto", "method", ["did you mean 'rmsprop'"]),
    ("newton", "auto", "method", ["unknown method", "expected one of 'adam'"]),
    (("adam", {"beta_1": 0.9}), "auto", "method", ["unknown sub-option 'beta_1'", "'beta1'"]),
    (("sgd", {"momentun": 0.9}), "auto", "method", ["did you mean 'momentum'"]),
    (("sgd", {"beta1": 0.9}), "auto", "method", ["unknown sub-option 'beta1' of method 'sgd'"]),
    (("adam", {"beta1": 1.0}), "auto", "method['beta1']", ["in [0, 1)", "received 1.0"]),
    (("adam", {"beta2": -0.1}), "auto", "method['beta2']", ["in [0, 1)", "received -0.1"]),
    (("adam", {"epsilon": 0}), "auto", "method['epsilon']", ["> 0", "received 0"]),
    (("rmsprop", {"momentum": 1.2}), "auto", "method['momentum']", ["[0, 1)", "1.2"]),
    (("sgd", {"momentum": "high"}), "auto", "method['momentum']", ["a number", "str 'high'"]),
    (("lbfgs", {"history_size": 0}), "auto", "method['history_size']", ["integer >= 1"]),
    (("lbfgs", {"history_size": 2.5}), "auto", "method['history_size']", ["integer", "2.5"]),
    (("lbfgs", {"line_search": "armijo"}), "auto", "method['line_search']", ["'strong_wolfe'"]),
    ("adam", -0.1, "learning_rate", ["> 0", "received -0.1"]),
    ("adam", "fast", "learning_rate", ["a finite number > 0 or 'auto'", "str 'fast'"]),
    ("adam", math.nan, "learning_rate", ["received nan"]),
    (("sgd", {"learning_rate": 0.1}), 0.2, "learning_rate", ["given twice", "0.2", "0.1"]),
    (("sgd", {"learning_rate": -1}), "auto", "method['learning_rate']", ["> 0"]),
    (("adam", {"beta1": 0.8, "Beta1": 0.7}), "auto", "method", ["'beta1' is given twice"]),
    (
        ("adam", {"learning_rate_schedule": "cosin"}),
        "auto",
        "method['learning_rate_schedule']",
        ["did you mean 'cosine'"],
    ),
    (("adam", {"l2_regularization": -1}), "auto", "method['l2_regularization']", [">= 0"]),
    (("adam", {"gradient_clipping": 0}), "auto", "method['gradient_clipping']", ["> 0"]),
    (
        ("adam", {"weight_clipping": {"*": "big"}}),
        "auto",
        "method['weight_clipping']",
        ["must be numbers", "str 'big'"],
    ),
    (
        ("adam", {"weight_clipping": [1, 2, 3]}),
        "auto",
        "method['weight_clipping']",
        ["(part, value) pairs"],
    ),
    (("adam", 0.1), "auto", "method", ["cannot read", "(name, {sub-options})"]),
    (42, "auto", "method", ["cannot read", "int 42"]),
    (("adam", {3: 1}), "auto", "method", ["sub-option names must be strings"]),
]


@pytest.mark.parametrize(("method", "rate", "argument", "fragments"), BAD_INPUTS)
def test_bad_inputs_name_the_option(
    method: object, rate: object, argument: str, fragments: list[str]
) -> None:
    with pytest.raises(NetTrainError) as info:
        parse_method(method, rate)
    assert info.value.argument == argument
    message = str(info.value)
    assert message.startswith(argument + ":")
    for fragment in fragments:
        assert fragment in message, message


def test_out_of_range_messages_say_expected_and_received() -> None:
    with pytest.raises(NetTrainError) as info:
        parse_method(("rmsprop", {"beta": 1.5}))
    assert info.value.expected == "a number in [0, 1)"
    assert info.value.received == "1.5"


@pytest.mark.parametrize(
    ("method", "rate", "argument"),
    [
        ("sgd", -0.1, "learning_rate"),
        ("sgd", 0, "learning_rate"),
        (("sgd", {"learning_rate": -1}), "auto", "method['learning_rate']"),
    ],
)
def test_a_rate_of_zero_or_less_says_how_to_reverse_gradients(
    method: object, rate: object, argument: str
) -> None:
    with pytest.raises(NetTrainError) as info:
        parse_method(method, rate)
    assert info.value.argument == argument
    assert info.value.expected == "a finite number > 0 or 'auto'"
    assert info.value.hint == (
        "give a learning rate > 0 (or 'auto'); to reverse the gradient of some parameters, "
        "keep the rate positive and give those parameters a negative learning_rate_multipliers "
        'entry, e.g. learning_rate_multipliers={"critic": -1}'
    )


def test_a_non_finite_rate_has_no_hint_about_multipliers() -> None:
    with pytest.raises(NetTrainError) as info:
        parse_method("sgd", math.inf)
    assert info.value.hint is None
    assert str(info.value) == (
        "learning_rate: value out of range; expected a finite number > 0 or 'auto', received inf."
    )
