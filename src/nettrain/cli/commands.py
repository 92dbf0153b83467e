"""The ``nettrain`` subcommands: ``demo``, ``train``, ``datasets``, ``evaluate``, ``predict``,
``export``.

Each takes the parsed arguments and returns the exit status; problems the user can fix are raised
as :class:`~nettrain.errors.NetTrainError`, which ``main`` prints as one paragraph (status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import NetTrainError
from .common import (
    PROG,
    class_scores,
    current_folder_importable,
    is_rank_zero,
    load_net,
    output_paths,
    renamed,
    score,
    spirals,
    writable_output,
    write_atomically,
)

__all__ = ["datasets", "demo", "evaluate", "export", "predict", "train"]


# ---- demo ----------------------------------------------------------------------------------------


def demo(args: argparse.Namespace) -> int:
    """``nettrain demo``: two spirals, made here, classified by a small MLP."""
    from ..train import train as run

    x, y = spirals(args.examples // 2, seed=1)
    x_test, y_test = spirals(1000, seed=2)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    print(
        f"nettrain demo: classifying two spirals ({len(x)} training points, "
        f"{len(x_test)} test points) with a 2-64-64-2 MLP; every choice automatic."
    )
    reporting = None if args.quiet else "auto"
    result = run(
        net, (x, y), "all", time_goal=args.time_goal, training_progress_reporting=reporting
    )
    with torch.no_grad():
        accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
    print(result)
    print(f"test accuracy: {accuracy:.1%}")
    return 0


# ---- train ---------------------------------------------------------------------------------------


def _net_label(net_name: str) -> str:
    """The net's part of the default output file name: ``mlp``, or the function's name."""
    return net_name.rpartition(":")[2].rpartition(".")[2] if ":" in net_name else net_name.lower()


def _load_split(args: argparse.Namespace, dataset: str, split: str) -> Any:
    """One split of a named dataset, from ``--data-dir`` first; ``--offline`` forbids downloads."""
    from ..datasets import load

    return load(dataset, split, offline=True if args.offline else None, data_dir=args.data_dir)


def _build_net(net_name: str, training: Any) -> Any:
    """The net to train: a module, or a ``Net`` with a tokens encoder for text.

    Raises:
        NetTrainError: argument "net" for an unknown name or a ``module:function`` that cannot
            be imported, fails, or returns no module.
    """
    from .. import nets
    from ..coders import encoder
    from ..net import Net

    vocabulary = None
    tokens = None
    if training.kind == "text":
        # the embedding's size depends on the vocabulary, so the encoder is fitted here, before
        # the net is built, and attached to it; train then uses this encoder as it is
        tokens = encoder("tokens").fit(list(training.inputs))
        # ids 0 and 1 are padding and unknown: the embedding has two rows more than tokens
        vocabulary = len(getattr(tokens, "vocabulary", None) or ()) + 2
    with current_folder_importable():
        module = nets.make(net_name, training.name, vocabulary=vocabulary)
    return module if tokens is None else Net(module, inputs={"input": tokens})


def _train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train`` options the user gave (the others stay automatic)."""
    given = {
        "max_training_rounds": args.rounds,
        "time_goal": args.time_goal,
        "batch_size": args.batch_size,
        "method": args.method,
        "learning_rate": args.learning_rate,
        "target_device": args.device,
        "random_seeding": args.seed,
    }
    options = {k: v for k, v in given.items() if v is not None}
    options["validation_set"] = args.validation
    forms: list[object] = [] if args.reporting == "none" else [args.reporting]
    if args.log:
        forms.append(args.log)
    options["training_progress_reporting"] = forms
    if args.checkpoint:
        spec: dict[str, object] = {"directory": args.checkpoint}
        if args.checkpoint_every:
            every = args.checkpoint_every
            spec["interval"] = int(every) if every.isdigit() else every
        options["training_progress_checkpointing"] = spec
    return options


