"""Checkpoint files: writing one crash-safely and reading one that may be damaged.

A checkpoint is one safetensors file: the tensors (CPU, contiguous, dtypes kept) and, in the
header's metadata (``dict[str, str]``), three keys and an optional fourth:

``format``
    :data:`FORMAT` (``"nettrain.checkpoint/1"``).
``meta``
    the caller's ``meta`` as JSON text (a JSON object, nested at most :data:`MAX_DEPTH` deep).
``nettrain`` (optional)
    the description of the net a :class:`nettrain.Net` file holds (see ``Net.save``): with it,
    and the net's weights under their own names (every other tensor's name starting with a dot),
    the checkpoint also loads as a net with ``nettrain.Net.load``.
``sha256``
    64 lowercase hex digits: the SHA-256 of, in this order, each part preceded by its length in
    bytes as 8 bytes little-endian: the format tag (UTF-8); the ``meta`` text exactly as stored
    (UTF-8); the ``nettrain`` text when there is one (UTF-8); then for each tensor in order of
    name (code points) the JSON text
    ``[name, dtype, shape]`` (``json.dumps(..., separators=(",", ":"))``, dtype as torch names it
    without "torch.", e.g. ``["w","float32",[2,3]]``) and the tensor's raw bytes (row-major,
    native little-endian, as safetensors stores them).

The checksum finds damage (a truncated file, flipped bits), not forgery: whoever can write the
file can recompute it. Reading never unpickles and never imports or calls anything a file names.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "run.safetensors"
    >>> _ = write_checkpoint(path, {"w": torch.arange(3)}, {"counter": 1, "round": 2})
    >>> _ = write_checkpoint(path, {"w": torch.arange(4)}, {"counter": 2, "round": 3})
    >>> sorted(p.name for p in path.parent.iterdir())
    ['run.safetensors', 'run.safetensors.prev']
    >>> latest = read_checkpoint(path)
    >>> latest.meta, latest.tensors["w"].tolist()
    ({'counter': 2, 'round': 3}, [0, 1, 2, 3])
    >>> read_checkpoint(previous_path(path)).meta["counter"]
    1
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor

from ..architecture import shown
from ..errors import NetTrainError, dtype_name
from ..netfile.write import _sync_folder

__all__ = [
    "FORMAT",
    "MAX_DEPTH",
    "Checkpoint",
    "Damaged",
    "previous_path",
    "read_checkpoint",
    "write_checkpoint",
]

FORMAT = "nettrain.checkpoint/1"
MAX_DEPTH = 64
_KEYS = ("format", "meta", "sha256")
_NET_KEY = "nettrain"  # optional: the net's description, so the file also loads as a Net
_HEX64 = re.compile(r"[0-9a-f]{64}")
TEMP_PATTERN = re.compile(r"\..+\.[0-9a-f]{12}\.part")
_ARGUMENT = "training_progress_checkpointing"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back: its tensors (CPU), its ``meta`` and the file it came from."""

    tensors: dict[str, Tensor]
    meta: dict[str, Any]
    path: Path


class Damaged(Exception):
    """Why a file is not a valid checkpoint (a phrase: "is truncated ..."); internal."""


def previous_path(path: str | os.PathLike[str]) -> Path:
    """Where the previous generation of the checkpoint ``path`` is kept: ``<name>.prev``."""
    path = Path(path)
    return path.with_name(path.name + ".prev")


# ---- writing -------------------------------------------------------------------------------------


