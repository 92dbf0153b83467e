"""Checkpoints beyond the kill test: intervals in time and lists of specs, a checkpoint as a
``Net``, custom histories and automatic rounds across a resume, and damaged checkpoints met by
``train(..., resume=...)``."""

from __future__ import annotations

import itertools
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import nettrain
from nettrain.checkpoint import read_checkpoint
from nettrain.errors import NetTrainError, NetTrainWarning
from nettrain.train import _train

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = (X.sum(1) > 0).long()
QUIET = {"training_progress_reporting": None}


def _net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2))


def _run(data=None, prop="all", **options):
    net = _net()
    data = (X, Y) if data is None else data
    options = {"batch_size": 8, "max_training_rounds": 4, "method": "adam", **QUIET, **options}
    return net, nettrain.train(net, data, prop, **options)


def _equal(a: nn.Module, b: nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


pytestmark = pytest.mark.usefixtures("one_thread")  # bitwise comparisons


# ---- when checkpoints are written -------------------------------------------------------------


def test_a_list_of_specs_writes_each_at_its_own_interval(tmp_path):
    every_5, per_round = tmp_path / "batches", tmp_path / "run.safetensors"
    specs = [{"directory": every_5, "interval": "5 batches"}, {"file": per_round, "interval": 2}]
    _, result = _run(training_progress_checkpointing=specs)
    files = result["checkpointing_files"]  # 32 batches: after 5, 10, ..., 30; rounds 2 and 4
    assert len([f for f in files if Path(f).parent == every_5]) == 6
    assert files.count(str(per_round)) == 2
    rounds = [read_checkpoint(f).meta["run"]["$dict"]["state"]["$dict"]["progress"]["$dict"]
              for f in sorted(every_5.iterdir())]  # fmt: skip
    assert [r["absolute_batch"] for r in rounds] == [5, 10, 15, 20, 25, 30]
    assert [r["batch_in_round"] for r in rounds] == [5, 2, 7, 4, 1, 6]


def test_minimum_interval_skips_checkpoints_that_come_too_soon(tmp_path):
    _, result = _run(training_progress_checkpointing={
        "directory": tmp_path, "interval": "1 batches", "minimum_interval": "1 h"})  # fmt: skip
    assert len(result["checkpointing_files"]) == 1  # the first; the next would be an hour on


def test_an_interval_in_time_writes_as_time_passes(tmp_path):
    """With a clock that advances 10 ms at every reading, "0.1 s" falls due every few batches:
    the checkpoints' training times are a tenth of a second apart or more."""
    counter = itertools.count()
    spec = {"directory": tmp_path, "interval": "0.1 s"}
    options = {"batch_size": 8, "max_training_rounds": 4, "method": "adam", **QUIET,
               "training_progress_checkpointing": spec}  # fmt: skip
    result = _train(_net(), (X, Y), "all", options, lambda: next(counter) * 0.01)
    times = [
        read_checkpoint(f).meta["run"]["$dict"]["state"]["$dict"]["progress"]["$dict"]["time_spent"]
        for f in result["checkpointing_files"]
    ]
    assert len(times) >= 3 and times == sorted(times)
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times))
    assert times[0] >= 0.1 - 1e-9


# ---- a checkpoint is a net too ----------------------------------------------------------------


