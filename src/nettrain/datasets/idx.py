"""Read IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not.

An IDX file is a 4-byte magic number ``0x00 0x00 TT DD`` (TT the element type, DD the number of
dimensions), then DD big-endian uint32 sizes, then the elements in C order, big-endian. The
readers here check every part of that against the file and raise :class:`NetTrainError` naming
the file when something is off (a bad magic number, a short or over-long file, a broken gzip
stream), so a half-finished download never turns into a silently wrong array.

Whether a file is compressed is decided by its first two bytes (the gzip magic ``1f 8b``), not by
its name: Debian, for instance, ships the same names with different compression.

Example:
    >>> import struct
    >>> raw = struct.pack(">BBBBII", 0, 0, 0x08, 2, 2, 3) + bytes(range(6))
    >>> parse_idx(raw)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import NetTrainError

__all__ = [
    "FASHION_MNIST_FILES",
    "IDX_TYPES",
    "load_fashion_mnist",
    "md5_of_decompressed",
    "parse_idx",
    "read_idx",
]

PathLike = str | os.PathLike[str]

# type code -> big-endian numpy dtype, as defined by the format (LeCun's MNIST page).
IDX_TYPES: Mapping[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

# The four files of Fashion-MNIST, and the md5 of each one's *decompressed* bytes. Checksums of
# the .gz archives are useless here: Debian's dataset-fashion-mnist recompresses them, so only the
# IDX content is the same everywhere (see shared/datasets/README.md).
FASHION_MNIST_FILES: Mapping[str, str] = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}
_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_TYPE_NAMES = {
    0x08: "ubyte",
    0x09: "byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}


def _error(
    name: str,
    problem: str,
    *,
    argument: str = "path",
    expected: str | None = None,
    received: str | None = None,
    hint: str | None = None,
) -> NetTrainError:
    # The file's name opens the sentence, so every message says which file is at fault.
    return NetTrainError(
        argument, f"{name} {problem}", expected=expected, received=received, hint=hint
    )


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open(path: Path) -> io.BufferedIOBase:
    """Open ``path`` for reading its decompressed bytes; errors name the file."""
    try:
        if _is_gzip(path):
            return gzip.GzipFile(path, "rb")
        return path.open("rb")
    except FileNotFoundError:
        raise _error(str(path), "does not exist", hint="check the path") from None
    except OSError as exc:
        raise _error(str(path), f"cannot be read ({exc.strerror or exc})") from None


def _read_exactly(f: io.BufferedIOBase, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``f``; return how many bytes arrived (fewer only at end of file)."""
    filled = 0
    while filled < len(buffer):
        n = f.readinto(buffer[filled:])
        if not n:
            break
        filled += n
    return filled


def _header(head: bytes, name: str, argument: str) -> tuple[np.dtype[Any], int]:
    """Decode the 4-byte magic number; return the element dtype and the number of dims."""
    zero, type_code, ndim = head[:2], head[2], head[3]
    if zero != b"\x00\x00" or type_code not in IDX_TYPES:
        raise _error(
            name,
            "is not an IDX file (bad magic number)",
            argument=argument,
            expected="0x0000TTDD: two zero bytes, a type code TT in "
            + ", ".join(f"0x{c:02X} ({n})" for c, n in _TYPE_NAMES.items())
            + ", then the number of dimensions DD",
            received=f"0x{head.hex().upper()}",
            hint="the file may be an HTML error page or a different format; download it again",
        )
    return IDX_TYPES[type_code], ndim


def _length_error(
    name: str, argument: str, expected: str, actual: int, wanted: int, at_least: bool = False
) -> NetTrainError:
    if actual < wanted:
        return _error(
            name,
            "is truncated: its data is shorter than its header says",
            argument=argument,
            expected=expected,
            received=f"{actual:,} bytes",
            hint="the download was probably interrupted; download it again",
        )
    return _error(
        name,
        "is longer than its header says (trailing bytes)",
        argument=argument,
        expected=expected,
        received=f"{'at least ' if at_least else ''}{actual:,} bytes",
        hint="the file is damaged or is not the file its name says; download it again",
    )


