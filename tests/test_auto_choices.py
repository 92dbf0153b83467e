"""Automatic batch size and rounds follow NetTrain's rules; time goals stop on time."""

from __future__ import annotations

import itertools
import math

import pytest

import nettrain
from conftest import QUIET, make_classification, make_net
from nettrain.options import auto
from nettrain.train import _train

GiB = 2**30


def batch(per_example=1000, fixed=10**6, available=8 * GiB, t1=1e-4, n=10**6, device="cpu"):
    return auto.choose_batch_size(
        per_example_bytes=per_example,
        fixed_bytes=fixed,
        available_bytes=available,
        seconds_at_batch_1=t1,
        num_examples=n,
        device_type=device,
    )


def test_batch_size_is_capped_at_64_and_by_the_data():
    assert batch() == 64
    assert batch(n=37) == 37
    assert batch(n=1) == 1


def test_batch_size_memory_model_uses_80_percent_on_cpu_and_90_on_gpu():
    # target = 0.8 * 1 GiB; fixed 0; per example 20 MB -> ceil(858993459 / 20000001) = 43
    assert batch(per_example=20_000_000, fixed=0, available=GiB) == 43
    # on a GPU 0.9 * 1 GiB -> ceil(966367641 / 20000001) = 49
    assert batch(per_example=20_000_000, fixed=0, available=GiB, device="cuda") == 49
    # never below the 100 MB floor for the target, never below 1
    assert batch(per_example=10_000_000, fixed=0, available=1000) == 11
    assert batch(per_example=10**12, fixed=10**12, available=GiB) == 1


def test_batch_size_two_second_cap_rounds_down_to_a_multiple_of_4():
    # 2 s / 0.1 s = 20 per step -> 20
    assert batch(t1=0.1) == 20
    # 2 s / 0.07 s = ceil(28.57) = 29 -> 28
    assert batch(t1=0.07) == 28
    # a very slow net: one example per step
    assert batch(t1=5.0) == 1


def test_rounds_aim_at_20_seconds_clipped_to_1_and_10000():
    assert auto.choose_rounds(seconds_per_batch=0.01, batches_per_round=100) == 20
    assert auto.choose_rounds(seconds_per_batch=0.003, batches_per_round=938) == 7  # 7.1
    assert auto.choose_rounds(seconds_per_batch=0.02, batches_per_round=938) == 1  # 1.07, not 2
    assert auto.choose_rounds(seconds_per_batch=1.0, batches_per_round=100) == 1
    assert auto.choose_rounds(seconds_per_batch=1e-6, batches_per_round=1) == 10_000


def fake_clock(step=0.01):
    counter = itertools.count()
    return lambda: next(counter) * step


def test_auto_rounds_from_timed_steps_with_an_injected_clock():
    # Every clock reading advances 10 ms, so a timed step measures 10 ms; 50 examples at batch 8
    # = 7 batches per round -> ceil(20 / 0.07) = 286 rounds up front. A learning-rate schedule
    # is laid out over that length, so with one the count stays.
    x, y = make_classification(50)
    method = ("sgd", {"learning_rate_schedule": "cosine"})
    r = _train(
        make_net(), (x, y), "all", {"batch_size": 8, "method": method, **QUIET}, fake_clock(0.01)
    )
    assert r.batches_per_round == 7
    assert r.total_rounds == 286
    assert r.reason_training_stopped == "max_training_rounds"


def test_auto_rounds_are_refitted_to_20_seconds_of_measured_rounds():
    # The loop reads the clock more often than the timed step does (round ends, reports,
    # validation), so real rounds take longer than 7 timed steps; after each round the count is
    # fitted again to the rounds' measured time, and the run ends within a round of 20 s.
    # (A learning rate given: a constant rate, so no default schedule fixes the rounds.)
    x, y = make_classification(50)
    constant = {"batch_size": 8, "learning_rate": 1e-3, **QUIET}
    r = _train(make_net(), (x, y), "all", constant, fake_clock(0.01))
    per_round = r.total_training_time / r.total_rounds
    assert per_round > 7 * 0.01
    assert r.total_rounds < 286
    assert 20 - per_round <= r.total_training_time < 20 + per_round
    assert r.reason_training_stopped == "max_training_rounds"
    # with a validation set, rounds cost more still and the run still ends near 20 s
    r = _train(
        make_net(),
        (x, y),
        "all",
        {**constant, "validation_set": (x[:20], y[:20])},
        fake_clock(0.01),
    )
    per_round = r.total_training_time / r.total_rounds
    assert 20 - per_round <= r.total_training_time < 20 + per_round


