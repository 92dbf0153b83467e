"""benchmarks/peers.py: its synthetic text task, its nets and contenders, its smallest run.

The end-to-end runs use ``--quick --nets lstm`` (the synthetic task needs no dataset on disk),
one repeat, a fresh process per contender as the benchmark always does; each such process costs
several seconds of imports and warm-up, so the four torch contenders are also run here in this
process on the same quick data. CI installs no peers, so the hand and nettrain contenders always
run; Lightning and Keras 3 only where they are installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "peers.py"


@pytest.fixture
def peers(monkeypatch) -> ModuleType:
    """benchmarks/peers.py imported as a module; the environment and sys.path put back after."""
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # the module sets it; restored at teardown
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("benchmark_peers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up here
    spec.loader.exec_module(module)
    return module


def test_text_data_is_deterministic_and_follows_its_rule(peers):
    x, y, tx, ty = peers.text_data()
    again = peers.text_data()
    assert all(torch.equal(a, b) for a, b in zip((x, y, tx, ty), again, strict=True))
    assert x.shape == (20_000, 32) and tx.shape == (5_000, 32)
    assert x.dtype == torch.int64 and y.dtype == torch.int64
    tokens, labels = torch.cat([x, tx]), torch.cat([y, ty])
    assert int(tokens.min()) >= 1 and int(tokens.max()) <= 999  # token 0 is never drawn
    has_a = ((tokens >= 1) & (tokens <= 4)).any(1)
    has_b = ((tokens >= 5) & (tokens <= 8)).any(1)
    assert torch.equal(labels, 2 * has_a.long() + has_b.long())  # the documented rule
    assert int(((tokens >= 1) & (tokens <= 8)).sum(1).max()) <= 2  # at most one of each kind
    counts = torch.bincount(labels, minlength=4)
    assert int(counts.min()) > 0.23 * len(labels)  # about a quarter each


def test_tuned_loop_trains_a_channels_last_cnn(peers):
    spec = peers.Spec("cnn", 1, 16, 0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 28, 28, generator=g), torch.randint(0, 10, (48,), generator=g)
    net = peers.make_net("cnn", 0)
    before = net[0].weight.detach().clone()
    bf16 = peers.bf16_failure(spec, x, y) is None  # a CNN runs in bfloat16 on any x86 CPU
    peers.tuned_loop(net, x, y, 1, 16, 0, bf16=bf16)
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(net[0].weight, before)
    assert net[0].weight.dtype == torch.float32  # float32 master weights


def test_every_torch_net_is_built_from_one_seed(peers):
    for name in peers.NETS:
        a, b = peers.make_net(name, 3), peers.make_net(name, 3)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_each_torch_contender_trains_the_quick_lstm(peers):
    """In this process (each fresh-process run costs seconds of imports): the same data, seed
    and settings as a --quick run; ten batches from one seed leave every contender near chance
    (4 classes), and none broken."""
    data = peers.load("lstm", Path("unused"), quick=True)
    assert len(data.x) == 640 and len(data.tx) == 1000
    spec = peers.Spec("lstm", 1, 64, 0)
    for name in ("hand", "hand_tuned", "nettrain_train", "nettrain_keras"):
        seconds, cpu_seconds, acc, extra = peers.RUNNERS[name](data, spec)
        assert seconds > 0 and cpu_seconds > 0, name
        assert 0.15 <= acc <= 0.6, (name, acc)
        if name == "nettrain_train":
            assert extra["total_batches"] == 10
            assert extra["working_precision"] in ("float32", "mixed")
        if name == "hand_tuned":
            assert extra["bf16_autocast"] == (extra["bf16_failure"] is None)


def quick_run(tmp_path: Path, contenders: str) -> dict:
    """peers.py --quick --nets lstm --repeats 1: the command line, the fresh-process workers,
    the table and the JSON file."""
    out = tmp_path / "figures.json"
    command = [sys.executable, str(SCRIPT), "--quick", "--nets", "lstm", "--repeats", "1"]
    command += ["--contenders", contenders, "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| net | contender | examples/s | range | vs hand | test acc |" in done.stdout
    assert "machine: " in done.stdout and "torch " in done.stdout
    figures: dict = json.loads(out.read_text())
    rows = figures["nets"]["lstm"]["rows"]
    assert list(rows) == contenders.split(",")
    for name, row in rows.items():
        assert "error" not in row, (name, row)
        assert row["examples_per_second"] > 0
        assert 0.15 <= row["test_accuracy"] <= 0.6, (name, row)
    for run in figures["nets"]["lstm"]["runs"]:
        assert run["examples"] == 640 and run["test_examples"] == 1000
    return figures


def test_quick_run_of_the_hand_loop_and_nettrain(tmp_path):
    # two fresh processes, about 7 s each on an idle 2-core machine (imports and warm-up)
    figures = quick_run(tmp_path, "hand,nettrain_train")
    rows = figures["nets"]["lstm"]["rows"]
    assert rows["hand"]["vs_hand"] == pytest.approx(1.0)
    assert rows["nettrain_train"]["vs_hand_pairs"]
    assert figures["nets"]["lstm"]["runs"][1]["extra"]["total_batches"] == 10


@pytest.mark.skipif(
    importlib.util.find_spec("lightning") is None or importlib.util.find_spec("keras") is None,
    reason="the peers are not installed (pip install -r benchmarks/requirements-peers.txt); "
    "CI does not install them",
)
def test_quick_run_of_the_peers(tmp_path):
    figures = quick_run(tmp_path, "lightning,keras3")
    assert figures["machine"]["before"]["lightning"] and figures["machine"]["before"]["keras"]
