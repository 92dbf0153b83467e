"""Checkpoints at the end of rounds and ``resume``: a run resumed from any of its checkpoints,
or killed with SIGKILL at a random moment and resumed, ends bit for bit where the uninterrupted
run ends (CPU, one thread)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

import nettrain
from nettrain.checkpoint import read_checkpoint
from nettrain.errors import NetTrainError

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = (X.sum(1) > 0).long()
ROUNDS = 6


def _net(kind: str) -> nn.Module:
    torch.manual_seed(1)
    if kind == "batchnorm":
        return nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    return nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2))


def make_batch(batch_size: int, round: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch function drawing from torch's global stream, which checkpoints restore."""
    x = torch.randn(batch_size, 3)
    return x, (x.sum(1) > 0).long()


CASES = {
    "dropout, adam, validation, best net, stopping criterion": (
        "dropout", lambda: (X, Y),
        {"method": "adam", "validation_set": 0.25,
         "training_stopping_criterion": {"criterion": "loss", "patience": 50}},
    ),
    "batch norm, sgd with a schedule": (
        "batchnorm", lambda: (X, Y),
        {"method": ("sgd", {"learning_rate_schedule": "cosine"})},
    ),
    "a generator function, dropout, adam": (
        "dropout", lambda: (make_batch, {"round_length": 48}), {"method": "adam"},
    ),
    "an update schedule (GAN-style), adam, validation": (
        "dropout", lambda: (X, Y),
        {"method": "adam", "training_update_schedule": ["0.*", "3.*"], "validation_set": 0.25},
    ),
    # 6 batches a round in groups of 4 and 2: checkpoints every 4 batches fall within groups
    "batch norm, weights averaging, gradient accumulation, adam, validation": (
        "batchnorm", lambda: (X, Y),
        {"method": ("adam", {"gradient_accumulation": 4}), "weights_averaging": 0.9,
         "validation_set": 0.25},
    ),
}  # fmt: skip


def _train(case: str, **more: object) -> tuple[nn.Module, object]:
    kind, data, options = CASES[case]
    net = _net(kind)
    result = nettrain.train(
        net, data(), "all", batch_size=8, max_training_rounds=ROUNDS,
        training_progress_reporting=None, **options, **more,
    )  # fmt: skip
    return net, result


def _same(a: nn.Module, ra: object, b: nn.Module, rb: object) -> None:
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), name
    for key in ("round_loss_list", "batch_loss_list", "validation_loss_list",
                "round_measurements_lists", "validation_measurements_lists",
                "best_validation_round", "total_batches", "reason_training_stopped"):  # fmt: skip
        assert ra[key] == rb[key], key
    if ra["final_net"] is not None:
        for ta, tb in zip(ra["final_net"].state_dict().values(),
                          rb["final_net"].state_dict().values(), strict=True):  # fmt: skip
            assert torch.equal(ta, tb)


