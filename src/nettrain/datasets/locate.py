"""Where datasets live on disk, finding them, and verifying what is found.

Data roots, searched in this order (each holds one folder per dataset, e.g. ``fashion-mnist/``):

1. the ``data_dir`` argument, when given;
2. ``$NETTRAIN_DATA``, when set;
3. the per-user cache: ``$XDG_CACHE_HOME/nettrain``, else ``~/.cache/nettrain``;
4. the system folders (:data:`SYSTEM_ROOTS`: ``/usr/share/datasets``, where Debian's
   ``dataset-fashion-mnist`` package installs ``fashion-mnist/``).

Environment variables are read at call time, not import time, so changing them (or
``monkeypatch.setenv`` in a test) takes effect at once. ``NETTRAIN_OFFLINE=1`` (also ``true``,
``yes``, ``on``) forbids downloads.

Verification: each found file is checked once per process against its :class:`FileSpec` (md5
of the decompressed content, or the weaker checks stated in the registry); the result is cached
by path, size and modification time, so loading the same dataset again costs nothing and a file
replaced on disk is checked again.

Example:
    >>> import os
    >>> data_roots("/tmp/mine")[0]
    PosixPath('/tmp/mine')
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import NetTrainError
from .idx import md5_of_decompressed, read_idx
from .registry import DatasetInfo, FileSpec

__all__ = [
    "SYSTEM_ROOTS",
    "cache_root",
    "data_roots",
    "file_path",
    "find_dataset",
    "is_offline",
    "missing_error",
    "verify_file",
    "write_root",
]

# Folders where operating-system packages put datasets (Debian: /usr/share/datasets/<name>).
# A module-level list so tests can point it at an empty folder.
SYSTEM_ROOTS: list[Path] = [Path("/usr/share/datasets")]

_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 20

# (path, size, mtime_ns, spec) -> True once verified in this process.
_VERIFIED: dict[tuple[str, int, int, FileSpec], bool] = {}


def is_offline(offline: bool | None = None) -> bool:
    """Whether downloads are forbidden: ``offline`` if given, else ``$NETTRAIN_OFFLINE``.

    Example:
        >>> is_offline(True), is_offline(False)
        (True, False)
    """
    if offline is not None:
        return bool(offline)
    return os.environ.get("NETTRAIN_OFFLINE", "").strip().lower() in _TRUE


def cache_root() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/nettrain``, else ``~/.cache/nettrain``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nettrain"


def data_roots(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The data roots to search, in order (see the module docstring), without duplicates."""
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get("NETTRAIN_DATA")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_root())
    roots.extend(SYSTEM_ROOTS)
    return list(dict.fromkeys(roots))


def write_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where downloads go: ``data_dir``, else ``$NETTRAIN_DATA``, else the cache."""
    return data_roots(data_dir)[0]


def file_path(folder: Path, spec: FileSpec) -> Path | None:
    """The file for ``spec`` in ``folder`` (a ``.gz`` may lie decompressed), or None."""
    for name in spec.alternatives:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def find_dataset(info: DatasetInfo, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The first dataset folder, in search order, holding every file of ``info``; else None.

    A folder with only some of the files is skipped (a half-finished download elsewhere must
    not hide a complete copy in a later root).
    """
    for root in data_roots(data_dir):
        folder = root / info.folder
        if folder.is_dir() and all(file_path(folder, spec) for spec in info.files):
            return folder
    return None


def _md5_raw(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    # A last line without a newline still counts.
    return count + (last != b"\n")


def _corrupt(path: Path, what: str, expected: str, received: str) -> NetTrainError:
    return NetTrainError(
        "data",
        f"{path} is damaged or not the expected file ({what} does not match)",
        expected=expected,
        received=received,
        hint=f"delete {path} and download it again (nettrain.datasets.download, or "
        "`nettrain datasets download NAME`), or replace it with a good copy",
    )


def _check_idx_structure(path: Path, spec: FileSpec) -> None:
    shape = tuple(read_idx(path).shape)  # raises, naming the file, on a bad header or length
    if spec.idx_shape is not None and shape != spec.idx_shape:
        raise _corrupt(path, "IDX shape", str(list(spec.idx_shape)), str(list(shape)))


def verify_file(path: Path, spec: FileSpec) -> None:
    """Check ``path`` against ``spec`` once per process (results cached by path, size, mtime).

    Checks: the md5 of the decompressed content (``spec.md5``); else, when ``spec.packed_md5``
    is set, the md5 of the file as published, or failing that the IDX header, exact length and
    shape (``spec.idx_shape``); and the exact line count (``spec.lines``).

    Raises:
        NetTrainError: naming the file, what did not match, and what to do.

    Example:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d) / "a.txt"
        ...     _ = p.write_bytes(b"x\\ny\\n")
        ...     verify_file(p, FileSpec("a.txt", "pos", lines=2))
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, spec)
    if _VERIFIED.get(key):
        return
    if spec.md5 is not None:
        got = md5_of_decompressed(path)
        if got != spec.md5:
            raise _corrupt(path, "md5 of the decompressed content", spec.md5, got)
    elif spec.packed_md5 is not None and _md5_raw(path) != spec.packed_md5:
        # The decompressed md5 is unknown (MNIST): the published file is verified by its own
        # md5; any other copy (decompressed or recompressed) only by its IDX header and exact
        # length, a weaker check stated in the registry.
        _check_idx_structure(path, spec)
    if spec.lines is not None:
        lines = _count_lines(path)
        if lines != spec.lines:
            raise _corrupt(path, "line count", f"{spec.lines:,} lines", f"{lines:,}")
    _VERIFIED[key] = True


def clear_verified() -> None:
    """Forget which files were verified (the next load checks them again)."""
    _VERIFIED.clear()


def missing_error(
    info: DatasetInfo,
    data_dir: str | os.PathLike[str] | None,
    *,
    reason: str = "downloads are off (offline mode)",
) -> NetTrainError:
    """The error for a dataset not found on disk: every place looked in and what each lacks,
    where to put the files, and where they can be downloaded from."""
    names = [s.path for s in info.files]
    lines: list[str] = []
    for root in data_roots(data_dir):
        folder = root / info.folder
        missing = [s.path for s in info.files if file_path(folder, s) is None]
        lacks = "none of the files" if len(missing) == len(names) else "no " + ", ".join(missing)
        lines.append(f"{folder} ({lacks})")
    # one URL per download from the first mirror; the other mirrors as folders
    urls = [f"{info.mirrors[0]}/{d.name}" for d in info.downloads] if info.mirrors else []
    target = write_root(data_dir) / info.folder
    how = (
        f"put {', '.join(names)} in {target} (or point NETTRAIN_DATA at a folder holding "
        f"'{info.folder}/'), or allow downloads (unset NETTRAIN_OFFLINE, or offline=False) and "
        f"run `nettrain datasets download {info.name}`; the files come from "
        + (", ".join(urls) if urls else "no known mirror")
        + (f" (other mirrors: {', '.join(info.mirrors[1:])})" if len(info.mirrors) > 1 else "")
        + (" (archives are extracted in place)" if any(d.extract for d in info.downloads) else "")
    )
    return NetTrainError(
        "name",
        f"dataset {info.name!r} is not on this machine and {reason}",
        expected="its files in one of: " + "; ".join(lines),
        received="none of those folders complete",
        hint=how,
    )
