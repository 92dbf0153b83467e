"""Reporting overhead: every ``training_progress_reporting`` form against ``None``, same work.

Two workloads (issue 12's): the MLP 784-256-10 on Fashion-MNIST for 2 rounds (batch 64, Adam),
and the embedded Digits with a small MLP and tiny batches (batch 8, 10 rounds: many steps, many
reports for the little work each does). Each form trains a fresh net from the same seed; the
forms run interleaved (None, print, panel, ..., None, print, ...), ``--repeats`` times, and the
medians and the minimums of the training loop's time (``total_training_time``) are compared
with None's (the minimum is the steadier figure on a busy machine: noise only adds time).

The live forms (panel, progress bar) draw on a real pseudo-terminal, so their redraws are timed
as a user sees them; the plain forms write to a temporary file (standing in for a CI log), the
file logs and TensorBoard to a temporary folder.

Run from the repository root:

    python benchmarks/bench_reporting.py                      # 5 repeats, both workloads
    python benchmarks/bench_reporting.py --repeats 7 --only digits
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

import nettrain
from nettrain.datasets import load

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import DEFAULT_DATA, load_data, machine_load

FORMS = ("none", "print", "panel", "progress_bar", "csv", "jsonl", "tensorboard", "function")


def _form(name: str, folder: Path) -> Any:
    return {
        "none": None,
        "print": "print",
        "panel": "panel",
        "progress_bar": "progress_bar",
        "csv": str(folder / "log.csv"),
        "jsonl": str(folder / "log.jsonl"),
        "tensorboard": ("tensorboard", {"log_dir": str(folder / "tb")}),
        "function": (lambda live: None),
    }[name]


@contextlib.contextmanager
def _stdout_on(terminal: bool) -> Iterator[None]:
    """Standard output on a pseudo-terminal (read and dropped by a thread), or on a file."""
    saved = sys.stdout
    if terminal:
        master, slave = pty.openpty()
        stream = os.fdopen(slave, "w", buffering=1, encoding="utf-8")

        def drain() -> None:
            with contextlib.suppress(OSError):
                while os.read(master, 65536):
                    pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
    else:
        stream = tempfile.TemporaryFile("w+", encoding="utf-8")  # type: ignore[assignment]  # noqa: SIM115 - closed in the finally below
    sys.stdout = stream
    try:
        yield
    finally:
        sys.stdout = saved
        stream.close()
        if terminal:
            with contextlib.suppress(OSError):
                os.close(master)


ROUNDS = {"mlp": 2, "digits": 10}


def _workloads(only: str | None) -> dict[str, tuple[Any, Any, int]]:
    loads: dict[str, tuple[Any, Any, int]] = {}
    if only in (None, "mlp"):
        if not DEFAULT_DATA.is_dir():
            print(f"Fashion-MNIST not found at {DEFAULT_DATA}: the MLP workload is left out")
        else:
            x, y, _, _ = load_data(DEFAULT_DATA)
            loads["mlp"] = (x, y, 64)
    if only in (None, "digits"):
        digits = load("Digits", "train")
        images = torch.as_tensor(digits.inputs, dtype=torch.float32).reshape(len(digits.labels), -1)
        loads["digits"] = (images / images.max(), torch.as_tensor(digits.labels).long(), 8)
    return loads


def _net(workload: str, features: int) -> nn.Module:
    torch.manual_seed(0)
    hidden = 256 if workload == "mlp" else 32
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def run_once(workload: str, data: tuple[Any, Any, int], form: str) -> float:
    x, y, batch = data
    with tempfile.TemporaryDirectory() as folder, _stdout_on(form in ("panel", "progress_bar")):
        result = nettrain.train(
            _net(workload, x.shape[1]), (x, y), "all", method="adam", batch_size=batch,
            max_training_rounds=ROUNDS[workload], random_seeding=0, target_device="cpu",
            training_progress_reporting=_form(form, Path(folder)),
        )  # fmt: skip
    return float(result.total_training_time)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("mlp", "digits"))
    parser.add_argument("--forms", nargs="*", default=list(FORMS), choices=FORMS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread: steadier timings on a shared 2-core machine
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {machine_load()}")
    for workload, data in _workloads(args.only).items():
        run_once(workload, data, "none")  # warm-up
        times: dict[str, list[float]] = {form: [] for form in args.forms}
        for _ in range(args.repeats):
            for form in args.forms:
                times[form].append(run_once(workload, data, form))
        base = statistics.median(times["none"]) if "none" in times else None
        steps = ROUNDS[workload] * -(-len(data[1]) // data[2])
        print(f"\n{workload}: {len(data[1])} examples, batch {data[2]}, {steps} steps, "
              f"median of {args.repeats}, loop seconds")  # fmt: skip
        fastest = min(times["none"]) if "none" in times else None
        print(f"{'form':<14}{'median s':>10}{'vs None':>10}{'min s':>10}{'vs None':>10}")
        for form, values in times.items():
            median, least = statistics.median(values), min(values)
            ratio = f"{median / base:>9.3f}x" if base else ""
            ratio_min = f"{least / fastest:>9.3f}x" if fastest else ""
            print(f"{form:<14}{median:>10.3f}{ratio:>10}{least:>10.3f}{ratio_min:>10}")
    print(f"\nafter: {machine_load()}")


if __name__ == "__main__":
    main()