def _same_checkpoints(a: str, b: str) -> None:
    """Two checkpoints hold the same state: every tensor (weights, optimizer state, best weights,
    random state, accumulators) bitwise, and the same plain data but the time spent."""
    first, second = read_checkpoint(a), read_checkpoint(b)
    assert first.tensors.keys() == second.tensors.keys()
    for name, tensor in first.tensors.items():
        assert torch.equal(tensor, second.tensors[name]), name
    runs = [dict(c.meta["run"]) for c in (first, second)]
    for run in runs:
        run["$dict"]["state"]["$dict"]["progress"]["$dict"].pop("time_spent")
    assert runs[0] == runs[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # bitwise comparisons


@pytest.mark.parametrize("case", list(CASES))
def test_resuming_from_every_checkpoint_ends_where_the_whole_run_ends(case, tmp_path):
    full, full_result = _train(case)
    folder = tmp_path / "ckpt"
    _, written = _train(case, training_progress_checkpointing={"directory": folder})
    files = written["checkpointing_files"]
    assert len(files) == ROUNDS and [Path(f).parent for f in files] == [folder] * ROUNDS
    for keep in (1, 3, 5):
        for name in files[keep:]:
            Path(name).unlink(missing_ok=True)
        resumed, resumed_result = _train(case, resume=folder)
        _same(full, full_result, resumed, resumed_result)


@pytest.mark.parametrize("case", list(CASES))
def test_resuming_within_a_round_ends_where_the_whole_run_ends(case, tmp_path):
    """Checkpoints every 4 batches fall within rounds (6 batches each): the round's position,
    its losses and measurements so far, and the random streams go on from there."""
    every = {"interval": "4 batches"}
    full, full_result = _train(case, training_progress_checkpointing={"directory": tmp_path / "a",
                                                                      **every})  # fmt: skip
    files = full_result["checkpointing_files"]
    assert len(files) == full_result["total_batches"] // 4
    for keep in (1, 2, 5, len(files) - 1):
        folder = tmp_path / f"from-{keep}"
        folder.mkdir()
        for name in files[:keep]:
            os.link(name, folder / Path(name).name)
        resumed, resumed_result = _train(
            case, resume=folder, training_progress_checkpointing={"directory": folder, **every}
        )
        _same(full, full_result, resumed, resumed_result)
        later = resumed_result["checkpointing_files"]
        # it goes on counting, with the run's start time: the very names the whole run wrote
        assert [Path(f).name for f in later] == [Path(f).name for f in files[keep:]]
        _same_checkpoints(files[-1], later[-1])


def test_a_file_checkpoint_keeps_its_previous_generation(tmp_path):
    case = "batch norm, sgd with a schedule"
    path = tmp_path / "run.safetensors"
    _, result = _train(case, training_progress_checkpointing={"file": path, "interval": 2})
    assert result["checkpointing_files"] == [str(path)] * (ROUNDS // 2)
    assert path.exists() and Path(str(path) + ".prev").exists()
    path.write_bytes(path.read_bytes()[:100])  # the latest damaged: the previous one is used
    with pytest.warns(nettrain.NetTrainWarning, match="prev"):
        resumed, resumed_result = _train(case, resume=path)
    full, full_result = _train(case)
    _same(full, full_result, resumed, resumed_result)


DRIVER = """
import os, random, signal, sys, torch, torch.nn as nn, nettrain
torch.set_num_threads(1)
X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)); Y = (X.sum(1) > 0).long()
folder, case = sys.argv[1], sys.argv[4]

def make_batch(batch_size, round):
    x = torch.randn(batch_size, 3)
    return x, (x.sum(1) > 0).long()

def run(**more):
    torch.manual_seed(1)
    if case == "memory":  # dropout, adam, a validation set, best net, stopping criterion
        net = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2))
        data, options = (X, Y), dict(method="adam", validation_set=0.25,
                                     training_stopping_criterion={"criterion": "loss",
                                                                  "patience": 100})
    else:  # batch norm, sgd with a schedule, a generator function, an update schedule
        net = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
        data = (make_batch, {"round_length": 48})
        options = dict(method=("sgd", {"learning_rate_schedule": "cosine"}),
                       training_update_schedule=["0.*", "3.*"])
    result = nettrain.train(net, data, "all", batch_size=8, max_training_rounds=60,
                            training_progress_reporting=None, **options, **more)
    return net, result

def checkpoints(**more):
    return run(training_progress_checkpointing=[{"directory": folder, "interval": "5 batches"},
                                                {"directory": folder, "interval": 1}], **more)

expected, expected_result = run()
rng, kills = random.Random(int(sys.argv[2])), 0
for _ in range(int(sys.argv[3])):
    started = any(name.endswith(".safetensors") for name in os.listdir(folder))
    pid = os.fork()
    if pid == 0:  # the child trains, writing checkpoints, until it is killed
        try:
            checkpoints(**({"resume": folder} if started else {}))
        finally:
            os._exit(0)
    signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.02, 0.4))
    signal.signal(signal.SIGALRM, lambda *a: os.kill(pid, signal.SIGKILL))
    _, status = os.waitpid(pid, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    kills += os.WIFSIGNALED(status)
net, result = checkpoints(resume=folder)
same = all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                             expected.state_dict().values()))
for key in ("batch_loss_list", "round_loss_list", "validation_loss_list", "best_validation_round",
            "round_measurements_lists", "validation_measurements_lists"):
    same = same and result[key] == expected_result[key]
left = [n for n in os.listdir(folder) if n.endswith(".part")]
print("kills", kills, "same", same, "left", len(left))
"""


@pytest.mark.parametrize(("case", "seed"), [("memory", 7), ("generator", 11)])
def test_killed_at_random_moments_and_resumed_it_ends_as_the_whole_run(case, seed, tmp_path):
    """12 kills for each case, 24 in all: within rounds, at their ends, during writes."""
    import subprocess
    import sys

    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    folder = tmp_path / "killed"
    folder.mkdir()
    out = subprocess.run(
        [sys.executable, str(script), str(folder), str(seed), "12", case],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    kills, same, left = out.stdout.split()[1::2]
    assert int(kills) >= 10 and same == "True" and left == "0", out.stdout


def test_resume_with_other_options_or_data_is_refused_naming_the_difference(tmp_path):
    kind, _, options = CASES["batch norm, sgd with a schedule"]
    folder = tmp_path / "ckpt"
    _train("batch norm, sgd with a schedule", training_progress_checkpointing={"directory": folder})
    nettrain.train(_net(kind), (X, Y), batch_size=8, max_training_rounds=ROUNDS,
                   validation_set=(X[:8], Y[:8]), training_progress_reporting=None,
                   training_progress_checkpointing={"directory": tmp_path / "v"},
                   **options)  # fmt: skip
    with pytest.raises(NetTrainError, match=r"^resume: .*the option 'batch_size'"):
        nettrain.train(_net(kind), (X, Y), batch_size=16, max_training_rounds=ROUNDS,
                       training_progress_reporting=None, resume=folder, **options)  # fmt: skip
    with pytest.raises(NetTrainError, match=r"the data's column 'input'"):
        nettrain.train(_net(kind), (X * 2, Y), batch_size=8, max_training_rounds=ROUNDS,
                       training_progress_reporting=None, resume=folder, **options)  # fmt: skip
    with pytest.raises(NetTrainError, match=r"the data's column 'validation:input'"):
        nettrain.train(_net(kind), (X, Y), batch_size=8, max_training_rounds=ROUNDS,
                       validation_set=(X[:8] * 2, Y[:8]), training_progress_reporting=None,
                       resume=tmp_path / "v", **options)  # fmt: skip
    # the time goal and the reporting may change
    nettrain.train(_net(kind), (X, Y), batch_size=8, max_training_rounds=ROUNDS, time_goal=60,
                   training_progress_reporting="print", resume=folder, **options)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"directory": "d", "interval": "2.5 batches"}, "whole number"),
        ({"directory": "d", "interval": 0}, "must be positive"),
        ({"directory": "d", "minimum_interval": "soon"}, "minimum_interval"),
        ({"directory": 3}, "needs a path"),
        ({"folder": "d"}, "did you mean 'file'"),
        ({"file": "a", "directory": "b"}, "exactly one"),
        ("ckpt", "cannot use this"),
    ],
)
def test_bad_checkpointing_specs_are_refused(value, words):
    with pytest.raises(NetTrainError, match="training_progress_checkpointing") as error:
        nettrain.train(nn.Linear(3, 2), (X, Y), training_progress_checkpointing=value)
    assert words in str(error.value)


def test_a_stream_cannot_be_resumed(tmp_path):
    class Stream:
        def __iter__(self):
            yield from ((X[i : i + 8], Y[i : i + 8]) for i in range(0, 64, 8))

    _train(
        "batch norm, sgd with a schedule", training_progress_checkpointing={"directory": tmp_path}
    )
    kind, _, options = CASES["batch norm, sgd with a schedule"]
    with pytest.raises(NetTrainError, match=r"^resume: a run can be resumed only") as error:
        nettrain.train(_net(kind), Stream(), resume=tmp_path, max_training_rounds=ROUNDS,
                       training_progress_reporting=None, **options)  # fmt: skip
    assert "iterable stream" in str(error.value) and "a batch function" in str(error.value)
