"""benchmarks/bench_distributed.py: its communication share, its one-process run, its report.

The communication share runs as the benchmark runs it (a fresh process forking two gloo ranks)
on the MLP with a few steps; the one-process scaling run is the worker's own code, in this
process, on the quick slice of the real Fashion-MNIST (skipped where it is absent). The
two-process run is nettrain's engine, which its own tests cover.
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

from conftest import DATA_ROOT, needs_fashion_mnist

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_distributed.py"


@pytest.fixture
def bench(monkeypatch) -> ModuleType:
    """benchmarks/bench_distributed.py imported as a module; sys.path put back after."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # peers.py (imported) sets it; restored after
    spec = importlib.util.spec_from_file_location("benchmark_distributed", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # about 10 s: three interpreters start (the benchmark's and its two ranks)
def test_the_communication_share_is_a_fraction(tmp_path) -> None:
    figures = tmp_path / "figures.json"
    command = [sys.executable, str(SCRIPT), "--comm-only", "--quick", "--nets", "mlp"]
    done = subprocess.run(
        [*command, "--steps", "5", "--json", str(figures)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(figures.read_text())["communication"]["mlp"]
    assert found["processes"] == 2 and found["steps"] == 5
    assert 0 < found["ms_per_step_no_sync"] < found["ms_per_step_ddp"]
    assert 0 < found["share"] < 1
    assert "| MLP 784-256-10 | 2 |" in done.stdout  # the Markdown table


@pytest.mark.slow
@needs_fashion_mnist
def test_the_one_process_run_trains_and_reports_nettrain_s_figures(bench) -> None:
    settings = {
        "net": "mlp",
        "processes": 1,
        "data": str(DATA_ROOT),
        "quick": True,
        "rounds": 1,
        "batch_size": 64,
        "seed": 0,
        "warmup_batches": 1,
    }
    threads = torch.get_num_threads()
    try:
        run = bench.train_worker(settings)
    finally:
        torch.set_num_threads(threads)
    assert run["processes"] == 1 and run["examples"] == bench.QUICK["train"]
    assert run["processes_reported"] in (1, None)  # None before the engine has the property
    assert run["examples_per_second"] > 0 and run["call_seconds"] > 0
    assert run["test_accuracy"] > 0.5  # 40 updates of Adam on Fashion-MNIST


def test_the_nets_take_the_shapes_they_are_fed(bench) -> None:
    for name, shape in bench.SHAPES.items():
        net = bench.make_net(name, 0)
        assert net(torch.rand(3, *shape)).shape == (3, 10)
    assert torch.equal(bench.make_net("mlp", 0)[0].weight, bench.make_net("mlp", 0)[0].weight)


def test_summary_ratios_come_from_the_medians_and_each_pair(bench) -> None:
    def run(processes: int, repeat: int, rate: float) -> dict[str, object]:
        return {
            "processes": processes,
            "repeat": repeat,
            "examples_per_second": rate,
            "call_seconds": 1.0,
            "test_accuracy": 0.8,
            "cpu_threads": 1,
        }

    runs = [run(1, 0, 100.0), run(2, 0, 150.0), run(1, 1, 200.0), run(2, 1, 250.0)]
    runs.append({"processes": 2, "repeat": 2, "error": "exit status 1"})  # left out
    rows = bench.summarise(runs, (1, 2))
    assert rows[1]["examples_per_second"] == 150 and rows[2]["examples_per_second"] == 200
    assert rows[2]["vs_1"] == pytest.approx(200 / 150)
    assert rows[2]["vs_1_pairs"] == pytest.approx([1.5, 1.25])
    assert rows[2]["range"] == [150, 250] and rows[2]["runs"] == 2
    nets = {"mlp": {"rounds": 2, "rows": rows}}
    text = bench.table(nets, {"mlp": {"share": 0.25, "processes": 2}})
    assert "| MLP 784-256-10, 2 rounds | 1 | 150 | 100-200 | 1.00 |" in text
    assert "| 2 | 200 | 150-250 | 1.33 | 1 | 0.8000 | 25.0% |" in text
