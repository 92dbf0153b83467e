"""Finding the checkpoint to resume from, naming checkpoint files, and removing leftovers.

Example:
    >>> checkpoint_name(0.0, 3, 2, 100, 0.42131, None)
    '1970-01-01T00-00-00_0003_round-2_batch-100_loss-0.4213_val-none.safetensors'
"""

from __future__ import annotations

import math
import os
import stat
import time
import warnings
from pathlib import Path

from ..errors import NetTrainError, NetTrainWarning
from .files import TEMP_PATTERN, Checkpoint, Damaged, _load, previous_path, read_header

__all__ = ["checkpoint_name", "clean_temporaries", "read_latest"]

_SUFFIXES = (".safetensors", ".safetensors.prev")


def read_latest(path: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint to resume from.

    For a file: that file; when it is damaged or missing, its previous generation
    (``<name>.prev``), with a :class:`~nettrain.errors.NetTrainWarning` naming both. For a
    directory: of its files named ``*.safetensors`` or ``*.safetensors.prev`` (never a hidden
    one, so never a temporary ``.*.part``), the valid one with the highest ``meta["counter"]``
    (not the newest by time; a file without a counter counts as damaged here), falling back to
    older ones with a warning naming those found damaged. Net files (:meth:`Net.save`) in the
    directory are not checkpoints and are passed over silently.

    Raises:
        NetTrainError: argument "resume" when no valid checkpoint is found, listing each file
            tried and what is wrong with it.
    """
    name = os.fspath(path)
    if os.path.isdir(name):
        return _latest_in(Path(name))
    target = Path(name)
    prev = previous_path(target)
    try:
        return _load(target)
    except Damaged as exc:
        first = str(exc)
    try:
        checkpoint = _load(prev)
    except Damaged as exc:
        raise _none_valid([(target, first), (prev, str(exc))]) from None
    warnings.warn(
        NetTrainWarning(
            f"the checkpoint {str(target)!r} {first}; resuming from the previous one, "
            f"{str(prev)!r} (counter {checkpoint.meta.get('counter', 'unknown')})"
        ),
        stacklevel=2,
    )
    return checkpoint


def _latest_in(folder: Path) -> Checkpoint:
    damaged: list[tuple[Path, str]] = []
    ranked: list[tuple[int, int, Path]] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise NetTrainError(
            "resume", f"the folder {str(folder)!r} cannot be read ({exc.strerror})"
        ) from None
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(_SUFFIXES):
            continue
        path = Path(entry.path)
        try:
            meta = read_header(path)
        except Damaged as exc:
            if "written by Net.save" not in str(exc):
                damaged.append((path, str(exc)))
            continue
        if "counter" not in meta:
            damaged.append((path, "has no counter in its meta"))
            continue
        ranked.append((meta["counter"], not entry.name.endswith(".prev"), path))
    for _, _, path in sorted(ranked, reverse=True):
        try:
            checkpoint = _load(path)
        except Damaged as exc:
            damaged.append((path, str(exc)))
            continue
        if damaged:
            listed = "; ".join(f"{str(p)!r} {why}" for p, why in damaged)
            warnings.warn(
                NetTrainWarning(
                    f"skipped damaged checkpoints in {str(folder)!r}: {listed}; resuming from "
                    f"{str(path)!r} (counter {checkpoint.meta['counter']})"
                ),
                stacklevel=3,
            )
        return checkpoint
    if not damaged:
        raise NetTrainError(
            "resume",
            f"the folder {str(folder)!r} holds no checkpoint",
            expected="files written by write_checkpoint (*.safetensors)",
        )
    raise _none_valid(damaged)


def _none_valid(tried: list[tuple[Path, str]]) -> NetTrainError:
    return NetTrainError(
        "resume",
        "no valid checkpoint was found; tried "
        + "; ".join(f"{str(p)!r}, which {why}" for p, why in tried),
        hint="start the training again, or resume from a checkpoint kept elsewhere",
    )


def clean_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files (``.<name>.<12 hex digits>.part``) that writers killed while
    writing left in ``folder``; returns those removed.

    Call it when no checkpoint is being written to the folder (at resume): a writer that is still
    running would lose its temporary file and report a failed write. Other files are untouched,
    and a file that cannot be removed is left as it is.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_PATTERN.fullmatch(entry.name):
            continue
        try:
            if stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _number(x: float | None) -> str:
    if x is None:
        return "none"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4f}" if abs(x) < 1e6 else f"{x:.4e}"


def checkpoint_name(
    start_time: float,
    counter: int,
    round: int,
    batch: int,
    loss: float,
    validation_loss: float | None,
) -> str:
    """NetTrain's name for a checkpoint file in a checkpoint directory.

    ``<start UTC as YYYY-MM-DDTHH-MM-SS>_<counter, 4+ digits>_round-<r>_batch-<b>_loss-<l>_val-<v>``
    ``.safetensors``: losses with 4 decimals (``1.2346e+07`` from a million on), NaN as "nan",
    no validation loss as "none". The names of one run sort by counter, and hold no character
    that Linux, macOS or Windows forbids (no ":").

    >>> checkpoint_name(1796196665.0, 3, 2, 100, 0.42131, 0.44078)
    '2026-12-02T07-31-05_0003_round-2_batch-100_loss-0.4213_val-0.4408.safetensors'
    """
    for label, value in (("counter", counter), ("round", round), ("batch", batch)):
        if type(value) is not int or value < 0:
            raise NetTrainError(label, "must be an integer >= 0", received=repr(value))
    if not math.isfinite(start_time) or start_time < 0:
        raise NetTrainError("start_time", "must be a time.time() value", received=repr(start_time))
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(start_time))
    return (
        f"{stamp}_{counter:04d}_round-{round}_batch-{batch}"
        f"_loss-{_number(loss)}_val-{_number(validation_loss)}.safetensors"
    )
