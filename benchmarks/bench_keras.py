"""nettrain.keras ``Model.fit`` against Keras 3 (torch backend) and a hand-written torch loop.

Issue 11's benchmark. Two nets on Fashion-MNIST (60,000 training images in [0, 1], in memory;
accuracy on the 10,000 test images):

- ``mlp``: the seed's two-layer model, 784 -> 32 (relu) -> 10 (``--mlp-hidden 256`` for the
  784-256-10 of bench_mlp.py);
- ``cnn``: Conv 1->16 3x3 relu, maxpool 2, Conv 16->32 3x3 relu, maxpool 2, flatten,
  Linear 800 -> 10. The torch nets take ``[n, 1, 28, 28]`` (channels first, torch's layout);
  Keras gets its natural layout, ``[n, 28, 28, 1]`` (``channels_last``, its default, which its
  torch backend transposes for each convolution). With one channel both are the same bytes.

Every contender trains a fresh net from one seed with the same batch size (64), epochs, Adam
with learning rate 1e-3 and cross-entropy on class indices from logits (the last layer has no
softmax; Keras: ``SparseCategoricalCrossentropy(from_logits=True)``; nettrain.keras:
``nettrain.keras.losses.SparseCategoricalCrossentropy(from_logits=True)``, i.e.
``F.cross_entropy``), no metrics during training, silent:

- ``hand``: the loop people write (bench_mlp.hand_loop): ``torch.randperm`` per epoch, index
  slicing, ``F.cross_entropy``, ``torch.optim.Adam(lr=1e-3)`` with torch's defaults;
- ``nettrain.keras``: ``Model(net).compile(Adam(1e-3), loss)`` then
  ``fit(x, y, batch_size=64, epochs=E, verbose=0)`` on torch tensors;
- ``keras3``: ``keras.Sequential`` of ``Dense`` / ``Conv2D`` / ``MaxPooling2D``, the same
  compile, ``fit(x_np, y_np, batch_size=64, epochs=E, verbose=0, shuffle=True)`` on numpy;
- ``--train``: also ``nettrain.train`` (the engine under ``fit``), and ``--fused``: also the
  hand loop with ``torch.optim.Adam(fused=True)``, the kernel nettrain runs.

The contenders run interleaved in one process (A B C A B C ...), each after one short warm-up
(50 batches). Timed: the ``fit`` / loop call, call to return (the hand loop's includes building
its optimizer; building and compiling the models is outside). Reported per net: examples/s
(median of the repeats, with the range), the ratio to ``hand`` and to ``keras3``, the test
accuracy. Targets (issue 11): nettrain.keras >= 2.5x keras3 on the MLP, >= 1.5x on the CNN,
>= 0.95x hand.

    pip install -r benchmarks/requirements-peers.txt     # Keras 3, for this benchmark only
    python benchmarks/bench_keras.py                     # both nets, 3 repeats each
    python benchmarks/bench_keras.py --nets mlp --mlp-hidden 256 --train --fused --json f.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported, here or anywhere

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import (
    DEFAULT_DATA,
    LEARNING_RATE,
    Stopwatch,
    accuracy,
    hand_loop,
    load_data,
    machine_load,
)

import nettrain
import nettrain.keras as nk

WARMUP_BATCHES = 50


@dataclass
class Case:
    """One net's settings."""

    net: str  # "mlp" or "cnn"
    hidden: int
    epochs: int
    batch_size: int
    seed: int

    @property
    def title(self) -> str:
        if self.net == "mlp":
            return f"MLP 784-{self.hidden}-10"
        return "CNN conv16-pool-conv32-pool-dense10"


@dataclass
class Run:
    contender: str
    seconds: float
    cpu_seconds: float
    examples: int
    accuracy: float

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds


# --------------------------------------------------------------------------------------------
# nets and data


def make_net(case: Case) -> nn.Sequential:
    torch.manual_seed(case.seed)
    if case.net == "mlp":
        return nn.Sequential(nn.Linear(784, case.hidden), nn.ReLU(), nn.Linear(case.hidden, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 5 * 5, 10),
    )


def make_keras_net(case: Case) -> Any:
    import keras

    keras.utils.set_random_seed(case.seed)
    layers = keras.layers
    if case.net == "mlp":
        stack = [
            keras.Input((784,)),
            layers.Dense(case.hidden, activation="relu"),
            layers.Dense(10),
        ]
    else:
        stack = [
            keras.Input((28, 28, 1)),  # channels_last, Keras' default
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ]
    return keras.Sequential(stack)


