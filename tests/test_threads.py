"""CPU threads: timed per net, the fastest used while training, the caller's count restored."""

from __future__ import annotations

import pytest
import torch

from conftest import QUIET, make_classification, make_net
from nettrain.runtime.threads import (
    choose_threads,
    fastest_threads,
    intra_op_threads,
    thread_candidates,
)
from nettrain.train import _train


def test_candidates_halve_down_to_one():
    assert thread_candidates(1) == [1]
    assert thread_candidates(2) == [2, 1]
    assert thread_candidates(6) == [6, 3, 1]


def test_more_threads_must_be_clearly_faster():
    assert fastest_threads({2: 0.0096, 1: 0.010}) == 1  # 4% faster: one thread is enough
    assert fastest_threads({2: 0.0094, 1: 0.010}) == 2  # 6% faster: take the second
    assert fastest_threads({4: 0.0059, 2: 0.006, 1: 0.010}) == 2  # 4 is not 5% faster than 2


def test_choose_times_each_count_under_that_count():
    seen = []

    def time_step() -> float:
        seen.append(torch.get_num_threads())
        return {4: 0.004, 2: 0.002, 1: 0.003}[torch.get_num_threads()]

    with intra_op_threads(4):
        assert choose_threads(time_step, 4) == (2, 0.002)
        assert torch.get_num_threads() == 4
    assert seen == [4, 2, 1, 1, 2, 4]  # timed in turn, then in the reverse order


def test_a_slow_step_keeps_all_threads_without_retiming():
    calls = []

    def time_step() -> float:
        calls.append(torch.get_num_threads())
        return 0.5

    assert choose_threads(time_step, 2) == (2, 0.5)
    assert calls == [2]


def test_the_callers_count_comes_back_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), intra_op_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def thread_clock():
    """A clock whose every reading advances 20 ms with 2+ threads and 10 ms with 1 thread, so
    steps timed on 1 thread look twice as fast."""
    now = [0.0]

    def read() -> float:
        now[0] += 0.02 if torch.get_num_threads() > 1 else 0.01
        return now[0]

    return read


def test_train_uses_the_faster_count_and_restores_the_callers():
    x, y = make_classification(200)
    during = []

    def watch(live):
        during.append(torch.get_num_threads())

    with intra_op_threads(2):
        r = _train(
            make_net(),
            (x, y),
            "all",
            {"batch_size": 8, "training_progress_function": watch, **QUIET},
            thread_clock(),
        )
        assert torch.get_num_threads() == 2
    assert r.cpu_threads == 1
    assert set(during) == {1}


def test_short_runs_are_not_timed_and_keep_the_callers_count():
    x, y = make_classification(50)
    with intra_op_threads(2):
        r = _train(make_net(), (x, y), "all", {"max_training_rounds": 2, **QUIET}, thread_clock())
    assert r.cpu_threads == 2
