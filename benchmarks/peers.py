"""Peer benchmark (issue 14): nettrain against PyTorch Lightning, Keras 3 and hand-written loops.

Three nets, each trained by every contender on the same data, batch size, epochs and seed:

- ``mlp``: MLP 784-256-10 on Fashion-MNIST (60,000 training images, pixels in [0, 1]), 2 epochs;
- ``cnn``: Conv 1->16 3x3 relu, maxpool 2, Conv 16->32 3x3 relu, maxpool 2, flatten,
  Linear 800->10 on Fashion-MNIST as ``[n, 1, 28, 28]``, 1 epoch (bench_keras.py's CNN);
- ``lstm``: Embedding 1000->64, LSTM 64->128 (batch_first), Linear 128->4 on the last hidden
  state, on a synthetic token-sequence task (:func:`text_data`: 20,000 train / 5,000 test
  sequences of 32 tokens), 1 epoch.

The contenders (``--contenders``, all by default; a peer that is not installed is left out,
saying so):

- ``hand``: bench_mlp's ``hand_loop``: ``torch.randperm`` per epoch, index slicing,
  ``F.cross_entropy``, ``torch.optim.Adam(lr=1e-3)``, ``zero_grad(set_to_none=True)``, no
  ``.item()`` per step; the baseline of every ratio;
- ``hand_tuned``: the same loop with an expert's additions: ``channels_last`` for the CNN (net
  and batches), the forward pass and loss under ``torch.autocast("cpu", dtype=torch.bfloat16)``
  (float32 master weights), ``torch.optim.Adam(fused=True)``;
- ``lightning``: a ``LightningModule`` around the same net, ``configure_optimizers`` returning
  ``torch.optim.Adam(lr=1e-3)``, a ``DataLoader(TensorDataset(x, y), batch_size, shuffle=True)``
  over the in-memory tensors, ``Trainer(max_epochs=E, accelerator="cpu", devices=1,
  logger=False, enable_checkpointing=False, enable_progress_bar=False,
  enable_model_summary=False)``;
- ``keras3``: Keras 3 with ``KERAS_BACKEND=torch``, its own equivalent ``Sequential`` net,
  ``Adam(1e-3)``, ``SparseCategoricalCrossentropy(from_logits=True)``, ``fit(verbose=0,
  shuffle=True)`` on numpy arrays;
- ``nettrain_train``: ``nettrain.train(net, (x, y), "all", batch_size=B, max_training_rounds=E,
  method="adam", learning_rate=1e-3, training_progress_reporting=None, random_seeding=0,
  target_device="cpu")``: precision, memory layout and threads left at "auto";
- ``nettrain_keras``: ``nettrain.Model(net)``, ``compile(nettrain.keras.optimizers.Adam(1e-3),
  nettrain.keras.losses.SparseCategoricalCrossentropy(from_logits=True))``, ``fit(x, y,
  batch_size=B, epochs=E, verbose=0)``.

Every timed run is a fresh Python process (this script in its worker mode, ``--worker``, which
prints one JSON line): it loads the data, builds the net from the seed, trains once on the first
50 batches (a warm-up on a throwaway net: imports, torch._dynamo's first-optimizer cost,
allocator growth), then builds the net again and times the training call alone, then measures
test accuracy (eval mode, ``no_grad``, the full test set, argmax of the logits). Repeats are
interleaved (round robin over the contenders per repeat); the table shows medians, the range,
the ratio to ``hand`` from the median times, and the test accuracy.

Threads: ``torch.set_num_threads(THREADS)`` (2) in every worker but the nettrain ones, which
start at torch's default (one per core) and choose their own count; one inter-op thread in all.

    pip install -r benchmarks/requirements-peers.txt      # Lightning and Keras 3, peers only
    python benchmarks/peers.py                            # all nets and contenders, 3 repeats
    python benchmarks/peers.py --quick                    # a smoke test: a few hundred examples
    python benchmarks/peers.py --nets mlp,lstm --contenders hand,nettrain_train --json f.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported, here or in a worker

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import LEARNING_RATE, Stopwatch, accuracy, hand_loop, machine_load

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]

NETS = ("mlp", "cnn", "lstm")
CONTENDERS = ("hand", "hand_tuned", "lightning", "keras3", "nettrain_train", "nettrain_keras")
PEERS = {"lightning": "lightning", "keras3": "keras"}  # contender -> the module it needs
CHOOSES_OWN_THREADS = ("nettrain_train", "nettrain_keras")
EPOCHS = {"mlp": 2, "cnn": 1, "lstm": 1}
TITLES = {
    "mlp": "MLP 784-256-10, Fashion-MNIST",
    "cnn": "CNN conv16-pool-conv32-pool-dense10, Fashion-MNIST",
    "lstm": "LSTM emb64-lstm128-dense4, synthetic text",
}
BATCH_SIZE = 64
SEED = 0
THREADS = 2
WARMUP_BATCHES = 50
QUICK = {"train": 640, "test": 1000, "warmup_batches": 3}  # --quick: 10 batches per epoch

# the synthetic text task (text_data)
TEXT_VOCAB = 1000
TEXT_LENGTH = 32
TEXT_CLASSES = 4
TEXT_TRAIN = 20_000
TEXT_TEST = 5_000
TEXT_SEED = 14
MARKERS_A = (1, 5)  # tokens 1-4: the "A" markers (half-open range)
MARKERS_B = (5, 9)  # tokens 5-8: the "B" markers
FILLER = (9, TEXT_VOCAB)  # tokens 9-999: filler; token 0 is never drawn (a padding id)


# --------------------------------------------------------------------------------------------
# data


@dataclass
class Data:
    x: Tensor  # the torch nets' inputs: [n, 784] float, [n, 1, 28, 28] float, [n, 32] int64
    y: Tensor  # int64 class indices
    tx: Tensor
    ty: Tensor

    def keras_inputs(self, x: Tensor) -> np.ndarray:
        """Keras' natural layout: images as [n, 28, 28, 1] (channels_last; with one channel the
        same bytes as [n, 1, 28, 28]), everything else as it is."""
        return (x.reshape(len(x), 28, 28, 1) if x.dim() == 4 else x).numpy()

    def head(self, n: int) -> Data:
        return Data(self.x[:n], self.y[:n], self.tx[:256], self.ty[:256])


def text_data(seed: int = TEXT_SEED) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The synthetic sequence-classification task: 25,000 sequences of 32 tokens over a vocab of
    1000, the first 20,000 for training, the last 5,000 for testing.

    Made with ``numpy.random.default_rng(seed)``, in this order: every token drawn uniformly
    from the filler tokens 9-999; ``has_a = rng.random(n) < 0.5``, ``has_b = rng.random(n) <
    0.5``; two distinct positions per sequence (the first two columns of
    ``argsort(rng.random((n, 32)), axis=1)``); an "A" marker (uniform in 1-4) and a "B" marker
    (uniform in 5-8) per sequence. Where ``has_a``, the A marker replaces the token at the first
    position; where ``has_b``, the B marker replaces the token at the second. The class is
    ``2 * has_a + has_b`` (4 classes, about a quarter each): which kinds of marker the sequence
    holds, wherever they are. A model must carry what it saw through up to 31 filler tokens;
    the task is learnable to 100% (no filler is a marker).

    >>> x, y, tx, ty = text_data()
    >>> x.shape, tx.shape, x.dtype, y.unique().tolist()
    (torch.Size([20000, 32]), torch.Size([5000, 32]), torch.int64, [0, 1, 2, 3])
    """
    n = TEXT_TRAIN + TEXT_TEST
    rng = np.random.default_rng(seed)
    x = rng.integers(*FILLER, size=(n, TEXT_LENGTH))
    has_a = rng.random(n) < 0.5
    has_b = rng.random(n) < 0.5
    positions = np.argsort(rng.random((n, TEXT_LENGTH)), axis=1)[:, :2]
    a = rng.integers(*MARKERS_A, size=n)
    b = rng.integers(*MARKERS_B, size=n)
    rows = np.arange(n)
    x[rows[has_a], positions[has_a, 0]] = a[has_a]
    x[rows[has_b], positions[has_b, 1]] = b[has_b]
    y = (2 * has_a + has_b).astype(np.int64)
    xs, ys = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y)
    return xs[:TEXT_TRAIN], ys[:TEXT_TRAIN], xs[TEXT_TRAIN:], ys[TEXT_TRAIN:]