def write_checkpoint(
    path: str | os.PathLike[str],
    tensors: Mapping[str, Tensor],
    meta: Mapping[str, Any],
    *,
    previous: bool = True,
    net_description: str | None = None,
) -> Path:
    """Write a checkpoint to ``path`` so that a crash at any moment leaves a valid one.

    The bytes go to ``.<name>.<12 hex digits>.part`` in the same folder, are flushed and
    ``fsync``-ed, read back and checked against their checksum. Then, with ``previous``, a valid
    existing ``path`` is renamed to ``<name>.prev`` (replacing an older one), the new file is
    renamed to ``path``, and the folder is ``fsync``-ed. Each rename is atomic, so at every moment
    ``path`` or ``<name>.prev`` is a valid checkpoint. (An existing ``path`` that is itself damaged
    is replaced without being kept, so it never pushes out a valid ``.prev``; checking it costs a
    read of the old file.) Without ``previous`` the new file simply replaces ``path``.
    ``net_description`` (``json.dumps(Net.config())``) makes the file load as a net too.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        NetTrainError: argument "training_progress_checkpointing" for any failure (a full disk,
            no permission, tensors or ``meta`` the format cannot hold); the temporary file is
            removed and the message names the previous checkpoint, which is kept intact.
    """
    target = Path(os.fspath(path))
    prev = previous_path(target)
    temp: Path | None = None
    moved = False
    try:
        if target.is_dir():
            raise IsADirectoryError(f"{str(target)!r} is a directory")
        data, digest = _encode(tensors, meta, net_description)
        temp, fd = _create_temp(target)
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        _load(temp, want=digest)  # read back: raises Damaged unless it is what was meant
        if previous and _is_valid(target):
            os.replace(target, prev)
            moved = True
        os.replace(temp, target)
        temp = None
    except BaseException as exc:
        if temp is not None:
            temp.unlink(missing_ok=True)
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt and the like: cleaned up, not reworded
        kept = prev if moved else target if target.is_file() else None
        raise _write_failed(target, kept, exc) from exc
    _sync_folder(target.parent)
    return target


def _write_all(f: IO[bytes], data: bytes) -> None:
    """Write ``data`` to ``f`` in 16 MiB pieces (the place a full disk shows up)."""
    view = memoryview(data)
    for start in range(0, len(view), 1 << 24):
        f.write(view[start : start + (1 << 24)])


def _write_failed(target: Path, kept: Path | None, exc: Exception) -> NetTrainError:
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    elif isinstance(exc, NetTrainError):
        reason = exc.problem
    else:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if kept is not None:
        outcome = f"the previous checkpoint {str(kept)!r} is kept"
    else:
        outcome = "there was no previous checkpoint at that path to keep"
    return NetTrainError(
        _ARGUMENT,
        f"writing the checkpoint {str(target)!r} failed ({reason}); {outcome}",
        hint="check that the folder exists, is writable and that the disk has room",
    )


def _create_temp(target: Path) -> tuple[Path, int]:
    """A new ``.<name>.<12 hex>.part`` file next to ``target``: its path and a descriptor."""
    for _ in range(100):
        temp = target.with_name(f".{target.name[:200]}.{secrets.token_hex(6)}.part")
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError("no free temporary file name")


def _encode(
    tensors: Mapping[str, Tensor], meta: Mapping[str, Any], net_description: str | None = None
) -> tuple[bytes, str]:
    """The file's bytes and their checksum."""
    from safetensors.torch import save

    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a dict, not {type(meta).__name__}")
    _check_json(dict(meta), "meta")
    text = json.dumps(dict(meta))
    prepared = _prepare(tensors)
    digest = _digest(prepared, text, net_description)
    metadata = {"format": FORMAT, "meta": text, "sha256": digest}
    if net_description is not None:
        metadata[_NET_KEY] = net_description
    return save(prepared, metadata=metadata), digest


