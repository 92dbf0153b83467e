"""Several processes (issue 15), on the CPU with gloo: the same result as one process, and no
rank ever left waiting.

Each failure test runs its training in a child process with a deadline (``bounded``), so that a
hang fails the test instead of the suite.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

import nettrain
from nettrain.distributed.dropout import masks_in_order
from nettrain.distributed.sharding import share_sizes
from nettrain.errors import NetTrainError

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="torch built without gloo"
)

QUIET = {"training_progress_reporting": None}
DEADLINE = 60.0  # seconds any of these runs may take, hang included


def _data(dtype=torch.float32, n=203, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g, dtype=dtype)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()
    return x, y


def _mlp(dtype=torch.float32):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 16), nn.ReLU(),
        nn.Dropout(0.2), nn.Linear(16, 3),
    ).to(dtype)  # fmt: skip


def _classifier():
    """The MLP ending in a softmax (Keras' losses take probabilities)."""
    return nn.Sequential(_mlp(), nn.Softmax(dim=1))


def _options(dtype=torch.float32):
    validation = _data(dtype, n=60, seed=2)
    return {
        "batch_size": 16,  # 203 examples: 12 batches of 16 and one of 11 (shares 6 and 5)
        "max_training_rounds": 6,
        "learning_rate": 1e-2,
        "validation_set": validation,
        "training_stopping_criterion": {"criterion": "loss", "patience": 2},
        "random_seeding": 7,
        **QUIET,
    }


def _max_difference(a: nn.Module, b: nn.Module) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max((p - q).abs().max().item() for p, q in pairs)


@pytest.mark.skipif(not masks_in_order(), reason="this CPU's dropout does not draw in order")
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_two_processes_train_to_the_weights_of_one(dtype, tolerance):
    x, y = _data(dtype)
    one, two = _mlp(dtype), _mlp(dtype)
    alone = nettrain.train(one, (x, y), "all", **_options(dtype))
    shared = nettrain.train(two, (x, y), "all", target_device=("cpu", 2), **_options(dtype))
    assert _max_difference(one, two) < tolerance
    assert alone["processes"] == 1 and shared["processes"] == 2
    assert shared["batch_size"] == 16  # the global batch
    assert shared["examples_processed"] == alone["examples_processed"]
    # measurements: the losses of every batch, the rounds' measurements, the validations
    torch.testing.assert_close(
        shared["batch_loss_list"], alone["batch_loss_list"], rtol=tolerance, atol=tolerance
    )
    for mine, theirs in zip(shared["round_measurements_lists"].items(),
                            alone["round_measurements_lists"].items(), strict=True):  # fmt: skip
        assert mine[0] == theirs[0]
        torch.testing.assert_close(mine[1], theirs[1], rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(
        shared["validation_loss_list"], alone["validation_loss_list"], rtol=1e-5, atol=1e-6
    )
    # each rank validated its part of each validation batch: the merged counts are exact
    assert (shared["validation_measurements_lists"]["error_rate"]
            == alone["validation_measurements_lists"]["error_rate"])  # fmt: skip
    # the best net and the stopping criterion decided alike
    assert shared["best_validation_round"] == alone["best_validation_round"]
    assert shared["reason_training_stopped"] == alone["reason_training_stopped"]
    assert shared["total_rounds"] == alone["total_rounds"]
    # the user's module comes back plain (no DDP wrapper, no hooks), usable on its own
    assert type(two) is nn.Sequential
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in two.modules())
    two.train()
    two(x).sum().backward()  # no reducer of the finished run fires
    assert not multiprocessing.active_children()


def test_shares_differ_by_at_most_one_example():
    assert share_sizes(16, 2) == [8, 8]
    assert share_sizes(11, 2) == [6, 5]
    assert share_sizes(2, 3) == [1, 1, 0]
    assert sum(share_sizes(1000, 7)) == 1000


def test_a_batch_smaller_than_the_ranks_trains_as_one_process():
    # 17 examples, batch 8: the last batch has 1 example, so rank 1's share is empty
    x, y = _data(n=17)
    one, two = _mlp(), _mlp()
    options = {"batch_size": 8, "max_training_rounds": 2, "learning_rate": 1e-2, **QUIET}
    nettrain.train(one, (x, y), **options)
    nettrain.train(two, (x, y), target_device=("cpu", 2), **options)
    assert _max_difference(one, two) < 1e-5


# ---- failures: nothing hangs ----------------------------------------------------------------


class Sabotaged(nn.Module):
    """An MLP whose forward misbehaves on one rank at its ``at``-th training call."""

    def __init__(self, rank: int, at: int, how: str) -> None:
        super().__init__()
        self.body = _mlp()
        self.rank, self.at, self.how, self.calls = rank, at, how, 0

    def forward(self, x):
        if self.training and dist.is_initialized() and dist.get_rank() == self.rank:
            self.calls += 1
            if self.calls == self.at:
                if self.how == "raise":
                    raise RuntimeError("boom on purpose")
                if self.how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if self.how == "interrupt":
                    os.kill(os.getpid(), signal.SIGINT)
        return self.body(x)


def _sabotaged_run(how: str, rank: int, answers) -> None:
    x, y = _data(n=512)
    try:
        result = nettrain.train(
            Sabotaged(rank, 5, how), (x, y), "all", target_device=("cpu", 2),
            batch_size=16, max_training_rounds=50, distributed_timeout=20, **QUIET,
        )  # fmt: skip
        answers.put(("ok", result["reason_training_stopped"], result["total_batches"]))
    except NetTrainError as error:
        answers.put(("NetTrainError", str(error), None))
    except Exception as error:
        answers.put((type(error).__name__, str(error), None))


def bounded(how: str, rank: int) -> tuple[tuple, float]:
    """Run :func:`_sabotaged_run` in a child process; its answer and seconds (fails after
    :data:`DEADLINE`: a hang)."""
    context = multiprocessing.get_context("fork")
    answers = context.SimpleQueue()
    child = context.Process(target=_sabotaged_run, args=(how, rank, answers))
    begin = time.perf_counter()
    child.start()
    child.join(DEADLINE)
    took = time.perf_counter() - begin
    if child.is_alive():
        child.kill()
        pytest.fail(f"the run hung: still going after {DEADLINE} s ({how} on rank {rank})")
    assert not answers.empty(), f"the run ended without an answer (exit code {child.exitcode})"
    return answers.get(), took


def test_a_rank_that_raises_ends_the_run_with_its_error():
    (kind, message, _), took = bounded("raise", rank=1)
    assert kind == "NetTrainError"
    assert "process 1 of 2 failed: RuntimeError: boom on purpose" in message
    assert took < 30


def test_a_rank_that_is_killed_ends_the_run():
    (kind, message, _), took = bounded("kill", rank=1)
    assert kind == "NetTrainError"
    assert "process 1 of 2 was killed (signal 9)" in message
    assert took < 30


def test_an_error_on_rank_0_is_raised_as_it_is():
    (kind, message, _), took = bounded("raise", rank=0)
    assert kind == "RuntimeError" and "boom on purpose" in message
    assert took < 30


def test_ctrl_c_on_one_rank_stops_every_rank_at_the_same_batch():
    (kind, reason, batches), took = bounded("interrupt", rank=1)
    assert (kind, reason) == ("ok", "stopped_by_user")
    # rank 1's fifth step asked; the stop was agreed after that very batch
    assert batches == 5
    assert took < 30


def test_a_progress_function_stop_on_one_rank_is_agreed():
    def stop_on_rank_1(live):
        if dist.get_rank() == 1 and live["absolute_batch"] == 3:
            return "stop_training"
        return None

    x, y = _data(n=512)
    result = nettrain.train(
        _mlp(), (x, y), "all", target_device=("cpu", 2), batch_size=16,
        max_training_rounds=50, training_progress_function=(stop_on_rank_1, {"interval": "batch"}),
        **QUIET,
    )  # fmt: skip
    assert result["reason_training_stopped"] == "progress_function"
    assert result["total_batches"] == 4  # asked after batch 3, agreed after batch 4


# ---- refusals ---------------------------------------------------------------------------------


def _batches(batch_size, round):
    # a batch function drawing from torch's generator: every rank draws the same batch
    x = torch.randn(batch_size, 8)
    return {"input": x, "target": (x[:, :3].sum(1) > 0).long()}


@pytest.mark.skipif(not masks_in_order(), reason="this CPU's dropout does not draw in order")
@pytest.mark.parametrize("form", ["batch function", "DataLoader"])
def test_a_stream_read_on_every_rank_trains_to_the_weights_of_one_process(form):
    x, y = _data(n=200)
    options = {"batch_size": 16, "max_training_rounds": 3, "learning_rate": 1e-2, **QUIET}
    if form == "batch function":
        data = (_batches, {"round_length": 96})
    else:
        dataset = torch.utils.data.TensorDataset(x, y)
        options.pop("batch_size")
        data = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True)
    one, two = _mlp(), _mlp()
    alone = nettrain.train(one, data, "all", **options)
    shared = nettrain.train(two, data, "all", target_device=("cpu", 2), **options)
    assert _max_difference(one, two) < 1e-5
    assert shared["total_batches"] == alone["total_batches"]
    torch.testing.assert_close(shared["round_loss_list"], alone["round_loss_list"])


