"""The ``nettrain`` command line.

Train, evaluate and use nets on named datasets from the shell; every subcommand has ``--help``.

    nettrain train Digits                     # the embedded dataset: no network needed
    nettrain train FashionMNIST --net small-cnn --time-goal "1 min"
    nettrain datasets                         # what is on disk, and where
    nettrain datasets download CIFAR-10
    nettrain evaluate Digits-mlp.safetensors Digits
    nettrain predict Digits-mlp.safetensors digit.png
    nettrain demo                             # two spirals, made by the command itself

``train`` writes the trained net (``Net.save``: one safetensors file, no pickle) and a JSON
summary next to it, and prints the accuracy on the dataset's test split. Bad arguments and
problems nettrain can explain (a missing dataset offline, an unknown net) exit with status 2 and
a one-paragraph message, never a traceback.

Example:
    >>> x, y = spirals(10, seed=0)
    >>> x.shape, y.shape, sorted(set(y.tolist()))
    (torch.Size([20, 2]), torch.Size([20]), [0, 1])
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import NetTrainError

__all__ = ["main", "spirals"]

PROG = "nettrain"


def spirals(per_class: int, seed: int, noise: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in the plane: points ``x`` [2n, 2] and labels ``y`` [2n]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(per_class, generator=g) * 3 * math.pi + 0.5
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (3 * math.pi)
    x = torch.cat([arm, -arm]) + noise * torch.randn(2 * per_class, 2, generator=g)
    y = torch.cat([torch.zeros(per_class), torch.ones(per_class)]).long()
    return x, y


# ---- demo ----------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from ..train import train

    x, y = spirals(args.examples // 2, seed=1)
    x_test, y_test = spirals(1000, seed=2)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    print(
        f"nettrain demo: classifying two spirals ({len(x)} training points, "
        f"{len(x_test)} test points) with a 2-64-64-2 MLP; every choice automatic."
    )
    reporting = None if args.quiet else "print"
    result = train(
        net, (x, y), "all", time_goal=args.time_goal, training_progress_reporting=reporting
    )
    with torch.no_grad():
        accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
    print(result)
    print(f"test accuracy: {accuracy:.1%}")
    return 0


# ---- shared helpers ------------------------------------------------------------------------------


def _load_net(path: str) -> Any:
    """A saved net, rebuilding the built-in nets that are saved by class (their sizes vary)."""
    from .. import nets
    from ..net import Net

    if not Path(path).is_file():
        raise NetTrainError(
            "NETFILE",
            "no such file",
            expected="a net written by 'nettrain train' or Net.save",
            received=repr(path),
        )
    return Net.load(path, module=nets.rebuild(path))


def _class_scores(net: Any, inputs: Sequence[Any]) -> tuple[torch.Tensor, list[Any]]:
    """Class probabilities ``[n, C]`` of a net's answers, and the class of each column."""
    raw = net(list(inputs), None)
    raw = raw if isinstance(raw, torch.Tensor) else torch.stack(list(raw))
    decoder = net.outputs.get("output")
    classes = list(getattr(decoder, "classes", None) or range(raw.shape[-1]))
    raw = raw.float().reshape(len(inputs), -1)
    if getattr(decoder, "scores", "logits") == "probabilities":
        return raw, classes
    return torch.softmax(raw, dim=-1), classes


def _score(net: Any, split: Any) -> dict[str, Any]:
    """Accuracy and mean cross-entropy of a net on a dataset split (labels matched by name)."""
    probabilities, classes = _class_scores(net, split.inputs)
    labels = [int(v) for v in split.labels]
    names = list(split.class_names)
    column = {c: i for i, c in enumerate(classes)}
    # the net's classes are names when it was trained on a named dataset; match by name, and
    # fall back to the label index for nets whose outputs carry no names
    truth = torch.tensor([column.get(names[k], column.get(k, -1)) for k in labels])
    known = truth >= 0
    if not bool(known.any()):
        raise NetTrainError(
            "DATASET",
            "the net's classes are not this dataset's classes",
            expected="classes like " + ", ".join(map(repr, names[:5])),
            received="classes like " + ", ".join(map(repr, classes[:5])),
        )
    picked = probabilities[known]
    target = truth[known]
    correct = (picked.argmax(1) == target).float()
    accuracy = float(correct.sum()) / len(labels)  # an unknown class counts as a wrong answer
    loss = float(-picked.gather(1, target[:, None]).clamp_min(1e-12).log().mean())
    return {"accuracy": accuracy, "loss": loss, "examples": len(labels)}