def default_data_dir() -> Path:
    """Fashion-MNIST's folder: ``$NETTRAIN_DATA/fashion-mnist``, else the shared datasets."""
    root = os.environ.get("NETTRAIN_DATA")
    base = Path(root) if root else REPO.parent / "shared" / "datasets"
    return base / "fashion-mnist"


def load(net: str, data_dir: Path, quick: bool) -> Data:
    if net == "lstm":
        x, y, tx, ty = text_data()
    else:
        from bench_mlp import load_data

        x, y, tx, ty = load_data(data_dir)  # float32 [n, 784] in [0, 1], int64 labels
        if net == "cnn":
            x, tx = x.view(-1, 1, 28, 28), tx.view(-1, 1, 28, 28)
    if quick:
        x, y, tx, ty = (
            x[: QUICK["train"]],
            y[: QUICK["train"]],
            tx[: QUICK["test"]],
            ty[: QUICK["test"]],
        )
    return Data(x, y, tx, ty)


# --------------------------------------------------------------------------------------------
# nets: one torch builder for every torch contender; Keras builds its own equivalent


class TextLSTM(nn.Module):
    """Embedding -> LSTM -> Linear on the last hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(TEXT_VOCAB, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.out = nn.Linear(128, TEXT_CLASSES)

    def forward(self, tokens: Tensor) -> Tensor:
        _, (hidden, _) = self.lstm(self.embedding(tokens))
        return self.out(hidden[-1])


def make_net(net: str, seed: int) -> nn.Module:
    """The torch net, initialised from ``seed`` (hand, hand_tuned, lightning, nettrain)."""
    torch.manual_seed(seed)
    if net == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    if net == "cnn":
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
    return TextLSTM()


def make_keras_net(net: str, seed: int) -> Any:
    """Keras' equivalent (its own initialisers: Glorot uniform, orthogonal recurrent weights,
    unit forget bias), from ``keras.utils.set_random_seed(seed)``."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    if net == "mlp":
        stack = [keras.Input((784,)), layers.Dense(256, activation="relu"), layers.Dense(10)]
    elif net == "cnn":
        stack = [
            keras.Input((28, 28, 1)),  # channels_last, Keras' default
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ]
    else:
        stack = [
            keras.Input((TEXT_LENGTH,), dtype="int64"),
            layers.Embedding(TEXT_VOCAB, 64),
            layers.LSTM(128),  # returns the last hidden state
            layers.Dense(TEXT_CLASSES),
        ]
    return keras.Sequential(stack)


