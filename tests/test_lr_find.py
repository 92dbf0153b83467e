"""``learning_rate="find"`` and ``nettrain.find_learning_rate``: the range test against a
hand-written one, its suggestion rules, what it leaves alone, and its errors."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from conftest import QUIET, assert_same_weights, weights
from nettrain.cli.commands import _train_options
from nettrain.cli.main import _parser
from nettrain.data.batching import round_permutation
from nettrain.errors import NetTrainError, NetTrainWarning
from nettrain.lr_find import LearningRateFinderResult, suggest
from nettrain.prepare import Choices

N, B, STEPS = 48, 8, 24
FIND = ("find", {"steps": STEPS})

pytestmark = pytest.mark.usefixtures("one_thread")  # bitwise comparisons


def _data(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g, dtype=dtype)
    return x, (x[:, 0] - x[:, 1] > 0).long()


def _net(dropout: float = 0.0, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Dropout(dropout), nn.Linear(8, 2))
    return net.to(dtype)


# ---- the sweep against a hand-written one ---------------------------------------------------


def _reference(net: nn.Module, x, y, method: str, start: float, end: float, steps: int):
    """fastai's range test written out with torch.optim: the run's batches (round r's order
    is round_permutation(seed, r, n)), rate i = start * (end / start) ** (i / (steps - 1)),
    the debiased average with beta 0.98, and a stop past 4 times the best smoothed loss."""
    net = copy.deepcopy(net).train()
    if method == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(net.parameters(), lr=start,
                                                           momentum=0.93)  # fmt: skip
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=start, betas=(0.9, 0.999), eps=1e-5)
    batches = [
        order[i : i + B]
        for r in range(1, 1 + math.ceil(steps * B / N) + 1)
        for order in [round_permutation(1234, r, N)]
        for i in range(0, N, B)
    ]
    rates, losses, smoothed, average, best = [], [], [], 0.0, math.inf
    for i in range(steps):
        rate = start * (end / start) ** (i / (steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = rate
        index = batches[i]
        loss = F.cross_entropy(net(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        average = 0.98 * average + 0.02 * loss.item()
        rates.append(rate)
        losses.append(loss.item())
        smoothed.append(average / (1 - 0.98 ** (i + 1)))
        best = min(best, smoothed[-1])
        if smoothed[-1] > 4 * best:
            return rates, losses, smoothed, "diverged"
    return rates, losses, smoothed, "steps"


@pytest.mark.parametrize("method", ["sgd", "adam"])
def test_the_sweep_matches_a_hand_written_range_test(method):
    x, y = _data(torch.float64)
    net = _net(dtype=torch.float64)
    start, end = 1e-4, 30.0  # far enough for the loss to blow up before the last step
    found = nettrain.find_learning_rate(
        net, (x, y), batch_size=B, method=method,
        learning_rate=("find", {"start": start, "end": end, "steps": STEPS}),
    )  # fmt: skip
    rates, losses, smoothed, stopped = _reference(net, x, y, method, start, end, STEPS)
    assert found.stopped == stopped and len(found.rates) == len(rates) and found.batch_size == B
    np.testing.assert_allclose(found.rates, rates, rtol=1e-14, atol=0)
    np.testing.assert_allclose(found.losses, losses, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(found.smoothed_losses, smoothed, rtol=1e-10, atol=1e-12)
    assert found.learning_rate == suggest(found.rates, found.smoothed_losses, STEPS)[0]


def test_the_sweep_stops_where_the_smoothed_loss_passes_four_times_the_best():
    x, y = _data()
    found = nettrain.find_learning_rate(
        _net(), (x, y), batch_size=B, method="sgd",
        learning_rate=("find", {"start": 1e-3, "end": 1e4, "steps": 60}),
    )  # fmt: skip
    smoothed = found.smoothed_losses
    assert found.stopped in ("diverged", "not_finite") and len(smoothed) < 60
    # it went on while within 4 times the best, and stopped at the first step past it
    best = [min(smoothed[: i + 1]) for i in range(len(smoothed))]
    assert all(s <= 4 * b for s, b in zip(smoothed[:-1], best[:-1], strict=True))
    last = found.losses[-1]
    assert smoothed[-1] > 4 * best[-1] or not math.isfinite(last)


# ---- the suggestion rules -------------------------------------------------------------------

# 30 points, flat, then falling (steepest from 12 to 13), lowest at 20, then blowing up
CURVE = [1.0] * 9 + [0.98, 0.95, 0.9, 0.8, 0.6, 0.45, 0.35, 0.3, 0.27, 0.25, 0.24, 0.235]
CURVE += [0.3, 0.5, 0.9, 1.5, 3.0, 5.0, 8.0, 12.0, 20.0]
RATES = [1e-6 * 10 ** (k / 5) for k in range(30)]


def test_the_suggestion_rules_on_a_hand_made_curve():
    # The rules read points 3 .. 24 (30 // 10 = 3 left out at the start, 5 at the end). The
    # longest decreasing subsequence ends at point 20 with 13 points (one flat point, then
    # 9 .. 20): fastai's valley spans 20 - 13 = 7 .. 20, a third of it is 13 / 3 = 4.33, so
    # the point is 7 + int(4.33) + int(2.17) = 13.
    assert suggest(RATES, CURVE, 30, "valley") == (RATES[13], 13)
    assert suggest(RATES, CURVE, 30, "steepest") == (RATES[12], 12)  # the drop of 0.2
    assert suggest(RATES, CURVE, 30, "minimum") == (RATES[20] / 10, 20)
    # the tail is left out: the same curve with a lower last point suggests the same
    assert suggest(RATES, [*CURVE[:-1], 0.01], 30, "minimum") == (RATES[20] / 10, 20)


def test_a_curve_that_never_goes_down_suggests_nothing():
    assert suggest(RATES, [1.0] * 30, 30) is None
    assert suggest(RATES, [0.5 + k / 100 for k in range(30)], 30, "steepest") is None
    # a NaN ends the curve: only what comes before it is read
    assert suggest(RATES, [1.0, 2.0, math.nan, 0.1, 0.05], 30) is None


# ---- what the search leaves alone -----------------------------------------------------------


def test_the_search_changes_nothing_of_the_net_nor_of_the_random_streams():
    x, y = _data()
    torch.manual_seed(11)
    net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    net.eval()
    before = weights(net)  # the parameters and BatchNorm's running statistics
    streams = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
    found = nettrain.find_learning_rate(net, (x, y), batch_size=B, learning_rate=FIND)
    assert len(found.rates) > 5
    after = weights(net)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not net.training  # its mode too
    assert torch.equal(torch.get_rng_state(), streams[0]) and random.getstate() == streams[1]
    assert np.array_equal(np.random.get_state()[1], streams[2])


@pytest.mark.parametrize("schedule", [None, "cosine"])
def test_training_at_the_found_rate_is_training_at_that_rate(schedule):
    """The run with "find" equals the run given the rate it found, bit for bit: the search
    draws nothing from the run's streams (the net has dropout), and a schedule scales the
    found rate as it scales a given one."""
    x, y = _data()
    method = ("sgd", {"learning_rate_schedule": schedule}) if schedule else "sgd"
    options = {"batch_size": B, "max_training_rounds": 3, "method": method, **QUIET}
    found_net, given_net = _net(0.3), _net(0.3)
    found = nettrain.train(found_net, (x, y), "all", learning_rate=FIND, **options)
    finder = found.learning_rate_finder
    rate = finder["learning_rate"]
    assert finder["suggestion"] == "valley" and finder["rates"][finder["index"]] == rate
    given = nettrain.train(given_net, (x, y), "all", learning_rate=rate, **options)
    assert_same_weights(found_net, given_net)
    assert found.batch_loss_list == given.batch_loss_list
    assert found.initial_learning_rate == given.initial_learning_rate == rate
    assert found.final_learning_rate == given.final_learning_rate
    assert given.learning_rate_finder is None
    # the call as recorded trains at the found rate, and the public function finds the same
    assert f"learning_rate={rate!r}" in found.train_input_form
    alone = nettrain.find_learning_rate(_net(0.3), (x, y), learning_rate=FIND, **options)
    assert alone.to_plain() == finder


def test_a_stream_of_unknown_length_is_swept_on_its_first_batch():
    x, y = _data()
    batches = [(x[i : i + B], y[i : i + B]) for i in range(0, N, B)]
    r = nettrain.train(_net(), iter(batches), "all", learning_rate=("find", {"steps": 10}),
                       **QUIET)  # fmt: skip
    assert r.batches_per_round is None and len(r.learning_rate_finder["rates"]) <= 10
    assert r.total_batches == len(batches)  # the sweep took none of the stream's batches
    assert r.initial_learning_rate == r.learning_rate_finder["learning_rate"]


# ---- results, plot, checkpoints, command line -----------------------------------------------


def test_the_plot_draws_the_recorded_curve():
    x, y = _data()
    r = nettrain.train(_net(), (x, y), "all", learning_rate=FIND, batch_size=B,
                       max_training_rounds=1, **QUIET)  # fmt: skip
    finder = r.learning_rate_finder
    figure = r.learning_rate_finder_plot
    ax = figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert ax.get_xscale() == "log"
    assert lines["loss"].get_xdata().tolist() == finder["rates"]
    assert lines["loss"].get_ydata().tolist() == finder["losses"]
    assert lines["smoothed loss"].get_ydata().tolist() == finder["smoothed_losses"]
    assert list(lines["suggestion"].get_xdata()) == [finder["learning_rate"]] * 2
    assert lines["suggestion point"].get_ydata().tolist() == [
        finder["smoothed_losses"][finder["index"]]
    ]
    found = LearningRateFinderResult.from_plain(finder)
    again = nettrain.plots.learning_rate_finder_plot(found).axes[0].get_lines()
    assert again[1].get_ydata().tolist() == finder["smoothed_losses"]
    assert plt.get_fignums() == []  # no pyplot figure was made


def test_a_run_without_find_has_no_finder_and_says_so_for_the_plot():
    x, y = _data()
    r = nettrain.train(_net(), (x, y), "all", batch_size=B, max_training_rounds=1, **QUIET)
    assert r.learning_rate_finder is None
    with pytest.raises(NetTrainError, match='learning_rate="find"'):
        r["learning_rate_finder_plot"]


def test_a_saved_result_keeps_the_finder_and_draws_its_plot(tmp_path):
    x, y = _data()
    r = nettrain.train(_net(), (x, y), "all", learning_rate=FIND, batch_size=B,
                       max_training_rounds=1, **QUIET)  # fmt: skip
    loaded = nettrain.TrainResult.load(r.save(tmp_path / "run.safetensors"))
    assert loaded.learning_rate_finder == r.learning_rate_finder
    lines = loaded.learning_rate_finder_plot.axes[0].get_lines()
    assert lines[0].get_ydata().tolist() == r.learning_rate_finder["losses"]


def test_a_resumed_run_does_not_search_again(tmp_path, monkeypatch):
    x, y = _data()
    options = {"batch_size": B, "max_training_rounds": 3, "learning_rate": FIND, **QUIET}
    full_net = _net(0.3)
    full = nettrain.train(full_net, (x, y), "all", **options,
                          training_progress_checkpointing={"directory": tmp_path})  # fmt: skip
    for name in full.checkpointing_files[1:]:
        Path(name).unlink()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("searched again")

    monkeypatch.setattr("nettrain.prepare.search", refuse)
    resumed_net = _net(0.3)
    resumed = nettrain.train(resumed_net, (x, y), "all", **options, resume=tmp_path)
    assert resumed.learning_rate_finder == full.learning_rate_finder
    assert resumed.initial_learning_rate == full.initial_learning_rate
    assert_same_weights(full_net, resumed_net)


def test_choices_read_back_with_and_without_a_finder():
    finder = LearningRateFinderResult(0.01, "valley", 1, (1e-3, 1e-2), (1.0, 0.5), (1.0, 0.7),
                                      "steps", 1e-3, 1e-2, 2, 8)  # fmt: skip
    choices = Choices(8, 3, None, 18, None, 1, learning_rate_finder=finder)
    assert Choices.from_plain(choices.to_plain()) == choices
    older = Choices(8, 3, None, 18, None, 1).to_plain()
    del older["learning_rate_finder"], older["memory_format"]  # a checkpoint of an older run
    assert Choices.from_plain(older).learning_rate_finder is None


def test_the_command_line_takes_find_for_its_learning_rate():
    args = _parser().parse_args(["train", "Digits", "--learning-rate", "find"])
    assert _train_options(args)["learning_rate"] == "find"
    args = _parser().parse_args(["train", "Digits", "--learning-rate", "0.01"])
    assert _train_options(args)["learning_rate"] == 0.01


# ---- bad inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"method": "lbfgs"}, "lbfgs has none to search"),
        ({"method": ("adam", {"learning_rate": 0.1})}, "given twice"),
        ({"learning_rate": ("find", {"stpes": 10})}, "unknown sub-option 'stpes'"),
        ({"learning_rate": ("find", {"steps": 2})}, r"learning_rate\['steps'\]"),
        ({"learning_rate": ("find", {"start": 1.0, "end": 0.1})}, "start < end"),
        ({"learning_rate": {"find": {"suggestion": "steep"}}}, "unknown suggestion rule"),
        ({"learning_rate": ("find", {"start": -1})}, r"learning_rate\['start'\]"),
    ],
)
def test_bad_find_options_are_refused_before_any_training(options, words):
    x, y = _data()
    net = _net()
    before = weights(net)
    given = {"learning_rate": "find", "batch_size": B, **QUIET, **options}
    with pytest.raises(NetTrainError, match=words) as info:
        nettrain.train(net, (x, y), **given)
    assert info.value.argument.startswith("learning_rate")
    assert all(torch.equal(v, weights(net)[k]) for k, v in before.items())


def test_find_learning_rate_takes_only_a_find_form():
    x, y = _data()
    with pytest.raises(NetTrainError, match="takes only a find form") as info:
        nettrain.find_learning_rate(_net(), (x, y), learning_rate=0.1)
    assert info.value.argument == "learning_rate"


def test_a_loss_that_is_nan_from_the_start_is_an_error():
    x, y = _data()

    def broken(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, target) * math.nan

    with pytest.raises(NetTrainError, match="first step of the range test") as info:
        nettrain.train(_net(), (x, y), learning_rate=FIND, loss_function=broken, batch_size=B,
                       max_training_rounds=1, **QUIET)  # fmt: skip
    assert info.value.argument == "learning_rate"


def test_a_loss_that_never_goes_down_trains_at_the_methods_default_with_a_warning():
    x, y = _data()

    def constant(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (out * 0).sum() + 1.0  # no gradient to descend

    with pytest.warns(NetTrainWarning, match="never went down"):
        r = nettrain.train(_net(), (x, y), "all", learning_rate=FIND, loss_function=constant,
                           method="sgd", batch_size=B, max_training_rounds=1, **QUIET)  # fmt: skip
    finder = r.learning_rate_finder
    assert finder["suggestion"] == "method_default" and finder["index"] is None
    assert r.initial_learning_rate == finder["learning_rate"] == 0.01  # sgd's default
    assert plt.get_fignums() == []