def _resume_from(args: argparse.Namespace, speaks: bool = True) -> str | None:
    """The folder to resume from: --checkpoint DIR with --resume, when it holds a checkpoint
    (else a new run starts, so that the same command can be run again after a kill, saying so
    when ``speaks``).

    Raises:
        NetTrainError: --resume without --checkpoint.
    """
    if not args.resume:
        return None
    if not args.checkpoint:
        raise NetTrainError(
            "--resume",
            "needs the folder the checkpoints are in",
            expected="--checkpoint DIR --resume",
            received="--resume alone",
            hint="add --checkpoint DIR, the folder the interrupted run wrote to",
        )
    folder = Path(args.checkpoint)
    if folder.is_dir() and any(p.suffix == ".safetensors" for p in folder.iterdir()):
        return str(folder)
    if speaks:
        print(f"{PROG} train: no checkpoint in {str(folder)!r} yet: a new run.", file=sys.stderr)
    return None


def _summary(
    result: Any,
    dataset: str,
    net_label: str,
    parameters: int,
    test: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    from .. import __version__

    def get(name: str) -> Any:
        try:
            return result[name]
        except (KeyError, NetTrainError):
            return None

    validation = get("validation_measurements") or {}
    return {
        "dataset": dataset,
        "net": net_label,
        "parameters": parameters,
        "rounds": get("total_rounds"),
        "batches": get("total_batches"),
        "batch_size": get("batch_size"),
        "time_s": get("total_training_time"),
        "examples_per_second": get("mean_examples_per_second"),
        "cpu_threads": get("cpu_threads"),
        "working_precision": get("working_precision"),
        "memory_format": get("memory_format"),
        "reason_training_stopped": get("reason_training_stopped"),
        "final_training_loss": get("round_loss"),
        "final_validation_loss": get("validation_loss"),
        "final_validation_measurements": {
            k: v for k, v in validation.items() if isinstance(v, (int, float))
        },
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "processes": get("processes"),
        "options": {
            k: _device_text(v) if k == "target_device" else v
            for k, v in options.items()
            if isinstance(v, (int, float, str)) or k == "target_device"
        },
        "nettrain_version": __version__,
    }


def _save(net: Any, output: Path) -> None:
    """Write the trained net to ``--output``, creating its folder.

    Raises:
        NetTrainError: argument "--output" when it cannot be written.
    """
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NetTrainError(
            "--output",
            f"cannot create the folder {str(output.parent)!r} ({exc.strerror or exc})",
            hint="choose a folder you may write in",
        ) from exc
    try:
        net.save(output)
    except NetTrainError as error:
        if error.argument == "path":
            raise renamed(error, "--output") from None
        raise


def _device_text(device: Any) -> str:
    """``--device``'s spelling of a ``target_device`` value, for the summary: ``cpu:2``,
    ``gpu:all``, ``gpu:0,1``; a plain value as it is."""
    if isinstance(device, tuple):
        kind, which = device
        if isinstance(which, list | tuple):
            which = ",".join(map(str, which))
        return f"{kind}:{which}"
    return str(device)


def train(args: argparse.Namespace) -> int:
    """``nettrain train``: train, write the net and a summary, print the test accuracy.

    Under ``torchrun`` every rank runs this command and trains; only rank 0 prints, scores
    the net and writes the files (:func:`~.common.is_rank_zero`).
    """
    from .. import nets
    from ..datasets import canonical_name
    from ..net import Net
    from ..options.resolved import resolve_options
    from ..runtime.seed import seeded
    from ..train import train as run

    speaks = is_rank_zero()
    dataset = canonical_name(args.dataset)
    net_name = args.net or nets.default_net(dataset)
    options = _train_options(args)
    resume = _resume_from(args, speaks)  # before anything is loaded: --resume alone is a mistake
    label = _net_label(net_name)
    output, summary_path = output_paths(args.output, f"{dataset}-{label}")
    # bad options, an unwritable output and missing data are reported before anything is built
    # or announced, so that a mistake never costs a training run
    try:
        resolve_options(options)
    except NetTrainError as error:
        if error.argument.startswith("training_progress_checkpointing"):
            flag = "--checkpoint-every" if "interval" in error.argument else "--checkpoint"
            raise renamed(error, flag) from None
        raise
    if speaks:  # only rank 0 writes, so only its folder matters (another machine's may differ)
        writable_output(output)
    training, test = _load_split(args, dataset, "train"), _load_split(args, dataset, "test")
    # the net's first weights come from the run's seed, so that --seed repeats a run
    with seeded(resolve_options(options).seed):
        net = _build_net(net_name, training)
    module = net.module if isinstance(net, Net) else net
    parameters = nets.parameter_count(module)
    if speaks:
        print(
            f"{PROG} train: {dataset} with {label} ({parameters:,} parameters); "
            f"validation: {_validation_text(args.validation)}.",
            flush=True,
        )
    if args.validation == "auto":
        options["validation_set"] = test
    if resume is not None:
        options["resume"] = resume
    started = time.perf_counter()
    try:
        result = run(net, training, "all", **options)
    except NetTrainError as error:
        if error.argument == "training_progress_reporting" and args.log:
            raise renamed(error, "--log") from None  # --reporting's values are checked choices
        raise
    if not speaks:
        return 0  # rank 0 holds the same trained net, and writes it
    trained = result["trained_net"]
    if not isinstance(trained, Net):
        trained = Net(trained)
    paths = (output, summary_path)
    _write_and_tell(args, result, trained, test, (dataset, label, parameters), paths, started)
    return 0


def _validation_text(validation: Any) -> str:
    if validation in ("auto", None):
        return "the test split" if validation == "auto" else "none"
    return f"{validation:.0%} of the training split"


def _write_and_tell(
    args: argparse.Namespace,
    result: Any,
    trained: Any,
    test: Any,
    names: tuple[str, str, int],
    paths: tuple[Path, Path],
    started: float,
) -> None:
    """Rank 0's part of ``train`` after training: score the net on the test split, write it,
    its summary (and the report), and print what was done."""
    dataset, label, parameters = names
    output, summary_path = paths
    scores = score(trained, test)
    _save(trained, output)
    # the options as given (validation "auto", not the loaded test split passed to train)
    summary = _summary(result, dataset, label, parameters, scores, _train_options(args))
    summary["wall_time_s"] = time.perf_counter() - started
    finder = result["learning_rate_finder"]  # --learning-rate find
    if finder is not None:
        summary["learning_rate_found"] = finder["learning_rate"]
        print(
            f"learning rate found: {finder['learning_rate']:.3g} ({finder['suggestion']}, "
            f"range test of {len(finder['rates'])} steps)"
        )
    write_atomically(summary_path, json.dumps(summary, indent=2) + "\n")
    print(
        f"trained {summary['rounds']} rounds in {summary['time_s']:.1f} s "
        f"({summary['examples_per_second']:,.0f} examples/s), stopped by "
        f"{summary['reason_training_stopped']}; final training loss "
        f"{summary['final_training_loss']:.4g}"
    )
    print(
        f"test accuracy: {scores['accuracy']:.1%} ({scores['examples']:,} test examples, "
        f"loss {scores['loss']:.4f})"
    )
    print(f"net written to {output}")
    print(f"summary written to {summary_path}")
    if args.report:
        try:
            report = result.report(args.report, title=f"{PROG} train {dataset} with {label}")
        except NetTrainError as error:
            raise (renamed(error, "--report") if error.argument == "path" else error) from None
        print(f"report written to {report}")


# ---- datasets ------------------------------------------------------------------------------------


def _size_text(sizes: Any) -> str:
    if isinstance(sizes, dict):
        sizes = list(sizes.values())
    total = sum(int(s) for s in sizes if s) if isinstance(sizes, (list, tuple)) else int(sizes or 0)
    return f"{total / 1e6:.1f} MB" if total else "-"


def datasets(args: argparse.Namespace) -> int:
    """``nettrain datasets [download NAME | where NAME]``: list, download, or locate datasets."""
    from .. import nets
    from ..datasets import canonical_name, download, list_datasets
    from ..datasets.locate import write_root

    if args.action == "download":
        name = canonical_name(args.name)
        path = download(name, data_dir=args.data_dir, progress=True)
        print(f"{name}: {path}")
        return 0
    entries: dict[str, dict[str, Any]] = {
        str(e["name"]): e for e in list_datasets(data_dir=args.data_dir)
    }
    if args.action == "where":
        name = canonical_name(args.name)
        entry = entries.get(name, {})
        if entry.get("found"):
            print(entry["found"])
            return 0
        target = write_root(args.data_dir) / str(entry.get("folder", ""))
        print(
            f"{name}: not on this machine (a download would go to {target}); "
            f"run: {PROG} datasets download {name}"
        )
        return 1
    rows = [("name", "kind", "where", "size")]
    for name, entry in entries.items():
        try:
            kind = nets.dataset_shape(name).kind
        except NetTrainError:
            kind = "-"
        if entry.get("embedded"):
            where = f"embedded ({entry['found']})" if entry.get("found") else "embedded"
        else:
            where = str(entry["found"]) if entry.get("found") else "not on this machine"
        size = _size_text(entry.get("sizes")) if entry.get("found") else "-"
        rows.append((name, kind, where, size))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 0


# ---- evaluate and predict ------------------------------------------------------------------------


def evaluate(args: argparse.Namespace) -> int:
    """``nettrain evaluate NETFILE DATASET``: accuracy and loss of a saved net."""
    from ..datasets import canonical_name

    net = load_net(args.netfile)
    dataset = canonical_name(args.dataset)
    split = _load_split(args, dataset, args.split)
    scores = score(net, split)
    print(
        f"{dataset} {args.split}: accuracy {scores['accuracy']:.1%}, "
        f"loss {scores['loss']:.4f} ({scores['examples']:,} examples)"
    )
    return 0


def predict(args: argparse.Namespace) -> int:
    """``nettrain predict NETFILE INPUTS...``: the decision and its probability per input."""
    net = load_net(args.netfile)
    encoder = net.inputs.get(next(iter(net.inputs)))
    kind = getattr(encoder, "kind", None)
    if kind == "image":
        missing = [p for p in args.inputs if not Path(p).is_file()]
        if missing:
            raise NetTrainError(
                "INPUTS",
                "this net reads images, and these are not files: "
                + ", ".join(map(repr, missing[:5])),
                expected="paths of image files (PNG, JPEG, ...)",
            )
    elif kind not in ("tokens", "characters"):
        raise NetTrainError(
            "NETFILE",
            "this net has no image or text encoder, so it cannot read files or strings",
            expected="a net trained by 'nettrain train'",
            received=f"inputs {list(net.inputs)}",
        )
    try:
        probabilities, classes = class_scores(net, args.inputs)
    except NetTrainError as error:
        if error.argument != "input":
            raise
        where = "" if error.index is None else f"{args.inputs[error.index]!r}: "
        raise NetTrainError(
            "INPUTS",
            where + error.problem,
            expected=error.expected,
            received=error.received,
            hint=error.hint or "give inputs the net's encoder reads (image files for an image net)",
        ) from None
    for value, row in zip(args.inputs, probabilities, strict=True):
        best = int(row.argmax())
        print(f"{value}\t{classes[best]}\t{float(row[best]):.3f}")
    return 0


# ---- export --------------------------------------------------------------------------------------


def export(args: argparse.Namespace) -> int:
    """``nettrain export NETFILE OUT.onnx [--batch N] [--shape D,...]``: the net's module as
    an ONNX model (a dynamic batch dimension unless ``--batch`` fixes it)."""
    from ..export import export_onnx, sample_inputs

    net = load_net(args.netfile)
    try:
        sample: Any = None
        if args.shape is not None:
            sample = (args.batch or 1, *args.shape)
        elif args.batch is not None:
            sample = sample_inputs(net, args.batch)
        written = export_onnx(net, args.output, sample=sample, dynamic_batch=args.batch is None)
    except NetTrainError as error:
        if error.argument == "path":
            raise renamed(error, "OUT.onnx") from None
        if error.argument == "sample":
            hint = "give --shape, the shape of one example, e.g. --shape 3,32,32"
            raise NetTrainError(
                "--shape", error.problem, received=error.received, hint=hint
            ) from None
        raise
    batch = "a dynamic batch" if args.batch is None else f"batch size {args.batch}"
    print(f"ONNX model ({batch}) written to {written}")
    return 0