def test_every_checkpoint_loads_as_a_net_with_its_encoders(tmp_path):
    labels = ["yes" if v else "no" for v in Y.tolist()]
    net, result = _run((X, labels), training_progress_checkpointing={"directory": tmp_path})
    files = result["checkpointing_files"]
    last = nettrain.Net.load(files[-1])  # the end of the last round: the trained net
    assert last(X[:5]) == result["trained_net"](X[:5])
    for a, b in zip(last.module.state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    first = nettrain.Net.load(files[0])  # an earlier one: that round's weights
    weights = read_checkpoint(files[0]).tensors
    assert all(torch.equal(t, weights[k]) for k, t in first.module.state_dict().items())
    assert set(first(X[:5])) <= {"yes", "no"}
    assert not any(k.startswith(".") for k in first.module.state_dict())


class Mine(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 2)

    def forward(self, x):
        return self.layer(x)


def test_a_checkpoint_of_a_custom_module_loads_with_the_module_given(tmp_path):
    torch.manual_seed(0)
    net = Mine()
    result = nettrain.train(net, (X, Y), "checkpointing_files", batch_size=8,
                            max_training_rounds=2, training_progress_checkpointing={"file":
                            tmp_path / "c.safetensors"}, **QUIET)  # fmt: skip
    loaded = nettrain.Net.load(result[-1], module=Mine())
    assert torch.equal(loaded.module.layer.weight, net.layer.weight)


# ---- custom histories and automatic rounds across a resume ------------------------------------


def _norms(live):
    return {name: float(p.detach().norm()) for name, p in live["net"].named_parameters()}


def test_custom_histories_go_on_across_a_resume(tmp_path):
    prop = ["batch_loss_list", {"property": _norms, "interval": "batch"},
            {"property": "learning_rate", "interval": "3 batches"}]  # fmt: skip
    spec = {"directory": tmp_path, "interval": "5 batches"}
    _, whole = _run(prop=prop, training_progress_checkpointing=spec)
    for name in sorted(tmp_path.iterdir())[2:]:
        name.unlink()  # killed after batch 10
    _, resumed = _run(prop=prop, training_progress_checkpointing=spec, resume=tmp_path)
    assert resumed == whole
    assert len(whole[1]) == 32 and len(whole[2]) == 10


def test_a_history_a_file_cannot_hold_is_left_out_with_a_warning(tmp_path):
    prop = [{"property": lambda live: object(), "interval": "batch"}, "batch_loss_list"]
    spec = {"directory": tmp_path, "interval": "5 batches"}
    with pytest.warns(NetTrainWarning, match="custom history 1 .*leave it out") as caught:
        _, whole = _run(prop=prop, training_progress_checkpointing=spec)
    assert sum("custom history" in str(w.message) for w in caught) == 1  # said once
    for name in sorted(tmp_path.iterdir())[2:]:
        name.unlink()
    with pytest.warns(NetTrainWarning):
        _, resumed = _run(prop=prop, training_progress_checkpointing=spec, resume=tmp_path)
    assert len(resumed[0]) == 32 - 10 and resumed[1] == whole[1]


def _clock(step: float):
    counter = itertools.count()
    return lambda: next(counter) * step


def test_a_resumed_run_with_automatic_rounds_trains_the_rounds_its_run_chose(tmp_path):
    """The whole run times its steps at 10 ms and lays a cosine schedule over 286 rounds; the
    resumed one is timed by a clock twice as slow, which would choose 143: it trains the 286,
    on the same schedule, to the same bits, at the batch size and threads chosen first."""
    options = {"batch_size": 8, "method": ("sgd", {"learning_rate_schedule": "cosine"}),
               "validation_set": None, **QUIET}  # fmt: skip
    spec = {"directory": tmp_path, "interval": 100}
    x, y = X[:50], Y[:50]
    whole_net = _net()
    whole = _train(whole_net, (x, y), "all", options, _clock(0.01))
    assert whole["total_rounds"] == 286
    net = _net()
    _train(net, (x, y), "all", {**options, "training_progress_checkpointing": spec}, _clock(0.01))
    for name in sorted(tmp_path.iterdir())[1:]:
        name.unlink()  # resumed from round 100
    net = _net()
    more = {"training_progress_checkpointing": spec, "resume": tmp_path}
    resumed = _train(net, (x, y), "all", {**options, **more}, _clock(0.02))
    assert resumed["total_rounds"] == 286 and resumed["batch_size"] == 8
    assert resumed["round_loss_list"] == whole["round_loss_list"]
    assert _equal(net, whole_net)


def test_automatic_rounds_without_a_schedule_keep_the_count_the_checkpoint_had(tmp_path):
    spec = {"directory": tmp_path, "interval": 20}
    options = {"batch_size": 8, **QUIET, "training_progress_checkpointing": spec}
    _train(_net(), (X[:50], Y[:50]), "all", options, _clock(0.01))
    first = sorted(tmp_path.iterdir())[0]
    saved = read_checkpoint(first).meta["run"]["$dict"]["state"]["$dict"]["progress"]["$dict"]
    for name in sorted(tmp_path.iterdir())[1:]:
        name.unlink()
    resumed = _train(_net(), (X[:50], Y[:50]), "all", {**options, "resume": tmp_path},
                     _clock(0.05))  # fmt: skip
    assert resumed["total_rounds"] == saved["max_rounds"]


# ---- damaged checkpoints met by resume --------------------------------------------------------


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _damage(path: Path, how: str, tmp_path: Path) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "bit-flipped":
        data[-3] ^= 0x10
        path.write_bytes(bytes(data))
    elif how == "wrong checksum":
        header = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header])
        digest = meta["__metadata__"]["sha256"]
        meta["__metadata__"]["sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]
        text = json.dumps(meta).encode().ljust(header)
        path.write_bytes(bytes(data[:8]) + text[:header] + bytes(data[8 + header :]))
    elif how == "a crafted pickle":
        path.write_bytes(pickle.dumps(_Payload()))
    elif how == "forged metadata":
        header = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header])
        meta["__metadata__"]["meta"] = meta["__metadata__"]["meta"].replace(
            '"counter": ', '"counter": 1'
        )
        text = json.dumps(meta).encode()
        path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(data[8 + header :]))


