"""Fixed-work benchmark: nettrain.train against an expert hand-written PyTorch loop.

Same net (MLP 784-256-10), data (Fashion-MNIST, pixels in [0, 1]), optimizer (Adam, lr 1e-3),
batch size (64) and rounds (2) for every contender; only the trainer differs, so the difference
in time is the trainer's overhead (performance-anchors.md §3 and §7.1).

In one process the contenders run interleaved (hand, nettrain, hand, nettrain, ...), each on a
fresh net built from the same seed, after one short warm-up each, and the medians are compared.
Then, unless --no-memory, each contender runs once more in a fresh subprocess of its own
(``--only NAME``) to measure its memory: peak resident set size and its growth over the RSS just
before the call, and its cold (first-call) call-to-return time.

Run from the repository root:

    python benchmarks/bench_mlp.py                 # 3 repeats each, plus memory subprocesses
    python benchmarks/bench_mlp.py --repeats 5 --lightning --keras

Lightning and Keras 3 (KERAS_BACKEND=torch) are optional contenders: they are imported only when
asked for, and are never dependencies of nettrain.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import nettrain
from nettrain.datasets import load_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "fashion-mnist"
LEARNING_RATE = 1e-3

Data = tuple[Tensor, Tensor, Tensor, Tensor]  # train x, train y, test x, test y


@dataclass
class Config:
    rounds: int = 2
    batch_size: int = 64
    seed: int = 0
    warmup_batches: int = 50


@dataclass
class Run:
    """One timed training call of one contender."""

    contender: str
    seconds: float  # call-to-return wall time, including the trainer's own setup
    cpu_seconds: float  # process CPU time over the same span (all threads)
    examples: int
    batches: int
    accuracy: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds


class Stopwatch:
    """Wall and process CPU time of a ``with`` block.

    With one thread the CPU time leaves out time spent waiting for a core that another process
    holds, so it is the steadier figure on a shared machine; with more, OpenMP threads spin
    while they wait and it follows the wall time.
    """

    def __enter__(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


# --------------------------------------------------------------------------------------------
# data and net


def load_data(directory: Path) -> Data:
    """Fashion-MNIST as float32 [n, 784] in [0, 1] and int64 labels, held in memory."""
    splits = load_fashion_mnist(directory)

    def prepare(images: Any, labels: Any) -> tuple[Tensor, Tensor]:
        x = torch.from_numpy(images).reshape(len(images), -1).to(torch.float32).div_(255)
        return x, torch.from_numpy(labels).to(torch.int64)

    return (*prepare(*splits["train"]), *prepare(*splits["test"]))


def make_net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


@torch.no_grad()
def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    # In chunks, so evaluating adds about 1 MB to the peak memory that the subprocesses measure.
    net.eval()
    correct = sum(
        int((net(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum())
        for i in range(0, len(x), 1000)
    )
    return correct / len(x)


def batches_for(n: int, cfg: Config) -> int:
    return cfg.rounds * math.ceil(n / cfg.batch_size)


# --------------------------------------------------------------------------------------------
# contenders: each trains a fresh net for cfg.rounds rounds and returns a Run


def hand_loop(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    rounds: int,
    batch_size: int,
    seed: int,
    fused: bool = False,
) -> None:
    """The loop an expert writes: data in memory, randperm + index slicing, no per-step sync.

    ``fused=True`` gives it torch's fused Adam kernel, the one nettrain uses, so the
    difference between the two is nettrain's own per-batch cost and nothing else."""
    extra = {"fused": True} if fused else {}
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, **extra)
    generator = torch.Generator().manual_seed(seed)
    n = len(x)
    net.train()
    for _ in range(rounds):
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, batch_size):
            index = order[begin : begin + batch_size]
            loss = F.cross_entropy(net(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def run_hand(data: Data, cfg: Config) -> Run:
    x, y, tx, ty = data
    net = make_net(cfg.seed)
    with Stopwatch() as watch:
        hand_loop(net, x, y, cfg.rounds, cfg.batch_size, cfg.seed)
    n, batches = cfg.rounds * len(x), batches_for(len(x), cfg)
    return Run("hand", watch.wall, watch.cpu, n, batches, accuracy(net, tx, ty))


def run_hand_fused(data: Data, cfg: Config) -> Run:
    x, y, tx, ty = data
    net = make_net(cfg.seed)
    with Stopwatch() as watch:
        hand_loop(net, x, y, cfg.rounds, cfg.batch_size, cfg.seed, fused=True)
    n, batches = cfg.rounds * len(x), batches_for(len(x), cfg)
    return Run("hand_fused", watch.wall, watch.cpu, n, batches, accuracy(net, tx, ty))


def nettrain_options(cfg: Config) -> dict[str, Any]:
    return {
        "method": "adam",
        "learning_rate": LEARNING_RATE,
        "batch_size": cfg.batch_size,
        "max_training_rounds": cfg.rounds,
        "training_progress_reporting": None,
        "target_device": "cpu",
        "random_seeding": cfg.seed,
    }


def run_nettrain(data: Data, cfg: Config) -> Run:
    x, y, tx, ty = data
    net = make_net(cfg.seed)
    with Stopwatch() as watch:
        result = nettrain.train(net, (x, y), "all", **nettrain_options(cfg))
    extra = {
        "loop_seconds": result.total_training_time,
        "loop_examples_per_second": result.mean_examples_per_second,
        "optimizer": result.optimization_method.get("implementation"),
    }
    assert result.total_batches == batches_for(len(x), cfg), result.total_batches
    return Run(
        "nettrain",
        watch.wall,
        watch.cpu,
        result.examples_processed,
        result.total_batches,
        accuracy(net, tx, ty),
        extra,
    )


def run_lightning(data: Data, cfg: Config) -> Run:
    """Lightning with its parity-test settings (no progress bar, logger, checkpoints, summary)."""
    try:
        import lightning as L  # Lightning's own spelling
    except ImportError:
        raise SystemExit("Lightning is not installed: pip install lightning") from None
    from torch.utils.data import DataLoader, TensorDataset

    x, y, tx, ty = data
    net = make_net(cfg.seed)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch: tuple[Tensor, Tensor], _: int) -> Tensor:
            inputs, targets = batch
            return F.cross_entropy(self.net(inputs), targets)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=LEARNING_RATE)

    # Lightning's banner lines ("GPU available: ...") and tips say nothing about speed.
    for logger in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    torch.manual_seed(cfg.seed)  # the DataLoader's shuffling draws from the global generator
    with Stopwatch() as watch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own deprecation notices, once per run
        loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True)
        trainer = L.Trainer(
            max_epochs=cfg.rounds,
            accelerator="cpu",
            devices=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            logger=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(Module(), loader)
    n, batches = cfg.rounds * len(x), batches_for(len(x), cfg)
    return Run("lightning", watch.wall, watch.cpu, n, batches, accuracy(net, tx, ty))


def run_keras(data: Data, cfg: Config) -> Run:
    """Keras 3 on the torch backend, fit(verbose=0)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise SystemExit("Keras 3 is not installed: pip install keras") from None
    if keras.backend.backend() != "torch":
        raise SystemExit(f"Keras runs on {keras.backend.backend()!r}; set KERAS_BACKEND=torch")
    x, y, tx, ty = data
    keras.utils.set_random_seed(cfg.seed)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    train_x, train_y = x.numpy(), y.numpy()
    with Stopwatch() as watch:
        model.fit(train_x, train_y, batch_size=cfg.batch_size, epochs=cfg.rounds, verbose=0)
    logits = model.predict(tx.numpy(), batch_size=1000, verbose=0)
    acc = float((torch.as_tensor(logits).argmax(1) == ty).float().mean())
    n, batches = cfg.rounds * len(x), batches_for(len(x), cfg)
    return Run("keras", watch.wall, watch.cpu, n, batches, acc)


CONTENDERS: dict[str, Callable[[Data, Config], Run]] = {
    "hand": run_hand,
    "hand_fused": run_hand_fused,
    "nettrain": run_nettrain,
    "lightning": run_lightning,
    "keras": run_keras,
}
LABELS = {
    "hand": "hand-written PyTorch",
    "hand_fused": "hand-written, fused Adam",
    "nettrain": "nettrain.train",
    "lightning": "Lightning (parity settings)",
    "keras": "Keras 3, torch backend",
}


def warm_up(name: str, data: Data, cfg: Config) -> None:
    """A short run of each contender first, so no timed run pays for first-touch costs
    (torch.optim's lazy import of torch._dynamo, allocator growth, page faults)."""
    n = cfg.warmup_batches * cfg.batch_size
    x, y, tx, ty = data
    CONTENDERS[name]((x[:n], y[:n], tx[:256], ty[:256]), Config(1, cfg.batch_size, cfg.seed, 0))


# --------------------------------------------------------------------------------------------
# memory, in a fresh process per contender


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so the peak measured is the training
    call's, not the data loading's (which briefly holds uint8 and float copies at once)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(name: str, data_dir: Path, cfg: Config) -> None:
    """Run one contender once in this (fresh) process; print its figures as one JSON line."""
    data = load_data(data_dir)
    # Building the first torch optimizer imports torch._dynamo (about 1 s and 100 MB of Python
    # modules). Every contender pays that once per process, so it is paid here, before the
    # baseline, and reported apart: the figures below are then the trainer's own.
    start = time.perf_counter()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    first_optimizer = time.perf_counter() - start
    gc.collect()
    loading_peak = _status_kib("VmHWM")
    reset = _reset_peak()
    before = _status_kib("VmRSS")
    run = CONTENDERS[name](data, cfg)
    end_peak = _status_kib("VmHWM")  # since the reset, or since the start if it failed
    call_peak = end_peak if reset else None
    # This process's own peak. Not ru_maxrss: on Linux a child inherits its parent's ru_maxrss
    # across fork and exec, so here it would report the parent's peak (all contenders' data).
    if end_peak is not None and loading_peak is not None:
        process_peak = max(loading_peak, end_peak)
    else:
        process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    report = asdict(run) | {
        "rss_before_kib": before,
        "process_peak_rss_kib": process_peak,
        "call_peak_rss_kib": call_peak,
        "growth_kib": (call_peak if call_peak is not None else process_peak) - (before or 0),
        "peak_reset": reset,
        "first_optimizer_seconds": first_optimizer,
    }
    print("RESULT " + json.dumps(report))


def measure_memory(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--only",
        name,
        "--data",
        str(args.data),
        "--rounds",
        str(args.rounds),
        "--batch-size",
        str(args.batch_size),
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError(f"the {name} subprocess failed:\n{done.stdout}\n{done.stderr}")


# --------------------------------------------------------------------------------------------
# report


def spread(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def machine_load() -> str:
    """The 1-minute load average and CPU pressure: other processes on the cores skew timings."""
    parts = []
    try:
        parts.append("load " + Path("/proc/loadavg").read_text().split()[0])
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        parts.append("cpu pressure avg10 " + some.split()[1].split("=")[1] + "%")
    except (OSError, IndexError):
        pass
    return ", ".join(parts) or "load unknown"


def report(runs: dict[str, list[Run]], memory: dict[str, dict[str, Any]], cfg: Config) -> None:
    hand = runs["hand"]
    hand_median = statistics.median(r.seconds for r in hand)
    hand_best = min(r.seconds for r in hand)
    print()
    print(
        f"MLP 784-256-10, Fashion-MNIST 60,000 x {cfg.rounds} rounds, batch {cfg.batch_size}, "
        f"Adam lr {LEARNING_RATE:g}, {torch.get_num_threads()} threads, "
        f"{len(hand)} interleaved runs each"
    )
    header = (
        f"{'contender':<30}{'examples/s':>12}{'(min-max)':>17}{'best':>9}{'seconds':>9}"
        f"{'CPU s':>7}{'test acc':>10}{'vs hand':>9}{'(best)':>8}{'(CPU)':>7}"
    )
    print(header)
    print("-" * len(header))
    hand_cpu = statistics.median(r.cpu_seconds for r in hand)
    for name, items in runs.items():
        seconds = statistics.median(r.seconds for r in items)
        cpu = statistics.median(r.cpu_seconds for r in items)
        best = min(r.seconds for r in items)
        rates = [r.examples_per_second for r in items]
        acc = statistics.mean(r.accuracy for r in items)
        print(
            f"{LABELS[name]:<30}{statistics.median(rates):>12,.0f}{spread(rates):>17}"
            f"{max(rates):>9,.0f}{seconds:>9.2f}{cpu:>7.2f}{acc:>10.2%}"
            f"{hand_median / seconds:>9.3f}{hand_best / best:>8.3f}{hand_cpu / cpu:>7.3f}"
        )
    if "nettrain" in runs:
        ours = runs["nettrain"]
        loop = [r.extra["loop_examples_per_second"] for r in ours]
        print(
            f"{'  nettrain, loop only':<30}{statistics.median(loop):>12,.0f}{spread(loop):>17}"
            f"{max(loop):>9,.0f}"
        )
        batches = ours[0].batches
        median_overhead = (statistics.median(r.seconds for r in ours) - hand_median) / batches
        best_overhead = (min(r.seconds for r in ours) - hand_best) / batches
        print(
            f"\nper-batch overhead of nettrain.train over the hand-written loop: "
            f"{median_overhead * 1e6:,.1f} µs from the medians, {best_overhead * 1e6:,.1f} µs "
            f"from the best runs ({batches:,} batches)"
        )
        if "hand_fused" in runs:
            # the same optimizer kernel on both sides: what is left is nettrain's own cost
            fused = runs["hand_fused"]
            fused_median = statistics.median(r.seconds for r in fused)
            own = (statistics.median(r.seconds for r in ours) - fused_median) / batches
            own_best = (min(r.seconds for r in ours) - min(r.seconds for r in fused)) / batches
            print(
                f"per-batch overhead over the hand-written loop with the same fused Adam: "
                f"{own * 1e6:,.1f} µs from the medians, {own_best * 1e6:,.1f} µs from the best "
                f"runs; ratio {fused_median / statistics.median(r.seconds for r in ours):.3f}"
            )
        pairs = [h.seconds / o.seconds for o, h in zip(ours, hand, strict=False)]
        print(
            "vs hand in each interleaved pair: "
            + ", ".join(f"{p:.3f}" for p in pairs)
            + f" (median {statistics.median(pairs):.3f})"
        )
        print(
            "vs hand = examples/s of the contender / examples/s of the hand loop, from the "
            "median wall times,\nthe best wall times, and the median CPU times "
            "(target for nettrain >= 0.95)"
        )
    if memory:
        print(
            f"\n{'memory, fresh process each':<30}{'RSS before':>11}{'call peak':>10}"
            f"{'growth':>8}{'process peak':>13}{'cold s':>8}{'test acc':>10}"
        )
        for name, m in memory.items():
            call_peak = m["call_peak_rss_kib"]
            print(
                f"{LABELS[name]:<30}{(m['rss_before_kib'] or 0) / 1024:>8,.0f} MB"
                + (f"{call_peak / 1024:>7,.0f} MB" if call_peak else f"{'n/a':>10}")
                + f"{m['growth_kib'] / 1024:>5,.0f} MB{m['process_peak_rss_kib'] / 1024:>10,.0f} MB"
                f"{m['seconds']:>8.2f}{m['accuracy']:>10.2%}"
            )
        first = max(m["first_optimizer_seconds"] for m in memory.values())
        print(
            "RSS before = data loaded, torch.optim already imported; call peak = peak RSS during "
            "the training call\n(the kernel's peak mark reset just before it); growth = call peak"
            " - RSS before; process peak = the subprocess's peak RSS,\nloading included; cold s = "
            "the first call in a fresh process, after torch.optim's\none-off first-use cost "
            f"({first:.2f} s) was paid"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder with the four Fashion-MNIST IDX files",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each contender")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lightning", action="store_true", help="also run PyTorch Lightning")
    parser.add_argument("--keras", action="store_true", help="also run Keras 3 (torch backend)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--only", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cfg = Config(rounds=args.rounds, batch_size=args.batch_size, seed=args.seed)
    if args.only:
        child(args.only, args.data, cfg)
        return
    names = ["hand", "hand_fused", "nettrain"]
    names += ["lightning"] * args.lightning + ["keras"] * args.keras
    print(f"before: {machine_load()}", flush=True)
    data = load_data(args.data)
    for name in names:
        warm_up(name, data, cfg)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names:  # interleaved: A B A B ..., so drifts in machine speed hit all alike
            run = CONTENDERS[name](data, cfg)
            runs[name].append(run)
            print(
                f"repeat {repeat + 1}/{args.repeats} {LABELS[name]:<28} {run.seconds:7.2f} s  "
                f"{run.examples_per_second:9,.0f} ex/s  CPU {run.cpu_seconds:6.2f} s  "
                f"acc {run.accuracy:.2%}",
                flush=True,
            )
    memory = {} if args.no_memory else {name: measure_memory(name, args) for name in names}
    report(runs, memory, cfg)
    print(f"after: {machine_load()}")
    if args.json:
        figures = {"runs": {k: [asdict(r) for r in v] for k, v in runs.items()}, "memory": memory}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
