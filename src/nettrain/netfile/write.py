"""Writing a net file atomically: a temporary file next to the target, flushed, then renamed.

The temporary file is ``.NAME.nettrain-tmp-`` and 12 hex digits, so a save that was killed leaves
a file that is recognisably ours, and the next save of the same target removes it once it is
older than :data:`STALE_TEMP_SECONDS`.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..errors import NetTrainError
from .read import file_name

__all__ = ["STALE_TEMP_SECONDS", "write"]

# A temporary file of a save this old was left by a process that died mid-save (a save that is
# still writing touches its file all the time), so the next save of the same target removes it.
STALE_TEMP_SECONDS = 3600.0
_TEMP_MARK = ".nettrain-tmp-"
_TEMP_RANDOM = re.compile(r"[0-9a-f]{12}")


def _encode(tensors: Mapping[str, Tensor], metadata: dict[str, str]) -> bytes:
    """The file's bytes in the safetensors format, made by the safetensors library itself.

    Its ``save`` (to bytes) is used rather than ``save_file``, so that the bytes go to a
    temporary file of our own naming, which a killed save leaves recognisably ours.
    """
    from safetensors.torch import save

    try:
        return save(dict(tensors), metadata=metadata)
    except (ValueError, TypeError) as exc:  # a dtype the format cannot hold, most often
        raise NetTrainError(
            "net",
            f"its tensors cannot be saved as safetensors ({str(exc).splitlines()[0]})",
            expected="tensors of standard dtypes (float, int, bool)",
            hint="convert the module first, e.g. module.float()",
        ) from exc


def write(
    path: str | os.PathLike[str], tensors: Mapping[str, Tensor], metadata: dict[str, str]
) -> Path:
    """Write ``tensors`` (CPU, contiguous) and ``metadata`` to ``path`` as safetensors, atomically.

    The bytes go to ``.NAME.nettrain-tmp-XXXXXXXXXXXX`` next to the target, are flushed to disk,
    and the file is renamed over ``path``: readers see the old file or the new one, never half of
    one. Stale temporary files of the same target (older than :data:`STALE_TEMP_SECONDS`) are
    removed first.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        NetTrainError: argument "path" for a directory, a missing folder, a folder that cannot be
            written or a failed write (naming the user's path, never the temporary one); argument
            "net" for a tensor dtype the format cannot hold.
    """
    target = _save_target(path)
    data = _encode(tensors, metadata)
    _remove_stale_temps(target)
    temp, fd = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise
    _sync_folder(target.parent)
    return target


def _save_target(path: Any) -> Path:
    """The file :meth:`Net.save` writes, checked: not a directory, in a folder that exists."""
    target = Path(file_name(path))
    if target.is_dir():
        raise NetTrainError(
            "path",
            "is a directory; Net.save writes a file",
            expected="the path of a file, e.g. " + repr(str(target / "net.safetensors")),
            received=repr(str(path)),
            hint="add a file name to the path",
        )
    folder = target.parent
    if not folder.is_dir():
        existing = next((p for p in folder.parents if p.exists()), Path("."))
        if folder.exists() or not existing.is_dir():
            blocker = folder if folder.exists() else existing
            problem = f"{str(blocker)!r} is a file, not a folder, so nothing can be saved in it"
            hint = "choose a path inside a folder"
        else:
            problem = f"the folder {str(folder)!r} does not exist"
            hint = f"create it first: os.makedirs({str(folder)!r}, exist_ok=True)"
        raise NetTrainError(
            "path",
            problem,
            expected="a file path in an existing folder",
            received=repr(str(path)),
            hint=hint,
        )
    return target


def _temp_prefix(target: Path) -> str:
    # the name is cut so that prefix + random part stays within the usual 255-byte name limit
    return f".{target.name[:200]}{_TEMP_MARK}"


def _remove_stale_temps(target: Path) -> None:
    """Remove this target's temporary files older than :data:`STALE_TEMP_SECONDS`.

    Only regular files named exactly as :func:`_create_temp` names them for this target are
    touched; problems (a file another save removed first, no permission) are ignored, as the
    save itself reports what matters.
    """
    prefix = _temp_prefix(target)
    now = time.time()
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and _TEMP_RANDOM.fullmatch(name[len(prefix) :])):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_TEMP_SECONDS:
                os.unlink(entry.path)
        except OSError:
            continue


def _create_temp(target: Path) -> tuple[Path, int]:
    """A new temporary file next to ``target`` (its path and an open descriptor)."""
    for _ in range(100):
        temp = target.with_name(_temp_prefix(target) + secrets.token_hex(6))
        try:
            # 0o666 less the umask: the saved file gets the permissions of any new file
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _write_error(target, exc) from exc
    raise _write_error(target, FileExistsError("no free temporary file name"))


def _write_error(target: Path, exc: OSError) -> NetTrainError:
    """What to tell the user when writing ``target`` failed (never the temporary file's name)."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return NetTrainError(
            "path",
            f"cannot write in the folder {str(target.parent)!r} ({reason})",
            expected="a file path in a folder you may write in",
            received=repr(str(target)),
            hint="choose a writable folder, or change the folder's permissions",
        )
    return NetTrainError(
        "path",
        f"writing the net failed ({reason}); the earlier file, if any, is unchanged",
        received=repr(str(target)),
        hint="check that the disk has room and try again",
    )


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entry for the renamed file to disk (best effort: not every system or
    file system can open a folder for this)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