def test_automatic_rounds_give_adam_its_one_cycle_schedule_over_a_fixed_length():
    """The default schedule (options.default_schedule): the rounds chosen from the timed step
    (a fake 0.01 s: round(20 / 0.07) = 286) stay fixed, and the schedule spans them."""
    x, y = make_classification(50)
    r = _train(make_net(), (x, y), "all", {"batch_size": 8, **QUIET}, fake_clock(0.01))
    assert r.total_rounds == 286 and r.reason_training_stopped == "max_training_rounds"
    method = r.optimization_method
    assert method["learning_rate_schedule"]["name"] == "one_cycle"
    assert method["learning_rate"] == pytest.approx(8e-3)
    assert method["total_steps"] == 286 * 7
    # the rate ends at the cosine's end: (1 + cos(pi * (T - 1 - W) / (T - W))) / 2 of the peak
    total, warm = 286 * 7, round(0.3 * 286 * 7)
    last = 8e-3 * 0.5 * (1 + math.cos(math.pi * (total - 1 - warm) / (total - warm)))
    assert r.final_learning_rate == pytest.approx(last, rel=1e-6)
    for given in ({"learning_rate": 1e-3}, {"method": "sgd"}, {"max_training_rounds": 3}):
        plain = _train(make_net(), (x, y), "all", {"batch_size": 8, **QUIET, **given},
                       fake_clock(0.01))  # fmt: skip
        assert "learning_rate_schedule" not in plain.optimization_method, given


def test_a_few_automatic_rounds_are_counted_in_batches_and_the_schedule_spans_them():
    """Rounds of 13 s (a fake 0.25 s step, 7 batches of 8 at 50 examples... here 400 examples,
    50 batches a round: 12.5 s) would round to 2 rounds of 25 s; counted in batches the run is
    round(20 / 0.25) = 80 batches, ending within round 2, the one-cycle schedule laid over the
    80 (its rate at the end: ~0)."""
    x, y = make_classification(400)
    r = _train(make_net(), (x, y), "all", {"batch_size": 8, **QUIET}, fake_clock(0.25))
    assert r.batches_per_round == 50
    assert r.total_batches == 80 and r.total_rounds == 2
    assert r.reason_training_stopped == "max_training_rounds"
    assert r.optimization_method["total_steps"] == 80
    assert r.final_learning_rate < 1e-3 * 8e-3
    assert len(r.round_loss_list) == 2  # the partial round's loss too


def test_whole_rounds_stay_whole_from_four_rounds_and_for_a_constant_rate():
    from nettrain.options.auto import choose_batches

    assert choose_batches(seconds_per_batch=0.25, batches_per_round=50) == 80
    assert choose_batches(seconds_per_batch=0.1, batches_per_round=50) is None  # 4 rounds
    assert choose_batches(seconds_per_batch=0.2, batches_per_round=50) is None  # 2 whole rounds
    assert choose_batches(seconds_per_batch=1.0, batches_per_round=50) is None  # 1 round (min)


def test_auto_batch_size_is_the_data_size_for_small_data_and_64_otherwise():
    x, y = make_classification(50)
    assert nettrain.train(make_net(), (x, y), "batch_size", max_training_rounds=1, **QUIET) == 50
    x, y = make_classification(500)
    assert nettrain.train(make_net(), (x, y), "batch_size", max_training_rounds=1, **QUIET) == 64


@pytest.mark.parametrize("goal", [0.5, "1 s", 3])
def test_time_goal_ends_within_one_batch_of_the_goal(goal):
    seconds = goal if isinstance(goal, int | float) else 1.0
    x, y = make_classification(50)
    r = _train(
        make_net(), (x, y), "all", {"batch_size": 8, "time_goal": goal, **QUIET}, fake_clock(0.01)
    )
    assert r.reason_training_stopped == "time_goal"
    # The clock is read a fixed number of times per batch; training stops at the first batch
    # whose end is past the goal, so it overshoots by less than one batch's worth of time.
    per_batch = r.total_training_time / r.total_batches
    assert seconds <= r.total_training_time < seconds + 2 * per_batch


def test_time_goal_and_rounds_the_shorter_wins():
    x, y = make_classification(50)
    r = _train(
        make_net(),
        (x, y),
        "all",
        {"batch_size": 8, "time_goal": 1000, "max_training_rounds": 2, **QUIET},
        fake_clock(0.01),
    )
    assert (r.reason_training_stopped, r.total_rounds) == ("max_training_rounds", 2)
    r = _train(
        make_net(),
        (x, y),
        "all",
        {"batch_size": 8, "time_goal": 0.2, "max_training_rounds": 1000, **QUIET},
        fake_clock(0.01),
    )
    assert r.reason_training_stopped == "time_goal"


def test_lbfgs_is_full_batch_by_default():
    x, y = make_classification(50)
    r = nettrain.train(make_net(), (x, y), "all", method="lbfgs", max_training_rounds=3, **QUIET)
    assert (r.batch_size, r.batches_per_round, r.total_batches) == (50, 1, 3)
    assert r.round_loss_list[-1] < r.round_loss_list[0]


def test_a_length_in_batches_is_kept_for_a_resumed_run():
    from nettrain.prepare import Choices

    chosen = Choices(8, 2, None, 80, None, 1, max_batches=80)
    assert Choices.from_plain(chosen.to_plain()) == chosen
    older = {k: v for k, v in chosen.to_plain().items() if k != "max_batches"}
    assert Choices.from_plain(older).max_batches is None  # a checkpoint from before it
