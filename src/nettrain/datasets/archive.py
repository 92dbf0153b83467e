"""Extract tar archives safely: nothing is ever written outside the target folder.

Every member is checked *before* anything is extracted; the archive is refused (and nothing
extracted) if a member has an absolute path, a ``..`` component, or is anything but a regular
file or a folder (symbolic and hard links, devices, FIFOs). The members are then extracted into a
fresh temporary folder inside the target (with ``filter="data"`` where Python has it, 3.11.4+, as
a second guard), and each top-level entry is moved into place with ``os.replace``: an interrupted
extraction leaves only the temporary folder, which is removed, never a half-filled final folder.

Example:
    >>> import io, tarfile, tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     tgz = pathlib.Path(d) / "a.tar.gz"
    ...     with tarfile.open(tgz, "w:gz") as tar:
    ...         info = tarfile.TarInfo("top/hello.txt"); info.size = 2
    ...         tar.addfile(info, io.BytesIO(b"hi"))
    ...     safe_extract(tgz, pathlib.Path(d) / "out")
    ...     (pathlib.Path(d) / "out" / "top" / "hello.txt").read_text()
    ['top']
    'hi'
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from ..errors import NetTrainError

__all__ = ["check_members", "safe_extract"]


def _refuse(archive: Path, member: str, why: str) -> NetTrainError:
    return NetTrainError(
        "data",
        f"archive {archive} has an unsafe member {member!r} ({why}); nothing was extracted",
        hint="the download is not the expected archive: delete it and try another mirror",
    )


def check_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    """Raise :class:`NetTrainError` naming the first unsafe member, if any."""
    for m in members:
        name = m.name
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise _refuse(archive, name, "absolute path")
        if ".." in parts:
            raise _refuse(archive, name, "'..' in its path")
        if m.issym() or m.islnk():
            raise _refuse(archive, name, f"a link to {m.linkname!r}")
        if not (m.isfile() or m.isdir()):
            raise _refuse(archive, name, "a device, FIFO or other special file")


def safe_extract(archive: Path, target: Path) -> list[str]:
    """Extract the tar ``archive`` (any compression tarfile reads) into ``target``.

    Existing top-level entries of the same names in ``target`` are replaced.

    Returns:
        the names of the top-level entries extracted, sorted.

    Raises:
        NetTrainError: naming the archive (and the member), if it cannot be read or a member is
            unsafe; nothing is then left in ``target`` from this archive.
    """
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            check_members(archive, members)
            tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
            try:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4: our own checks above suffice
                    tar.extractall(tmp, members=members)
                tops = sorted(p.name for p in tmp.iterdir())
                for name in tops:
                    final = target / name
                    if final.is_dir() and not final.is_symlink():
                        shutil.rmtree(final)
                    elif final.exists() or final.is_symlink():
                        final.unlink()
                    os.replace(tmp / name, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise NetTrainError(
            "data",
            f"archive {archive} cannot be extracted ({exc})",
            hint="the download is damaged: delete it and download it again",
        ) from None
    return tops
