"""Interleaved timing: the automatic choices must not choose by the machine's drift."""

from __future__ import annotations

import itertools

import pytest
import torch

from nettrain.prepare_precision import choose_mixed
from nettrain.runtime.layout import choose_layout
from nettrain.runtime.threads import choose_threads, intra_op_threads
from nettrain.runtime.timing import interleaved_seconds


class DriftingMachine:
    """Steps that cost ``work`` seconds on a machine that slows down (or speeds up) steadily
    with each timing, as a VM whose neighbour wakes up or goes to sleep."""

    def __init__(self, slowdown: float) -> None:
        self.calls = itertools.count()
        self.slowdown = slowdown

    def timer(self, work: float):
        def timed() -> float:
            call = next(self.calls)
            return work * (1 + self.slowdown * call)

        return timed


def test_the_order_is_abba_and_each_way_averages_its_passes():
    order = []

    def timer(key, values):
        values = iter(values)

        def timed():
            order.append(key)
            return next(values)

        return timed

    seconds = interleaved_seconds({"a": timer("a", [3.0, 1.0]), "b": timer("b", [2.0, 4.0])})
    assert order == ["a", "b", "b", "a"]
    assert seconds == {"a": 2.0, "b": 3.0}


def test_three_ways_are_timed_forward_then_backward():
    order = []
    timers = {k: (lambda k=k: order.append(k) or 1.0) for k in (4, 2, 1)}
    assert interleaved_seconds(timers) == {4: 1.0, 2: 1.0, 1: 1.0}
    assert order == [4, 2, 1, 1, 2, 4]


def test_a_steady_slowdown_does_not_choose_the_slower_layout():
    # channels_last 10% faster; the machine slows 20% per timing. Timed one after the other
    # (plain first), channels_last would read 0.9 * 1.2 = 1.08 against 1.0 and be refused.
    machine = DriftingMachine(slowdown=0.2)
    assert choose_layout(machine.timer(1.0), machine.timer(0.9)) == "channels_last"


def test_a_steady_speed_up_does_not_choose_the_slower_precision():
    # mixed 3% slower (not worth it); the machine speeds up 20% per timing, which timed in turn
    # (plain first) would make mixed look 16% faster
    machine = DriftingMachine(slowdown=-0.2)
    assert choose_mixed(machine.timer(1.0), machine.timer(1.03)) is False
    machine = DriftingMachine(slowdown=-0.2)
    assert choose_mixed(machine.timer(1.0), machine.timer(0.9)) is True


def test_a_slow_first_count_is_not_retimed():
    calls = []

    def timed():
        calls.append(torch.get_num_threads())
        return 0.5

    with intra_op_threads(2):
        assert choose_threads(timed, 2) == (2, 0.5)
    assert calls == [2]


def test_threads_are_chosen_by_the_fastest_of_each_count_on_a_drifting_machine():
    # 2 threads 20% faster; a slowdown of 30% per timing would make 1 thread look faster
    # timed once each in turn (2 first)
    machine = DriftingMachine(slowdown=0.3)
    costs = {2: machine.timer(0.008), 1: machine.timer(0.010)}  # ms steps: all counts timed
    with intra_op_threads(2):
        count, seconds = choose_threads(lambda: costs[torch.get_num_threads()](), 2)
    assert count == 2
    assert seconds == pytest.approx(0.008 * (1 + 0.3 * 1.5))  # the mean of its timings 0 and 3
