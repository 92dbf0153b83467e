"""performance_goal and the automatic precision: "auto" choosing bfloat16 autocast by timing
(where the device has it natively and the loss stays close), "training_speed" timing the
layout and the precision even for a run of fixed length, "training_memory" halving an
automatic batch with two batches accumulated per update and checkpointing activations, which
gives the plain step's gradients with less peak memory."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainWarning
from nettrain.prepare import Choices
from nettrain.runtime.activations import checkpointed, longest_chain, segment_count

X = torch.randn(128, 1, 12, 12, generator=torch.Generator().manual_seed(0))
Y = (X.mean((1, 2, 3)) > 0).long()
QUIET = {"training_progress_reporting": None}
# automatic rounds with a schedule: steps are timed once (a fake 1 s step gives 5 rounds)
SCHEDULED = ("sgd", {"learning_rate_schedule": "cosine"})


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 12 * 12, 2))  # fmt: skip


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(144, 16), nn.ReLU(), nn.Linear(16, 2))


def _fake_timing(monkeypatch, seconds) -> list[tuple[bool, bool]]:
    """Steps timed at ``seconds(channels_last, mixed)``; returns what was timed, in order."""
    timed: list[tuple[bool, bool]] = []

    def fake(net, inputs, plan_for, make_updater, batch, clock, budget=0.25,
             channels_last=False, autocast=None):  # fmt: skip
        timed.append((channels_last, autocast is not None))
        return seconds(channels_last, autocast is not None)

    monkeypatch.setattr("nettrain.prepare_length.time_steps", fake)
    return timed


@pytest.fixture
def native_bfloat16(monkeypatch):
    """As on a CPU with AVX512-BF16 or AMX."""
    monkeypatch.setattr("nettrain.prepare_precision.fast_bfloat16", lambda device: True)


@pytest.mark.parametrize(("mixed_seconds", "chosen"), [(0.6, "mixed"), (0.97, "float32")])
def test_auto_precision_times_bfloat16_and_keeps_it_where_it_pays(
    monkeypatch, native_bfloat16, mixed_seconds, chosen
):
    timed = _fake_timing(monkeypatch, lambda last, mixed: mixed_seconds if mixed else 1.0)
    net = _mlp()
    result = nettrain.train(net, (X, Y), "all", batch_size=32, method=SCHEDULED, **QUIET)
    assert (False, True) in timed and (False, False) in timed
    assert result["working_precision"] == chosen
    assert all(p.dtype == torch.float32 for p in net.parameters())  # master weights


def test_auto_precision_never_times_bfloat16_where_it_is_emulated(monkeypatch):
    monkeypatch.setattr("nettrain.prepare_precision.fast_bfloat16", lambda device: False)
    timed = _fake_timing(monkeypatch, lambda last, mixed: 0.1 if mixed else 1.0)
    result = nettrain.train(_mlp(), (X, Y), "all", batch_size=32, method=SCHEDULED, **QUIET)
    assert result["working_precision"] == "float32"
    assert all(not mixed for _, mixed in timed)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_a_precision_given_is_never_timed(monkeypatch, native_bfloat16, precision):
    timed = _fake_timing(monkeypatch, lambda last, mixed: 0.1 if mixed else 1.0)
    result = nettrain.train(_mlp(), (X, Y), "all", batch_size=32, method=SCHEDULED,
                            working_precision=precision, **QUIET)  # fmt: skip
    assert result["working_precision"] == precision
    assert all(not mixed for _, mixed in timed)


class _LossyInBFloat16(nn.Module):
    """A net that adds and takes away a large offset around its layer, so bfloat16's 8 bits of
    mantissa (multiples of 4 near 1000) wipe out most of its outputs and change its loss: "auto"
    must keep it in float32 without timing it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(144, 2)

    def forward(self, x):
        return (self.linear(x.flatten(1)) * 10 + 1000.0) - 1000.0


def test_auto_precision_keeps_float32_when_bfloat16_changes_the_loss(monkeypatch, native_bfloat16):
    timed = _fake_timing(monkeypatch, lambda last, mixed: 0.1 if mixed else 1.0)
    net = _LossyInBFloat16()
    result = nettrain.train(net, (X, Y), "all", batch_size=32, method=SCHEDULED, **QUIET)
    assert result["working_precision"] == "float32"
    assert all(not mixed for _, mixed in timed)


