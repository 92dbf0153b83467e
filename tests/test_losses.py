"""Automatic loss (SPEC S1.4) and explicit loss forms, checked against PyTorch's own losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from conftest import QUIET, make_classification
from nettrain.errors import NetTrainError
from nettrain.losses import resolve_loss
from nettrain.monitor import task_of

g = torch.Generator().manual_seed(0)
X = torch.randn(12, 4, generator=g)


def plan_for(net, target, spec="auto", inputs=X):
    batch = {"input": inputs, "target": target}
    return resolve_loss(spec, net, ("input",), ("target",), batch), batch


def value(plan, net, batch):
    return plan(plan.forward(net, ("input",), batch), batch)


def test_index_targets_give_cross_entropy_on_logits():
    net = nn.Linear(4, 3)
    y = torch.tensor([0, 1, 2] * 4)
    plan, batch = plan_for(net, y)
    assert plan.describe()["output"]["loss"] == "cross_entropy"
    assert plan.describe()["output"]["computed_from"] == "logits (the output)"
    torch.testing.assert_close(value(plan, net, batch), F.cross_entropy(net(X), y))


class _FunctionalSoftmax(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return torch.softmax(self.linear(x), -1)


@pytest.mark.parametrize(
    ("net", "scores", "computed_from"),
    [
        (nn.Linear(4, 3), "logits", "logits (the output)"),
        (
            nn.Sequential(nn.Linear(4, 3), nn.Softmax(-1)),
            "logits",
            "logits before the final Softmax",
        ),
        (
            nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(-1)),
            "log_probabilities",
            "log-probabilities (the output)",
        ),
        (_FunctionalSoftmax(), "probabilities", "probabilities (the output)"),
    ],
)
def test_loss_term_says_what_scores_it_reads(net, scores, computed_from):
    plan, _ = plan_for(net, torch.tensor([0, 1, 2] * 4))
    term = plan.terms[0]
    assert term.scores == scores
    assert plan.describe()["output"]["computed_from"] == computed_from
    assert task_of(term) == ("classification", scores, 3)
    plan.close()


def test_softmax_net_uses_logits_not_log_of_softmax():
    net = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=-1))
    y = torch.tensor([0, 1, 2] * 4)
    plan, batch = plan_for(net, y)
    d = plan.describe()["output"]
    assert d == {
        "loss": "cross_entropy",
        "target": "target",
        "weight": 1.0,
        "computed_from": "logits before the final Softmax",
    }
    torch.testing.assert_close(value(plan, net, batch), F.cross_entropy(net[0](X), y))
    # stable where log(softmax) is not: huge logits give a finite, exact loss
    with torch.no_grad():
        net[0].weight.mul_(1e4)
    loss = value(plan, net, batch)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, F.cross_entropy(net[0](X), y))
    plan.close()


def test_probability_targets_with_softmax_net():
    net = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=-1))
    p = torch.softmax(torch.randn(12, 3, generator=g), -1)
    plan, batch = plan_for(net, p)
    assert plan.describe()["output"]["loss"] == "cross_entropy"
    torch.testing.assert_close(value(plan, net, batch), F.cross_entropy(net[0](X), p))
    plan.close()


def test_sigmoid_net_gives_binary_cross_entropy_from_logits():
    net = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
    y = (torch.rand(12, 1, generator=g) > 0.5).float()
    plan, batch = plan_for(net, y)
    d = plan.describe()["output"]
    assert d["loss"] == "binary_cross_entropy"
    assert d["computed_from"] == "logits before the final Sigmoid"
    torch.testing.assert_close(
        value(plan, net, batch), F.binary_cross_entropy_with_logits(net[0](X), y)
    )
    plan.close()


def test_boolean_targets_give_binary_cross_entropy():
    net = nn.Linear(4, 1)
    y = torch.rand(12, generator=g) > 0.5
    plan, batch = plan_for(net, y)
    assert plan.describe()["output"]["loss"] == "binary_cross_entropy"
    torch.testing.assert_close(
        value(plan, net, batch), F.binary_cross_entropy_with_logits(net(X), y.float()[:, None])
    )


def test_float_targets_give_mean_squared_error_with_matching_shapes():
    net = nn.Linear(4, 1)
    y = torch.randn(12, generator=g)  # [n] against an output [n, 1]
    plan, batch = plan_for(net, y)
    assert plan.describe()["output"]["loss"] == "mean_squared"
    torch.testing.assert_close(value(plan, net, batch), F.mse_loss(net(X), y[:, None]))


def test_float_one_hot_targets_without_softmax_are_regression():
    net = nn.Linear(4, 3)
    y = F.one_hot(torch.tensor([0, 1, 2] * 4), 3).float()
    plan, _ = plan_for(net, y)
    assert plan.describe()["output"]["loss"] == "mean_squared"


def test_named_module_callable_and_weighted_losses():
    net = nn.Linear(4, 2)
    y = torch.randn(12, 2, generator=g)
    for spec, ref in [
        ("mean_absolute", F.l1_loss(net(X), y)),
        ("huber", F.huber_loss(net(X), y)),
        (nn.SmoothL1Loss(), F.smooth_l1_loss(net(X), y)),
        (lambda o, t: ((o - t) ** 4).mean(), ((net(X) - y) ** 4).mean()),
        (("mse", 0.5), 0.5 * F.mse_loss(net(X), y)),
    ]:
        plan, batch = plan_for(net, y, spec)
        torch.testing.assert_close(value(plan, net, batch), ref)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 6)
        self.cls = nn.Linear(6, 3)
        self.reg = nn.Linear(6, 1)

    def forward(self, input):
        h = torch.tanh(self.body(input))
        return {"label": self.cls(h), "size": self.reg(h)}


def test_per_port_losses_with_weights_equal_hand_weighted_sum():
    net = TwoHeads()
    label = torch.tensor([0, 1, 2] * 4)
    size = torch.randn(12, 1, generator=g)
    batch = {"input": X, "label": label, "size": size}
    plan = resolve_loss(
        {"label": ("cross_entropy", 2.0), "size": ("mse", 0.25)},
        net,
        ("input",),
        ("label", "size"),
        batch,
    )
    out = net(X)
    expected = 2.0 * F.cross_entropy(out["label"], label) + 0.25 * F.mse_loss(out["size"], size)
    torch.testing.assert_close(plan(plan.forward(net, ("input",), batch), batch), expected)
    auto = resolve_loss("auto", net, ("input",), ("label", "size"), batch)
    assert {k: v["loss"] for k, v in auto.describe().items()} == {
        "label": "cross_entropy",
        "size": "mean_squared",
    }


class WithLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, input, target):
        pred = self.lin(input)
        return {"prediction": pred, "loss": ((pred - target) ** 2).mean()}


def test_net_with_a_loss_output_trains_on_it():
    net = WithLoss()
    y = X[:, :1] * 2
    r = nettrain.train(
        net, {"input": X, "target": y}, "all", max_training_rounds=200, learning_rate=0.05, **QUIET
    )
    assert r.loss_function == {
        "loss": {
            "loss": "output_is_loss",
            "target": None,
            "weight": 1.0,
            "computed_from": "the output",
        }
    }
    assert r.round_loss < 0.05 * r.round_loss_list[0]


def test_unknown_loss_name_suggests_close_match():
    with pytest.raises(NetTrainError, match=r"unknown loss 'cross_entropi'.*cross_entropy"):
        plan_for(nn.Linear(4, 3), torch.tensor([0, 1, 2] * 4), "cross_entropi")


def test_training_uses_the_chosen_loss_end_to_end():
    x, y = make_classification(200, classes=3)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(dim=-1))
    r = nettrain.train(net, (x, y), "all", max_training_rounds=60, learning_rate=0.01, **QUIET)
    assert r.loss_function["output"]["loss"] == "cross_entropy"
    assert (net(x).argmax(1) == y).float().mean() > 0.9
    # the hook that captured logits is gone after training
    assert not net[3]._forward_hooks
