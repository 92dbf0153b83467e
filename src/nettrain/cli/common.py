"""What the ``nettrain`` subcommands share: loading and scoring nets, output files, messages.

Problems the user can fix are raised as :class:`~nettrain.errors.NetTrainError` named after the
command-line argument at fault (``NETFILE``, ``--output``, ``INPUTS``), so that ``main`` prints
them as one paragraph.

Example:
    >>> x, y = spirals(10, seed=0)
    >>> x.shape, y.shape, sorted(set(y.tolist()))
    (torch.Size([20, 2]), torch.Size([20]), [0, 1])
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import NetTrainError

__all__ = [
    "PROG",
    "class_scores",
    "current_folder_importable",
    "is_rank_zero",
    "load_net",
    "output_paths",
    "renamed",
    "score",
    "spirals",
    "writable_output",
    "write_atomically",
]

PROG = "nettrain"


def spirals(per_class: int, seed: int, noise: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in the plane: points ``x`` [2n, 2] and labels ``y`` [2n]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(per_class, generator=g) * 3 * math.pi + 0.5
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (3 * math.pi)
    x = torch.cat([arm, -arm]) + noise * torch.randn(2 * per_class, 2, generator=g)
    y = torch.cat([torch.zeros(per_class), torch.ones(per_class)]).long()
    return x, y


def renamed(error: NetTrainError, argument: str, problem: str | None = None) -> NetTrainError:
    """``error`` with the argument named as on the command line (and optionally a new problem)."""
    return NetTrainError(
        argument,
        error.problem if problem is None else problem,
        index=error.index,
        expected=error.expected,
        received=error.received,
        hint=error.hint,
    )


def is_rank_zero() -> bool:
    """Whether this process is rank 0 of its run, the one that prints and writes files.

    Under ``torchrun`` every process runs the same command; ``RANK`` (set by torchrun) tells
    them apart, and only rank 0 (or a process without ``RANK``: a plain run) speaks. The other
    ranks train alongside it and end with the same weights, silently.
    """
    from ..distributed.world import is_main_process

    return is_main_process()


# ---- nets ----------------------------------------------------------------------------------------


def load_net(path: str) -> Any:
    """A saved net, rebuilding the built-in nets that are saved by class (their sizes vary).

    Raises:
        NetTrainError: argument "NETFILE" for a missing, directory, corrupt or foreign file.
    """
    from .. import nets
    from ..net import Net

    try:
        return Net.load(path, module=nets.rebuild(path))
    except NetTrainError as error:
        if error.argument in ("path", "module"):
            raise renamed(error, "NETFILE") from None
        raise


def class_scores(net: Any, inputs: Sequence[Any]) -> tuple[torch.Tensor, list[Any]]:
    """Class probabilities ``[n, C]`` of a net's answers, and the class of each column.

    A net with a (single-label) class decoder answers its own "probabilities" property, so
    whatever its decoder's ``scores`` are (logits, probabilities, log-probabilities) they are
    read the decoder's way; a net without one is taken to output logits (softmax).
    """
    from ..coders import ClassDecoder

    decoder = next(iter(net.outputs.values())) if len(net.outputs) == 1 else None
    if isinstance(decoder, ClassDecoder) and not decoder.multilabel:
        classes = list(decoder.classes)
        answers = net(list(inputs), "probabilities")
        rows = [[row[c] for c in classes] for row in answers]
        return torch.tensor(rows, dtype=torch.float64).reshape(len(inputs), -1), classes
    raw = net(list(inputs), None)
    raw = raw if isinstance(raw, torch.Tensor) else torch.stack(list(raw))
    raw = raw.float().reshape(len(inputs), -1)
    return torch.softmax(raw, dim=-1), list(range(raw.shape[-1]))


def score(net: Any, split: Any) -> dict[str, Any]:
    """Accuracy and mean cross-entropy of a net on a dataset split (labels matched by name).

    Raises:
        NetTrainError: argument "DATASET" when none of the net's classes is the dataset's.
    """
    probabilities, classes = class_scores(net, split.inputs)
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


@contextlib.contextmanager
def current_folder_importable() -> Iterator[None]:
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


# ---- output files --------------------------------------------------------------------------------


def output_paths(given: str | None, stem: str) -> tuple[Path, Path]:
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


def writable_output(path: Path) -> None:
    """Check, before training, that the net can be written to ``path`` (``--output``): not a
    directory, and in a folder that exists (or can be made) and may be written.

    Raises:
        NetTrainError: argument "--output", saying what is in the way.
    """
    if path.is_dir():
        raise NetTrainError(
            "--output",
            f"{str(path)!r} is a directory",
            expected="the path of the net file to write, e.g. "
            + repr(str(path / "net.safetensors")),
            hint="add a file name",
        )
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise NetTrainError(
            "--output",
            f"{str(existing)!r} is a file, not a folder, so the net cannot be written inside it",
            received=repr(str(path)),
            hint="choose a path inside a folder",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise NetTrainError(
            "--output",
            f"cannot write in the folder {str(existing)!r} (permission denied)",
            received=repr(str(path)),
            hint="choose a folder you may write in",
        )


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a crash leaves the old file or the
    new one, never half of one.

    Raises:
        NetTrainError: argument "--output" when the file cannot be written.
    """
    temporary = path.with_name(f".{path.name}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise NetTrainError(
            "--output",
            f"cannot write {str(path)!r} ({exc.strerror or exc})",
            hint="choose a folder you may write in, with room on its disk",
        ) from exc