def _read_stream(
    f: io.BufferedIOBase, name: str, argument: str = "path", size: int | None = None
) -> npt.NDArray[Any]:
    """Read one IDX array from ``f``; ``size`` is the stream's total length when known."""
    head = f.read(4)
    if len(head) < 4:
        raise _error(
            name,
            "is too short to be an IDX file",
            argument=argument,
            expected="at least a 4-byte magic number",
            received=f"{len(head)} byte(s)",
            hint="the download was probably interrupted; download it again",
        )
    dtype, ndim = _header(head, name, argument)
    dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise _error(
            name,
            "is truncated inside its header",
            argument=argument,
            expected=f"{4 + 4 * ndim} header bytes for {ndim} dimension(s)",
            received=f"{4 + len(dims_raw)} bytes in all",
            hint="the download was probably interrupted; download it again",
        )
    dims = struct.unpack(f">{ndim}I", dims_raw)
    header_bytes = 4 + 4 * ndim
    data_bytes = math.prod(dims) * dtype.itemsize
    expected = (
        f"{header_bytes + data_bytes:,} bytes (a header of {header_bytes} bytes, then "
        f"{' x '.join(map(str, dims)) or '1'} {_TYPE_NAMES[head[2]]} elements)"
    )
    if size is not None and size != header_bytes + data_bytes:
        # The size is known (an uncompressed file): judge it before allocating anything, so a
        # damaged header that claims gigabytes fails with a message, not a MemoryError.
        raise _length_error(name, argument, expected, size, header_bytes + data_bytes)
    try:
        # Read straight into the array's memory: no second copy of a 47 MB image file.
        out = np.empty(data_bytes, dtype=np.uint8)
    except (MemoryError, ValueError):
        raise _error(
            name,
            "has a header that claims more data than fits in memory",
            argument=argument,
            expected=expected,
            hint="the header is probably damaged; download the file again",
        ) from None
    got = _read_exactly(f, out.data)
    if got < data_bytes:
        raise _length_error(name, argument, expected, header_bytes + got, header_bytes + data_bytes)
    extra = len(f.read(_CHUNK))
    if extra:
        raise _length_error(
            name,
            argument,
            expected,
            header_bytes + data_bytes + extra,
            header_bytes + data_bytes,
            at_least=extra == _CHUNK,
        )
    array = out.view(dtype).reshape(dims)
    # Native byte order so that torch.from_numpy and arithmetic work without surprises; for
    # ubyte data the view above is already native and this costs nothing.
    return array.astype(dtype.newbyteorder("="), copy=False)


def _decompression_error(name: str, exc: Exception) -> NetTrainError:
    return _error(
        name,
        f"has a broken gzip stream ({exc})",
        expected="a complete gzip file",
        hint="the download was probably interrupted; download it again",
    )


def parse_idx(data: bytes, *, name: str = "the input") -> npt.NDArray[Any]:
    """Parse the bytes of an uncompressed IDX file.

    Args:
        data: the whole file's bytes (header and elements).
        name: what to call the data in error messages.

    Returns:
        a writable array in native byte order, of the dtype and shape the header gives
        (uint8 for MNIST images ``[n, 28, 28]`` and labels ``[n]``).

    Raises:
        NetTrainError: for a bad magic number, or data shorter or longer than the header says.

    Example:
        >>> import struct
        >>> parse_idx(struct.pack(">BBBBI", 0, 0, 0x0C, 1, 2) + struct.pack(">2i", -1, 7))
        array([-1,  7], dtype=int32)
    """
    return _read_stream(io.BytesIO(data), name, argument="data", size=len(data))


