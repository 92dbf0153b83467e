"""A progress function's ``{"learning_rate": x}``: the engine's updates follow it exactly.

References: ``torch.optim`` with the same change of ``group["lr"]`` made by hand, replaying
the batches the engine used (recorded from the net's inputs); float64 throughout, so a rate
off by anything shows far beyond the tolerance (a control run without the change checks that).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError
from nettrain.optim import build_updater, parse_method
from nettrain.progress.function import ProgressFunction

TIGHT: dict[str, Any] = {"rtol": 1e-10, "atol": 1e-12}
N, BATCH, ROUNDS = 32, 8, 4  # 4 batches a round


class Recorded(nn.Module):
    """A net that ignores its input's column 0 (the example's index) and records it, so the
    test knows which examples each of the engine's batches held."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1)).double()
        self.batches: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.batches.append(x[:, 0].long().clone())
        return self.body(x[:, 1:])


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    features = torch.randn(N, 3, generator=g, dtype=torch.float64)
    x = torch.cat([torch.arange(N, dtype=torch.float64)[:, None], features], 1)
    y = features @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3
    return x, y


def _train(net: Recorded, method: object, function: object, **options: Any) -> Any:
    x, y = _data()
    return nettrain.train(
        net,
        (x, y),
        "all",
        method=method,
        loss_function="mean_squared",
        batch_size=BATCH,
        max_training_rounds=ROUNDS,
        validation_set=None,
        training_progress_reporting=None,
        training_progress_function=function,
        **options,
    )


def _replay(
    batches: list[torch.Tensor], optimizer_for: Any, rate_before_step: dict[int, float]
) -> nn.Module:
    """The engine's batches through a torch.optim loop; ``rate_before_step[k]``: the rate
    set on every group before step k (0-based)."""
    x, y = _data()
    net = Recorded()
    optimizer = optimizer_for(net.body.parameters())
    for k, index in enumerate(batches):
        if k in rate_before_step:
            for group in optimizer.param_groups:
                group["lr"] = rate_before_step[k]
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net.body(x[index, 1:]), y[index])
        loss.backward()
        optimizer.step()
    return net