def _time_goal(text: str) -> float | str:
    """``--time-goal``: seconds as a number, or a duration nettrain parses ("5 min")."""
    try:
        return float(text)
    except ValueError:
        return text


def _validation(text: str) -> Any:
    """``--validation``: auto (the test split), none, or a fraction of the training data."""
    if text.lower() in ("auto", "none"):
        return "auto" if text.lower() == "auto" else None
    try:
        fraction = float(text)
    except ValueError:
        fraction = math.nan
    if not 0 < fraction < 1:
        raise argparse.ArgumentTypeError(f"expected auto, none or a fraction, got {text!r}")
    return fraction


def _checked(convert: Callable[[str], Any], ok: Callable[[Any], bool], expected: str) -> Any:
    """An argparse ``type``: ``convert`` the text, then insist on ``ok`` (else a usage error)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_positive_float = _checked(float, lambda v: 0 < v < math.inf, "a positive number")
_seed = _checked(int, lambda v: v >= 0, "an integer >= 0")


def _net_label(net_name: str) -> str:
    """The net's part of the default output file name: ``mlp``, or the function's name."""
    return net_name.rpartition(":")[2].rpartition(".")[2] if ":" in net_name else net_name.lower()


@contextlib.contextmanager
def _current_folder_importable() -> Iterator[None]:
    """Let ``--net mynets:build`` import ``mynets.py`` from the current folder, as ``python``
    does for a script's folder (an installed console script does not have it on the path)."""
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added and here in sys.path:
            sys.path.remove(here)


# ---- train ---------------------------------------------------------------------------------------


def _load_split(args: argparse.Namespace, dataset: str, split: str) -> Any:
    """One split of a named dataset, from ``--data-dir`` first; ``--offline`` forbids downloads."""
    from ..datasets import load

    return load(dataset, split, offline=True if args.offline else None, data_dir=args.data_dir)


def _build_net(net_name: str, training: Any) -> tuple[Any, str]:
    """The net to train (a module, or a ``Net`` with a tokens encoder for text) and its label."""
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
    with _current_folder_importable():
        module = nets.make(net_name, training.name, vocabulary=vocabulary)
    net = module if tokens is None else Net(module, inputs={"input": tokens})
    return net, _net_label(net_name)


def _output_paths(given: str | None, stem: str) -> tuple[Path, Path]:
    """The net file and the summary next to it (``Digits-mlp.safetensors``, ``Digits-mlp.json``).

    A path given with ``--output`` is used as it is (the user chose to replace it). The default
    name never replaces an earlier run's files: when taken, ``Digits-mlp-2`` and so on are used.
    """

    def pair(net: Path) -> tuple[Path, Path]:
        summary = net.with_suffix(".json")
        return net, summary if summary != net else Path(f"{net}.json")

    if given is not None:
        return pair(Path(given))
    candidates = (Path(f"{stem}{'' if k == 1 else f'-{k}'}.safetensors") for k in range(1, 10**6))
    return next(p for p in map(pair, candidates) if not (p[0].exists() or p[1].exists()))


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a crash leaves the old file or the
    new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


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
    options["training_progress_reporting"] = None if args.reporting == "none" else "print"
    return options


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
        "reason_training_stopped": get("reason_training_stopped"),
        "final_training_loss": get("round_loss"),
        "final_validation_loss": get("validation_loss"),
        "final_validation_measurements": {
            k: v for k, v in validation.items() if isinstance(v, (int, float))
        },
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "options": {k: v for k, v in options.items() if isinstance(v, (int, float, str))},
        "nettrain_version": __version__,
    }


