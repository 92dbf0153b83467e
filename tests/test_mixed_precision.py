"""working_precision="mixed": the forward pass under bfloat16 autocast, float32 master weights,
the loss and measurements in float32; checked against a hand-written torch.autocast step."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError, NetTrainWarning
from nettrain.runtime import precision

X = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
Y = (X.sum(1) > 0).long()
QUIET = {"training_progress_reporting": None}
FAST_BFLOAT16 = precision.fast_bfloat16  # before the fixture below replaces it


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 2))


@pytest.fixture(autouse=True)
def _fast_bfloat16(monkeypatch):
    """As on a CPU with AVX512-BF16 (no warning), unless a test says otherwise."""
    monkeypatch.setattr(precision, "fast_bfloat16", lambda device: True)
    monkeypatch.setattr("nettrain.prepare_precision.fast_bfloat16", lambda device: True)


def test_one_mixed_step_is_torch_autocast_with_a_float32_loss():
    net = _net()
    reference = copy.deepcopy(net)
    nettrain.train(net, (X, Y), working_precision="mixed", method=("sgd", {"momentum": 0}),
                   learning_rate=0.1, batch_size=256, max_training_rounds=1, **QUIET)  # fmt: skip
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = reference(X)
    assert outputs.dtype == torch.bfloat16
    loss = nn.functional.cross_entropy(outputs.float(), Y)
    loss.backward()
    with torch.no_grad():
        for p in reference.parameters():
            p -= 0.1 * p.grad
    for a, b in zip(net.parameters(), reference.parameters(), strict=True):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_a_mixed_run_keeps_float32_weights_records_it_and_answers_in_float32():
    net = _net()
    result = nettrain.train(net, (X, Y), "all", working_precision="Mixed", batch_size=32,
                            max_training_rounds=15, **QUIET)  # fmt: skip
    assert result["working_precision"] == "mixed"
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert result["trained_net"](X[:4]).dtype == torch.float32
    assert isinstance(result["round_loss_list"][-1], float)
    assert result["round_measurements"]["error_rate"] < 0.1  # it learns the plane
    plain = nettrain.train(_net(), (X, Y), "all", batch_size=32, max_training_rounds=15, **QUIET)
    assert plain["working_precision"] == "float32"
    assert abs(result["round_loss_list"][-1] - plain["round_loss_list"][-1]) < 0.05


class _NoBFloat16(nn.Module):
    """A layer with no bfloat16 kernel, as some custom and third-party layers are."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        if torch.is_autocast_enabled("cpu"):
            raise RuntimeError("no kernel for BFloat16")
        return self.linear(x)


def test_a_net_that_cannot_run_in_bfloat16_is_refused_before_training():
    net = _NoBFloat16()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(NetTrainError, match=r"^working_precision: .*cannot run under bfloat16"):
        nettrain.train(net, (X, Y), working_precision="mixed", max_training_rounds=1, **QUIET)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    result = nettrain.train(net, (X, Y), "working_precision", max_training_rounds=1, **QUIET)
    assert result == "float32"  # "auto" leaves it in float32


def test_a_device_without_native_bfloat16_warns(monkeypatch):
    monkeypatch.setattr("nettrain.prepare_precision.fast_bfloat16", lambda device: False)
    with pytest.warns(NetTrainWarning, match="no native bfloat16.*slower than float32"):
        nettrain.train(_net(), (X, Y), working_precision="mixed", max_training_rounds=1, **QUIET)
    monkeypatch.setattr("nettrain.prepare_precision.fast_bfloat16", lambda device: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NetTrainWarning)
        nettrain.train(_net(), (X, Y), working_precision="mixed", max_training_rounds=1, **QUIET)


def test_the_native_bfloat16_check_reads_the_cpu():
    cpu = torch.device("cpu")
    expected = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert FAST_BFLOAT16(cpu) == bool(expected)
    assert precision.mixed_dtype(cpu) == torch.bfloat16


class _Recorder(nn.Module):
    """Records, for each forward pass in eval mode, whether it ran under inference mode and
    autocast (validation passes)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x):
        if not self.training:
            self.seen.append((torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu")))
        return self.linear(x)


@pytest.mark.parametrize("precision", ["float32", "mixed"])
def test_validation_runs_in_inference_mode_at_the_training_precision(precision):
    net = _Recorder()
    result = nettrain.train(net, (X, Y), "all", validation_set=(X[:64], Y[:64]), batch_size=32,
                            max_training_rounds=2, working_precision=precision,
                            **QUIET)  # fmt: skip
    validation = net.seen[-2:]  # the last round's validation and the final one
    assert validation == [(True, precision == "mixed")] * 2
    assert isinstance(result["validation_loss"], float)
    # the measurements are float32 sums either way: the loss matches a float32 evaluation
    # within bfloat16's rounding of the outputs
    with torch.no_grad():
        expected = nn.functional.cross_entropy(result["final_net"].linear(X[:64]), Y[:64])
    tolerance = 0.02 if precision == "mixed" else 1e-6
    assert result["validation_loss"] == pytest.approx(expected.item(), rel=tolerance)
