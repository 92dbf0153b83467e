"""Learning-rate schedules: values against hand-computed formulas, and error messages."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nettrain.errors import NetTrainError
from nettrain.optim import build_updater
from nettrain.schedules import (
    Cosine,
    Linear,
    OneCycle,
    Polynomial,
    UserSchedule,
    Warmup,
    resolve_schedule,
    schedule_name,
    warmup_steps,
)


def test_cosine_matches_formula() -> None:
    f = resolve_schedule("cosine")
    assert f is not None
    for t in (0, 1, 17, 50, 99, 100):
        assert f(t, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi * t / 100)), abs=1e-15)
    assert f(0, 100) == 1.0
    assert f(100, 100) == 0.0


def test_cosine_with_warmup_matches_formula() -> None:
    f = resolve_schedule(("cosine", {"warmup": 0.05}))
    assert f == Cosine(warmup=0.05)
    # W = 5 warm-up steps: (t + 1) / 5, then a cosine over the remaining 95.
    assert [f(t, 100) for t in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    for t in (5, 30, 77, 100):
        expected = 0.5 * (1 + math.cos(math.pi * (t - 5) / 95))
        assert f(t, 100) == pytest.approx(expected, abs=1e-15)


def test_linear_and_polynomial_match_formulas() -> None:
    lin = resolve_schedule("linear")
    poly = resolve_schedule("polynomial")
    cubic = resolve_schedule(("polynomial", {"power": 3}))
    assert lin is not None and poly is not None and cubic is not None
    for t in (0, 3, 10, 33, 40):
        assert lin(t, 40) == pytest.approx(1 - t / 40, abs=1e-15)
        assert poly(t, 40) == pytest.approx((1 - t / 40) ** 2, abs=1e-15)
        assert cubic(t, 40) == pytest.approx((1 - t / 40) ** 3, abs=1e-15)
    lin_warm = resolve_schedule(("linear", {"warmup": 0.1}))
    assert lin_warm is not None
    assert lin_warm(0, 40) == pytest.approx(1 / 4)
    assert lin_warm(4, 40) == 1.0
    assert lin_warm(22, 40) == pytest.approx(1 - 18 / 36)


def test_warmup_matches_formula() -> None:
    f = resolve_schedule("warmup")
    assert f is not None
    # 5% of 200 = 10 steps: 1/10, 2/10, ..., 10/10, then 1.
    assert [f(t, 200) for t in range(12)] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0]
    )
    g = resolve_schedule(("warmup", {"fraction": 0.1}))
    assert g is not None
    assert g(0, 200) == pytest.approx(1 / 20)
    assert g(19, 200) == 1.0
    assert g(150, 200) == 1.0


def test_one_cycle_matches_formula() -> None:
    f = resolve_schedule("one_cycle")
    assert f is not None
    total, w = 200, 60  # 30% warm-up
    for t in (0, 1, 30, 59):
        assert f(t, total) == pytest.approx(0.04 + 0.96 * t / w, abs=1e-15)
    for t in (60, 61, 130, 199, 200):
        expected = 0.5 * (1 + math.cos(math.pi * (t - w) / (total - w)))
        assert f(t, total) == pytest.approx(expected, abs=1e-15)
    g = resolve_schedule(("OneCycle", {"fraction": 0.5, "start": 0.1}))
    assert g == OneCycle(fraction=0.5, start=0.1)
    assert g(50, 200) == pytest.approx(0.1 + 0.9 * 50 / 100)


def test_names_are_case_and_separator_insensitive() -> None:
    assert resolve_schedule("Cosine") == Cosine()
    assert resolve_schedule("ONE-CYCLE") == OneCycle()
    assert resolve_schedule("OneCycle") == OneCycle()
    assert resolve_schedule(["polynomial", {"Power": 1.5}]) == Polynomial(power=1.5)
    assert resolve_schedule(None) is None
    # An already resolved schedule passes through unchanged.
    assert resolve_schedule(Warmup(fraction=0.2)) == Warmup(fraction=0.2)


def test_batches_past_the_plan_keep_the_final_value() -> None:
    f = Cosine()
    assert f(150, 100) == f(100, 100) == 0.0
    assert Linear()(-3, 10) == 1.0


def test_warmup_steps_rounding() -> None:
    assert warmup_steps(0.1, 30) == 3  # 0.1 * 30 is 3.0000000000000004 in floating point
    assert warmup_steps(0.05, 10) == 1  # never 0 when a warm-up is asked for
    assert warmup_steps(0.0, 10) == 0


def test_named_schedules_are_frozen_values() -> None:
    f = Polynomial(power=3.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.power = 2.0  # type: ignore[misc]
    assert f == Polynomial(power=3.0) and f != Polynomial()
    assert f.name == "polynomial"
    assert json.loads(json.dumps(f.describe())) == {"name": "polynomial", "power": 3.0, "warmup": 0}


@given(
    name=st.sampled_from(["cosine", "linear", "polynomial", "warmup", "one_cycle"]),
    total=st.integers(1, 10_000),
    fraction=st.floats(0.0, 1.0),
    data=st.data(),
)
def test_named_schedules_stay_in_unit_interval(
    name: str, total: int, fraction: float, data: st.DataObject
) -> None:
    key = {"warmup": "fraction", "one_cycle": "fraction"}.get(name, "warmup")
    f = resolve_schedule((name, {key: fraction}))
    assert f is not None
    batch = data.draw(st.integers(-5, total + 5))
    value = f(batch, total)
    assert isinstance(value, float)
    assert 0.0 <= value <= 1.0


def test_user_function_is_wrapped_and_checked() -> None:
    def halving(batch: int, total: int) -> float:
        return 0.5 ** (batch // 10)

    f = resolve_schedule(halving)
    assert isinstance(f, UserSchedule)
    assert f(25, 100) == 0.25
    assert schedule_name(halving) == "halving"
    # A 0-d tensor is a number too.
    g = resolve_schedule(lambda b, n: torch.tensor(0.5))
    assert g is not None and g(0, 10) == 0.5


@pytest.mark.parametrize(
    ("returned", "fragment"),
    [
        (float("nan"), "received nan"),
        (-0.5, "received -0.5"),
        (float("inf"), "received inf"),
        (1.5, "received 1.5"),
        (1.0000001, "received 1.0000001"),
        (np.float32(2.0), "received 2.0"),
        ("fast", "not a number"),
        (None, "not a number"),
        (torch.ones(3), "not one number"),
        (True, "not a number"),
        (np.bool_(False), "not a number"),
    ],
)
def test_user_function_bad_return_raises(returned: object, fragment: str) -> None:
    f = resolve_schedule(lambda b, n: returned, argument="method['learning_rate_schedule']")
    assert f is not None
    with pytest.raises(NetTrainError) as info:
        f(3, 10)
    message = str(info.value)
    assert message.startswith("method['learning_rate_schedule']")
    assert fragment in message
    assert "batch 3 of 10" in message
    assert info.value.expected == "a number from 0 to 1"


ARG = "method['learning_rate_schedule']"
FIX_RANGE = (
    " Fix: make the function return values from 0 to 1; the rate used is "
    "learning_rate * f(batch, total), so raise learning_rate for a larger rate."
)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (
            1.5,
            f"{ARG}: the schedule returned a multiplier outside [0, 1] at batch 3 of 10; "
            "expected a number from 0 to 1, received 1.5." + FIX_RANGE,
        ),
        (
            -0.25,
            f"{ARG}: the schedule returned a multiplier outside [0, 1] at batch 3 of 10; "
            "expected a number from 0 to 1, received -0.25." + FIX_RANGE,
        ),
        (
            float("inf"),
            f"{ARG}: the schedule returned a multiplier outside [0, 1] at batch 3 of 10; "
            "expected a number from 0 to 1, received inf." + FIX_RANGE,
        ),
        (
            float("nan"),
            f"{ARG}: the schedule returned NaN at batch 3 of 10; expected a number from 0 to 1, "
            "received nan. Fix: check the function for a division by zero or a NaN input.",
        ),
        (
            "fast",
            f"{ARG}: the schedule returned something that is not a number at batch 3 of 10; "
            "expected a number from 0 to 1, received str 'fast'.",
        ),
        (
            torch.ones(3),
            f"{ARG}: the schedule returned something that is not one number at batch 3 of 10; "
            "expected a number from 0 to 1, received a float32 tensor of shape (3,).",
        ),
    ],
)
def test_user_function_bad_return_exact_messages(returned: object, message: str) -> None:
    f = resolve_schedule(lambda b, n: returned, argument=ARG)
    assert f is not None
    with pytest.raises(NetTrainError) as info:
        f(3, 10)
    assert str(info.value) == message
    assert info.value.argument == ARG


@pytest.mark.parametrize(
    "returned", [0, 1, 0.0, 1.0, np.float32(0.5), np.int64(1), np.float64(0.25), torch.tensor(0.5)]
)
def test_user_function_values_from_0_to_1_are_python_floats(returned: object) -> None:
    f = resolve_schedule(lambda b, n: returned)
    assert f is not None
    value = f(0, 10)
    assert type(value) is float
    assert value == float(returned)  # type: ignore[arg-type]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1)


@pytest.mark.parametrize(
    ("schedule", "batch"),
    [
        (lambda b, n: 2.0 - b / n, 0),  # starts above 1
        (lambda b, n: (b + 2) / n, 9),  # ends above 1 at the last planned update
        (lambda b, n: 1.0 if b < n - 1 else math.nan, 9),
    ],
)
def test_build_updater_refuses_a_bad_schedule_before_any_update(schedule: Any, batch: int) -> None:
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    method = ("sgd", {"learning_rate_schedule": schedule})
    with pytest.raises(NetTrainError) as info:
        build_updater(net, method, total_steps=10)
    assert info.value.argument == ARG
    assert f"at batch {batch} of 10" in str(info.value)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_build_updater_calls_a_user_schedule_at_the_first_and_last_update_only() -> None:
    calls: list[tuple[int, int]] = []

    def halve(batch: int, total: int) -> float:
        calls.append((batch, total))
        return 0.5

    build_updater(_net(), ("sgd", {"learning_rate_schedule": halve}), total_steps=7)
    assert calls == [(0, 7), (6, 7)]
    calls.clear()
    build_updater(_net(), ("sgd", {"learning_rate_schedule": halve}), total_steps=1)
    assert calls == [(0, 1)]


def test_a_schedule_bad_only_in_the_middle_is_refused_at_that_step_before_the_update() -> None:
    net = _net()
    method = ("sgd", {"learning_rate_schedule": lambda b, n: 3.0 if b == 2 else 1.0})
    updater = build_updater(net, method, total_steps=5)
    for _ in range(2):
        updater.zero_grad()
        net(torch.ones(2, 3)).sum().backward()
        updater.step()
    before = [p.detach().clone() for p in net.parameters()]
    updater.zero_grad()
    net(torch.ones(2, 3)).sum().backward()
    with pytest.raises(NetTrainError, match=r"outside \[0, 1\] at batch 2 of 5"):
        updater.step()
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert updater.step_count == 2


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("cosin", ["unknown schedule 'cosin'", "did you mean 'cosine'"]),
        ("lineer", ["did you mean 'linear'"]),
        (("polynomial", {"powr": 3}), ["unknown sub-option 'powr'", "did you mean 'power'"]),
        (("polynomial", {"power": 0}), ["['power']", "expected a number > 0", "received 0"]),
        (("warmup", {"fraction": 1.5}), ["['fraction']", "<= 1", "received 1.5"]),
        (("one_cycle", {"start": "low"}), ["['start']", "expected a number", "str 'low'"]),
        (("cosine", {"fraction": 0.1}), ["unknown sub-option 'fraction'", "'warmup'"]),
        (3, ["cannot read this schedule", "received int 3"]),
        (("cosine", 0.1), ["cannot read this schedule"]),
        (lambda t: 1.0, ["cannot be called as f(batch, total)"]),
    ],
)
def test_bad_specs_raise_with_argument_name(spec: object, fragments: list[str]) -> None:
    with pytest.raises(NetTrainError) as info:
        resolve_schedule(spec, argument="learning_rate_schedule")
    message = str(info.value)
    assert message.startswith("learning_rate_schedule")
    for fragment in fragments:
        assert fragment in message