def test_a_chosen_precision_is_kept_by_a_resumed_run():
    choices = Choices(32, 5, None, 20, None, 1, "contiguous", None, True, 2)
    back = Choices.from_plain(json.loads(json.dumps(choices.to_plain())))
    assert back == choices
    older = {k: v for k, v in choices.to_plain().items() if k not in ("mixed",
             "gradient_accumulation")}  # fmt: skip
    assert Choices.from_plain(older).mixed is False  # a checkpoint from before the field


def test_training_speed_times_layout_and_precision_for_a_run_of_fixed_length(
    monkeypatch, native_bfloat16
):
    timed = _fake_timing(
        monkeypatch, lambda last, mixed: (0.8 if last else 1.0) * (0.6 if mixed else 1.0)
    )
    plain = nettrain.train(_cnn(), (X, Y), "all", batch_size=32, max_training_rounds=1, **QUIET)
    assert timed == []  # a fixed length: nothing is timed by default
    fast = nettrain.train(_cnn(), (X, Y), "all", batch_size=32, max_training_rounds=1,
                          performance_goal="TrainingSpeed", **QUIET)  # fmt: skip
    assert set(timed) >= {(False, False), (True, False), (True, True)}
    assert (fast["memory_format"], fast["working_precision"]) == ("channels_last", "mixed")
    assert fast["performance_goal"] == ["training_speed"]
    assert (plain["memory_format"], plain["working_precision"]) == ("contiguous", "float32")
    assert plain["performance_goal"] == []


# ---- training_memory ------------------------------------------------------------------------


def _deep(dropout: float = 0.2) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(144, 16)]
    for _ in range(6):
        layers += [nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 16)]
    return nn.Sequential(*layers, nn.Linear(16, 2)).double()


def test_checkpointed_gradients_and_statistics_equal_the_plain_step():
    net = _deep()
    twin = copy.deepcopy(net)
    x = X.double()
    torch.manual_seed(3)
    nn.functional.cross_entropy(net(x), Y).backward()
    torch.manual_seed(3)
    with checkpointed(twin) as segments:
        assert "forward" in vars(longest_chain(twin))
        nn.functional.cross_entropy(twin(x), Y).backward()
    assert segments == segment_count(net) == 6  # ceil(sqrt(27 layers))
    assert "forward" not in vars(twin)  # the net's own forward is back
    for (name, a), b in zip(net.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-12, atol=1e-14, msg=name)
    for (name, a), b in zip(net.named_buffers(), twin.buffers(), strict=True):
        assert torch.equal(a, b), name  # BatchNorm updated once, not again in the recompute