class _Uneven:
    """An iterable whose rounds are one batch shorter on rank 1: the ranks must still end each
    round together, at the shorter stream's end."""

    def __iter__(self):
        count = 4 if dist.is_initialized() and dist.get_rank() == 1 else 5
        g = torch.Generator().manual_seed(0)
        for _ in range(count):
            x = torch.randn(8, 8, generator=g)
            yield x, (x[:, 0] > 0).long()


def test_streams_of_different_lengths_end_each_round_together():
    result = nettrain.train(_mlp(), _Uneven(), "all", target_device=("cpu", 2),
                            max_training_rounds=2, distributed_timeout=20, **QUIET)  # fmt: skip
    assert result["total_batches"] == 8  # two rounds of the shorter stream's 4 batches
    assert result["reason_training_stopped"] == "max_training_rounds"


def test_a_resumed_run_on_two_processes_continues_as_the_uninterrupted_one(tmp_path):
    # rank 0 alone writes the checkpoints; every rank reads the one it resumes from
    x, y = _data()
    options = {"batch_size": 16, "learning_rate": 1e-2, "target_device": ("cpu", 2),
               "max_training_rounds": 4, "validation_set": _data(n=60, seed=2)}  # fmt: skip
    options.update(QUIET)
    whole = _mlp()
    folder = tmp_path / "checkpoints"
    result = nettrain.train(whole, (x, y), "all", **options,
                            training_progress_checkpointing={"directory": folder})  # fmt: skip
    files = result["checkpointing_files"]
    assert len(files) == 4 and len(list(folder.iterdir())) == 4  # one writer
    for name in files[2:]:
        Path(name).unlink()
    resumed = _mlp()
    again = nettrain.train(resumed, (x, y), "all", resume=folder, **options)
    assert _max_difference(whole, resumed) == 0.0  # bit for bit
    assert again["validation_loss_list"] == result["validation_loss_list"]


