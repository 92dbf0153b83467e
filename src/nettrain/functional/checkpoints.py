"""Checkpoints of a custom loop: :func:`save_checkpoint` and :func:`load_checkpoint`.

A MATLAB custom loop saves what it needs to go on with ``save("checkpoint.mat", "net",
"averageGrad", "averageSqGrad", "iteration")`` and reads it back with ``load``. Here the loop
names its state as keywords, and a loop built afresh (after a crash, a kill, a reboot) passes
its new objects by the same names to be filled in place::

    save_checkpoint("checkpoints/", net=net, adam=state, queue=queue, monitor=monitor,
                    iteration=iteration)
    ...
    saved = load_checkpoint("checkpoints/", net=net, queue=queue, monitor=monitor)
    state, iteration = saved["adam"], saved["iteration"]

What a value may be, and what a checkpoint keeps of it:

* an ``nn.Module``: its ``state_dict()`` (parameters and buffers);
* a ``torch.optim.Optimizer``: its ``state_dict()``; a
  :class:`~nettrain.functional.MiniBatchQueue`: its position (epoch, batch, seed); a
  :class:`~nettrain.functional.ProgressMonitor`: its whole history; a ``torch.Generator``: its
  state; any other object with ``state_dict()`` and ``load_state_dict()`` (a learning-rate
  scheduler): its ``state_dict()``;
* plain data: tensors, numbers, strings, bools, None, and dicts, lists and tuples of them,
  nested (the state ``adam_update`` returns, a dict of parameters).

With ``rng=True`` (the default) the random states are saved too and put back by
``load_checkpoint``: torch's (CPU, and each GPU's once CUDA is in use), Python's ``random``
and NumPy's global one, so dropout masks and any draws of the loop continue as in a run that
was never interrupted. ``MiniBatchQueue`` needs none of them: its order is a function of its
seed and the epoch.

The file is the crash-safe checkpoint of :func:`nettrain.checkpoint.write_checkpoint`
(safetensors and JSON, checked by a checksum when read, never a pickle). ``path`` is a file
(each save replaces it and keeps the one before as ``<name>.prev``) or a folder (an existing
directory, or a string ending in "/"): each save writes the next
``checkpoint-<counter>.safetensors`` (counter 0001, 0002, ...) and keeps the others.
``load_checkpoint`` reads the newest good one (:func:`nettrain.checkpoint.read_latest`): a
damaged file falls back to its ``.prev``, a folder to the highest counter that reads back
intact, with a ``NetTrainWarning`` naming what was passed over.

Example:
    >>> import tempfile, torch
    >>> net = torch.nn.Linear(2, 1)
    >>> folder = tempfile.mkdtemp() + "/"
    >>> save_checkpoint(folder, net=net, iteration=7, losses=[0.5, 0.25]).name
    'checkpoint-0001.safetensors'
    >>> fresh = torch.nn.Linear(2, 1)
    >>> saved = load_checkpoint(folder, net=fresh)
    >>> saved["iteration"], saved["losses"], saved["net"] is fresh
    (7, [0.5, 0.25], True)
    >>> torch.equal(fresh.weight, net.weight)
    True
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..checkpoint import clean_temporaries, read_latest, write_checkpoint
from ..checkpoint.files import Damaged, read_header
from ..errors import NetTrainError, NetTrainWarning, describe, did_you_mean
from ..plain_data import MAX_DEPTH, NotPlain, PlainDecoder, PlainEncoder
from ..runtime.random_state import random_states, restore_random_states
from ..scalars import is_bool
from .monitor import ProgressMonitor
from .queue import MiniBatchQueue

__all__ = ["KIND", "load_checkpoint", "save_checkpoint"]

KIND = "nettrain.functional.checkpoint/1"  # meta["kind"]: a custom loop's, not train()'s
_NUMBERED = re.compile(r"checkpoint-(\d+)\.safetensors(?:\.prev)?")

# what an entry holds, and what load_checkpoint needs to restore it in place
_HOLDS = {
    "module": "the weights of an nn.Module",
    "optimizer": "the state of a torch.optim optimizer",
    "queue": "the position of a MiniBatchQueue",
    "monitor": "the history of a ProgressMonitor",
    "generator": "the state of a torch.Generator",
    "object": "the state_dict() of an object",
    "value": "a value",
}
_NEEDS = {
    "module": "an nn.Module built as the saved one",
    "optimizer": "an optimizer of the saved class on the same parameters",
    "queue": "a MiniBatchQueue over the same data, with the same batch size and shuffle mode",
    "monitor": "a ProgressMonitor with the same metrics and info",
    "generator": "a torch.Generator",
    "object": "an object of the saved class with load_state_dict()",
}


def _kind(value: object) -> str:
    if isinstance(value, nn.Module):
        return "module"
    if isinstance(value, torch.optim.Optimizer):
        return "optimizer"
    if isinstance(value, MiniBatchQueue):
        return "queue"
    if isinstance(value, ProgressMonitor):
        return "monitor"
    if isinstance(value, torch.Generator):
        return "generator"
    if callable(getattr(value, "state_dict", None)) and callable(
        getattr(value, "load_state_dict", None)
    ):
        return "object"
    return "value"


def _class_name(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _check_rng(rng: object) -> None:
    if not is_bool(rng):
        raise NetTrainError(
            "rng",
            "must be True or False (whether the random states are saved and restored)",
            received=describe(rng),
            hint="name the entry otherwise if 'rng' is one of your loop's values",
        )


# ---- saving --------------------------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike[str], /, *, rng: bool = True, **state: Any) -> Path:
    """Save a custom loop's state (MATLAB's ``save``), crash-safely.

    Args:
        path: a file (replaced at each save; the one before kept as ``<name>.prev``) or a
            folder (an existing directory, or a string ending in "/", created if needed):
            each save writes the next ``checkpoint-<counter>.safetensors`` there. Use one
            folder per loop. Missing parent folders are created.
        rng: also save the random states (torch CPU and CUDA, ``random``, NumPy's global
            one), which :func:`load_checkpoint` puts back (default True).
        **state: ``name=value``: modules, optimizers, a ``MiniBatchQueue``, a
            ``ProgressMonitor``, generators, objects with ``state_dict()`` and plain data (see
            the module documentation). Tensors are saved bit for bit, with their dtype.

    Returns:
        The file written.

    Raises:
        NetTrainError: naming the entry, for a value that cannot be saved faithfully (a
            NumPy array, a function, a module inside a list); argument "path" when the file
            cannot be written (the previous checkpoint is kept).

    >>> import tempfile
    >>> save_checkpoint(tempfile.mkdtemp() + "/run.safetensors", loss=float("nan")).name
    'run.safetensors'
    """
    _check_rng(rng)
    if not state:
        raise NetTrainError(
            "save_checkpoint",
            "names nothing to save",
            expected="name=value for each thing the loop needs to continue",
            hint="save_checkpoint(path, net=net, adam=state, iteration=iteration)",
        )
    encoder = PlainEncoder()
    devices: dict[str, str] = {}
    entries: dict[str, Any] = {}
    for name, value in state.items():
        kind = _kind(value)
        if kind == "value":
            data = value
        elif kind == "generator":
            data = value.get_state()
        else:
            data = value.state_dict()
            if isinstance(data, dict):  # a module's is an OrderedDict: kept as a plain dict
                data = dict(data)
        try:
            if kind == "value":  # the other kinds are restored onto their objects' devices
                _note_devices(encoder, data, devices)
            encoded = encoder.encode(data)
        except NotPlain as problem:
            raise NetTrainError(
                name,
                f"cannot be saved: it {problem}",
                expected="plain data, or an object of its own keyword: a module, optimizer, "
                "MiniBatchQueue, ProgressMonitor, torch.Generator, or anything with "
                "state_dict() and load_state_dict()",
                hint="convert it (torch.as_tensor(array), float(x)), or give each object its "
                "own keyword",
            ) from None
        entries[name] = {"kind": kind, "type": _class_name(value), "data": encoded}
    target, counter, folder = _target(path)
    meta = {
        "kind": KIND,
        "counter": counter,
        "entries": entries,
        "devices": devices,
        "rng": encoder.encode(random_states()) if rng else None,
    }
    try:
        return write_checkpoint(target, encoder.tensors, meta, previous=not folder)
    except NetTrainError as error:
        raise error.renamed("path") from None


def _note_devices(
    encoder: PlainEncoder, value: Any, devices: dict[str, str], depth: int = 0
) -> None:
    """Record the device of each tensor of a plain value not on the CPU, by its name in the
    file, so that load_checkpoint gives it back where the loop had it."""
    if isinstance(value, Tensor):
        if value.device.type != "cpu":
            devices[encoder.tensor(value)["$tensor"]] = str(value.device)
    elif depth < MAX_DEPTH and type(value) in (list, tuple, dict):
        for item in value.values() if type(value) is dict else value:
            _note_devices(encoder, item, devices, depth + 1)


def _target(path: str | os.PathLike[str]) -> tuple[Path, int, bool]:
    """The file to write, its counter, and whether it goes into a folder of checkpoints."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise NetTrainError("path", "must be a str or a Path", received=describe(path))
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        folder = Path(text)
        folder.mkdir(parents=True, exist_ok=True)
        clean_temporaries(folder)  # of a save killed while writing; one loop per folder
        numbers = [
            int(match.group(1))
            for entry in os.scandir(folder)
            if (match := _NUMBERED.fullmatch(entry.name))
        ]
        counter = max(numbers, default=0) + 1
        return folder / f"checkpoint-{counter:04d}.safetensors", counter, True
    target = Path(text)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        counter = int(read_header(target).get("counter", 0)) + 1
    except Damaged:  # none yet (or a damaged one, which write_checkpoint replaces)
        counter = 1
    return target, counter, False


