"""Failure behaviour (S1.6): divergence, Ctrl-C, and bad input with messages a user can act on."""

from __future__ import annotations

import os
import re
import signal

import numpy as np
import pytest
import torch
from torch import nn

import nettrain
from conftest import QUIET, make_classification, make_net
from nettrain import NetTrainError, NetTrainWarning

X, Y = make_classification(40)


def regression(n=64):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, 3, generator=g) * 10
    return x, x.sum(1, keepdim=True) * 100


def test_divergence_stops_warns_and_keeps_the_last_finite_weights():
    x, y = regression()
    net = nn.Linear(3, 1)
    with pytest.warns(NetTrainWarning, match=r"weights_diverged.*lower learning_rate"):
        r = nettrain.train(
            net,
            (x, y),
            "all",
            method=("sgd", {"momentum": 0.0}),
            learning_rate=10.0,
            batch_size=8,
            max_training_rounds=50,
            **QUIET,
        )
    assert r.reason_training_stopped == "weights_diverged"
    assert r.total_rounds < 50
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert r.final_net is not net
    with torch.no_grad():
        assert not torch.isfinite(((r.final_net(x) - y) ** 2).mean())


def test_divergence_in_the_first_round_returns_the_initial_weights():
    x, y = regression()
    net = nn.Linear(3, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.warns(NetTrainWarning, match="weights it had before training"):
        reason = nettrain.train(
            net,
            (x, y),
            "reason_training_stopped",
            learning_rate=1e6,
            method=("sgd", {"momentum": 0.0}),
            batch_size=8,
            max_training_rounds=5,
            **QUIET,
        )
    assert reason == "weights_diverged"
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])


