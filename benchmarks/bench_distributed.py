"""Distributed scaling (issue 15): ``nettrain.train`` on 1 and on 2 CPU processes, and DDP's
communication share, on this machine.

Two nets on Fashion-MNIST (pixels in [0, 1], held in memory; read with
``nettrain.datasets.load("FashionMNIST")`` from ``--data``, else ``$NETTRAIN_DATA``, else
``../shared/datasets``):

- ``mlp``: MLP 784-256-10 (peers.py's), 2 rounds;
- ``cnn``: ``nettrain.nets.small_cnn()`` on ``[n, 1, 28, 28]``, 1 round.

**Scaling.** Each net is trained by ``nettrain.train(net, (x, y), "all", batch_size=64,
max_training_rounds=R, method="adam", learning_rate=1e-3, training_progress_reporting=None,
random_seeding=0, target_device=D)`` with ``D = "cpu"`` (one process) and ``D = ("cpu", 2)``
(two: the calling process and one forked by nettrain, each on its half of every batch of 64,
``cpu_count // 2`` threads each). Threads, precision and layout are left to nettrain. Every run
is a fresh Python process (this script with ``--worker``, which prints one JSON line): it loads
the data, trains a throwaway net on a few batches with the same ``target_device`` (imports,
first-touch costs, process start-up), then times the call on a fresh net from the seed, then
scores it on the test set. Repeats are interleaved (1, 2, 1, 2, ...), so a drift in machine speed
hits both. The figure is the result's ``mean_examples_per_second`` (the training loop, without
the call's setup), median over the repeats; *vs 1 process* is the ratio of the medians, and the
ratio within each interleaved pair is printed too.

**Communication share.** A separate, hand-written ``torch.distributed`` program (``--comm-worker``,
in a fresh process): 2 processes forked by ``torch.multiprocessing``, gloo through a file store,
each with ``cpu_count // 2`` threads, each training the same net (same seed) under
``DistributedDataParallel`` with Adam on its half batch (32 random examples of the net's input
shape). Each process times ``--steps`` steps with DDP's gradient all-reduce and as many inside
``ddp.no_sync()`` (no all-reduce), in alternating blocks after a warm-up; a block's time is the
slower rank's. share = 1 - t_no_sync / t_ddp, from the median block times: the fraction of a
data-parallel step spent waiting for the gradient all-reduce. DDP's defaults are kept, as
nettrain keeps them, so BatchNorm's buffers are broadcast before every forward pass in both
modes: the share is the gradients' alone.

    . .venv/bin/activate
    python benchmarks/bench_distributed.py                    # mlp and cnn, 2 repeats
    python benchmarks/bench_distributed.py --quick            # a smoke test: 2,560 examples
    python benchmarks/bench_distributed.py --nets mlp --repeats 5 --json figures.json
    python benchmarks/bench_distributed.py --comm-only        # only the communication share
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import LEARNING_RATE, Stopwatch, accuracy, machine_load
from peers import describe_machine, machine

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]

NETS = ("mlp", "cnn")
TITLES = {"mlp": "MLP 784-256-10", "cnn": "nettrain.nets.small_cnn()"}
ROUNDS = {"mlp": 2, "cnn": 1}
SHAPES = {"mlp": (784,), "cnn": (1, 28, 28)}
BATCH_SIZE = 64
SEED = 0
PROCESSES = 2
WARMUP_BATCHES = 20
COMM = {"steps": 50, "blocks": 3, "warmup": 10}
QUICK = {"train": 2560, "test": 1000, "warmup_batches": 3, "steps": 10, "blocks": 3, "warmup": 3}


def default_data_root() -> Path:
    """The data root holding ``fashion-mnist/``: ``$NETTRAIN_DATA``, else the shared datasets."""
    root = os.environ.get("NETTRAIN_DATA")
    return Path(root) if root else REPO.parent / "shared" / "datasets"


def load(net: str, root: Path, quick: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fashion-MNIST as float32 in [0, 1] (``[n, 784]`` for the MLP, ``[n, 1, 28, 28]`` for the
    CNN) and int64 labels: train x, train y, test x, test y."""
    from nettrain.datasets import load as load_split

    def tensors(split: str, count: int | None) -> tuple[Tensor, Tensor]:
        data = load_split("FashionMNIST", split, data_dir=root, offline=True, progress=False)
        x = torch.from_numpy(data.inputs[:count]).to(torch.float32).div_(255)
        y = torch.from_numpy(data.labels[:count]).to(torch.int64)
        return x.reshape(len(x), *SHAPES[net]), y

    return (
        *tensors("train", QUICK["train"] if quick else None),
        *tensors("test", QUICK["test"] if quick else None),
    )


def make_net(net: str, seed: int) -> nn.Module:
    """The net, initialised from ``seed``."""
    from nettrain import nets

    torch.manual_seed(seed)
    if net == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return nets.small_cnn()