# ---- loading -------------------------------------------------------------------------------------


def load_checkpoint(
    path: str | os.PathLike[str], /, *, rng: bool = True, **into: Any
) -> dict[str, Any]:
    """Read the newest good checkpoint (MATLAB's ``load``) and restore objects in place.

    Args:
        path: a checkpoint file (falling back to its ``.prev`` when it is damaged or missing)
            or a folder of them (the highest counter that reads back intact), with a
            ``NetTrainWarning`` naming what was passed over.
        rng: put back the random states saved with the checkpoint (default True; nothing
            happens for a checkpoint saved with ``rng=False``).
        **into: ``name=object`` for saved entries to restore in place: a module gets the saved
            weights (``load_state_dict``, strict), an optimizer its state, a
            ``MiniBatchQueue`` its position, a ``ProgressMonitor`` the saved history (it goes
            on from there), a generator its state.

    Returns:
        ``{name: value}`` for every saved entry, in the order saved: the object itself for
        those in ``into``; plain values as saved (tuples stay tuples; tensors on the device
        they were saved from, or the CPU when this machine lacks it, with a warning); the
        saved ``state_dict()`` (CPU tensors) of an object not in ``into``.

    Raises:
        NetTrainError: argument "path" when no valid checkpoint is found (listing each file
            tried) or the file is not a custom loop's checkpoint; the entry's name for a name
            not saved (with close matches), an object of another kind or class than the saved
            one, a module whose parameters differ from the saved ones, a queue over other
            data. Names, kinds, classes and module shapes are all checked before anything is
            restored.
    """
    _check_rng(rng)
    try:
        checkpoint = read_latest(path)
    except NetTrainError as error:
        raise error.renamed("path") from None
    where = str(checkpoint.path)
    meta = checkpoint.meta
    entries = meta.get("entries")
    if meta.get("kind") != KIND or not isinstance(entries, dict):
        raise NetTrainError(
            "path",
            f"the checkpoint {where!r} is not a custom loop's",
            expected="a file written by save_checkpoint",
            received="a checkpoint of nettrain.train" if "run" in meta else "another checkpoint",
            hint="continue a train() run with train(..., resume=path)",
        )
    for name in into:
        if name not in entries:
            raise NetTrainError(
                name,
                f"is not saved in the checkpoint {where!r}",
                expected="one of the saved names " + ", ".join(map(repr, entries)),
                received=repr(name),
                hint=did_you_mean(name, entries) + f" (or leave {name}= out)",
            )

    def damaged(at: str, problem: str) -> NetTrainError:
        return NetTrainError("path", f"the checkpoint {where!r}: {at} {problem}")

    tensors = _placed(checkpoint.tensors, meta.get("devices"))
    decoder = PlainDecoder(where, tensors, damaged)
    values: dict[str, Any] = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or entry.get("kind") not in _HOLDS or "data" not in entry:
            raise damaged(f"entries[{name!r}]", "is not an entry of save_checkpoint")
        values[name] = decoder.decode(entry["data"], f"entries[{name!r}]")
    for name, target in into.items():
        _check_target(name, target, entries[name], values[name])
    for name, target in into.items():
        _restore(name, target, entries[name]["kind"], values[name])
    if rng and meta.get("rng") is not None:
        _set_rng(decoder.decode(meta["rng"], "rng"), damaged)
    return {name: into.get(name, value) for name, value in values.items()}


