"""Checkpoint cost: the MLP 784-256-10 on Fashion-MNIST with a checkpoint every round, and one
every 100 batches (within rounds: 19 in the run), vs none.

Same work for all (2 rounds, batch 64, Adam, one thread), interleaved repeats, medians of the
training loop's time; then the size of one checkpoint and the time to resume from one (the
whole ``train(..., resume=...)`` call of a run whose last round is the checkpoint's, so it
trains nothing more: reading, checking and restoring only).

    python benchmarks/bench_checkpoint.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import nettrain

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import DEFAULT_DATA, load_data, machine_load

ROUNDS = 2


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def _train(x: torch.Tensor, y: torch.Tensor, **more: object) -> object:
    return nettrain.train(
        _net(), (x, y), "all", method="adam", batch_size=64, max_training_rounds=ROUNDS,
        random_seeding=0, training_progress_reporting=None, target_device="cpu", **more,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y, _, _ = load_data(DEFAULT_DATA)
    print(f"machine: torch {torch.__version__}, one thread, {machine_load()}")
    _train(x[:2048], y[:2048])  # warm-up
    plain: list[float] = []
    saved: list[float] = []
    often: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            plain.append(float(_train(x, y).total_training_time))
            target = Path(folder) / f"r{repeat}"
            result = _train(x, y, training_progress_checkpointing={"directory": target})
            saved.append(float(result.total_training_time))
            files = result.checkpointing_files
            spec = {"directory": Path(folder) / f"b{repeat}", "interval": "100 batches"}
            often.append(
                float(_train(x, y, training_progress_checkpointing=spec).total_training_time)
            )
        size = Path(files[-1]).stat().st_size
        start = time.perf_counter()
        _train(x, y, resume=target)
        resume = time.perf_counter() - start
    base, with_ckpt = statistics.median(plain), statistics.median(saved)
    print(f"no checkpoints         {base:8.3f} s (median of {args.repeats})")
    print(f"a checkpoint per round {with_ckpt:8.3f} s  = {with_ckpt / base:.3f}x")
    every_100 = statistics.median(often)
    print(f"one per 100 batches    {every_100:8.3f} s  = {every_100 / base:.3f}x")
    print(f"one checkpoint         {size / 1e6:8.2f} MB")
    print(f"resume (whole call)    {resume:8.3f} s")
    print(f"after: {machine_load()}")


if __name__ == "__main__":
    main()
