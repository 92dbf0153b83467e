"""Validation sets, the best net, stopping criteria and progress functions (S2, issue 3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nettrain
from conftest import QUIET, make_classification, make_net
from nettrain import NetTrainError, NetTrainWarning
from nettrain.data.split import split_fraction
from nettrain.data.table import PortTable
from nettrain.stopping import StoppingTracker, parse_criterion

DIRECTIONS = {"loss": "decreasing", "error_rate": "decreasing", "accuracy": "increasing"}


# ---- the fraction split -----------------------------------------------------------------------


def labelled(n_per_class=(30, 50, 20)):
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(n_per_class)])
    ids = torch.arange(len(labels), dtype=torch.float32)[:, None]  # each example's identity
    return PortTable({"input": ids, "target": labels}, "pairs")


def test_fraction_split_is_stratified_random_reproducible_and_disjoint():
    table = labelled()
    kept, held = split_fraction(table, 0.1, seed=5, stratify="target")
    assert torch.bincount(held.columns["target"]).tolist() == [3, 5, 2]  # round(0.1 * n_c)
    ids_kept = set(kept.columns["input"].flatten().tolist())
    ids_held = set(held.columns["input"].flatten().tolist())
    assert not ids_kept & ids_held and len(ids_kept | ids_held) == 100
    # not the tail of each class, nor of the data
    assert ids_held != set(range(90, 100))
    again = split_fraction(table, 0.1, seed=5, stratify="target")[1]
    assert torch.equal(again.columns["input"], held.columns["input"])
    other = split_fraction(table, 0.1, seed=6, stratify="target")[1]
    assert not torch.equal(other.columns["input"], held.columns["input"])


def test_fraction_split_in_train_records_counts():
    x, y = make_classification(200)
    r = nettrain.train(
        make_net(), (x, y), "all", validation_set=0.25, max_training_rounds=2, **QUIET
    )
    assert (r.training_examples, r.validation_examples) == (150, 50)
    assert len(r.validation_loss_list) == 2 and r.validation_positions == [
        r.batches_per_round,
        2 * r.batches_per_round,
    ]


# ---- the best net ------------------------------------------------------------------------------


def falling_then_rising():
    """Training pulls w from 0 to 2 (targets 2x); validation wants w = 1 (targets x): the
    validation loss falls, then rises once w passes 1."""
    x = torch.linspace(-1, 1, 32)[:, None]
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.zero_()
    return net, (x, 2 * x), (x, x)


def weight_history():
    return {"property": lambda live: live["net"].weight.detach().clone(), "interval": "round"}


def test_best_validation_net_is_the_snapshot_of_its_round():
    net, train_data, val_data = falling_then_rising()
    r, history = nettrain.train(
        net,
        train_data,
        ["all", weight_history()],
        validation_set=val_data,
        method=("sgd", {"momentum": 0.0}),
        learning_rate=0.2,
        batch_size=32,
        max_training_rounds=12,
        **QUIET,
    )
    losses = r.validation_loss_list
    best = min(range(len(losses)), key=losses.__getitem__)
    assert 0 < best < len(losses) - 1  # it really fell and then rose
    assert r.best_validation_round == best + 1
    assert torch.equal(net.weight, history[best])  # bit-identical to the snapshot
    assert torch.equal(r.final_net.weight, history[-1])
    assert r.trained_net is net


def test_ties_in_error_rate_are_broken_by_validation_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g)
    y = (x[:, 0] > 0).long()
    x[:, 0] += torch.where(y == 1, 2.0, -2.0)  # a wide margin: error 0 comes early and stays
    r, history = nettrain.train(
        nn.Linear(2, 2),
        (x, y),
        ["all", {"property": lambda live: live["net"].weight.clone(), "interval": "round"}],
        validation_set=(x, y),
        max_training_rounds=8,
        learning_rate=0.05,
        **QUIET,
    )
    errors = r.validation_measurements_lists["error_rate"]
    losses = r.validation_measurements_lists["loss"]
    assert errors.count(min(errors)) >= 2  # a tie to break
    best = min(range(len(errors)), key=lambda i: (errors[i], losses[i]))
    assert r.best_validation_round == best + 1
    assert torch.equal(r.trained_net.weight, history[best])


def test_a_criterion_on_an_increasing_measurement_keeps_the_highest():
    x, y = make_classification(300)
    r = nettrain.train(
        make_net(),
        (x, y),
        "all",
        validation_set=0.3,
        max_training_rounds=10,
        training_progress_measurements=["accuracy"],
        training_stopping_criterion={"criterion": "accuracy", "patience": 100},
        **QUIET,
    )
    accuracy = r.validation_measurements_lists["accuracy"]
    assert r.best_validation_round == accuracy.index(max(accuracy)) + 1


# ---- stopping ----------------------------------------------------------------------------------


def stop_index(spec, values, key="loss"):
    tracker = StoppingTracker(parse_criterion(spec, directions=DIRECTIONS))
    for i, v in enumerate(values):
        if tracker.check({key: v}):
            return i
    return None


@pytest.mark.parametrize(
    ("spec", "values", "expected"),
    [
        ("loss", [1.0, 0.9, 0.95], 2),  # patience 0: the first check that does not improve
        ({"criterion": "loss", "patience": 2}, [1.0, 0.9, 0.95, 0.91, 0.92], 4),
        ({"criterion": "loss", "patience": 2}, [1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.9], 6),
        # grace: the first 3 checks are not watched; watching starts at 0.7
        ({"criterion": "loss", "initial_patience": 3}, [1.0, 2.0, 3.0, 0.7, 0.6, 0.65], 5),
        # absolute change: 0.95 and 0.91 are within 0.1 of 1.0, so no improvement
        ({"criterion": "loss", "absolute_change": 0.1, "patience": 1}, [1.0, 0.95, 0.91], 2),
        # 0.85 improves (< 0.9); 0.8 and 0.78 do not (need < 0.75): the second of them stops
        ({"criterion": "loss", "absolute_change": 0.1, "patience": 1}, [1.0, 0.85, 0.8, 0.78], 3),
        ({"criterion": "loss", "absolute_change": 0.1, "patience": 1}, [1.0, 0.85, 0.8, 0.7], None),
        # relative change 10%: 1.0 -> 0.85 improves, 0.85 -> 0.8 does not (needs < 0.765)
        ({"criterion": "loss", "relative_change": 0.1}, [1.0, 0.85, 0.8], 2),
    ],
)
def test_patience_and_changes_stop_at_the_predicted_check(spec, values, expected):
    assert stop_index(spec, values) == expected


def test_increasing_criterion_and_function_criterion():
    assert (
        stop_index({"criterion": "accuracy", "patience": 1}, [0.5, 0.6, 0.55, 0.58], key="accuracy")
        == 3
    )
    seen = []

    def below(values):
        seen.append(values["round_loss"])
        return values["round_loss"] < 0.5

    x, y = make_classification(200)
    with pytest.warns(NetTrainWarning, match="without a validation_set"):
        r = nettrain.train(
            make_net(),
            (x, y),
            "all",
            training_stopping_criterion=below,
            max_training_rounds=500,
            learning_rate=0.01,
            **QUIET,
        )
    assert r.reason_training_stopped == "stopping_criterion"
    assert r.round_loss_list[-1] < 0.5 <= min(r.round_loss_list[:-1])
    assert seen == r.round_loss_list


def test_patience_stops_the_constructed_run_at_the_predicted_round():
    net, train_data, val_data = falling_then_rising()
    r = nettrain.train(
        net,
        train_data,
        "all",
        validation_set=val_data,
        method=("sgd", {"momentum": 0.0}),
        learning_rate=0.2,
        batch_size=32,
        max_training_rounds=50,
        training_stopping_criterion={"criterion": "loss", "patience": 2},
        **QUIET,
    )
    losses = r.validation_loss_list
    best = min(range(len(losses)), key=losses.__getitem__)
    assert r.reason_training_stopped == "stopping_criterion"
    assert r.total_rounds == best + 1 + 3  # three checks without improvement, patience 2
    assert r.best_validation_round == best + 1


# ---- progress functions ------------------------------------------------------------------------


def signal_at(round_to_stop, answer, calls):
    def function(live):
        calls.append((live["event"], live["round"]))
        if live["event"] == "round_complete" and live["round"] == round_to_stop:
            return answer
        return None

    return function


def test_stop_training_stops_validates_once_more_and_keeps_the_best():
    x, y = make_classification(120)
    calls = []
    r, history = nettrain.train(
        make_net(),
        (x, y),
        ["all", weight_history_of_first_layer()],
        validation_set=((x, y), {"interval": "2 rounds"}),
        batch_size=20,
        max_training_rounds=50,
        training_progress_function=signal_at(3, "stop_training", calls),
        **QUIET,
    )
    assert r.reason_training_stopped == "progress_function"
    assert r.total_rounds == 3
    per_round = r.batches_per_round
    assert r.validation_positions == [2 * per_round, 3 * per_round]  # round 2, then the final
    best = r.best_validation_round
    assert torch.equal(r.trained_net[0].weight, history[best - 1])
    assert ("training_started", 0) in calls


def test_abort_training_stops_without_final_validation_and_keeps_the_current_net():
    x, y = make_classification(120)
    r, history = nettrain.train(
        make_net(),
        (x, y),
        ["all", weight_history_of_first_layer()],
        validation_set=((x, y), {"interval": "2 rounds"}),
        batch_size=20,
        max_training_rounds=50,
        training_progress_function=signal_at(3, "abort_training", []),
        **QUIET,
    )
    assert r.reason_training_stopped == "aborted"
    assert r.validation_positions == [2 * r.batches_per_round]
    assert torch.equal(r.trained_net[0].weight, history[-1])


def weight_history_of_first_layer():
    return {"property": lambda live: live["net"][0].weight.detach().clone(), "interval": "round"}


def test_progress_function_gets_live_properties_at_its_interval():
    x, y = make_classification(100)
    seen = []
    nettrain.train(
        make_net(),
        (x, y),
        validation_set=0.2,
        batch_size=10,
        max_training_rounds=3,
        training_progress_function=(
            lambda live: seen.append(dict(live)),
            {"interval": "4 batches"},
        ),
        **QUIET,
    )
    batches = [s["absolute_batch"] for s in seen if s["event"] == "batch_complete"]
    assert batches == [4, 8, 12, 16, 20, 24]
    last = seen[-1]
    assert last["event"] == "training_complete"
    for key in (
        "round",
        "batch",
        "batch_loss",
        "round_loss",
        "validation_loss",
        "validation_measurements",
        "round_measurements",
        "learning_rate",
        "net",
        "time_elapsed",
        "time_remaining",
        "progress_fraction",
        "examples_per_second",
    ):
        assert key in last, key


# ---- measurements in train ---------------------------------------------------------------------


def test_round_and_batch_measurements_are_exact_and_complete():
    x, y = make_classification(90)
    r, per_batch = nettrain.train(
        make_net(),
        (x, y),
        ["all", "batch_measurements_lists"],
        batch_size=16,
        max_training_rounds=2,
        training_progress_measurements=["accuracy", "error_rate"],
        **QUIET,
    )
    # the loss is always measured, before what was asked for
    assert r.measurements == ["loss", "accuracy", "error_rate"]
    assert len(per_batch["accuracy"]) == r.total_batches
    # a round's accuracy is the example-weighted mean of its batches' accuracies
    sizes = [16] * 5 + [10]
    first = per_batch["accuracy"][:6]
    expected = sum(a * s for a, s in zip(first, sizes, strict=True)) / 90
    assert r.round_measurements_lists["accuracy"][0] == pytest.approx(expected, abs=1e-12)
    assert r.round_measurements_lists["error_rate"][0] == pytest.approx(1 - expected, abs=1e-12)


def test_default_measurements_are_loss_and_error_rate_for_classification_loss_for_regression():
    x, y = make_classification(50)
    assert nettrain.train(make_net(), (x, y), "measurements", max_training_rounds=1, **QUIET) == [
        "loss",
        "error_rate",
    ]
    assert nettrain.train(
        nn.Linear(5, 1), (x, x[:, :1]), "measurements", max_training_rounds=1, **QUIET
    ) == ["loss"]


def test_print_reporter_shows_validation(capsys):
    x, y = make_classification(100)
    nettrain.train(
        make_net(),
        (x, y),
        validation_set=0.2,
        max_training_rounds=40,
        training_progress_reporting=("print", {"interval": 1e-9}),
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if "val loss" in line]
    assert lines and "val error_rate" in lines[-1]


BAD = [
    ({"validation_set": 1.5}, ["validation_set", "between 0 and 1", "1.5"]),
    ({"validation_set": "auto"}, ["validation_set", "named dataset"]),
    (
        {"validation_set": ((torch.zeros(3, 5), torch.zeros(3).long()), {"every": 2})},
        ["validation_set", "'every'"],
    ),
    (
        {"validation_set": {"other": torch.zeros(3, 5), "target": torch.zeros(3).long()}},
        ["validation_set", "other ports"],
    ),
    (
        {"validation_set": (torch.zeros(3, 5), torch.tensor([0, 7, 1]))},
        ["validation_set", "example 1", "0 to 2"],
    ),
    ({"training_progress_measurements": ["acuracy"]}, ["acuracy", "accuracy"]),
    ({"training_progress_measurements": ["r_squared"]}, ["r_squared", "classification"]),
    (
        {"training_stopping_criterion": "precision", "validation_set": 0.2},
        ["training_stopping_criterion", "precision"],
    ),
    ({"training_stopping_criterion": {"criterion": "loss", "patience": -1}}, ["patience", "-1"]),
    (
        {
            "training_stopping_criterion": {
                "criterion": "loss",
                "absolute_change": 0.1,
                "relative_change": 0.1,
            }
        },
        ["not both"],
    ),
    (
        {"training_stopping_criterion": {"criterion": "loss", "patients": 2}},
        ["patients", "patience"],
    ),
    ({"training_progress_function": 3}, ["training_progress_function", "callable"]),
    (
        {"training_progress_function": (print, {"every": 2})},
        ["training_progress_function", "unknown sub-option 'every'"],
    ),
]


@pytest.mark.parametrize(("options", "patterns"), BAD)
def test_bad_validation_options(options, patterns):
    x, y = make_classification(40)
    with pytest.raises(NetTrainError) as info:
        nettrain.train(make_net(), (x, y), max_training_rounds=1, **QUIET, **options)
    for pattern in patterns:
        assert pattern in str(info.value), (pattern, str(info.value))