@dataclass
class Data:
    x: Tensor  # torch layout: [n, 784] or [n, 1, 28, 28]
    y: Tensor
    tx: Tensor
    ty: Tensor
    x_np: Any  # Keras layout: [n, 784] or [n, 28, 28, 1], numpy
    y_np: Any
    tx_np: Any

    def head(self, n: int) -> Data:
        return Data(
            self.x[:n], self.y[:n], self.tx[:256], self.ty[:256], self.x_np[:n], self.y_np[:n],
            self.tx_np[:256],
        )  # fmt: skip


def shape_data(flat: tuple[Tensor, Tensor, Tensor, Tensor], net: str) -> Data:
    x, y, tx, ty = flat
    if net == "mlp":
        return Data(x, y, tx, ty, x.numpy(), y.numpy(), tx.numpy())
    image = (1, 28, 28)
    x4, tx4 = x.view(-1, *image), tx.view(-1, *image)
    # channels_last for Keras; with one channel a view of the same memory
    return Data(
        x4, y, tx4, ty, x.view(-1, 28, 28, 1).numpy(), y.numpy(), tx.view(-1, 28, 28, 1).numpy()
    )


# --------------------------------------------------------------------------------------------
# contenders


def run_hand(data: Data, case: Case, fused: bool = False) -> Run:
    net = make_net(case)
    with Stopwatch() as watch:
        hand_loop(net, data.x, data.y, case.epochs, case.batch_size, case.seed, fused=fused)
    name = "hand_fused" if fused else "hand"
    n = case.epochs * len(data.x)
    return Run(name, watch.wall, watch.cpu, n, accuracy(net, data.tx, data.ty))