def _train(args: argparse.Namespace) -> int:
    from .. import nets
    from ..datasets import canonical_name
    from ..net import Net
    from ..options.resolved import resolve_options
    from ..train import train

    dataset = canonical_name(args.dataset)
    net_name = args.net or nets.default_net(dataset)
    options = _train_options(args)
    # bad options and missing data are reported before anything is built or announced
    resolve_options(options)
    training, test = _load_split(args, dataset, "train"), _load_split(args, dataset, "test")
    net, label = _build_net(net_name, training)
    module = net.module if isinstance(net, Net) else net
    parameters = nets.parameter_count(module)
    output, summary_path = _output_paths(args.output, f"{dataset}-{label}")
    if args.validation in ("auto", None):
        validation = "the test split" if args.validation == "auto" else "none"
    else:
        validation = f"{args.validation:.0%} of the training split"
    print(
        f"{PROG} train: {dataset} with {label} ({parameters:,} parameters); "
        f"validation: {validation}.",
        flush=True,
    )
    if args.validation == "auto":
        options["validation_set"] = test
    started = time.perf_counter()
    result = train(net, training, "all", **options)
    trained = result["trained_net"]
    if not isinstance(trained, Net):
        trained = Net(trained)
    scores = _score(trained, test)
    output.parent.mkdir(parents=True, exist_ok=True)
    trained.save(output)
    # the options as given (validation "auto", not the loaded test split passed to train)
    summary = _summary(result, dataset, label, parameters, scores, _train_options(args))
    summary["wall_time_s"] = time.perf_counter() - started
    _write_atomically(summary_path, json.dumps(summary, indent=2) + "\n")
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
    return 0


# ---- datasets ------------------------------------------------------------------------------------


def _size_text(sizes: Any) -> str:
    if isinstance(sizes, dict):
        sizes = list(sizes.values())
    total = sum(int(s) for s in sizes if s) if isinstance(sizes, (list, tuple)) else int(sizes or 0)
    return f"{total / 1e6:.1f} MB" if total else "-"


def _datasets(args: argparse.Namespace) -> int:
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


def _evaluate(args: argparse.Namespace) -> int:
    from ..datasets import canonical_name

    net = _load_net(args.netfile)
    dataset = canonical_name(args.dataset)
    split = _load_split(args, dataset, args.split)
    scores = _score(net, split)
    print(
        f"{dataset} {args.split}: accuracy {scores['accuracy']:.1%}, "
        f"loss {scores['loss']:.4f} ({scores['examples']:,} examples)"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    net = _load_net(args.netfile)
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
    probabilities, classes = _class_scores(net, args.inputs)
    for value, row in zip(args.inputs, probabilities, strict=True):
        best = int(row.argmax())
        print(f"{value}\t{classes[best]}\t{float(row[best]):.3f}")
    return 0


# ---- the parser ----------------------------------------------------------------------------------


def _data_options(*, offline: bool = True, suppress: bool = False) -> argparse.ArgumentParser:
    """A parent parser with ``--data-dir`` (and ``--offline``) for the commands that read data.

    ``suppress``: for the actions under ``datasets``, which repeat ``--data-dir``; their unset
    default must not overwrite a value given before the action.
    """
    parent = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if suppress else None
    parent.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="the folder holding one folder per dataset (default: $NETTRAIN_DATA or the "
        "per-user cache)",
    )
    if offline:
        parent.add_argument("--offline", action="store_true", help="never download")
    return parent