def _placed(tensors: dict[str, Tensor], devices: object) -> dict[str, Tensor]:
    """The tensors, those of plain values moved back to the devices they were saved from."""
    placed = dict(tensors)
    lacking: set[str] = set()
    for name, device in devices.items() if isinstance(devices, dict) else ():
        if name in placed and isinstance(device, str):
            try:
                placed[name] = placed[name].to(device)
            except (RuntimeError, AssertionError, ValueError):  # no such device here
                lacking.add(device)
    if lacking:
        warnings.warn(
            NetTrainWarning(
                f"the checkpoint holds tensors saved on {', '.join(sorted(lacking))}, which "
                "this machine does not have; they are loaded on the CPU"
            ),
            stacklevel=3,
        )
    return placed


def _check_target(name: str, target: object, entry: Mapping[str, Any], data: Any) -> None:
    kind, saved_type = entry["kind"], str(entry.get("type"))
    short = saved_type.rsplit(".", 1)[-1]  # "Sequential", not torch.nn.modules.container's
    given = _kind(target)
    received = describe(target) if given == "value" else f"a {type(target).__name__}"
    if kind == "value":
        raise NetTrainError(
            name,
            "is a value in the checkpoint, not an object to restore in place",
            expected=f"no {name}=... argument",
            received=received,
            hint=f"leave {name}= out and take the value from the result: saved[{name!r}]",
        )
    if given != kind:
        raise NetTrainError(
            name,
            f"was saved as {_HOLDS[kind]} (a {short})",
            expected=f"{_NEEDS[kind]}, to restore it into",
            received=received,
            hint=f"pass the loop's own object as {name}=, or leave it out to get the saved "
            "state back in the result",
        )
    if kind in ("optimizer", "object") and _class_name(target) != saved_type:
        raise NetTrainError(
            name,
            f"was saved from a {saved_type}",
            expected=f"a {saved_type}",
            received=f"a {_class_name(target)}",
            hint="build the object as the saved one was built",
        )
    if kind == "module":
        _check_module(name, target, data, short)  # type: ignore[arg-type]
    if kind == "optimizer":
        _check_groups(name, target, data)  # type: ignore[arg-type]