def test_ctrl_c_stops_softly_and_returns_what_was_trained():
    def interrupt_after_five(live):
        if live["absolute_batch"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return live["absolute_batch"]

    net = make_net()
    before = [p.detach().clone() for p in net.parameters()]
    r, seen = nettrain.train(
        net,
        (X, Y),
        ["all", {"property": interrupt_after_five, "interval": "batch"}],
        batch_size=4,
        max_training_rounds=100,
        **QUIET,
    )
    assert r.reason_training_stopped == "stopped_by_user"
    assert r.total_batches == 5 and seen == [1, 2, 3, 4, 5]
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    # the previous SIGINT handler is back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_is_a_hard_stop():
    def interrupt_twice(live):
        if live["absolute_batch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        nettrain.train(
            make_net(),
            (X, Y),
            {"property": interrupt_twice, "interval": "batch"},
            batch_size=4,
            max_training_rounds=100,
            **QUIET,
        )


class Strings(nn.Module):
    def forward(self, input):
        return input


def generator_that_changes_shape(batch_size, round):
    width = 5 if round == 1 else 6
    return torch.randn(batch_size, width), torch.zeros(batch_size, dtype=torch.long)


def no_input_column():
    return {"a": X, "b": Y}


BAD = [
    # (what, net, data, options, prop, patterns that must all appear in the message)
    ("empty data", make_net, [], {}, None, ["data", "no examples"]),
    ("mismatched lengths", make_net, (X, Y[:30]), {}, None, ["data", "40", "30"]),
    (
        "ragged pairs",
        make_net,
        [(X[0], Y[0]), (X[1, :3], Y[1])],
        {},
        None,
        ["data", "example 1", r"\(5,\)", r"\(3,\)"],
    ),
    (
        "NaN input",
        make_net,
        (X.clone().index_fill_(0, torch.tensor([7]), float("nan")), Y),
        {},
        None,
        ["data", "example 7", "NaN"],
    ),
    ("pair of 3", make_net, [(X[0], Y[0]), (X[1], Y[1], 1)], {}, None, ["data", "example 1"]),
    (
        "rows with other keys",
        make_net,
        [{"input": X[0], "target": Y[0]}, {"input": X[1]}],
        {},
        None,
        ["data", "example 1", "target"],
    ),
    ("an int", make_net, 5, {}, None, ["data", "int"]),
    ("None", make_net, None, {}, None, ["data", "None"]),
    (
        "mixed types",
        make_net,
        (["a b", 1], [0, 1]),
        {},
        None,
        ["data", "example 1", "mixes strings", "encoder"],
    ),
    (
        "text into a float net",
        make_net,
        (["a b", "c d"], [0, 1]),
        {},
        None,
        ["data", "Tokens encoder", "nn.Embedding"],
    ),
    (
        "class index too large",
        make_net,
        (X, Y.clone().index_fill_(0, torch.tensor([3]), 9)),
        {},
        None,
        ["data", "example 3", "0 to 2", "9"],
    ),
    (
        "negative class",
        make_net,
        (X, Y.clone().index_fill_(0, torch.tensor([11]), -1)),
        {},
        None,
        ["data", "example 11", "-1"],
    ),
    ("net is not a module", lambda: "net", (X, Y), {}, None, ["net", "nn.Module", "str"]),
    (
        "input size mismatch",
        lambda: nn.Linear(7, 3),
        (X, Y),
        {},
        None,
        ["data", "cannot take", r"\(8, 5\)|\(40, 5\)|of shape"],
    ),
    (
        "unknown option",
        make_net,
        (X, Y),
        {"learnig_rate": 0.1},
        None,
        ["learnig_rate", "unknown option", "learning_rate"],
    ),
    (
        "performance goal misspelt",
        make_net,
        (X, Y),
        {"performance_goal": "TrainingSped"},
        None,
        ["performance_goal", "unknown goal", "'TrainingSped'", "did you mean 'training_speed'"],
    ),
    ("batch_size 0", make_net, (X, Y), {"batch_size": 0}, None, ["batch_size", "int >= 1", "0"]),
    ("batch_size float", make_net, (X, Y), {"batch_size": 2.5}, None, ["batch_size", "2.5"]),
    (
        "rounds negative",
        make_net,
        (X, Y),
        {"max_training_rounds": -1},
        None,
        ["max_training_rounds", "-1"],
    ),
    (
        "time unit",
        make_net,
        (X, Y),
        {"time_goal": "5 parsecs"},
        None,
        ["time_goal", "parsecs", "5 min"],
    ),
    ("time negative", make_net, (X, Y), {"time_goal": -3}, None, ["time_goal", "positive"]),
    ("method typo", make_net, (X, Y), {"method": "adma"}, None, ["method", "adam"]),
    (
        "sub-option typo",
        make_net,
        (X, Y),
        {"method": ("adam", {"beta3": 0.9})},
        None,
        ["method", "beta3", "beta1|beta2"],
    ),
    ("negative lr", make_net, (X, Y), {"learning_rate": -1}, None, ["learning_rate", "-1"]),
    ("device", make_net, (X, Y), {"target_device": "tpu"}, None, ["target_device", "tpu", "cpu"]),
    (
        "precision typo",
        make_net,
        (X, Y),
        {"working_precision": "mixd"},
        None,
        ["working_precision", "mixd", "mixed", "float32"],
    ),
    ("seed", make_net, (X, Y), {"random_seeding": -5}, None, ["random_seeding", "-5"]),
    (
        "multiplier part",
        make_net,
        (X, Y),
        {"learning_rate_multipliers": {"decoder.*": 0}},
        None,
        ["learning_rate_multipliers", "decoder", "0.weight"],
    ),
    (
        "loss typo",
        make_net,
        (X, Y),
        {"loss_function": "cross_entropi"},
        None,
        ["loss_function", "cross_entropi", "cross_entropy"],
    ),
    (
        "reporting",
        make_net,
        (X, Y),
        {"training_progress_reporting": "pannel"},
        None,
        ["training_progress_reporting", "pannel", "did you mean 'panel'"],
    ),
    (
        "generator shape",
        make_net,
        (generator_that_changes_shape, {"round_length": 8}),
        {"batch_size": 8, "max_training_rounds": 3},
        None,
        ["data", "round 2", r"5", r"6"],
    ),
    (
        "column lengths",
        make_net,
        {"input": X, "target": Y[:10]},
        {},
        None,
        ["data", "input", "target"],
    ),
    ("no input column", make_net, no_input_column(), {}, None, ["data", "input", "'a'"]),
    ("unknown property", make_net, (X, Y), {}, "trained_nett", ["prop", "trained_net"]),
    (
        "regression target size",
        lambda: nn.Linear(5, 2),
        (X, torch.randn(40, 3)),
        {},
        None,
        ["^data: ", "2 value", r"\(3,\)"],  # the loss was automatic: the data is at fault
    ),
    (
        "batch_size with a loader",
        make_net,
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=10),
        {"batch_size": 16},
        None,
        ["batch_size", "own batches", "10", "16"],
    ),
    ("numpy object column", make_net, (np.array([object()] * 40), Y), {}, None, ["data"]),
]


@pytest.mark.parametrize(
    ("what", "net", "data", "options", "prop", "patterns"), BAD, ids=[case[0] for case in BAD]
)
def test_bad_input_gives_a_message_that_says_what_to_change(
    what, net, data, options, prop, patterns
):
    with pytest.raises(NetTrainError) as info:
        nettrain.train(net(), data, prop, **{**QUIET, **options})
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"


def test_there_are_at_least_25_bad_input_cases():
    assert len(BAD) >= 25


def test_bad_input_changes_nothing_in_the_net():
    net = make_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(NetTrainError):
        nettrain.train(net, (X, Y.clone().index_fill_(0, torch.tensor([3]), 9)), **QUIET)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