# --------------------------------------------------------------------------------------------
# scaling: one nettrain.train call on 1 or N processes, in a fresh process


def _property(result: Any, name: str) -> Any:
    from nettrain.errors import NetTrainError

    try:
        return result[name]
    except (KeyError, NetTrainError):  # a property this version does not have yet
        return None


def train_worker(settings: dict[str, Any]) -> dict[str, Any]:
    """Load, warm up, time one ``nettrain.train`` call, score the net: the figures as a dict."""
    import nettrain

    net_name, processes = settings["net"], settings["processes"]
    x, y, tx, ty = load(net_name, Path(settings["data"]), settings["quick"])
    device: Any = "cpu" if processes == 1 else ("cpu", processes)

    def call(net: nn.Module, xs: Tensor, ys: Tensor, rounds: int) -> Any:
        return nettrain.train(
            net,
            (xs, ys),
            "all",
            batch_size=settings["batch_size"],
            max_training_rounds=rounds,
            method="adam",
            learning_rate=LEARNING_RATE,
            training_progress_reporting=None,
            random_seeding=settings["seed"],
            target_device=device,
        )

    warm = settings["warmup_batches"] * settings["batch_size"]
    started = time.perf_counter()
    call(make_net(net_name, settings["seed"] + 1), x[:warm], y[:warm], 1)
    warmup_seconds = time.perf_counter() - started
    net = make_net(net_name, settings["seed"])
    with Stopwatch() as watch:
        result = call(net, x, y, settings["rounds"])
    return {
        "net": net_name,
        "processes": processes,
        "processes_reported": _property(result, "processes"),
        "examples_per_second": result["mean_examples_per_second"],
        "call_seconds": watch.wall,
        "loop_seconds": result["total_training_time"],
        "examples": settings["rounds"] * len(x),
        "cpu_threads": result["cpu_threads"],
        "working_precision": result["working_precision"],
        "memory_format": result["memory_format"],
        "test_accuracy": accuracy(net, tx, ty),
        "warmup_seconds": warmup_seconds,
    }


# --------------------------------------------------------------------------------------------
# the communication share: hand-written DDP, with and without its all-reduce


def _comm_rank(rank: int, world: int, store: str, settings: dict[str, Any], queue: Any) -> None:
    """One rank of the communication-share program (see the module docstring)."""
    import datetime

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=settings["timeout"]),
    )
    try:
        net = settings["net"]
        ddp = DistributedDataParallel(make_net(net, settings["seed"]))
        optimizer = torch.optim.Adam(ddp.parameters(), lr=LEARNING_RATE)
        share = settings["batch_size"] // world
        g = torch.Generator().manual_seed(settings["seed"] + rank)
        x = torch.rand(share, *SHAPES[net], generator=g)
        y = torch.randint(0, 10, (share,), generator=g)

        def steps(count: int, sync: bool) -> float:
            """Seconds for ``count`` steps on the slower rank."""
            dist.barrier()
            started = time.perf_counter()
            with contextlib.nullcontext() if sync else ddp.no_sync():
                for _ in range(count):
                    optimizer.zero_grad(set_to_none=True)
                    F.cross_entropy(ddp(x), y).backward()
                    optimizer.step()
            seconds = torch.tensor([time.perf_counter() - started], dtype=torch.float64)
            dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
            return float(seconds)

        steps(settings["warmup"], True)
        steps(settings["warmup"], False)
        timed: dict[str, list[float]] = {"ddp": [], "no_sync": []}
        for _ in range(settings["blocks"]):
            timed["ddp"].append(steps(settings["steps"], True))
            timed["no_sync"].append(steps(settings["steps"], False))
        if rank == 0:
            queue.put(timed)
    finally:
        dist.destroy_process_group()


