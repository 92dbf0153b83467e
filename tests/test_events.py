"""The few events of a run arrive in their documented order (a golden test)."""

from __future__ import annotations

import nettrain
from conftest import QUIET, make_classification, make_net


def test_event_order_of_a_two_round_run():
    x, y = make_classification(24)
    events = []
    nettrain.train(
        make_net(),
        (x, y),
        batch_size=8,
        max_training_rounds=2,
        training_progress_function=(
            lambda live: events.append(live["event"]),
            {"interval": "batch"},
        ),
        **QUIET,
    )
    batch_round = ["batch_complete"] * 3
    assert events == ["training_started", *batch_round, *batch_round, "training_complete"]


def test_event_order_with_rounds_and_a_stop():
    x, y = make_classification(24)
    events = []

    def watch(live):
        events.append((live["event"], live["round"]))
        return "stop_training" if live["event"] == "round_complete" and live["round"] == 2 else None

    r = nettrain.train(
        make_net(),
        (x, y),
        "reason_training_stopped",
        batch_size=8,
        max_training_rounds=5,
        training_progress_function=watch,
        **QUIET,
    )
    assert r == "progress_function"
    assert events == [
        ("training_started", 0),
        ("round_complete", 1),
        ("round_complete", 2),
        ("training_stopped", 2),
        ("training_complete", 2),
    ]