def _parser() -> argparse.ArgumentParser:
    from .. import nets

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train, evaluate and use nets on named datasets.",
        epilog=f"Example: {PROG} train Digits  (embedded data; no network needed)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    reads_data = _data_options()
    names = "MNIST, FashionMNIST, CIFAR-10, CIFAR-100, MovieReview, Digits"

    demo = sub.add_parser("demo", help="train a small net on data the command makes itself")
    demo.add_argument("--examples", type=_positive_int, default=2000, help="training points")
    demo.add_argument(
        "--time-goal", type=_positive_float, help="seconds of training (default: about 20 s)"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress lines")

    tr = sub.add_parser(
        "train",
        parents=[reads_data],
        help="train a built-in (or your) net on a named dataset",
        description="Train a net on a named dataset's training split, write it and a JSON "
        "summary, and print its accuracy on the test split.",
    )
    tr.add_argument("dataset", metavar="DATASET", help=names)
    tr.add_argument(
        "--net",
        metavar="NAME",
        help=f"one of {', '.join(nets.NET_NAMES)}, or module:function returning an nn.Module "
        "(default: the dataset's own: small-cnn, resnet-small, text-cnn or mlp)",
    )
    tr.add_argument("--rounds", type=_positive_int, metavar="N", help="training rounds (epochs)")
    tr.add_argument(
        "--time-goal", type=_time_goal, metavar="T", help='seconds, or a duration like "5 min"'
    )
    tr.add_argument("--batch-size", type=_positive_int, metavar="N")
    tr.add_argument(
        "--method", metavar="NAME", help="adam (default), adamw, rmsprop, sgd, signsgd, lbfgs"
    )
    tr.add_argument("--learning-rate", type=_positive_float, metavar="F")
    tr.add_argument(
        "--validation",
        type=_validation,
        default="auto",
        metavar="V",
        help="auto (the test split, default), none, or a fraction of the training data: 0.1",
    )
    tr.add_argument("--device", choices=("auto", "cpu", "gpu"), help="auto (default), cpu, gpu")
    tr.add_argument("--seed", type=_seed, metavar="N", help="random seed (default 1234)")
    tr.add_argument(
        "--reporting", choices=("print", "none"), default="print", help="progress lines or none"
    )
    tr.add_argument(
        "--output",
        metavar="PATH",
        help="the net file (default: ./DATASET-NET.safetensors; the summary goes next to it "
        "as .json)",
    )

    ds = sub.add_parser(
        "datasets",
        parents=[_data_options(offline=False)],
        help="list the named datasets, download one, or say where one is",
        description="Without an action: list the datasets, their kind, where each was found "
        "and its size.",
    )
    actions = ds.add_subparsers(dest="action", metavar="ACTION")
    action_data = _data_options(offline=False, suppress=True)
    download = actions.add_parser(
        "download", parents=[action_data], help="download a dataset (checksums verified)"
    )
    download.add_argument("name", metavar="NAME", help=names)
    where = actions.add_parser(
        "where", parents=[action_data], help="print where a dataset's files are (exit 1: nowhere)"
    )
    where.add_argument("name", metavar="NAME", help=names)

    ev = sub.add_parser(
        "evaluate", parents=[reads_data], help="accuracy and loss of a saved net on a dataset"
    )
    ev.add_argument("netfile", metavar="NETFILE", help="a net written by 'nettrain train'")
    ev.add_argument("dataset", metavar="DATASET", help=names)
    ev.add_argument("--split", choices=("test", "train"), default="test", help="default: test")

    pr = sub.add_parser("predict", help="a saved net's decision on image files or strings")
    pr.add_argument("netfile", metavar="NETFILE", help="a net written by 'nettrain train'")
    pr.add_argument(
        "inputs",
        metavar="INPUTS",
        nargs="+",
        help="image file paths (image nets) or strings (text nets)",
    )
    return parser


# train's option -> the flag that sets it, for error messages
_FLAGS = {
    "max_training_rounds": "--rounds",
    "time_goal": "--time-goal",
    "batch_size": "--batch-size",
    "method": "--method",
    "learning_rate": "--learning-rate",
    "validation_set": "--validation",
    "target_device": "--device",
    "random_seeding": "--seed",
    "net": "--net",
    "name": "DATASET",
}

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _demo,
    "train": _train,
    "datasets": _datasets,
    "evaluate": _evaluate,
    "predict": _predict,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``) and return the exit status:
    0 done, 1 ``datasets where`` found nothing, 2 bad arguments or a problem with the input."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2): return it like any status
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return _COMMANDS[args.command](args)
    except NetTrainError as error:
        # a problem nettrain can explain: one paragraph, no traceback, as argparse does; the
        # option is named as the user typed it (--device, not target_device)
        text = str(error)
        flag = _FLAGS.get(error.argument) if args.command == "train" else None
        if flag and text.startswith(error.argument):
            text = flag + text[len(error.argument) :]
        print(f"{PROG} {args.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