def test_per_example_losses_are_refused_on_several_processes():
    x, y = _data()
    with pytest.raises(NetTrainError, match="'example_losses' is not available"):
        nettrain.train(_mlp(), (x, y), "example_losses", target_device=("cpu", 2),
                       max_training_rounds=1, **QUIET)  # fmt: skip


@pytest.mark.parametrize("spec", [("cpu", 0), ("cpu", "two"), ("gpu", [0, 0])])
def test_bad_process_counts_name_the_argument(spec):
    if spec[0] == "gpu" and not torch.cuda.is_available():
        with pytest.raises(NetTrainError, match="target_device"):
            nettrain.train(_mlp(), _data(), target_device=spec, **QUIET)
        return
    with pytest.raises(NetTrainError, match="target_device"):
        nettrain.train(_mlp(), _data(), target_device=spec, **QUIET)


# ---- torchrun ---------------------------------------------------------------------------------

SCRIPT = """
import sys, torch, torch.distributed as dist, nettrain
sys.path.insert(0, {tests!r})
from test_distributed import _data, _mlp, _options
x, y = _data()
net = _mlp()
result = nettrain.train(net, (x, y), "all", **_options())
rank = __import__("os").environ["RANK"]
if result["processes"] == 2 and not dist.is_initialized():  # the group is left as it was found
    torch.save(net.state_dict(), {out!r} + f".{{result['processes']}}.rank" + rank)
"""


