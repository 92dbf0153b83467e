"""float16 mixed precision with a loss scale (GPUs without bfloat16), against torch.amp.

CI has no GPU, so the float16 path runs on the CPU here: ``mixed_dtype`` is made to answer
float16, as it does on a CUDA GPU without bfloat16, and CPU autocast runs float16. The
reference is the hand-written torch loop of the PyTorch AMP recipe: ``torch.autocast`` with
float16, ``torch.amp.GradScaler`` and ``torch.optim.Adam``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import nettrain
from nettrain.optim.loss_scale import LossScaler
from nettrain.runtime.precision import mixed_dtype

QUIET = {"training_progress_reporting": None}


@pytest.fixture
def float16_mixed(monkeypatch):
    """ "mixed" as a GPU without bfloat16 runs it: float16 autocast."""
    monkeypatch.setattr("nettrain.prepare_precision.mixed_dtype", lambda device: torch.float16)
    monkeypatch.setattr("nettrain.prepare_precision.fast_bfloat16", lambda device: True)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def _data(scale=1.0):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 6, generator=g) * scale
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def _reference(x, y, steps, lr=1e-2, init_scale=2.0**16, growth_interval=2000):
    """The AMP recipe by hand: one batch of all 64 examples per step."""
    net = _net()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, eps=1e-5)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=growth_interval)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.float16):
            logits = net(x)
        loss = nn.functional.cross_entropy(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return net, scaler


def test_float16_mixed_trains_as_the_amp_recipe(float16_mixed):
    x, y = _data()
    net = _net()
    result = nettrain.train(net, (x, y), "all", working_precision="mixed", batch_size=64,
                            max_training_rounds=20, learning_rate=1e-2, **QUIET)  # fmt: skip
    reference, _ = _reference(x, y, steps=20)
    for mine, theirs in zip(net.parameters(), reference.parameters(), strict=True):
        assert mine.dtype == torch.float32  # float32 master weights
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)
    assert result["working_precision"] == "mixed"
    assert result["round_loss_list"][-1] < result["round_loss_list"][0]


def test_an_infinite_gradient_skips_the_update_and_halves_the_scale_as_grad_scaler_does():
    # a gradient of 400: at a scale of 2**12 its float16 backward overflows (65,504 at most), so
    # the first updates are skipped and the scale halves until it fits (128); after 3 good
    # updates it doubles and overflows again. GradScaler does the same, step for step
    w = nn.Parameter(torch.ones(3))
    x = torch.full((4, 3), 1e2)
    mine = LossScaler(torch.device("cpu"), init_scale=2.0**12, growth_interval=3)
    theirs = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=3)
    reference = nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([reference], lr=1e-9)
    kept = []
    for _ in range(12):
        w.grad = None
        with torch.autocast("cpu", dtype=torch.float16):
            loss = (x @ w.half()).float().sum()
        mine.scaled(loss).backward()
        kept.append(mine.unscaled([w]))
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = (x @ reference.half()).float().sum()
        theirs.scale(loss).backward()
        theirs.step(optimizer)
        theirs.update()
        assert float(mine.scale) == theirs.get_scale()
    assert kept[:6] == [False] * 5 + [True]  # 2**12 ... 2**8 overflow, 2**7 fits
    assert mine.skipped == kept.count(False) > 0


def test_the_loss_scale_is_in_checkpoints_and_a_resumed_run_ends_as_the_whole_one(
    float16_mixed, tmp_path
):
    x, y = _data()
    options = {"working_precision": "mixed", "batch_size": 16, "max_training_rounds": 4,
               "learning_rate": 1e-2, **QUIET}  # fmt: skip
    whole = _net()
    folder = tmp_path / "checkpoints"
    result = nettrain.train(whole, (x, y), "all", **options,
                            training_progress_checkpointing={"directory": folder})  # fmt: skip
    for name in result["checkpointing_files"][2:]:
        Path(name).unlink()
    resumed = _net()
    nettrain.train(resumed, (x, y), resume=folder, **options)
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_mixed_is_float16_on_a_gpu_without_bfloat16_and_bfloat16_on_the_cpu(monkeypatch):
    assert mixed_dtype(torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr("nettrain.runtime.precision.fast_bfloat16", lambda device: False)
    assert mixed_dtype(torch.device("cuda", 0)) == torch.float16
    with pytest.raises(nettrain.NetTrainError, match="not available on this mps device"):
        mixed_dtype(torch.device("mps"))