def comm_worker(settings: dict[str, Any]) -> dict[str, Any]:
    """The communication share of ``settings["net"]`` on ``settings["processes"]`` processes."""
    import torch.multiprocessing as mp

    world = settings["processes"]
    context = mp.get_context("fork")  # nothing to pickle; this process has run no torch op yet
    queue = context.SimpleQueue()
    with tempfile.TemporaryDirectory() as folder:
        store = str(Path(folder) / "store")
        mp.start_processes(
            _comm_rank,
            args=(world, store, settings, queue),
            nprocs=world,
            join=True,
            start_method="fork",
        )
    timed = queue.get()
    ddp, no_sync = statistics.median(timed["ddp"]), statistics.median(timed["no_sync"])
    return {
        "net": settings["net"],
        "processes": world,
        "steps": settings["steps"],
        "ms_per_step_ddp": 1000 * ddp / settings["steps"],
        "ms_per_step_no_sync": 1000 * no_sync / settings["steps"],
        "share": 1 - no_sync / ddp,
        "blocks": timed,
        "threads_per_process": max(1, (os.cpu_count() or 1) // world),
    }


# --------------------------------------------------------------------------------------------
# running workers in fresh processes


def spawn(mode: str, settings: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run this script with ``--worker`` or ``--comm-worker`` in a fresh interpreter; its
    result, or ``{"error": ...}``."""
    command = [sys.executable, str(SCRIPT), f"--{mode}", json.dumps(settings)]
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}  # a CPU benchmark
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return {"error": f"exit status {done.returncode}:\n{tail}"}


def communication_shares(args: argparse.Namespace, nets: list[str]) -> dict[str, Any]:
    """Per net: the communication share (or an error), measured in a fresh process."""
    sizes = QUICK if args.quick else COMM
    shares: dict[str, Any] = {}
    for net in nets:
        settings = {
            "net": net,
            "processes": args.processes,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "steps": args.steps or sizes["steps"],
            "blocks": sizes["blocks"],
            "warmup": sizes["warmup"],
            "timeout": 60,
        }
        shares[net] = found = spawn("comm-worker", settings, args.timeout)
        if "error" in found:
            print(f"  {net} communication share FAILED: {found['error']}", flush=True)
        else:
            print(
                f"  {net} communication share {found['share']:.1%}: "
                f"{found['ms_per_step_ddp']:.2f} ms per step with the all-reduce, "
                f"{found['ms_per_step_no_sync']:.2f} ms without ({found['steps']} steps x "
                f"{settings['blocks']} blocks, {found['threads_per_process']} thread(s) each)",
                flush=True,
            )
    return shares


# --------------------------------------------------------------------------------------------
# the report


def summarise(runs: list[dict[str, Any]], counts: tuple[int, ...]) -> dict[int, Any]:
    """Per process count: median examples/s, range, the ratio to 1 process, test accuracy."""
    good = {n: [r for r in runs if r["processes"] == n and "error" not in r] for n in counts}
    rows: dict[int, Any] = {}
    for n, rs in good.items():
        if not rs:
            rows[n] = {"error": next(r["error"] for r in runs if r["processes"] == n)}
            continue
        rates = [r["examples_per_second"] for r in rs]
        rows[n] = {
            "examples_per_second": statistics.median(rates),
            "range": [min(rates), max(rates)],
            "call_seconds": statistics.median(r["call_seconds"] for r in rs),
            "test_accuracy": statistics.median(r["test_accuracy"] for r in rs),
            "cpu_threads": sorted({r["cpu_threads"] for r in rs}),
            "runs": len(rs),
        }
    one = rows.get(1, {})
    for n, row in rows.items():
        if n != 1 and "error" not in row and "error" not in one:
            row["vs_1"] = row["examples_per_second"] / one["examples_per_second"]
            by_repeat = {r["repeat"]: r["examples_per_second"] for r in good[1]}
            row["vs_1_pairs"] = [
                r["examples_per_second"] / by_repeat[r["repeat"]]
                for r in good[n]
                if r["repeat"] in by_repeat
            ]
    return rows


def table(nets: dict[str, Any], shares: dict[str, Any]) -> str:
    lines = [
        "| net | processes | examples/s | range | vs 1 process | threads each | test acc "
        "| comm share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for net, entry in nets.items():
        title = f"{TITLES[net]}, {entry['rounds']} round{'s' if entry['rounds'] > 1 else ''}"
        share = shares.get(net, {})
        for i, (n, row) in enumerate(entry["rows"].items()):
            label = title if i == 0 else ""
            comm = f"{share['share']:.1%}" if n != 1 and "share" in share else "-"
            if "error" in row:
                lines.append(f"| {label} | {n} | failed | | | | | {comm} |")
                continue
            low, high = row["range"]
            vs = f"{row['vs_1']:.2f}" if "vs_1" in row else "1.00" if n == 1 else "-"
            threads = ",".join(map(str, row["cpu_threads"]))
            lines.append(
                f"| {label} | {n} | {row['examples_per_second']:,.0f} | {low:,.0f}-{high:,.0f} "
                f"| {vs} | {threads} | {row['test_accuracy']:.4f} | {comm} |"
            )
    for net, share in shares.items():
        if net not in nets:  # --comm-only: the share alone
            comm = f"{share['share']:.1%}" if "share" in share else "failed"
            lines.append(f"| {TITLES[net]} | {share.get('processes', '-')} | | | | | | {comm} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# main


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in NETS]
    if unknown or not names:
        raise SystemExit(f"unknown net {', '.join(unknown) or '(none)'}: choose from {NETS}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=",".join(NETS), help="comma-separated: mlp,cnn")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per process count")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: {QUICK['train']} training and {QUICK['test']} test examples, "
        f"{QUICK['steps']} steps per block for the communication share",
    )
    parser.add_argument("--processes", type=int, default=PROCESSES, help="against 1 (default 2)")
    parser.add_argument("--rounds", type=int, help="rounds per run (default: mlp 2, cnn 1)")
    parser.add_argument("--steps", type=int, help="communication-share steps per block")
    parser.add_argument("--comm-only", action="store_true", help="only the communication share")
    parser.add_argument("--data", type=Path, help="the data root holding fashion-mnist/")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--comm-worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def scaling(args: argparse.Namespace, nets: list[str], root: Path) -> dict[str, Any]:
    """Per net: the interleaved runs on 1 and on ``--processes`` processes, and their summary."""
    counts = (1, args.processes)
    figures: dict[str, Any] = {}
    for net in nets:
        rounds = args.rounds or ROUNDS[net]
        runs = []
        for repeat in range(args.repeats):
            for processes in counts:  # interleaved: drifts in machine speed hit both alike
                settings = {
                    "net": net,
                    "processes": processes,
                    "data": str(root),
                    "quick": args.quick,
                    "rounds": rounds,
                    "batch_size": args.batch_size,
                    "seed": args.seed,
                    "warmup_batches": QUICK["warmup_batches"] if args.quick else WARMUP_BATCHES,
                }
                run = spawn("worker", settings, args.timeout) | {"repeat": repeat}
                run.setdefault("processes", processes)
                runs.append(run)
                where = f"  {net} {repeat + 1}/{args.repeats} {processes} process(es)"
                if "error" in run:
                    print(f"{where} FAILED: {run['error']}", flush=True)
                    continue
                print(
                    f"{where} {run['examples_per_second']:9,.0f} ex/s (loop), call "
                    f"{run['call_seconds']:6.2f} s, {run['cpu_threads']} thread(s), acc "
                    f"{run['test_accuracy']:.4f} (warm-up {run['warmup_seconds']:.1f} s)",
                    flush=True,
                )
        figures[net] = {"rounds": rounds, "rows": summarise(runs, counts), "runs": runs}
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(train_worker(json.loads(args.worker))), flush=True)
        return 0
    if args.comm_worker:
        print("RESULT " + json.dumps(comm_worker(json.loads(args.comm_worker))), flush=True)
        return 0
    started = time.perf_counter()
    nets = _names(args.nets)
    root = args.data or default_data_root()
    if not args.comm_only and not (root / "fashion-mnist").is_dir():
        raise SystemExit(
            f"Fashion-MNIST is not in {root}: set NETTRAIN_DATA to a folder holding "
            "fashion-mnist/, or give --data (or run --comm-only)"
        )
    before = machine()
    print(f"machine: {describe_machine(before)}", flush=True)
    print(
        f"batch {args.batch_size} (global), Adam lr {LEARNING_RATE:g}, seed {args.seed}, "
        f"1 vs {args.processes} processes, {args.repeats} interleaved repeat(s), a fresh "
        "process per run" + (", QUICK" if args.quick else ""),
        flush=True,
    )
    figures: dict[str, Any] = {"settings": vars(args) | {"data": str(root)}}
    for key in ("worker", "comm_worker"):
        figures["settings"].pop(key)
    figures["settings"]["json"] = str(args.json) if args.json else None
    figures["nets"] = {} if args.comm_only else scaling(args, nets, root)
    figures["communication"] = communication_shares(args, nets)
    figures["machine"] = {"before": before, "after": machine_load()}
    figures["seconds"] = time.perf_counter() - started
    print()
    print(f"Machine: {describe_machine(before)}; after: {figures['machine']['after']}")
    print(
        f"Batch {args.batch_size} (global: each of n processes trains on 1/n of it), Adam 1e-3; "
        f"examples/s: nettrain's mean_examples_per_second, median of {args.repeats} "
        "fresh-process runs (range: min-max); comm share: 1 - t(no_sync) / t(DDP), hand-written "
        "DDP" + ("; QUICK configuration" if args.quick else "")
    )
    print()
    print(table(figures["nets"], figures["communication"]))
    print()
    for net, entry in figures["nets"].items():
        for n, row in entry["rows"].items():
            if row.get("vs_1_pairs"):
                pairs = ", ".join(f"{p:.2f}" for p in row["vs_1_pairs"])
                print(f"{net} {n} processes / 1 in each interleaved repeat: {pairs}")
    failed = [
        f"{net} {r['processes']} process(es) (repeat {r['repeat'] + 1})"
        for net, entry in figures["nets"].items()
        for r in entry["runs"]
        if "error" in r
    ] + [
        f"{net} communication share" for net, s in figures["communication"].items() if "error" in s
    ]
    if failed:
        print("failed: " + ", ".join(failed))
    print(f"whole run {figures['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
