"""save_checkpoint / load_checkpoint: a custom loop killed and continued ends bit for bit where
the uninterrupted loop ends (weights, Adam moments, the monitor's history), with adam_update
and with torch.optim.Adam; folders pick the newest good file, a damaged file falls back to its
previous generation; mistakes name the entry; no pickle is ever read or written."""

from __future__ import annotations

import json
import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import nettrain.functional
from conftest import assert_same_weights, make_classification
from nettrain.checkpoint import previous_path, read_checkpoint, write_checkpoint
from nettrain.errors import NetTrainError, NetTrainWarning
from nettrain.functional import (
    MiniBatchQueue,
    ProgressMonitor,
    adam_update,
    load_checkpoint,
    save_checkpoint,
    value_and_grad,
)

N, K = 13, 7  # iterations in all, and where the first run is killed (mid-epoch 2 of 5 batches)
X, T = make_classification(n=40, features=4, classes=3, seed=1)


pytestmark = pytest.mark.usefixtures("one_thread")  # bitwise comparisons


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def make_net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def make_queue(x: torch.Tensor = X, t: torch.Tensor = T) -> MiniBatchQueue:
    return MiniBatchQueue((x, t), 8, device="cpu")  # shuffled every epoch


def make_monitor() -> ProgressMonitor:
    return ProgressMonitor(metrics=["loss"], info=["epoch"], reporting=None)