def _close(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.allclose(p, q, **TIGHT) for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


CASES = [
    ("sgd", ("sgd", {"momentum": 0.9}), 0.05, lambda p: torch.optim.SGD(p, 0.05, momentum=0.9)),
    (
        "adam",
        ("adam", {"epsilon": 1e-8}),
        0.01,
        lambda p: torch.optim.Adam(p, 0.01, betas=(0.9, 0.999), eps=1e-8),
    ),
]


@pytest.mark.parametrize(("name", "method", "rate", "reference"), CASES, ids=[c[0] for c in CASES])
def test_halving_at_round_2_gives_the_torch_trajectory(
    name: str, method: object, rate: float, reference: Any
) -> None:
    seen: list[tuple[int, float]] = []

    def halve(live: dict[str, Any]) -> object:
        if live["event"] == "round_complete":
            seen.append((live["round"], live["learning_rate"]))
        return {"learning_rate": rate / 2} if live["round"] == 1 else None

    net = Recorded()
    result = _train(net, (method[0], {**method[1], "learning_rate": rate}), halve)
    batches = net.batches
    assert len(batches) == ROUNDS * N // BATCH
    per_round = N // BATCH
    # asked at the end of round 1: round 2's first update is the first at the new rate
    want = _replay(batches, reference, {per_round: rate / 2})
    assert _close(net, want)
    # the control: the same replay without the change is far off
    assert not _close(net, _replay(batches, reference, {}))
    # the live rate is the next update's: the new one from round 2's report on
    assert seen == [(1, rate), (2, rate / 2), (3, rate / 2), (4, rate / 2)]
    assert result["initial_learning_rate"] == rate
    assert result["final_learning_rate"] == rate / 2


def test_a_batch_request_applies_to_the_next_update() -> None:
    rates: dict[int, float] = {}

    def at_batch(live: dict[str, Any]) -> object:
        rates[live["absolute_batch"]] = live["learning_rate"]
        return {"learning_rate": 0.02} if live["absolute_batch"] == 3 else None

    net = Recorded()
    result = _train(net, "sgd", (at_batch, {"interval": "batch"}), learning_rate=0.1)
    assert rates[3] == 0.1 and rates[4] == 0.02 and rates[16] == 0.02
    want = _replay(net.batches, lambda p: torch.optim.SGD(p, 0.1, momentum=0.93), {3: 0.02})
    assert _close(net, want)
    assert result["final_learning_rate"] == 0.02


def test_a_request_at_training_started_holds_from_the_first_update() -> None:
    net = Recorded()

    def start(live: dict[str, Any]) -> object:
        return {"learning_rate": 0.03} if live["event"] == "training_started" else None

    _train(net, "sgd", start, learning_rate=0.1)
    want = _replay(net.batches, lambda p: torch.optim.SGD(p, 0.03, momentum=0.93), {})
    assert _close(net, want)


def test_the_last_function_in_the_list_wins() -> None:
    net = Recorded()
    functions = [lambda live: {"learning_rate": 0.2}, lambda live: {"learning_rate": 0.04}]
    result = _train(net, "sgd", functions, learning_rate=0.1)
    assert result["final_learning_rate"] == 0.04


# --- the updater: composition with multipliers and schedules, state, lbfgs -------------------


def _small(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()


def _loss(net: nn.Module, k: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(50 + k)
    x = torch.randn(8, 4, generator=g, dtype=torch.float64)
    return nn.functional.mse_loss(net(x), torch.randn(8, 2, generator=g, dtype=torch.float64))


def test_rate_composes_with_multipliers_and_the_schedule() -> None:
    total = 6

    def decay(batch: int, steps: int) -> float:
        return 1.0 - batch / (2 * steps)

    net, ref = _small(), _small()
    spec = parse_method(("sgd", {"learning_rate_schedule": decay, "momentum": 0.5}), 0.1)
    updater = build_updater(net, spec, multipliers={"*.bias": 0.5}, total_steps=total)
    w0, b0, w2, b2 = ref.parameters()
    optimizer = torch.optim.SGD(
        [{"params": [w0, w2]}, {"params": [b0, b2], "lr": 0.05}], lr=0.1, momentum=0.5
    )
    for k in range(total):
        if k == 3:
            updater.set_learning_rate(0.02)
            assert updater.learning_rate == 0.02 * decay(3, total)
            assert updater.last_learning_rate == 0.1 * decay(2, total)  # the last update's
        base = 0.1 if k < 3 else 0.02
        optimizer.param_groups[0]["lr"] = base * decay(k, total)
        optimizer.param_groups[1]["lr"] = base * 0.5 * decay(k, total)
        for o in (updater, optimizer):
            o.zero_grad()
        _loss(net, k).backward()
        _loss(ref, k).backward()
        updater.step()
        optimizer.step()
        lrs = [g["lr"] for g in updater.optimizer.param_groups]
        assert sorted(lrs) == sorted(g["lr"] for g in optimizer.param_groups)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TIGHT)
    assert updater.last_learning_rate == 0.02 * decay(total - 1, total)
    assert updater.initial_learning_rate == 0.1  # the method's rate is kept


def test_the_rate_survives_a_state_round_trip() -> None:
    net = _small()
    updater = build_updater(net, parse_method("adam", 0.01), multipliers={"*.bias": 0.25})
    _loss(net, 0).backward()
    updater.step()
    updater.set_learning_rate(0.004)
    saved = copy.deepcopy(updater.state_dict())
    resumed = build_updater(
        copy.deepcopy(net), parse_method("adam", 0.01), multipliers={"*.bias": 0.25}
    )
    resumed.load_state_dict(saved)
    assert resumed.learning_rate == 0.004 and resumed.last_learning_rate == 0.01
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [
        g["lr"] for g in updater.optimizer.param_groups
    ]
    assert sorted(g["lr"] for g in resumed.optimizer.param_groups) == [0.001, 0.004]


def test_an_update_schedule_sets_every_group() -> None:
    net = _small()
    updater = build_updater(net, parse_method("sgd", 0.1), update_schedule=[0, 2])
    updater.set_learning_rate(0.03)
    for member in updater.members:
        assert [g["lr"] for g in member.optimizer.param_groups] == [0.03]
    _loss(net, 0).backward()
    updater.step()
    assert updater.last_learning_rate == 0.03
    fresh = build_updater(_small(), parse_method("sgd", 0.1), update_schedule=[0, 2])
    fresh.load_state_dict(copy.deepcopy(updater.state_dict()))
    assert fresh.learning_rate == 0.03 and fresh.last_learning_rate == 0.03
    assert [m.optimizer.param_groups[0]["lr"] for m in fresh.members] == [0.03, 0.03]


def test_lbfgs_takes_the_new_rate_as_its_step_length() -> None:
    net, ref = _small(), _small()
    updater = build_updater(net, parse_method(("lbfgs", {"line_search": None}), 1.0))
    optimizer = torch.optim.LBFGS(ref.parameters(), **updater.optimizer.defaults)
    updater.set_learning_rate(0.3)
    optimizer.param_groups[0]["lr"] = 0.3
    for k in range(2):

        def closure(model: nn.Module = net, k: int = k) -> torch.Tensor:
            model.zero_grad()
            loss = _loss(model, k)
            loss.backward()
            return loss

        updater.step(closure)
        optimizer.step(lambda k=k: closure(ref, k))  # type: ignore[misc]
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TIGHT)
    assert updater.last_learning_rate == 0.3


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"learning_rate": 0},
        {"learning_rate": -0.1},
        {"learning_rate": math.nan},
        {"learning_rate": math.inf},
        {"learning_rate": "0.1"},
        {"learning_rate": True},
        {"learning_rate": None},
        {"lr": 0.1},
        {"learning_rate": 0.1, "stop": "stop_training"},
        {},
    ],
    ids=repr,
)
def test_a_bad_request_is_refused_naming_the_option(answer: dict[str, Any]) -> None:
    with pytest.raises(NetTrainError, match=r"^training_progress_function: "):
        _train(Recorded(), "sgd", lambda live: answer)


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, "fast"])
def test_set_learning_rate_refuses_a_bad_value(value: object) -> None:
    updater = build_updater(_small(), parse_method("sgd", 0.1))
    with pytest.raises(NetTrainError, match=r"^learning_rate: "):
        updater.set_learning_rate(value)  # type: ignore[arg-type]
    assert updater.learning_rate == 0.1


def test_a_function_that_cannot_be_served_refuses_the_request() -> None:
    # a custom loop's ProgressMonitor owns no optimizer: the request would be lost
    f = ProgressFunction(lambda live: {"learning_rate": 0.1}, argument="progress_function")
    with pytest.raises(NetTrainError, match=r"^progress_function: .*set the optimizer"):
        f.notify("round_complete", {"round": 1, "time_elapsed": 0.0})


def test_other_answers_are_still_ignored() -> None:
    result = _train(Recorded(), "sgd", lambda live: 3, learning_rate=0.1)
    assert result["final_learning_rate"] == 0.1
