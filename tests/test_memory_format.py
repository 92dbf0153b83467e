"""memory_format: conv nets in channels_last where timing says it is faster, forced either way,
recorded, and the user's module back in the ordinary layout afterwards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError
from nettrain.runtime.layout import choose_layout, has_convolutions, to_layout

X = torch.randn(128, 1, 12, 12, generator=torch.Generator().manual_seed(0))
Y = (X.mean((1, 2, 3)) > 0).long()
QUIET = {"training_progress_reporting": None}
# automatic rounds with a schedule: the length is chosen once from the timed step (a fake 1 s
# gives 5 rounds), not refitted to 20 s of real training
SCHEDULED = ("sgd", {"learning_rate_schedule": "cosine"})


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 12 * 12, 2))  # fmt: skip


def _train(net, **options):
    return nettrain.train(net, (X, Y), "all", batch_size=32, **QUIET, **options)


@pytest.mark.parametrize("forced", ["channels_last", torch.channels_last])
def test_forced_channels_last_trains_as_the_ordinary_layout_does(forced):
    plain_net, last_net = _cnn(), _cnn()
    plain = _train(plain_net, max_training_rounds=3, memory_format="contiguous")
    last = _train(last_net, max_training_rounds=3, memory_format=forced)
    assert plain["memory_format"] == "contiguous" and last["memory_format"] == "channels_last"
    torch.testing.assert_close(last["batch_loss_list"], plain["batch_loss_list"], rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    for a, b in zip(last_net.parameters(), plain_net.parameters(), strict=True):
        assert a.is_contiguous()  # the module comes back in the ordinary layout
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def _fake_timing(monkeypatch, plain: float, channels_last: float) -> list[bool]:
    """Steps timed at the given seconds; returns the layouts timed, in order."""
    timed: list[bool] = []

    def fake(net, inputs, plan_for, make_updater, batch, clock, budget=0.25,
             channels_last=False, autocast=None):  # fmt: skip
        timed.append(channels_last)
        return channels_last_seconds if channels_last else plain

    channels_last_seconds = channels_last
    monkeypatch.setattr("nettrain.prepare_length.time_steps", fake)
    return timed


@pytest.mark.parametrize(("plain", "last", "chosen"), [(1.0, 0.5, "channels_last"),
                                                      (1.0, 0.97, "contiguous")])  # fmt: skip
def test_auto_times_both_layouts_for_a_conv_net_and_keeps_the_faster(
    monkeypatch, plain, last, chosen
):
    timed = _fake_timing(monkeypatch, plain, last)
    result = _train(_cnn(), method=SCHEDULED)  # automatic rounds: steps are timed
    assert timed[:2] == [False, True]
    assert result["memory_format"] == chosen


def test_auto_leaves_a_net_without_convolutions_alone(monkeypatch):
    timed = _fake_timing(monkeypatch, 1.0, 0.1)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(144, 2))
    assert _train(mlp, method=SCHEDULED)["memory_format"] == "contiguous"
    assert True not in timed  # never timed in channels_last


def test_an_unknown_memory_format_is_refused():
    with pytest.raises(NetTrainError, match=r"^memory_format: unknown memory format") as error:
        _train(_cnn(), memory_format="nhwc", max_training_rounds=1)
    assert "channels_last" in str(error.value)


def test_the_layout_helpers():
    assert has_convolutions(_cnn()) and not has_convolutions(nn.Linear(2, 2))
    batch = to_layout({"input": X[:2], "target": Y[:2]})
    assert batch["input"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch["input"], X[:2]) and batch["target"] is not None
    assert choose_layout(lambda: 1.0, lambda: 0.95) == "channels_last"
    assert choose_layout(lambda: 1.0, lambda: 0.96) == "contiguous"


def test_the_timing_sample_has_the_strides_of_the_rounds_batches():
    # a 1-channel image column stored [n, 1, H, W] with channel stride 1 (as an [n, H, W, 1]
    # array moved to channels first): a slice of it reads as channels_last to the convolutions,
    # index_select's batches as plain NCHW; the timed sample must be what the rounds train on,
    # or "auto" times the fast kernels for the plain layout and refuses channels_last
    from nettrain.data.batching import InMemorySource
    from nettrain.data.table import PortTable

    images = torch.zeros(10, 6, 6, 1).permute(0, 3, 1, 2)
    assert images[:4].is_contiguous(memory_format=torch.channels_last)
    source = InMemorySource(PortTable({"input": images, "target": torch.arange(10)}, "pairs"), 0)
    sample = source.sample(4)["input"]
    trained = next(iter(source.round_batches(1, 4)))["input"]
    assert sample.stride() == trained.stride()
    assert torch.equal(sample, images[:4])
    assert len(source.sample(64)["target"]) == 10  # all of a smaller table