# --------------------------------------------------------------------------------------------
# contenders: each trains a fresh net and returns (wall s, CPU s, test accuracy, extra)


@dataclass
class Spec:
    net: str
    epochs: int
    batch_size: int
    seed: int


Outcome = tuple[float, float, float, dict[str, Any]]


def tuned_loop(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    epochs: int,
    batch_size: int,
    seed: int,
    bf16: bool = True,
) -> None:
    """hand_loop plus an expert's lines: channels_last for image nets, bfloat16 autocast for
    the forward pass and the loss (the weights and the optimizer stay float32), fused Adam.
    ``bf16=False`` leaves the autocast out (where this CPU cannot run the net in bfloat16)."""
    images = x.dim() == 4
    if images:
        net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, fused=True)
    generator = torch.Generator().manual_seed(seed)
    n = len(x)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, batch_size):
            index = order[begin : begin + batch_size]
            inputs = x[index]
            if images:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(net(inputs), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def run_hand(data: Data, spec: Spec) -> Outcome:
    net = make_net(spec.net, spec.seed)
    with Stopwatch() as watch:
        hand_loop(net, data.x, data.y, spec.epochs, spec.batch_size, spec.seed)
    return watch.wall, watch.cpu, accuracy(net, data.tx, data.ty), {}


def bf16_failure(spec: Spec, x: Tensor, y: Tensor) -> str | None:
    """Why one bfloat16-autocast step of this net fails on this CPU, or None when it runs.

    oneDNN has no bfloat16 LSTM on a CPU without AVX512-BF16 or AMX ("could not create a
    primitive descriptor for the LSTM forward propagation primitive"): there the expert's
    autocast line raises, so hand_tuned runs without it and says so."""
    probe = make_net(spec.net, spec.seed)
    if x.dim() == 4:
        probe.to(memory_format=torch.channels_last)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = F.cross_entropy(probe(x[:2]), y[:2])
        loss.backward()
    except RuntimeError as error:
        return str(error).splitlines()[0].split(". ")[0]  # its first sentence
    return None


def run_hand_tuned(data: Data, spec: Spec) -> Outcome:
    failure = bf16_failure(spec, data.x, data.y)  # before the timing
    net = make_net(spec.net, spec.seed)
    with Stopwatch() as watch:
        tuned_loop(
            net, data.x, data.y, spec.epochs, spec.batch_size, spec.seed, bf16=failure is None
        )
    extra = {"bf16_autocast": failure is None, "bf16_failure": failure}
    return watch.wall, watch.cpu, accuracy(net, data.tx, data.ty), extra


def run_lightning(data: Data, spec: Spec) -> Outcome:
    import lightning as L  # Lightning's own spelling
    from torch.utils.data import DataLoader, TensorDataset

    net = make_net(spec.net, spec.seed)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch: tuple[Tensor, Tensor], _: int) -> Tensor:
            inputs, targets = batch
            return F.cross_entropy(self.net(inputs), targets)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=LEARNING_RATE)

    # Lightning's banner lines ("GPU available: ...") and tips say nothing about speed
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    built = time.perf_counter()
    loader = DataLoader(TensorDataset(data.x, data.y), batch_size=spec.batch_size, shuffle=True)
    trainer = L.Trainer(
        max_epochs=spec.epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    built = time.perf_counter() - built
    torch.manual_seed(spec.seed)  # the DataLoader's shuffling draws from the global generator
    with Stopwatch() as watch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notices (few DataLoader workers, ...), once a run
        trainer.fit(Module(), loader)
    extra = {"trainer_build_seconds": built, "version": L.__version__}
    return watch.wall, watch.cpu, accuracy(net, data.tx, data.ty), extra


def run_keras3(data: Data, spec: Spec) -> Outcome:
    import keras

    if keras.backend.backend() != "torch":
        raise SystemExit(f"Keras runs on {keras.backend.backend()!r}; set KERAS_BACKEND=torch")
    model = make_keras_net(spec.net, spec.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = data.keras_inputs(data.x), data.y.numpy()
    with Stopwatch() as watch:
        model.fit(x, y, batch_size=spec.batch_size, epochs=spec.epochs, verbose=0, shuffle=True)
    # the same test as the others: inference mode, the full test set, argmax of the logits
    logits = model.predict(data.keras_inputs(data.tx), batch_size=1000, verbose=0)
    acc = float((torch.as_tensor(np.asarray(logits)).argmax(1) == data.ty).double().mean())
    return watch.wall, watch.cpu, acc, {"version": keras.__version__}


def run_nettrain_train(data: Data, spec: Spec) -> Outcome:
    import nettrain

    net = make_net(spec.net, spec.seed)
    with Stopwatch() as watch:
        result = nettrain.train(
            net,
            (data.x, data.y),
            "all",
            batch_size=spec.batch_size,
            max_training_rounds=spec.epochs,
            method="adam",
            learning_rate=LEARNING_RATE,
            training_progress_reporting=None,
            random_seeding=spec.seed,
            target_device="cpu",
        )
    extra = {
        "working_precision": result.working_precision,
        "memory_format": result.memory_format,
        "cpu_threads": result.cpu_threads,
        "total_batches": result.total_batches,
        "loop_seconds": result.total_training_time,
    }
    return watch.wall, watch.cpu, accuracy(net, data.tx, data.ty), extra


def run_nettrain_keras(data: Data, spec: Spec) -> Outcome:
    import nettrain

    net = make_net(spec.net, spec.seed)
    model = nettrain.Model(net)
    model.compile(
        nettrain.keras.optimizers.Adam(LEARNING_RATE),
        nettrain.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    with Stopwatch() as watch:
        model.fit(data.x, data.y, batch_size=spec.batch_size, epochs=spec.epochs, verbose=0)
    return watch.wall, watch.cpu, accuracy(net, data.tx, data.ty), {}


RUNNERS: dict[str, Callable[[Data, Spec], Outcome]] = {
    "hand": run_hand,
    "hand_tuned": run_hand_tuned,
    "lightning": run_lightning,
    "keras3": run_keras3,
    "nettrain_train": run_nettrain_train,
    "nettrain_keras": run_nettrain_keras,
}


# --------------------------------------------------------------------------------------------
# the worker: one contender, one net, one timed run, in a fresh process


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def worker(settings: dict[str, Any]) -> dict[str, Any]:
    """Load, warm up, time one training call; the figures as a dict (printed as JSON)."""
    contender, net = settings["contender"], settings["net"]
    torch.set_num_interop_threads(1)
    if contender not in CHOOSES_OWN_THREADS:
        torch.set_num_threads(settings["threads"])
    threads_at_start = torch.get_num_threads()
    data = load(net, Path(settings["data"]), settings["quick"])
    spec = Spec(net, settings["epochs"], settings["batch_size"], settings["seed"])
    runner = RUNNERS[contender]
    warm = Spec(net, 1, spec.batch_size, spec.seed)
    started = time.perf_counter()
    runner(data.head(settings["warmup_batches"] * spec.batch_size), warm)
    warmup_seconds = time.perf_counter() - started
    torch.set_num_threads(threads_at_start)  # as it was, whatever the warm-up left
    seconds, cpu_seconds, acc, extra = runner(data, spec)
    examples = spec.epochs * len(data.x)
    return {
        "net": net,
        "contender": contender,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "examples": examples,
        "examples_per_second": examples / seconds,
        "test_accuracy": acc,
        "test_examples": len(data.tx),
        "threads_at_start": threads_at_start,
        "warmup_seconds": warmup_seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "extra": extra,
    }


def spawn(settings: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one worker in a fresh interpreter; its result, or {"error": ...}."""
    command = [sys.executable, str(SCRIPT), "--worker", json.dumps(settings)]
    # a CPU benchmark: no worker sees a GPU (Keras' torch backend would take one by itself)
    env = os.environ | {"CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "torch"}
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


# --------------------------------------------------------------------------------------------
# the machine


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    flags = _cpu_flags()
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": sorted(f for f in flags if f.startswith("amx")),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "torch": torch.__version__,
        "torch_threads_default": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "nettrain": _version("nettrain"),
        "lightning": _version("lightning"),
        "keras": _version("keras"),
        "load": machine_load(),
    }


def describe_machine(m: dict[str, Any]) -> str:
    amx = ", ".join(m["amx"]) if m["amx"] else "no"
    peers = ", ".join(f"{k} {m[k]}" for k in ("lightning", "keras") if m[k])
    return (
        f"{m['cpu']}, {m['cpus']} CPUs; avx512_bf16 {'yes' if m['avx512_bf16'] else 'no'}, "
        f"amx {amx}, avx512f {'yes' if m['avx512f'] else 'no'}, "
        f"avx2 {'yes' if m['avx2'] else 'no'}; torch {m['torch']}, nettrain {m['nettrain']}"
        + (f", {peers}" if peers else "")
        + f"; Python {m['python']}; {m['load']}"
    )


# --------------------------------------------------------------------------------------------
# the report


def summarise(runs: list[dict[str, Any]], contenders: list[str]) -> dict[str, Any]:
    """Per contender: median examples/s, range, ratio to hand (median times), test accuracy."""
    good = {c: [r for r in runs if r["contender"] == c and "error" not in r] for c in contenders}
    median = {c: statistics.median(r["seconds"] for r in rs) for c, rs in good.items() if rs}
    rows: dict[str, Any] = {}
    for name, rs in good.items():
        if not rs:
            rows[name] = {"error": next(r["error"] for r in runs if r["contender"] == name)}
            continue
        rates = [r["examples_per_second"] for r in rs]
        row: dict[str, Any] = {
            "examples_per_second": rs[0]["examples"] / median[name],
            "range": [min(rates), max(rates)],
            "test_accuracy": statistics.median(r["test_accuracy"] for r in rs),
            "runs": len(rs),
        }
        if "hand" in median:
            row["vs_hand"] = median["hand"] / median[name]
            by_repeat = {r["repeat"]: r["seconds"] for r in good["hand"]}
            row["vs_hand_pairs"] = [
                by_repeat[r["repeat"]] / r["seconds"] for r in rs if r["repeat"] in by_repeat
            ]
        rows[name] = row
    return rows


def table(nets: dict[str, Any]) -> str:
    lines = [
        "| net | contender | examples/s | range | vs hand | test acc |",
        "|---|---|---|---|---|---|",
    ]
    for net, entry in nets.items():
        title = f"{TITLES[net]}, {entry['epochs']} epoch{'s' if entry['epochs'] > 1 else ''}"
        for i, (name, row) in enumerate(entry["rows"].items()):
            label = title if i == 0 else ""
            if "error" in row:
                lines.append(f"| {label} | {name} | failed | | | |")
                continue
            low, high = row["range"]
            vs = f"{row['vs_hand']:.2f}" if "vs_hand" in row else "-"
            lines.append(
                f"| {label} | {name} | {row['examples_per_second']:,.0f} | "
                f"{low:,.0f}-{high:,.0f} | {vs} | {row['test_accuracy']:.4f} |"
            )
    return "\n".join(lines)


def notes(nets: dict[str, Any]) -> list[str]:
    out = []
    for net, entry in nets.items():
        for name, row in entry["rows"].items():
            if row.get("vs_hand_pairs") and name != "hand":
                pairs = ", ".join(f"{p:.2f}" for p in row["vs_hand_pairs"])
                out.append(f"{net} {name} / hand in each interleaved repeat: {pairs}")
        tuned = [
            r for r in entry["runs"] if r.get("contender") == "hand_tuned" and "error" not in r
        ]
        if any(not r["extra"]["bf16_autocast"] for r in tuned):
            why = tuned[0]["extra"]["bf16_failure"]
            out.append(f"{net}: hand_tuned ran WITHOUT bfloat16 autocast (on this CPU: {why})")
        chosen = [
            r["extra"]
            for r in entry["runs"]
            if r.get("contender") == "nettrain_train" and "error" not in r
        ]
        if chosen:
            picks = sorted(
                {(c["working_precision"], c["memory_format"], c["cpu_threads"]) for c in chosen}
            )
            said = "; ".join(f"{p}, {m}, {t} thread(s)" for p, m, t in picks)
            out.append(f"{net}: nettrain.train chose {said}")
    return out


# --------------------------------------------------------------------------------------------
# main


def _names(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise SystemExit(f"unknown {what} {', '.join(unknown) or '(none)'}: choose from {allowed}")
    return names


def choose_contenders(text: str | None) -> list[str]:
    """The contenders asked for; with none asked for, all whose peer library is installed."""
    asked = _names(text, CONTENDERS, "contender") if text else list(CONTENDERS)
    chosen = []
    for name in asked:
        module = PEERS.get(name)
        if module is not None and importlib.util.find_spec(module) is None:
            hint = f"{module} is not installed: pip install -r benchmarks/requirements-peers.txt"
            if text:
                raise SystemExit(f"contender {name}: {hint}")
            print(f"leaving out {name}: {hint}")
            continue
        chosen.append(name)
    return chosen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=",".join(NETS), help="comma-separated: mlp,cnn,lstm")
    parser.add_argument("--contenders", help=f"comma-separated, from {','.join(CONTENDERS)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: {QUICK['train']} training and {QUICK['test']} test examples",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--data", type=Path, default=None, help="the Fashion-MNIST folder")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=THREADS, help="for all but nettrain")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    started = time.perf_counter()
    nets = _names(args.nets, NETS, "net")
    contenders = choose_contenders(args.contenders)
    data_dir = args.data or default_data_dir()
    if any(n != "lstm" for n in nets) and not data_dir.is_dir():
        raise SystemExit(
            f"Fashion-MNIST is not in {data_dir}: set NETTRAIN_DATA to a folder holding "
            "fashion-mnist/, or give --data (or run --nets lstm)"
        )
    before = machine()
    print(f"machine: {describe_machine(before)}", flush=True)
    print(
        f"batch {args.batch_size}, Adam lr {LEARNING_RATE:g}, seed {args.seed}, "
        f"{args.threads} threads (nettrain: its own choice), {args.repeats} interleaved "
        f"repeat(s), a fresh process per run" + (", QUICK" if args.quick else ""),
        flush=True,
    )
    warmup = QUICK["warmup_batches"] if args.quick else WARMUP_BATCHES
    figures: dict[str, Any] = {"settings": vars(args) | {"data": str(data_dir)}, "nets": {}}
    figures["settings"].pop("worker")
    figures["settings"]["json"] = str(args.json) if args.json else None
    for net in nets:
        net_started = time.perf_counter()
        runs = []
        for repeat in range(args.repeats):
            for name in contenders:  # round robin: drifts in machine speed hit all alike
                settings = {
                    "net": net,
                    "contender": name,
                    "data": str(data_dir),
                    "quick": args.quick,
                    "epochs": EPOCHS[net],
                    "batch_size": args.batch_size,
                    "seed": args.seed,
                    "threads": args.threads,
                    "warmup_batches": warmup,
                }
                run = spawn(settings, args.timeout) | {"repeat": repeat, "contender": name}
                runs.append(run)
                if "error" in run:
                    print(f"  {net} {repeat + 1}/{args.repeats} {name:<15} FAILED: {run['error']}")
                else:
                    print(
                        f"  {net} {repeat + 1}/{args.repeats} {name:<15} {run['seconds']:8.2f} s "
                        f"{run['examples_per_second']:9,.0f} ex/s  CPU {run['cpu_seconds']:7.2f}"
                        f" s  acc {run['test_accuracy']:.4f}  (warm-up {run['warmup_seconds']:.1f}"
                        f" s, {run['threads_at_start']} threads at start)",
                        flush=True,
                    )
        figures["nets"][net] = {
            "epochs": EPOCHS[net],
            "seconds": time.perf_counter() - net_started,
            "rows": summarise(runs, contenders),
            "runs": runs,
        }
        print(f"  {net}: {time.perf_counter() - net_started:.0f} s, {machine_load()}", flush=True)
    after = machine()
    figures["machine"] = {"before": before, "after": after}
    figures["seconds"] = time.perf_counter() - started
    print()
    print(f"Machine: {describe_machine(before)}; after: {after['load']}")
    print(
        f"Batch {args.batch_size}, Adam 1e-3, seed {args.seed}; examples/s: median of "
        f"{args.repeats} fresh-process runs (range: min-max); vs hand: from the median times"
        + ("; QUICK configuration" if args.quick else "")
    )
    print()
    print(table(figures["nets"]))
    print()
    for line in notes(figures["nets"]):
        print(line)
    failed = [
        f"{net} {r['contender']} (repeat {r['repeat'] + 1})"
        for net, entry in figures["nets"].items()
        for r in entry["runs"]
        if "error" in r
    ]
    if failed:
        print("failed: " + ", ".join(failed))
    print(f"whole run {figures['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