def run_nettrain_keras(data: Data, case: Case) -> Run:
    net = make_net(case)
    model = nk.Model(net)
    model.compile(
        optimizer=nk.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=nk.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    with Stopwatch() as watch:
        model.fit(data.x, data.y, batch_size=case.batch_size, epochs=case.epochs, verbose=0)
    n = case.epochs * len(data.x)
    return Run("nettrain.keras", watch.wall, watch.cpu, n, accuracy(net, data.tx, data.ty))


def run_nettrain_train(data: Data, case: Case) -> Run:
    net = make_net(case)
    options = {
        "method": "adam",
        "learning_rate": LEARNING_RATE,
        "batch_size": case.batch_size,
        "max_training_rounds": case.epochs,
        "training_progress_reporting": None,
        "target_device": "cpu",
        "random_seeding": case.seed,
    }
    with Stopwatch() as watch:
        nettrain.train(net, (data.x, data.y), "all", **options)
    n = case.epochs * len(data.x)
    return Run("nettrain.train", watch.wall, watch.cpu, n, accuracy(net, data.tx, data.ty))


def run_keras3(data: Data, case: Case) -> Run:
    import keras

    model = make_keras_net(case)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    with Stopwatch() as watch:
        model.fit(
            data.x_np,
            data.y_np,
            batch_size=case.batch_size,
            epochs=case.epochs,
            verbose=0,
            shuffle=True,
        )
    logits = model.predict(data.tx_np, batch_size=1000, verbose=0)
    acc = float((torch.as_tensor(logits).argmax(1) == data.ty).float().mean())
    return Run("keras3", watch.wall, watch.cpu, case.epochs * len(data.x), acc)


CONTENDERS: dict[str, Callable[[Data, Case], Run]] = {
    "hand": run_hand,
    "hand_fused": lambda data, case: run_hand(data, case, fused=True),
    "nettrain.keras": run_nettrain_keras,
    "nettrain.train": run_nettrain_train,
    "keras3": run_keras3,
}


# --------------------------------------------------------------------------------------------
# run and report


def bench(
    case: Case, data: Data, names: list[str], repeats: int, threads: int
) -> dict[str, list[Run]]:
    for name in names:  # warm-up: first-call costs (imports, allocator growth) out of the timings
        torch.set_num_threads(threads)
        warm = Case(case.net, case.hidden, 1, case.batch_size, case.seed)
        CONTENDERS[name](data.head(WARMUP_BATCHES * case.batch_size), warm)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names:  # interleaved, so drifts in machine speed hit all alike
            torch.set_num_threads(threads)  # each starts alike, whatever the last one left
            run = CONTENDERS[name](data, case)
            runs[name].append(run)
            print(
                f"  {case.net} repeat {repeat + 1}/{repeats} {name:<15} {run.seconds:7.2f} s "
                f"{run.examples_per_second:9,.0f} ex/s  CPU {run.cpu_seconds:6.2f} s  "
                f"acc {run.accuracy:.4f}",
                flush=True,
            )
    return runs


def summarise(runs: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    median = {name: statistics.median(r.seconds for r in rs) for name, rs in runs.items()}
    rows: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        rates = [r.examples_per_second for r in rs]
        row: dict[str, Any] = {
            "examples_per_second": rs[0].examples / median[name],
            "range": [min(rates), max(rates)],
            "test_accuracy": statistics.median(r.accuracy for r in rs),
        }
        for peer in ("hand", "keras3"):
            if peer in runs:
                row[f"vs_{peer}"] = median[peer] / median[name]
                pairs = [p.seconds / r.seconds for r, p in zip(rs, runs[peer], strict=True)]
                row[f"vs_{peer}_pairs"] = pairs
        rows[name] = row
    return rows


def print_table(case: Case, rows: dict[str, dict[str, Any]], repeats: int, threads: int) -> None:
    print(
        f"\n{case.title}, Fashion-MNIST, batch {case.batch_size}, Adam 1e-3, "
        f"{case.epochs} epoch(s), {threads} threads, median of {repeats}"
    )
    print(
        f"{'contender':<16}{'examples/s':>11}{'range':>20}{'vs hand':>9}{'vs keras3':>10}"
        f"{'test acc':>10}"
    )
    for name, row in rows.items():
        low, high = row["range"]
        vs_hand = f"{row['vs_hand']:.2f}" if "vs_hand" in row else "-"
        vs_keras = f"{row['vs_keras3']:.2f}" if "vs_keras3" in row else "-"
        print(
            f"{name:<16}{row['examples_per_second']:>11,.0f}{low:>10,.0f}-{high:<9,.0f}"
            f"{vs_hand:>9}{vs_keras:>10}{row['test_accuracy']:>10.4f}"
        )
    ours = rows.get("nettrain.keras")
    if ours is not None:
        for peer in ("hand", "keras3"):
            if f"vs_{peer}_pairs" in ours:
                pairs = ", ".join(f"{p:.2f}" for p in ours[f"vs_{peer}_pairs"])
                print(f"nettrain.keras vs {peer} in each interleaved repeat: {pairs}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Fashion-MNIST folder")
    parser.add_argument("--nets", nargs="+", choices=["mlp", "cnn"], default=["mlp", "cnn"])
    parser.add_argument("--mlp-hidden", type=int, default=32, help="the MLP's hidden width")
    parser.add_argument("--mlp-epochs", type=int, default=2)
    parser.add_argument("--cnn-epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender (MLP)")
    parser.add_argument("--cnn-repeats", type=int, help="timed runs for the CNN (default: same)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", action="store_true", help="also time nettrain.train")
    parser.add_argument("--fused", action="store_true", help="also the hand loop, fused Adam")
    parser.add_argument("--no-keras", action="store_true", help="leave Keras 3 out")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    names = ["hand"] + ["hand_fused"] * args.fused + ["nettrain.keras"]
    names += ["nettrain.train"] * args.train
    if not args.no_keras:
        try:
            import keras
        except ImportError:
            raise SystemExit(
                "Keras 3 is not installed: pip install -r benchmarks/requirements-peers.txt "
                "(or run with --no-keras)"
            ) from None
        if keras.backend.backend() != "torch":
            raise SystemExit(f"Keras runs on {keras.backend.backend()!r}, not torch")
        names.append("keras3")
        print(f"keras {keras.__version__}, torch backend; torch {torch.__version__}")
    print(f"before: {machine_load()}", flush=True)
    flat = load_data(args.data)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    figures: dict[str, Any] = {"settings": settings, "nets": {}}
    tables = []
    for net in args.nets:
        epochs = args.mlp_epochs if net == "mlp" else args.cnn_epochs
        repeats = args.repeats if net == "mlp" else (args.cnn_repeats or args.repeats)
        case = Case(net, args.mlp_hidden, epochs, args.batch_size, args.seed)
        net_started = time.perf_counter()
        runs = bench(case, shape_data(flat, net), names, repeats, args.threads)
        rows = summarise(runs)
        seconds = time.perf_counter() - net_started
        tables.append((case, rows, repeats))
        figures["nets"][net] = {
            "case": asdict(case),
            "repeats": repeats,
            "seconds": seconds,
            "rows": rows,
            "runs": {k: [asdict(r) for r in v] for k, v in runs.items()},
        }
        print(f"  {net}: {seconds:.0f} s, {machine_load()}", flush=True)
    for case, rows, repeats in tables:
        print_table(case, rows, repeats, args.threads)
    total = time.perf_counter() - started
    figures["seconds"] = total
    print(f"\nafter: {machine_load()}; whole run {total:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