def test_torchrun_gives_the_result_of_cpu_2(tmp_path: Path):
    out = str(tmp_path / "weights")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT.format(tests=str(Path(__file__).parent), out=out)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(script)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=DEADLINE * 2)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(f"{out}.2.rank{r}") for r in (0, 1)]
    x, y = _data()
    net = _mlp()
    nettrain.train(net, (x, y), target_device=("cpu", 2), **_options())
    for name, value in net.state_dict().items():
        torch.testing.assert_close(ranks[0][name], value, rtol=0, atol=1e-6)
        torch.testing.assert_close(ranks[1][name], value, rtol=0, atol=0)  # every rank alike


def test_processes_asked_for_under_torchrun_are_refused(monkeypatch):
    # torchrun has started the processes already: each asking for two more would train apart
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(NetTrainError, match="already part of a process group"):
        nettrain.train(_mlp(), _data(), target_device=("cpu", 2), **QUIET)


FIT_SCRIPT = """
import os, sys, torch, nettrain
from nettrain.keras import Model
sys.path.insert(0, {tests!r})
from test_distributed import _classifier, _data
x, y = _data()
model = Model(_classifier())
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=16, epochs=3, verbose=2)
torch.save({{"weights": model.module.state_dict(), "history": history.history}},
           {out!r} + ".rank" + os.environ["RANK"])
"""


def test_keras_fit_under_torchrun_is_the_one_process_fit(tmp_path: Path):
    from nettrain.keras import Model

    out = str(tmp_path / "fit")
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent(FIT_SCRIPT.format(tests=str(Path(__file__).parent), out=out)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(script)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=DEADLINE * 2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Epoch 3/3") == 1  # rank 0 alone prints the epochs
    ranks = [torch.load(f"{out}.rank{r}") for r in (0, 1)]
    x, y = _data()
    model = Model(_classifier())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    for name, value in model.module.state_dict().items():
        torch.testing.assert_close(ranks[0]["weights"][name], value, rtol=0, atol=1e-6)
        assert torch.equal(ranks[1]["weights"][name], ranks[0]["weights"][name])
    assert ranks[0]["history"]["accuracy"] == pytest.approx(history.history["accuracy"])
    torch.testing.assert_close(ranks[0]["history"]["loss"], history.history["loss"])


def test_spawned_processes_as_for_gpus_train_as_forked_ones():
    # ("gpu", "all") spawns its processes (CUDA does not survive a fork): the net, the data and
    # the options are pickled to them. The same start-up on the CPU, against the forked run.
    import time as clock_module

    from nettrain.distributed.launch import run_processes
    from nettrain.train import _train_rank

    x, y = _data()
    forked, spawned = _mlp(), _mlp()
    options = {"batch_size": 16, "max_training_rounds": 2, "learning_rate": 1e-2, **QUIET}
    nettrain.train(forked, (x, y), target_device=("cpu", 2), **options)
    args = (spawned, (x, y), None, clock_module.perf_counter)
    run_processes(_train_rank, args, options, 2, (), 30.0, start_method="spawn")
    assert _max_difference(forked, spawned) == 0.0


class _Unpicklable(nn.Module):
    """A net holding a lambda: it cannot pickle, and ("cpu", n) must not need it to."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _mlp()
        self.activation = lambda t: t * 1.0

    def forward(self, x):
        return self.activation(self.body(x))


def test_forked_processes_need_nothing_to_pickle():
    import pickle

    x, y = _data()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(_Unpicklable())
    one, two = _Unpicklable(), _Unpicklable()
    options = {"batch_size": 16, "max_training_rounds": 2, "learning_rate": 1e-2, **QUIET}
    nettrain.train(one, (x, y), **options)
    nettrain.train(two, (x, y), target_device=("cpu", 2), **options)
    assert _max_difference(one, two) < 1e-5