def read_idx(path: PathLike) -> npt.NDArray[Any]:
    """Read an IDX file, gzip-compressed or not (told apart by the gzip magic bytes).

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz`` or its decompressed form.

    Returns:
        a writable numpy array in native byte order with the header's shape and element type.

    Raises:
        NetTrainError: naming the file, if it is missing, is not IDX (bad magic number), is
            shorter or longer than its header says, or its gzip stream is broken.

    Example:
        >>> import gzip, struct, tempfile, pathlib
        >>> labels = struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + bytes([7, 2, 1])
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = pathlib.Path(d) / "labels-idx1-ubyte.gz"
        ...     _ = path.write_bytes(gzip.compress(labels))
        ...     read_idx(path)
        array([7, 2, 1], dtype=uint8)
    """
    file = Path(path)
    with _open(file) as f:
        size = None if isinstance(f, gzip.GzipFile) else file.stat().st_size
        try:
            return _read_stream(f, str(file), size=size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise _decompression_error(str(file), exc) from None


def md5_of_decompressed(path: PathLike) -> str:
    """The md5 hex digest of a file's decompressed bytes (of the file itself if not gzip).

    Verifying the decompressed content accepts any recompression of the same data (Debian's
    copies of Fashion-MNIST differ from the upstream .gz files in their gzip headers only).

    Raises:
        NetTrainError: naming the file, if it is missing or its gzip stream is broken.

    Example:
        >>> import gzip, tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = pathlib.Path(d) / "x.gz"
        ...     _ = path.write_bytes(gzip.compress(b"abc"))
        ...     md5_of_decompressed(path)
        '900150983cd24fb0d6963f7d28e17f72'
    """
    file = Path(path)
    digest = hashlib.md5(usedforsecurity=False)
    with _open(file) as f:
        try:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise _decompression_error(str(file), exc) from None
    return digest.hexdigest()


def _find(directory: Path, name: str) -> Path | None:
    # The standard names end in .gz, but a decompressed copy under the bare name works as well.
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_fashion_mnist(
    directory: PathLike,
) -> dict[str, tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]]:
    """Load Fashion-MNIST (or MNIST, same file names) from its four IDX files in ``directory``.

    The files are ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``; each may also be present
    decompressed, without the ``.gz``. The content is not checksummed here (that costs a second
    or so); use :func:`md5_of_decompressed` with :data:`FASHION_MNIST_FILES` for that.

    Args:
        directory: the folder holding the files.

    Returns:
        ``{"train": (images, labels), "test": (images, labels)}``: images uint8 ``[n, 28, 28]``
        (60,000 train, 10,000 test for the real data), labels uint8 ``[n]`` in 0..9.

    Raises:
        NetTrainError: listing every missing file and the folder searched; or, for a damaged
            file, naming it and what is wrong (including images and labels of different counts).

    Example:
        >>> load_fashion_mnist("/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nettrain.errors.NetTrainError: directory: Fashion-MNIST files are missing: ...
    """
    folder = Path(directory)
    found = {name: _find(folder, name) for name in FASHION_MNIST_FILES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise NetTrainError(
            "directory",
            "Fashion-MNIST files are missing: " + ", ".join(missing),
            expected=f"the four IDX files (gzip-compressed or not) in {folder.resolve()}",
            received=f"{len(FASHION_MNIST_FILES) - len(missing)} of them",
            hint="download them from github.com/zalandoresearch/fashion-mnist, or install "
            "Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist)",
        )
    result: dict[str, tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]] = {}
    for split, (image_name, label_name) in _SPLITS.items():
        image_path, label_path = found[image_name], found[label_name]
        assert image_path is not None and label_path is not None
        images, labels = read_idx(image_path), read_idx(label_path)
        _check_pair(images, labels, image_path, label_path)
        result[split] = (images, labels)
    return result


def _check_pair(
    images: npt.NDArray[Any], labels: npt.NDArray[Any], image_path: Path, label_path: Path
) -> None:
    """Images uint8 [n, 28, 28] and labels uint8 [n] in 0..9, with the same n."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise _error(
            str(image_path),
            "does not hold 28x28 ubyte images",
            expected="a ubyte IDX array of shape [n, 28, 28]",
            received=f"{images.dtype} of shape {list(images.shape)}",
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise _error(
            str(label_path),
            "does not hold ubyte labels",
            expected="a ubyte IDX array of shape [n]",
            received=f"{labels.dtype} of shape {list(labels.shape)}",
        )
    if len(images) != len(labels):
        raise _error(
            str(label_path),
            f"has a different count from {image_path.name}",
            expected=f"{len(images):,} labels, one per image",
            received=f"{len(labels):,}",
        )
    if labels.size and int(labels.max()) > 9:
        raise _error(
            str(label_path),
            "holds labels outside the 10 classes",
            expected="labels 0..9",
            received=f"a label {int(labels.max())}",
        )
