"""Checkpoints at the end of rounds and ``resume``: a run resumed from any of its checkpoints,
or killed with SIGKILL at a random moment and resumed, ends bit for bit where the uninterrupted
run ends (CPU, one thread)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = (X.sum(1) > 0).long()
ROUNDS = 6


def _net(kind: str) -> nn.Module:
    torch.manual_seed(1)
    if kind == "batchnorm":
        return nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    return nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2))


CASES = {
    "dropout, adam, validation, best net, stopping criterion": (
        "dropout",
        {"method": "adam", "validation_set": 0.25,
         "training_stopping_criterion": {"criterion": "loss", "patience": 50}},
    ),
    "batch norm, sgd with a schedule": (
        "batchnorm",
        {"method": ("sgd", {"learning_rate_schedule": "cosine"})},
    ),
}  # fmt: skip


def _train(kind: str, options: dict, **more: object) -> tuple[nn.Module, object]:
    net = _net(kind)
    result = nettrain.train(
        net, (X, Y), "all", batch_size=8, max_training_rounds=ROUNDS,
        training_progress_reporting=None, **options, **more,
    )  # fmt: skip
    return net, result


def _same(a: nn.Module, ra: object, b: nn.Module, rb: object) -> None:
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), name
    for key in ("round_loss_list", "batch_loss_list", "validation_loss_list",
                "best_validation_round", "total_batches", "reason_training_stopped"):  # fmt: skip
        assert ra[key] == rb[key], key


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("case", list(CASES))
def test_resuming_from_every_checkpoint_ends_where_the_whole_run_ends(case, tmp_path):
    kind, options = CASES[case]
    full, full_result = _train(kind, options)
    folder = tmp_path / "ckpt"
    _, written = _train(kind, options, training_progress_checkpointing={"directory": folder})
    files = written["checkpointing_files"]
    assert len(files) == ROUNDS and [Path(f).parent for f in files] == [folder] * ROUNDS
    for keep in (1, 3, 5):
        for name in files[keep:]:
            Path(name).unlink(missing_ok=True)
        resumed, resumed_result = _train(kind, options, resume=folder)
        _same(full, full_result, resumed, resumed_result)


def test_a_file_checkpoint_keeps_its_previous_generation(tmp_path):
    kind, options = CASES["batch norm, sgd with a schedule"]
    path = tmp_path / "run.safetensors"
    _, result = _train(kind, options, training_progress_checkpointing={"file": path, "interval": 2})
    assert result["checkpointing_files"] == [str(path)] * (ROUNDS // 2)
    assert path.exists() and Path(str(path) + ".prev").exists()
    path.write_bytes(path.read_bytes()[:100])  # the latest damaged: the previous one is used
    with pytest.warns(nettrain.NetTrainWarning, match="prev"):
        resumed, resumed_result = _train(kind, options, resume=path)
    full, full_result = _train(kind, options)
    _same(full, full_result, resumed, resumed_result)


DRIVER = """
import os, random, signal, sys, torch, torch.nn as nn, nettrain
torch.set_num_threads(1)
X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)); Y = (X.sum(1) > 0).long()
folder = sys.argv[1]

def run(**more):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2))
    nettrain.train(net, (X, Y), batch_size=8, max_training_rounds=60, method="adam",
                   training_progress_reporting=None, validation_set=0.25,
                   training_stopping_criterion={"criterion": "loss", "patience": 100}, **more)
    return net

expected = run()
rng, kills = random.Random(int(sys.argv[2])), 0
for _ in range(int(sys.argv[3])):
    started = any(name.endswith(".safetensors") for name in os.listdir(folder))
    pid = os.fork()
    if pid == 0:  # the child trains, writing checkpoints, until it is killed
        try:
            run(training_progress_checkpointing={"directory": folder},
                **({"resume": folder} if started else {}))
        finally:
            os._exit(0)
    signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.02, 0.4))
    signal.signal(signal.SIGALRM, lambda *a: os.kill(pid, signal.SIGKILL))
    _, status = os.waitpid(pid, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    kills += os.WIFSIGNALED(status)
net = run(training_progress_checkpointing={"directory": folder}, resume=folder)
same = all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                             expected.state_dict().values()))
left = [n for n in os.listdir(folder) if n.endswith(".part")]
print("kills", kills, "same", same, "left", len(left))
"""


def test_killed_at_20_random_moments_and_resumed_it_ends_as_the_whole_run(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    folder = tmp_path / "killed"
    folder.mkdir()
    out = subprocess.run(
        [sys.executable, str(script), str(folder), "7", "24"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    kills, same, left = out.stdout.split()[1::2]
    assert int(kills) >= 20 and same == "True" and left == "0", out.stdout


def test_resume_with_other_options_or_data_is_refused_naming_the_difference(tmp_path):
    kind, options = CASES["batch norm, sgd with a schedule"]
    folder = tmp_path / "ckpt"
    _train(kind, options, training_progress_checkpointing={"directory": folder})
    with pytest.raises(NetTrainError, match=r"^resume: .*the option 'batch_size'"):
        nettrain.train(_net(kind), (X, Y), batch_size=16, max_training_rounds=ROUNDS,
                       training_progress_reporting=None, resume=folder, **options)  # fmt: skip
    with pytest.raises(NetTrainError, match=r"the data's column 'input'"):
        nettrain.train(_net(kind), (X * 2, Y), batch_size=8, max_training_rounds=ROUNDS,
                       training_progress_reporting=None, resume=folder, **options)  # fmt: skip
    # the time goal and the reporting may change
    nettrain.train(_net(kind), (X, Y), batch_size=8, max_training_rounds=ROUNDS, time_goal=60,
                   training_progress_reporting="print", resume=folder, **options)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"directory": "d", "interval": "100 batches"}, "planned"),
        ({"folder": "d"}, "did you mean 'file'"),
        ({"file": "a", "directory": "b"}, "exactly one"),
        ("ckpt", "cannot use this"),
    ],
)
def test_bad_checkpointing_specs_are_refused(value, words):
    with pytest.raises(NetTrainError, match="training_progress_checkpointing") as error:
        nettrain.train(nn.Linear(3, 2), (X, Y), training_progress_checkpointing=value)
    assert words in str(error.value)


def test_a_stream_cannot_be_resumed_yet(tmp_path):
    class Stream:
        def __iter__(self):
            yield from ((X[i : i + 8], Y[i : i + 8]) for i in range(0, 64, 8))

    with pytest.raises(NetTrainError, match=r"^resume: a run can be resumed only"):
        nettrain.train(nn.Linear(3, 2), Stream(), resume=tmp_path, max_training_rounds=1)