def _prepare(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The tensors on the CPU, contiguous, each owning its memory (safetensors refuses shared)."""
    prepared: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, Tensor):
            kind = type(tensor).__name__
            raise TypeError(f"tensors must map names to tensors, not {shown(name)} to a {kind}")
        t = tensor.detach().to("cpu").contiguous()
        storage = t.untyped_storage()
        whole = t.storage_offset() == 0 and storage.nbytes() == t.numel() * t.element_size()
        if not whole or storage.data_ptr() in seen:
            t = t.clone()
        if t.untyped_storage().data_ptr():
            seen.add(t.untyped_storage().data_ptr())
        prepared[name] = t
    return prepared


def _chunk(h: Any, data: Any) -> None:
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _digest(tensors: Mapping[str, Tensor], text: str, net_text: str | None = None) -> str:
    """The checksum defined in the module's docstring."""
    h = hashlib.sha256()
    _chunk(h, FORMAT.encode())
    _chunk(h, text.encode())
    if net_text is not None:
        _chunk(h, net_text.encode())
    for name in sorted(tensors):
        t = tensors[name]
        head = [name, dtype_name(t.dtype), list(t.shape)]
        _chunk(h, json.dumps(head, separators=(",", ":")).encode())
        _chunk(h, t.contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _check_json(value: Any, where: str) -> None:
    """Raise ``Damaged`` for JSON nested deeper than :data:`MAX_DEPTH` or with non-str keys."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise Damaged(f"has {where} nested more than {MAX_DEPTH} deep")
            if isinstance(item, dict):
                if not all(isinstance(k, str) for k in item):
                    raise Damaged(f"has {where} with a key that is not a string")
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


# ---- reading -------------------------------------------------------------------------------------


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint in the file ``path``, every part of it checked.

    Raises:
        NetTrainError: argument "resume", naming the file and what is wrong with it: missing, not
            a regular file, not safetensors (a pickle, a truncated file), metadata that is not a
            checkpoint's (a missing or unknown key, an unknown format, a malformed checksum,
            ``meta`` that is not a JSON object or is nested too deep, a ``counter`` that is not an
            integer >= 0) or a checksum that does not match the content.
    """
    name = os.fspath(path)
    try:
        return _load(Path(name))
    except Damaged as exc:
        raise NetTrainError(
            "resume",
            f"the checkpoint {name!r} {exc}",
            hint="resume from another checkpoint (nettrain never runs code from a file)",
        ) from None


def _is_valid(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        _load(path)
    except Damaged:
        return False
    return True


def read_header(path: Path) -> dict[str, Any]:
    """The checked ``meta`` of a checkpoint file, from its header alone (no tensor is read)."""
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise Damaged("does not exist") from None
    except OSError as exc:
        raise Damaged(f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise Damaged("is a directory" if stat.S_ISDIR(info.st_mode) else "is not a regular file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        problem = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise Damaged(
            f"is not a safetensors file, or is truncated ({problem}); it was not written by "
            "write_checkpoint, or was damaged since"
        ) from None
    return _check_metadata(metadata)[0]


def _check_metadata(metadata: Any) -> tuple[dict[str, Any], str, str]:
    """``meta``, its JSON text and the stored checksum, from a file's metadata, all checked."""
    if not isinstance(metadata, dict) or not metadata:
        raise Damaged("has no checkpoint metadata (it is not a checkpoint)")
    if "nettrain" in metadata and "format" not in metadata:
        raise Damaged("is a net file written by Net.save, not a checkpoint")
    for key in _KEYS:
        if not isinstance(metadata.get(key), str):
            raise Damaged(f"has no {key!r} in its metadata")
    for key in metadata:
        if key not in _KEYS and key != _NET_KEY:
            raise Damaged(f"has an unknown key {shown(key, 40)} in its metadata")
    if _NET_KEY in metadata and not isinstance(metadata[_NET_KEY], str):
        raise Damaged(f"has a {_NET_KEY!r} in its metadata that is not text")
    if metadata["format"] != FORMAT:
        raise Damaged(
            f"has an unknown format {shown(metadata['format'], 40)} (expected {FORMAT!r})"
        )
    digest = metadata["sha256"]
    if not _HEX64.fullmatch(digest):
        raise Damaged(f"has a malformed checksum {shown(digest, 40)} (expected 64 hex digits)")
    text = metadata["meta"]
    try:
        meta = json.loads(text)
    except RecursionError:
        raise Damaged(f"has meta nested more than {MAX_DEPTH} deep") from None
    except ValueError:
        raise Damaged("has meta that is not JSON") from None
    if not isinstance(meta, dict):
        raise Damaged(f"has meta that is not a JSON object (received {shown(meta, 40)})")
    _check_json(meta, "meta")
    counter = meta.get("counter", 0)
    if type(counter) is not int or counter < 0:
        raise Damaged(f"has a counter that is not an integer >= 0 (received {shown(counter)})")
    return meta, text, digest


def _load(path: Path, want: str | None = None) -> Checkpoint:
    """The checkpoint in ``path`` (checksum ``want`` when known), or ``Damaged``."""
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    read_header(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
            meta, text, digest = _check_metadata(metadata)
            net_text = metadata.get(_NET_KEY)
            tensors: dict[str, Tensor] = {}
            for key in f.keys():  # noqa: SIM118 - a safetensors handle is not a dict
                tensor = f.get_tensor(key)
                # an aligned copy computes bit for bit as the saved tensor did (see netfile)
                tensors[key] = tensor.clone() if tensor.data_ptr() % 64 else tensor
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise Damaged(f"cannot be read ({type(exc).__name__}); it may be truncated") from None
    if _digest(tensors, text, net_text) != digest or (want is not None and digest != want):
        raise Damaged("has a checksum that does not match its content (damaged on disk, or edited)")
    return Checkpoint(tensors=tensors, meta=meta, path=path)
