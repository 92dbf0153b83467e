"""The ``nettrain`` command line.

Train, evaluate and use nets on named datasets from the shell; every subcommand has ``--help``.

    nettrain train Digits                     # the embedded dataset: no network needed
    nettrain train FashionMNIST --net small-cnn --time-goal "1 min"
    nettrain datasets                         # what is on disk, and where
    nettrain datasets download CIFAR-10
    nettrain evaluate Digits-mlp.safetensors Digits
    nettrain predict Digits-mlp.safetensors digit.png
    nettrain export Digits-mlp.safetensors digits.onnx  # needs nettrain[onnx]
    nettrain demo                             # two spirals, made by the command itself

``train`` writes the trained net (``Net.save``: one safetensors file, no pickle) and a JSON
summary next to it, and prints the accuracy on the dataset's test split. Bad arguments and
problems nettrain can explain (a missing dataset offline, an unknown net, a ``--net`` function
that fails, a corrupt net file, an output folder that cannot be written) exit with status 2 and
a one-paragraph message, never a traceback.

The commands live in :mod:`.commands`, what they share in :mod:`.common`; this module holds the
parser and :func:`main`.

Example:
    >>> x, y = spirals(10, seed=0)
    >>> x.shape, y.shape, sorted(set(y.tolist()))
    (torch.Size([20, 2]), torch.Size([20]), [0, 1])
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

from ..errors import NetTrainError
from . import commands
from .common import PROG, spirals

__all__ = ["main", "spirals"]


# ---- argument types ------------------------------------------------------------------------------


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


def _learning_rate(text: str) -> float | str:
    """A positive number, or "find": a learning-rate range test before training."""
    if text.strip().lower() == "find":
        return "find"
    try:
        return float(_positive_float(text))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number or find, got {text!r}"
        ) from None


def _device(text: str) -> str | tuple[str, Any]:
    """``--device``: a ``target_device`` value from its command-line spelling.

    ``auto``, ``cpu``, ``gpu``, ``cuda`` and ``cuda:N`` (or ``gpu:N``: GPU number N) as they
    are; ``cpu:N``: N processes on the CPU, ``("cpu", N)``; ``gpu:all``: one process per GPU,
    ``("gpu", "all")``; ``gpu:0,1``: one process on each of those GPUs, ``("gpu", [0, 1])``.

    >>> _device("cpu:2"), _device("GPU:all"), _device("gpu:0,1"), _device("gpu:1")
    (('cpu', 2), ('gpu', 'all'), ('gpu', [0, 1]), 'cuda:1')
    """
    expected = (
        "auto, cpu, gpu, cuda:N, cpu:N (N processes), gpu:all or gpu:I,J,... (one process per GPU)"
    )
    key = text.strip().lower()
    kind, colon, which = key.partition(":")
    if not colon and kind in ("auto", "cpu", "gpu", "cuda"):
        return kind
    numbers = [part.strip() for part in which.split(",")]
    whole = all(n.isdecimal() for n in numbers)  # isdecimal: no signs, no "²"
    if kind == "cpu" and whole and len(numbers) == 1 and int(numbers[0]) >= 1:
        return ("cpu", int(numbers[0]))
    if kind == "gpu" and which == "all":
        return ("gpu", "all")
    if kind in ("gpu", "cuda") and whole and len(numbers) == 1:
        return f"cuda:{int(numbers[0])}"  # one GPU, by number: ("gpu", N) in train's terms
    if kind == "gpu" and whole and len(set(map(int, numbers))) == len(numbers):
        return ("gpu", [int(n) for n in numbers])
    raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")


_shape = _checked(
    lambda text: tuple(int(d) for d in text.replace("x", ",").split(",")),
    lambda v: all(d >= 1 for d in v),
    "positive sizes separated by commas, e.g. 3,32,32",
)


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
    tr.add_argument(
        "--learning-rate",
        type=_learning_rate,
        metavar="F",
        help="a positive number, or find: a learning-rate range test first (its rate is used)",
    )
    tr.add_argument(
        "--validation",
        type=_validation,
        default="auto",
        metavar="V",
        help="auto (the test split, default), none, or a fraction of the training data: 0.1",
    )
    tr.add_argument(
        "--device",
        type=_device,
        metavar="D",
        help="auto (default), cpu, gpu, cuda:N; data-parallel: cpu:N (N processes on the CPU), "
        "gpu:all or gpu:0,1 (one process per GPU); see docs/distributed.md",
    )
    tr.add_argument("--seed", type=_seed, metavar="N", help="random seed (default 1234)")
    tr.add_argument(
        "--reporting",
        choices=("auto", "panel", "print", "progress_bar", "none"),
        default="auto",
        help="auto (default: a live panel on a terminal, plain lines in a log), panel, print, "
        "progress_bar, none",
    )
    tr.add_argument(
        "--log",
        metavar="FILE",
        help="also write one row per round to FILE (.csv, .tsv or .jsonl)",
    )
    tr.add_argument(
        "--report",
        metavar="FILE",
        help="also write an HTML report of the run to FILE (run.html): outcome, plots, every "
        "option and automatic choice; the plots need nettrain[plots]",
    )
    tr.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="write a checkpoint into DIR at the end of every round (see --checkpoint-every); "
        "each file also loads as a net",
    )
    tr.add_argument(
        "--checkpoint-every",
        metavar="INTERVAL",
        help='how often to checkpoint: N rounds (default 1), "500 batches", "10 min"',
    )
    tr.add_argument(
        "--resume",
        action="store_true",
        help="go on from the latest good checkpoint in --checkpoint DIR, bit for bit where the "
        "interrupted run was (a new run when DIR holds none yet): rerun the same command",
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

    ex = sub.add_parser(
        "export",
        help="write a saved net's module as an ONNX model (needs nettrain[onnx])",
        description="Export the module of a saved net (tensors in, tensors out; its encoders "
        "and decoders stay in Python) to an ONNX file, with a dynamic batch dimension unless "
        "--batch is given.",
    )
    ex.add_argument("netfile", metavar="NETFILE", help="a net written by 'nettrain train'")
    ex.add_argument("output", metavar="OUT.onnx", help="the ONNX file to write")
    ex.add_argument(
        "--batch",
        type=_positive_int,
        metavar="N",
        help="a fixed batch size N (default: a dynamic batch dimension)",
    )
    ex.add_argument(
        "--shape",
        type=_shape,
        metavar="D,D,...",
        help="the shape of one example the module takes, e.g. 3,32,32 (default: the one the "
        "net recorded in training)",
    )
    return parser


# train's option -> the flag that sets it, for error messages; the commands raise the errors of
# their own arguments (NETFILE, INPUTS, --output) under those names already
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
_DATASET_NAME = {"name": "DATASET"}  # evaluate's dataset, looked up by name
_FLAGS_OF: dict[str, dict[str, str]] = {"train": _FLAGS, "evaluate": _DATASET_NAME}

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": commands.demo,
    "train": commands.train,
    "datasets": commands.datasets,
    "evaluate": commands.evaluate,
    "predict": commands.predict,
    "export": commands.export,
}


def _paragraph(command: str, error: NetTrainError) -> str:
    """The one-paragraph message for ``error``: the option named as the user typed it
    (--device, not target_device), and no line breaks (an exception's message from the user's
    own code may have some)."""
    text = str(error)
    flag = _FLAGS_OF.get(command, {}).get(error.argument)
    if flag and text.startswith(error.argument):
        text = flag + text[len(error.argument) :]
    return f"{PROG} {command}: error: " + " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``) and return the exit status:
    0 done, 1 ``datasets where`` found nothing, 2 bad arguments or a problem with the input.

    Problems nettrain can explain (:class:`~nettrain.errors.NetTrainError`) are printed as one
    paragraph on stderr, as argparse prints usage errors; any other exception is a bug and keeps
    its traceback.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2): return it like any status
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return _COMMANDS[args.command](args)
    except NetTrainError as error:
        print(_paragraph(args.command, error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