@pytest.mark.parametrize(
    "how", ["truncated", "bit-flipped", "wrong checksum", "a crafted pickle", "forged metadata"]
)
def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(how, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "ckpt"
    whole_net, whole = _run()
    _run(training_progress_checkpointing={"directory": folder})
    latest = sorted(folder.iterdir())[-1]
    _damage(latest, how, tmp_path)
    with pytest.warns(NetTrainWarning, match=latest.name):
        net, resumed = _run(resume=folder)
    assert resumed["round_loss_list"] == whole["round_loss_list"]
    assert _equal(net, whole_net)
    assert not (tmp_path / "pwned").exists()  # nothing in a file is ever run


@pytest.mark.parametrize("how", ["truncated", "a crafted pickle", "forged metadata"])
def test_a_damaged_only_checkpoint_is_an_error_naming_it(how, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "run.safetensors"
    _run(training_progress_checkpointing={"file": path, "interval": 4})
    _damage(path, how, tmp_path)
    with pytest.raises(NetTrainError, match=r"^resume: ") as error:
        _run(resume=path)
    assert "run.safetensors" in str(error.value)
    assert not (tmp_path / "pwned").exists()


def test_resume_from_a_folder_without_checkpoints_says_so(tmp_path):
    with pytest.raises(NetTrainError, match=r"^resume: .*no checkpoint") as error:
        _run(resume=tmp_path)
    assert str(tmp_path) in str(error.value)


def test_a_full_disk_mid_run_warns_keeps_the_earlier_checkpoints_and_trains_on(
    tmp_path, monkeypatch
):
    import errno

    from nettrain.checkpoint import files as files_module

    calls = itertools.count(1)
    real = files_module._write_all

    def full_from_the_third(f, data):
        if next(calls) >= 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(f, data)

    monkeypatch.setattr(files_module, "_write_all", full_from_the_third)
    whole_net, whole = _run()
    with pytest.warns(NetTrainWarning, match="No space left on device.*Training goes on") as caught:
        net, result = _run(training_progress_checkpointing={"directory": tmp_path})
    assert str(result["checkpointing_files"][-1]) in str(caught[0].message)
    assert _equal(net, whole_net) and result["round_loss_list"] == whole["round_loss_list"]
    assert len(result["checkpointing_files"]) == 2 and len(list(tmp_path.iterdir())) == 2
    monkeypatch.setattr(files_module, "_write_all", real)
    resumed_net, _ = _run(resume=tmp_path)  # from round 2, intact
    assert _equal(resumed_net, whole_net)


def _schedule(step: int, total: int) -> float:
    return 1.0 - step / total


RESUME_IN_A_NEW_PROCESS = """
import sys, torch, torch.nn as nn, nettrain
torch.set_num_threads(1)
X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)); Y = (X.sum(1) > 0).long()

def loss(outputs, targets):  # a function option: its repr holds an address in each process
    return nn.functional.cross_entropy(outputs, targets)

def schedule(step, total):
    return 1.0 - step / total

torch.manual_seed(1)
net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2))
result = nettrain.train(net, (X, Y), "round_loss_list", batch_size=8, max_training_rounds=4,
                        loss_function=loss, method=("sgd", {"learning_rate_schedule": schedule}),
                        training_progress_reporting=None, resume=sys.argv[1] or None,
                        training_progress_checkpointing={"directory": sys.argv[2]})
print(result)
"""


def test_options_holding_functions_resume_in_another_process(tmp_path):
    """A loss function and a schedule function are the same options in a new process, though
    their reprs there hold other addresses."""
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(RESUME_IN_A_NEW_PROCESS)

    def run(resume: str, folder: Path) -> str:
        done = subprocess.run([sys.executable, str(script), resume, str(folder)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    whole = run("", tmp_path / "a")
    for name in sorted((tmp_path / "a").iterdir())[2:]:
        name.unlink()
    assert run(str(tmp_path / "a"), tmp_path / "a") == whole


def test_a_difference_in_a_tensor_option_is_named_briefly(tmp_path):
    spec = {"directory": tmp_path}
    _run(validation_set=(X[:16], Y[:16]), training_progress_checkpointing=spec)
    with pytest.raises(NetTrainError, match="the option 'validation_set'") as error:
        _run(validation_set=(X[16:32], Y[16:32]), resume=tmp_path)
    assert len(str(error.value)) < 1200
