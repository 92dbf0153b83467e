"""Download dataset files from a list of mirrors: streamed, verified, moved into place atomically.

For each file, the mirrors are tried in turn (``mirror + "/" + name``) until one gives a good
copy. A transfer streams into a temporary file in the target folder (``.NAME.XXXX.part``) while
its md5 and sha256 are computed; it is good only if its length equals the Content-Length the
server announced and the registry's size, and its checksums match the registry. Only then is it
renamed to its final name with ``os.replace`` (atomic on one file system), so an interrupted,
truncated or corrupt transfer never leaves anything under the final name; the temporary file is
removed on any failure, including Ctrl-C.

Only ``http://`` and ``https://`` URLs are used (urllib, no other dependency).

Progress: when ``progress`` is true *and* stderr is a terminal, a tqdm bar on stderr shows the
file, bytes, rate and time left; nothing is printed otherwise, so logs and CI output stay clean
(no carriage-return spam in a captured log).

Example:
    >>> mirror_urls(["http://127.0.0.1:1/a/", "http://127.0.0.1:1/b"], "f.gz")
    ['http://127.0.0.1:1/a/f.gz', 'http://127.0.0.1:1/b/f.gz']
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, NoReturn

from tqdm import tqdm

from ..errors import NetTrainError
from .registry import Download

__all__ = ["fetch", "mirror_urls"]

_CHUNK = 1 << 16
_TIMEOUT = 60.0


def mirror_urls(mirrors: Sequence[str], name: str) -> list[str]:
    """The URL of ``name`` on each mirror, in order."""
    return [m.rstrip("/") + "/" + name for m in mirrors]


def _progress_bar(name: str, total: int | None, enabled: bool) -> tqdm[NoReturn]:
    """A byte-counting progress bar on stderr, shown only on a terminal."""
    return tqdm(
        total=total,
        desc=f"nettrain: {name}",
        unit="B",
        unit_scale=True,
        file=sys.stderr,
        disable=not (enabled and sys.stderr.isatty()),
        leave=True,
    )


class _BadTransfer(Exception):
    """One mirror's copy was unusable (the reason is the message)."""


def _stream(response: BinaryIO, out: BinaryIO, progress: tqdm[NoReturn]) -> tuple[int, str, str]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    done = 0
    try:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            md5.update(chunk)
            sha.update(chunk)
            done += len(chunk)
            progress.update(len(chunk))
    except http.client.IncompleteRead as exc:
        raise _BadTransfer(
            f"the transfer was cut short after {done + len(exc.partial):,} bytes"
        ) from None
    return done, md5.hexdigest(), sha.hexdigest()


def _fetch_one(
    url: str, dest: Path, spec: Download, progress: bool, check: Callable[[Path], None] | None
) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise _BadTransfer("only http:// and https:// URLs are used")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "nettrain"})
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                length = response.headers.get("Content-Length")
                announced = int(length) if length and length.isdigit() else None
                with _progress_bar(dest.name, spec.size or announced, progress) as bar:
                    size, md5, sha = _stream(response, out, bar)
        if announced is not None and size != announced:
            raise _BadTransfer(
                f"the transfer was cut short: {size:,} of {announced:,} bytes arrived"
            )
        if spec.size is not None and size != spec.size:
            raise _BadTransfer(f"its size is {size:,} bytes, expected {spec.size:,}")
        if spec.md5 is not None and md5 != spec.md5:
            raise _BadTransfer(f"its md5 is {md5}, expected {spec.md5}")
        if spec.sha256 is not None and sha != spec.sha256:
            raise _BadTransfer(f"its sha256 is {sha}, expected {spec.sha256}")
        if check is not None:
            try:
                check(tmp)
            except NetTrainError as exc:
                # The check names the temporary file; say the final name instead.
                problem = exc.problem.replace(str(tmp), dest.name)
                raise _BadTransfer(
                    f"{problem}: expected {exc.expected}, received {exc.received}"
                ) from None
        os.replace(tmp, dest)
    finally:
        # Whatever happened (an error, Ctrl-C), no partial file stays behind.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def fetch(
    urls: Sequence[str],
    dest: Path,
    spec: Download,
    *,
    progress: bool = True,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Download ``spec`` to ``dest`` from the first of ``urls`` that gives a good copy.

    Args:
        urls: the file's URL on each mirror, tried in order.
        dest: the final path; its folder is created if needed.
        spec: the expected size and checksums (None ones are not checked).
        progress: print progress lines to stderr when it is a terminal.
        check: a further test of the downloaded temporary file before it is moved into place
            (e.g. the md5 of the decompressed content); it raises NetTrainError to reject it.

    Returns:
        ``dest``, holding a verified copy.

    Raises:
        NetTrainError: naming the file and what went wrong with each mirror, if none worked.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in urls:
        try:
            _fetch_one(url, dest, spec, progress, check)
            return dest
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {exc.reason}")
        except _BadTransfer as exc:
            failures.append(f"{url}: {exc}")
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    raise NetTrainError(
        "download",
        f"could not download {spec.name} from any mirror: " + "; ".join(failures or ["no mirror"]),
        expected=f"a complete copy of {spec.name}"
        + (f" ({spec.size:,} bytes)" if spec.size else "")
        + (f" with md5 {spec.md5}" if spec.md5 else "")
        + (f" and sha256 {spec.sha256}" if spec.sha256 else ""),
        hint=f"check the network and try again, or download {spec.name} by hand and put it in "
        f"{dest.parent}",
    )