def _check_module(name: str, module: nn.Module, saved: Any, saved_type: str) -> None:
    """Every saved tensor has its place in ``module``, with the same shape, and no place is
    left without one: a clearer message than torch's, before anything is changed."""
    ours = module.state_dict()
    saved = saved if isinstance(saved, dict) else {}
    problems = []
    missing = [k for k in ours if k not in saved]
    extra = [k for k in saved if k not in ours]
    shapes = [
        f"{k!r} {tuple(saved[k].shape)} saved, {tuple(ours[k].shape)} here"
        for k in ours
        if k in saved
        and isinstance(saved[k], Tensor)
        and isinstance(ours[k], Tensor)
        and saved[k].shape != ours[k].shape
    ]
    if missing:
        problems.append("not saved: " + ", ".join(map(repr, missing[:5])))
    if extra:
        problems.append("saved but not in this module: " + ", ".join(map(repr, extra[:5])))
    if shapes:
        problems.append("other shapes: " + "; ".join(shapes[:3]))
    if problems:
        raise NetTrainError(
            name,
            "does not fit the saved weights (" + "; ".join(problems) + ")",
            expected=f"a module built as the saved {saved_type}",
            received=f"a {type(module).__name__}",
            hint="build the net exactly as the saved one was built, then load into it",
        )


def _check_groups(name: str, optimizer: torch.optim.Optimizer, saved: Any) -> None:
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    theirs = [len(g.get("params", ())) for g in groups or () if isinstance(g, dict)]
    ours = [len(g["params"]) for g in optimizer.param_groups]
    if theirs != ours:
        raise NetTrainError(
            name,
            "has other parameter groups than the saved optimizer",
            expected=f"groups of {theirs} parameters",
            received=f"groups of {ours} parameters",
            hint="build the optimizer on the parameters of the same net, as the saved one",
        )


def _restore(name: str, target: Any, kind: str, data: Any) -> None:
    try:
        if kind == "generator":
            target.set_state(data)
        else:
            target.load_state_dict(data)
    except NetTrainError as error:  # the queue's and the monitor's own checks
        raise error.renamed(name) from None
    except (RuntimeError, ValueError, TypeError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise NetTrainError(
            name,
            f"could not take the saved state ({type(error).__name__}: {first[:200]})",
            expected=_NEEDS[kind],
            received=f"a {type(target).__name__}",
        ) from error


def _set_rng(state: Any, damaged: Any) -> None:
    try:
        restore_random_states(state)
    except (TypeError, ValueError, KeyError, RuntimeError, AttributeError):
        raise damaged("rng", "is not a random state that can be restored") from None