def test_training_memory_trains_as_the_plain_run_does():
    """A batch size given is kept, so the run differs from the plain one only in
    recomputing the activations: the same weights."""
    plain_net, memory_net = _deep(), _deep()
    plain = nettrain.train(plain_net, (X.double(), Y), "all", batch_size=32,
                           max_training_rounds=3, **QUIET)  # fmt: skip
    memory = nettrain.train(memory_net, (X.double(), Y), "all", batch_size=32,
                            max_training_rounds=3, performance_goal="training_memory",
                            **QUIET)  # fmt: skip
    assert memory["activation_checkpointing"] == 6 and plain["activation_checkpointing"] == 0
    assert memory["batch_size"] == 32
    for a, b in zip(plain_net.state_dict().values(), memory_net.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_training_memory_halves_an_automatic_batch_and_accumulates_two():
    plain_net, memory_net = _deep(0.0), _deep(0.0)
    nettrain.train(plain_net, (X.double(), Y), batch_size=64, max_training_rounds=2,
                   method="sgd", **QUIET)  # fmt: skip
    memory = nettrain.train(memory_net, (X.double(), Y), "all", max_training_rounds=2,
                            method="sgd", performance_goal="training_memory",
                            **QUIET)  # fmt: skip
    assert memory["batch_size"] == 32
    assert memory["optimization_method"]["gradient_accumulation"] == 2
    # BatchNorm normalises each half on its own statistics, so the weights are close, not equal
    for a, b in zip(plain_net.parameters(), memory_net.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=0.05, atol=0.02)


def test_training_memory_warns_for_a_net_it_cannot_cut():
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(144, 2)

        def forward(self, x):
            return self.linear(x.flatten(1))

    with pytest.warns(NetTrainWarning, match="no nn.Sequential chain"):
        result = nettrain.train(Plain(), (X, Y), "all", batch_size=32, max_training_rounds=1,
                                performance_goal="training_memory", **QUIET)  # fmt: skip
    assert result["activation_checkpointing"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", NetTrainWarning)
        nettrain.train(Plain(), (X, Y), batch_size=32, max_training_rounds=1, **QUIET)


_PEAK = textwrap.dedent(
    """
    import sys, torch
    from torch import nn
    import nettrain

    def kib(field):
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith(field + ":"))
        return int(line.split()[1])

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = nn.Sequential(*[m for _ in range(32) for m in (nn.Linear(64, 64), nn.ReLU())],
                        nn.Linear(64, 2))
    x = torch.randn(32768, 64)
    y = (x[:, 0] > 0).long()
    before = kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak (VmHWM) starts again from the resident memory now
    goal = sys.argv[1] if sys.argv[1] != "none" else None
    nettrain.train(net, (x, y), batch_size=32768, max_training_rounds=1, method="sgd",
                   performance_goal=goal, training_progress_reporting=None)
    print((kib("VmHWM") - before) * 1024)
    """
)


def test_training_memory_lowers_the_peak_memory_of_a_deep_mlp():
    """The memory probe: the process's peak resident memory (VmHWM, reset by writing 5 to
    /proc/self/clear_refs just before ``train``) above its resident memory then, while one step of a
    65-layer MLP trains on 32,768 examples (each layer's output 8 MiB), in a fresh process
    each way. glibc's malloc is told to map every block over 128 KiB on its own
    (MALLOC_MMAP_THRESHOLD_), so a freed activation leaves the resident memory at once and the
    peak is the peak of live tensors. Kept: ~33 ReLU outputs of 8 MiB; checkpointed: the 9
    segments' inputs and one segment recomputed at a time."""

    def peak(goal: str) -> int:
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
        out = subprocess.run([sys.executable, "-c", _PEAK, goal], capture_output=True,
                             text=True, timeout=120, check=True, env=env)  # fmt: skip
        return int(out.stdout.split()[-1])

    plain, memory = peak("none"), peak("training_memory")
    assert plain > 250 * 2**20  # the activations dominate
    assert memory < 0.7 * plain, (plain, memory)  # measured here: 199 MiB against 363 MiB


# ---- the automatic batch size, checked with one real step ------------------------------------


def test_an_automatic_batch_that_runs_out_of_memory_is_halved(monkeypatch):
    from nettrain import preflight

    tried: list[int] = []

    def limited(net, inputs, plan_for, make_updater, batch, autocast=None):
        tried.append(len(next(iter(batch.values()))))
        if tried[-1] > 16:  # what torch's CPU allocator raises
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB")
        preflight.one_step(net, inputs, plan_for, make_updater, batch, autocast)

    monkeypatch.setattr("nettrain.prepare_length.one_step", limited)
    result = nettrain.train(_mlp(), (X, Y), "all", max_training_rounds=1, **QUIET)
    assert tried == [64, 32, 16]
    assert result["batch_size"] == 16
    tried.clear()
    given = nettrain.train(_mlp(), (X, Y), "batch_size", batch_size=64, max_training_rounds=1,
                           **QUIET)  # fmt: skip
    assert given == 64 and tried == []  # a batch size given is the user's: not checked


def test_the_batch_check_leaves_the_runs_random_streams_alone():
    def net() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(144, 16), nn.Dropout(0.5), nn.Linear(16, 2))

    auto_net, given_net = net(), net()
    auto = nettrain.train(auto_net, (X, Y), "all", max_training_rounds=2, **QUIET)
    nettrain.train(given_net, (X, Y), batch_size=auto["batch_size"], max_training_rounds=2,
                   **QUIET)  # fmt: skip
    for a, b in zip(auto_net.parameters(), given_net.parameters(), strict=True):
        assert torch.equal(a, b)