def model_loss(net: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(net(x), t)


def next_batch(queue: MiniBatchQueue, monitor: ProgressMonitor) -> tuple[torch.Tensor, ...]:
    """MATLAB's loop head; the batch is perturbed with draws from NumPy's and Python's global
    generators (dropout draws from torch's), so each of them must continue exactly."""
    if not queue.has_data():
        queue.shuffle()
    monitor.update_info(epoch=queue.epoch)
    x, t = queue.next()
    return x * (1 + 0.1 * float(np.random.randn())) + 0.01 * random.random(), t


def adam_steps(net, queue, monitor, state, iteration, until):
    while iteration < until:
        x, t = next_batch(queue, monitor)
        iteration += 1
        loss, grads = value_and_grad(model_loss, net, x, t)
        net, state = adam_update(net, grads, state, learning_rate=0.01)
        monitor.record_metrics(iteration, loss=loss)
        monitor.progress = 100 * iteration / N
    return state, iteration


def optim_steps(net, optimizer, queue, monitor, iteration, until):
    while iteration < until:
        x, t = next_batch(queue, monitor)
        iteration += 1
        loss = model_loss(net, x, t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        monitor.record_metrics(iteration, loss=loss)
    return iteration


def history(monitor: ProgressMonitor) -> dict[str, Any]:
    r = monitor.result()
    return {
        "metrics_lists": r.metrics_lists,
        "metrics_positions": r.metrics_positions,
        "round_loss_list": r.round_loss_list,
        "round_positions": r.round_positions,
        "total_batches": r.total_batches,
        "total_rounds": r.total_rounds,
    }


def assert_same_adam(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["method"] == b["method"] and a["iteration"] == b["iteration"] == N
    for buffer in ("average_gradient", "average_squared_gradient"):
        assert a[buffer].keys() == b[buffer].keys()
        for name in a[buffer]:
            assert torch.equal(a[buffer][name], b[buffer][name]), (buffer, name)


# ---- a loop killed and continued equals the uninterrupted one ----------------------------------


def uninterrupted_adam() -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    seed_all(0)
    net, queue = make_net(), make_queue()
    with make_monitor() as monitor:
        state, _ = adam_steps(net, queue, monitor, None, 0, N)
    return net, state, history(monitor)


@pytest.mark.parametrize("saved_after_close", [False, True])
def test_adam_update_loop_killed_and_continued_is_bitwise_the_uninterrupted_one(
    tmp_path: Path, saved_after_close: bool
) -> None:
    net_ref, state_ref, history_ref = uninterrupted_adam()

    seed_all(0)
    net, queue = make_net(), make_queue()
    path = tmp_path / "run.safetensors"
    with make_monitor() as monitor:
        state, iteration = adam_steps(net, queue, monitor, None, 0, K)
        entries = dict(net=net, adam=state, queue=queue, monitor=monitor, iteration=iteration)
        if not saved_after_close:
            save_checkpoint(path, **entries)
    if saved_after_close:  # the monitor closed its open epoch; its state is from before that
        save_checkpoint(path, **entries)
    del net, queue, monitor, state, entries

    seed_all(99)  # a new process: other initial weights, the generators elsewhere
    net, queue = make_net(), make_queue()
    with make_monitor() as monitor:
        saved = load_checkpoint(path, net=net, queue=queue, monitor=monitor)
        assert saved["net"] is net and saved["queue"] is queue and saved["monitor"] is monitor
        assert saved["iteration"] == K and queue.epoch == 2 and queue.position == 2
        state, _ = adam_steps(net, queue, monitor, saved["adam"], saved["iteration"], N)

    assert_same_weights(net, net_ref)
    assert_same_adam(state, state_ref)
    assert history(monitor) == history_ref
    assert history_ref["round_positions"] == [5, 10, 13]  # the kill was inside epoch 2


def test_without_the_random_states_the_continued_loop_differs(tmp_path: Path) -> None:
    """The control: dropout and the draws of the loop need the saved random states."""
    net_ref, _, _ = uninterrupted_adam()
    seed_all(0)
    net, queue = make_net(), make_queue()
    with make_monitor() as monitor:
        state, iteration = adam_steps(net, queue, monitor, None, 0, K)
        save_checkpoint(tmp_path / "c.safetensors", net=net, adam=state, queue=queue, i=iteration)
    seed_all(99)
    net, queue = make_net(), make_queue()
    with make_monitor() as monitor:
        saved = load_checkpoint(tmp_path / "c.safetensors", rng=False, net=net, queue=queue)
        adam_steps(net, queue, monitor, saved["adam"], saved["i"], N)
    assert not torch.equal(net[0].weight, net_ref[0].weight)


def test_torch_optim_adam_loop_killed_and_continued_is_bitwise_the_uninterrupted_one(
    tmp_path: Path,
) -> None:
    def parts() -> tuple[nn.Module, torch.optim.Optimizer, MiniBatchQueue]:
        net = make_net()
        return net, torch.optim.Adam(net.parameters(), lr=0.01), make_queue()

    seed_all(0)
    net_ref, opt_ref, queue = parts()
    with make_monitor() as monitor:
        optim_steps(net_ref, opt_ref, queue, monitor, 0, N)
    history_ref = history(monitor)

    seed_all(0)
    net, opt, queue = parts()
    with make_monitor() as monitor:
        iteration = optim_steps(net, opt, queue, monitor, 0, K)
        save_checkpoint(tmp_path, net=net, opt=opt, queue=queue, monitor=monitor, it=iteration)
    seed_all(99)
    net, opt, queue = parts()
    with make_monitor() as monitor:
        saved = load_checkpoint(tmp_path, net=net, opt=opt, queue=queue, monitor=monitor)
        optim_steps(net, opt, queue, monitor, saved["it"], N)

    assert_same_weights(net, net_ref)
    ours, theirs = opt.state_dict(), opt_ref.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["state"].keys() == theirs["state"].keys()
    for index, buffers in theirs["state"].items():
        for key, tensor in buffers.items():  # step, exp_avg, exp_avg_sq
            assert torch.equal(ours["state"][index][key], tensor), (index, key)
    assert history(monitor) == history_ref


def test_each_random_generator_continues_where_it_was(tmp_path: Path) -> None:
    seed_all(3)
    torch.rand(5), random.random(), np.random.rand()
    save_checkpoint(tmp_path / "c.safetensors", note="rng only")
    expected = torch.rand(3), random.random(), np.random.rand(), np.random.randn()
    seed_all(4)
    load_checkpoint(tmp_path / "c.safetensors")
    got = torch.rand(3), random.random(), np.random.rand(), np.random.randn()
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]
    # rng=False on either side leaves the generators alone
    save_checkpoint(tmp_path / "no.safetensors", rng=False, note="no rng")
    assert read_checkpoint(tmp_path / "no.safetensors").meta["rng"] is None
    for path, rng in ((tmp_path / "no.safetensors", True), (tmp_path / "c.safetensors", False)):
        torch.manual_seed(5)
        expected_next = torch.rand(3)
        torch.manual_seed(5)
        load_checkpoint(path, rng=rng)
        assert torch.equal(torch.rand(3), expected_next)


def test_what_comes_back(tmp_path: Path) -> None:
    net, queue = make_net(), make_queue()
    queue.next()
    generator = torch.Generator().manual_seed(11)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for _ in range(3):
        optimizer.step()
        schedule.step()
    shared = torch.arange(3)
    values = {
        "iteration": 12,
        "pair": (1.5, "two"),
        "nothing": None,
        "flags": [True, False],
        "nan": float("nan"),
        "tree": {"w": torch.randn(2, 3).bfloat16(), "steps": [torch.tensor(3), {"b": shared}]},
        "same_twice": [shared, shared],
    }
    path = save_checkpoint(
        tmp_path / "c.safetensors",
        net=net,
        queue=queue,
        generator=generator,
        schedule=schedule,
        **values,
    )
    expected_draw = torch.rand(4, generator=generator)
    generator.manual_seed(0)
    fresh_schedule = torch.optim.lr_scheduler.StepLR(
        torch.optim.SGD(make_net().parameters(), lr=0.5), step_size=2, gamma=0.5
    )
    saved = load_checkpoint(path, generator=generator, schedule=fresh_schedule)
    assert list(saved) == ["net", "queue", "generator", "schedule", *values]
    assert torch.equal(torch.rand(4, generator=generator), expected_draw)
    assert saved["schedule"] is fresh_schedule and fresh_schedule.last_epoch == 3
    assert fresh_schedule.get_last_lr() == schedule.get_last_lr()
    # objects not passed in come back as their saved state_dict()
    assert saved["queue"] == queue.state_dict()
    assert saved["net"].keys() == net.state_dict().keys()
    assert all(torch.equal(saved["net"][k], v) for k, v in net.state_dict().items())
    for name in ("iteration", "pair", "nothing", "flags"):
        assert saved[name] == values[name] and type(saved[name]) is type(values[name])
    assert np.isnan(saved["nan"])
    tree = saved["tree"]
    assert tree["w"].dtype == torch.bfloat16 and torch.equal(tree["w"], values["tree"]["w"])
    assert torch.equal(tree["steps"][0], torch.tensor(3))
    assert saved["same_twice"][0] is saved["same_twice"][1] is tree["steps"][1]["b"]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_monitor_state_is_plain_data_and_continues_history_and_time() -> None:
    clock = Clock(0.0)
    with ProgressMonitor(
        metrics=["loss", "validation_loss"], info=["epoch", "learning_rate"], reporting=None,
        clock=clock,
    ) as first:  # fmt: skip
        for step, (epoch, loss) in enumerate([(1, 4.0), (1, 2.0), (2, 1.0)], start=1):
            first.update_info(epoch=epoch, learning_rate=torch.tensor(0.5 / epoch))
            first.record_metrics(step, loss=torch.tensor(loss))
        first.record_metrics(3, validation_loss=1.5)
        first.progress, first.status = 30.0, "epoch 2"
        clock.now = 5.0
        state = json.loads(json.dumps(first.state_dict()))  # JSON, as the checkpoint keeps it
    clock.now = 100.0
    with ProgressMonitor(
        metrics=["validation_loss", "loss"], info=["learning_rate", "epoch"], reporting=None,
        clock=clock,
    ) as then:  # fmt: skip
        then.load_state_dict(state)
        assert (then.progress, then.status) == (30.0, "epoch 2")
        with pytest.raises(NetTrainError, match="already recorded at step 3"):
            then.record_metrics(3, loss=0.0)  # as the first monitor would have said
        then.record_metrics(4, loss=3.0)
        clock.now = 103.0
    r = then.result()
    assert r.batch_loss_list == [4.0, 2.0, 1.0, 3.0]
    assert r.metrics_positions == {"loss": [1, 2, 3, 4], "validation_loss": [3]}
    assert r.round_loss_list == [3.0, 2.0] and r.round_positions == [2, 4]
    assert r.initial_learning_rate == 0.5 and r.final_learning_rate == 0.25
    assert r.total_training_time == 8.0  # 5 s before the save, 3 s after
    with pytest.raises(NetTrainError, match="closed"):
        then.load_state_dict(state)
    other = ProgressMonitor(metrics=["loss"], info=["epoch", "learning_rate"], reporting=None)
    with other, pytest.raises(NetTrainError, match="other metrics") as caught:
        other.load_state_dict(state)
    assert caught.value.argument == "state"
    same = {"metrics": ["loss", "validation_loss"], "info": ["epoch", "learning_rate"]}
    with ProgressMonitor(**same, reporting=None) as m:
        with pytest.raises(NetTrainError, match="not a ProgressMonitor state"):
            m.load_state_dict({**state, "values": {"loss": "nope"}})
        with pytest.raises(NetTrainError, match="not a ProgressMonitor state"):
            m.load_state_dict({"values": {}})
        assert m.state_dict()["values"] == {"loss": [], "validation_loss": []}  # unchanged


# ---- files and folders -------------------------------------------------------------------------


def test_a_folder_gets_numbered_files_and_the_newest_is_loaded(tmp_path: Path) -> None:
    folder = str(tmp_path / "checkpoints") + "/"  # a string ending in "/" is a folder
    for iteration in (1, 2, 3):
        save_checkpoint(folder, iteration=iteration)
    names = sorted(os.listdir(folder))
    assert names == [f"checkpoint-000{i}.safetensors" for i in (1, 2, 3)]
    assert read_checkpoint(Path(folder) / names[-1]).meta["counter"] == 3
    assert load_checkpoint(folder)["iteration"] == 3
    (Path(folder) / ".checkpoint-0004.safetensors.0123456789ab.part").write_bytes(b"killed")
    written = save_checkpoint(Path(folder), iteration=4)  # an existing directory is a folder
    assert written.name == "checkpoint-0004.safetensors"
    assert sorted(os.listdir(folder)) == [*names, written.name]  # the leftover is gone
    assert load_checkpoint(folder)["iteration"] == 4
    truncate(written)
    with pytest.warns(NetTrainWarning, match="checkpoint-0004"):
        assert load_checkpoint(folder)["iteration"] == 3


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_damaged_file_falls_back_to_its_previous_generation(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "run.safetensors"  # parent folders are created
    net = make_net()
    save_checkpoint(path, net=net, iteration=1)
    first = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net[0].weight.add_(1.0)
    save_checkpoint(path, net=net, iteration=2)
    assert read_checkpoint(path).meta["counter"] == 2
    assert read_checkpoint(previous_path(path)).meta["counter"] == 1
    truncate(path)
    fresh = make_net()
    with pytest.warns(NetTrainWarning, match=r"run\.safetensors\.prev"):
        saved = load_checkpoint(path, net=fresh)
    assert saved["iteration"] == 1
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in first.items())
    truncate(previous_path(path))
    with pytest.raises(NetTrainError, match="no valid checkpoint") as caught:
        load_checkpoint(path)
    assert caught.value.argument == "path"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_a_pickle_payload_is_refused_and_never_run(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    path = folder / "checkpoint-0001.safetensors"
    if how == "pickle":
        path.write_bytes(pickle.dumps(_Evil(marker)))
    else:
        torch.save({"net": torch.ones(2), "x": _Evil(marker)}, path)
    for target in (path, folder):
        with pytest.raises(NetTrainError, match="not a safetensors file") as caught:
            load_checkpoint(target, net=make_net())
        assert caught.value.argument == "path" and str(path) in str(caught.value)
    assert not marker.exists()


def test_no_pickle_is_used_to_save_or_load(tmp_path: Path, monkeypatch) -> None:
    net, queue = make_net(), make_queue()
    optimizer = torch.optim.Adam(net.parameters())
    model_loss(net, *queue.next()).backward()
    optimizer.step()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle was used")

    for name in ("dump", "dumps", "load", "loads", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "save", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    with make_monitor() as monitor:
        monitor.record_metrics(1, loss=torch.tensor(0.5))
        save_checkpoint(tmp_path, net=net, opt=optimizer, queue=queue, monitor=monitor)
    fresh = make_net()
    with make_monitor() as again:
        load_checkpoint(
            tmp_path, net=fresh, opt=torch.optim.Adam(fresh.parameters()), monitor=again
        )
    assert again.result().batch_loss_list == [0.5]


def test_plain_tensors_come_back_on_their_device_or_the_cpu_with_a_warning(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.safetensors", adam={"m": torch.ones(2)}, rng=False)
    checkpoint = read_checkpoint(path)
    meta = {**checkpoint.meta, "devices": {name: "cuda:99" for name in checkpoint.tensors}}
    write_checkpoint(path, checkpoint.tensors, meta, previous=False)  # as saved on a 100-GPU box
    with pytest.warns(NetTrainWarning, match="cuda:99"):
        saved = load_checkpoint(path)
    assert saved["adam"]["m"].device.type == "cpu" and torch.equal(
        saved["adam"]["m"], torch.ones(2)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_the_gpu_plain_tensors_go_back_to_it_and_cuda_draws_continue(tmp_path: Path) -> None:
    net, queue = make_net().cuda(), MiniBatchQueue((X, T), 8, device="cuda")
    _, grads = value_and_grad(model_loss, net, *queue.next())
    net, state = adam_update(net, grads, None)
    torch.cuda.manual_seed_all(3)
    save_checkpoint(tmp_path / "c.safetensors", net=net, adam=state, queue=queue)
    expected = torch.rand(4, device="cuda")
    torch.cuda.manual_seed_all(4)
    fresh = make_net().cuda()
    saved = load_checkpoint(tmp_path / "c.safetensors", net=fresh)
    assert torch.equal(torch.rand(4, device="cuda"), expected)
    assert all(t.is_cuda for t in saved["adam"]["average_gradient"].values())
    assert_same_weights(fresh, net)


# ---- mistakes ----------------------------------------------------------------------------------


@pytest.fixture
def saved_run(tmp_path: Path) -> Path:
    net = make_net()
    with make_monitor() as monitor:
        monitor.record_metrics(1, loss=1.0)
        return save_checkpoint(
            tmp_path / "c.safetensors",
            net=net,
            opt=torch.optim.Adam(net.parameters()),
            queue=make_queue(),
            monitor=monitor,
            iteration=1,
        )


def refused(path: Path, **into: Any) -> NetTrainError:
    with pytest.raises(NetTrainError) as caught:
        load_checkpoint(path, **into)
    return caught.value


def test_objects_of_the_wrong_kind_or_class_are_refused_naming_the_entry(saved_run) -> None:
    error = refused(saved_run, net=make_queue())
    assert error.argument == "net"
    assert re.search(r"nn\.Module.*received a MiniBatchQueue", str(error)), str(error)
    error = refused(saved_run, net=3)
    assert error.argument == "net" and "int 3" in str(error)
    error = refused(saved_run, iteration=0)
    assert error.argument == "iteration" and "saved['iteration']" in str(error)
    error = refused(saved_run, opt=torch.optim.SGD(make_net().parameters(), lr=0.1))
    assert error.argument == "opt" and "torch.optim.adam.Adam" in str(error)
    assert "torch.optim.sgd.SGD" in str(error)
    error = refused(saved_run, monitor=make_queue())
    assert error.argument == "monitor" and "ProgressMonitor" in str(error)
    with ProgressMonitor(metrics=["loss", "accuracy"], info=["epoch"], reporting=None) as other:
        error = refused(saved_run, monitor=other)
    assert error.argument == "monitor" and "other metrics" in str(error)


def test_names_not_saved_are_refused_with_close_matches(saved_run) -> None:
    error = refused(saved_run, nett=make_net())
    assert error.argument == "nett" and "did you mean 'net'" in str(error)
    assert "'net', 'opt', 'queue', 'monitor', 'iteration'" in str(error)


def test_a_queue_over_other_data_and_a_net_of_another_shape_are_refused(saved_run) -> None:
    error = refused(saved_run, queue=make_queue(X[:30], T[:30]))
    assert error.argument == "queue" and "num_examples" in str(error)
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    error = refused(saved_run, net=other)
    assert error.argument == "net" and "'0.weight' (16, 4) saved, (8, 4) here" in str(error)
    error = refused(saved_run, net=nn.Linear(4, 3))
    assert "not saved: 'weight', 'bias'" in str(error) and "'0.weight'" in str(error)


def test_nothing_is_restored_when_any_entry_is_refused(saved_run) -> None:
    fresh = make_net()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    error = refused(saved_run, net=fresh, opt=torch.optim.SGD(fresh.parameters(), lr=0.1))
    assert error.argument == "opt"
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in before.items())


def test_what_cannot_be_saved_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    for name, value, words in [
        ("fn", lambda: 0, "function"),
        ("array", np.ones(3), "float64 array"),
        ("nets", [make_net()], "Sequential"),
        ("loss", np.float64(0.5), "numpy.float64"),
    ]:
        with pytest.raises(NetTrainError, match=words) as caught:
            save_checkpoint(path, **{name: value})
        assert caught.value.argument == name
    with pytest.raises(NetTrainError, match="True or False") as caught:
        save_checkpoint(path, rng="yes", iteration=1)
    assert caught.value.argument == "rng"
    with pytest.raises(NetTrainError, match="nothing to save"):
        save_checkpoint(path)
    assert not path.exists()


def test_other_checkpoints_are_not_a_custom_loops(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "run.safetensors", {"w": torch.ones(1)}, {"run": {}})
    error = refused(path)
    assert error.argument == "path" and "train(..., resume=path)" in str(error)


# ---- the example of docs/custom-loops.md ---------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "custom-loops.md"


class Killed(BaseException):
    """What kill -9 does to the loop: it just stops."""


def docs_example() -> str:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Checkpoints in a custom loop", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_docs_example_killed_and_run_again_ends_as_the_run_never_killed(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    code = compile(docs_example(), str(DOCS), "exec")
    (tmp_path / "never").mkdir()
    (tmp_path / "killed").mkdir()
    monkeypatch.chdir(tmp_path / "never")
    never: dict[str, Any] = {}
    exec(code, never)

    monkeypatch.chdir(tmp_path / "killed")
    real = nettrain.functional.adam_update
    calls = []

    def dies_at_130(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 130:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(nettrain.functional, "adam_update", dies_at_130)
    with pytest.raises(Killed):
        exec(code, {})
    assert sorted(os.listdir("checkpoints")) == [
        "checkpoint-0001.safetensors",
        "checkpoint-0002.safetensors",
    ]
    monkeypatch.setattr(nettrain.functional, "adam_update", real)
    again: dict[str, Any] = {}
    exec(code, again)  # the same script, run again: it goes on from iteration 100
    capsys.readouterr()

    assert_same_weights(again["net"], never["net"])
    assert again["result"].metrics_positions["loss"] == list(range(1, 301))
    for name in ("batch_loss_list", "round_loss_list", "round_positions"):
        assert getattr(again["result"], name) == getattr(never["result"], name), name
