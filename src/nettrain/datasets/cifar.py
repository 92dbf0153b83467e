"""Read CIFAR-10 / CIFAR-100 "python version" batches safely.

The batches are pickles, and unpickling an untrusted file can run any code. So:

1. a batch is never unpickled before its md5 matches the registry (:func:`.locate.verify_file`
   runs first, in :func:`read_cifar`), and
2. even then it is unpickled with :class:`RestrictedUnpickler`, which resolves only the globals
   a batch needs (numpy's array reconstruction, ``numpy.ndarray``, ``numpy.dtype``, and the
   latin-1 ``_codecs.encode`` that Python 3 protocol-2 pickles use for bytes) and refuses every
   other one, so a crafted file cannot call ``os.system`` or open files.

The files were written by Python 2 with byte-string keys; they are read with
``encoding="bytes"``, so keys are ``b"data"``, ``b"labels"`` (str keys are accepted too). Batch
``data`` is uint8 ``[n, 3072]``: per row 1,024 red, then 1,024 green, then 1,024 blue values, each
a row-major 32x32 plane; returned as ``[n, 32, 32, 3]``.

Example:
    >>> import io, pickle, numpy as np
    >>> raw = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [3]}, protocol=2)
    >>> sorted(RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load())
    [b'data', b'labels']
"""

from __future__ import annotations

import _codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import NetTrainError
from .locate import verify_file
from .registry import DatasetInfo, FileSpec

__all__ = ["RestrictedUnpickler", "read_cifar", "safe_unpickle"]

# The function numpy's own pickles name, obtained without importing the deprecated numpy.core.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(str, "latin1"); only that
    # harmless use is allowed, not an arbitrary codec.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return bytes(_codecs.encode(text, "latin1"))


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("builtins", "bytes"): bytes,
    ("__builtin__", "bytes"): bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals CIFAR batches need; all others are refused.

    Example:
        >>> import io, os, pickle
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo pwned",))
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        _pickle.UnpicklingError: refusing to load global 'posix.system': CIFAR batches only ...
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global '{module}.{name}': CIFAR batches only need numpy arrays"
            ) from None


def safe_unpickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (``encoding="bytes"``).

    Call only after the file's checksum is verified.

    Raises:
        NetTrainError: naming the file, if it is not a pickle or needs a refused global.
    """
    try:
        with path.open("rb") as f:
            return RestrictedUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise NetTrainError(
            "data",
            f"{path} is not a CIFAR python batch ({exc})",
            hint=f"delete {path} and download the dataset again",
        ) from None


def _get(d: Any, key: str, path: Path) -> Any:
    if isinstance(d, dict):
        for k in (key.encode(), key):
            if k in d:
                return d[k]
    raise NetTrainError(
        "data",
        f"{path} has no {key!r} entry",
        expected="a dict with the CIFAR python batch keys",
        received=f"keys {sorted(map(repr, d))}" if isinstance(d, dict) else type(d).__name__,
        hint=f"delete {path} and download the dataset again",
    )


def _load(folder: Path, spec: FileSpec) -> Any:
    path = folder / spec.path
    verify_file(path, spec)  # the md5 first: never unpickle an unverified file
    return safe_unpickle(path)


def _batch(
    folder: Path, spec: FileSpec, label_key: str, classes: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    path = folder / spec.path
    d = _load(folder, spec)
    data = _get(d, "data", path)
    labels = np.asarray(_get(d, label_key, path), dtype=np.int64)
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
        or labels.shape != (data.shape[0],)
    ):
        raise NetTrainError(
            "data",
            f"{path} does not hold CIFAR images and labels",
            expected=f"uint8 data [n, 3072] and n {label_key}",
            received=f"data {getattr(data, 'dtype', type(data).__name__)} "
            f"{list(getattr(data, 'shape', []))}, {labels.size} labels",
        )
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise NetTrainError(
            "data",
            f"{path} holds labels outside the {classes} classes",
            received=f"{int(labels.min())}..{int(labels.max())}",
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_cifar(
    info: DatasetInfo, folder: Path, split: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], tuple[str, ...]]:
    """Images uint8 ``[n, 32, 32, 3]``, labels int64 ``[n]`` and class names of one split.

    ``info.format`` is ``"cifar-10"`` (labels ``labels``, names ``label_names``) or
    ``"cifar-100"`` (``fine_labels``, ``fine_label_names``). Every file is md5-verified before it
    is unpickled.

    Raises:
        NetTrainError: naming the file, for a checksum mismatch or a malformed batch.
    """
    fine = info.format == "cifar-100"
    (meta_spec,) = info.role("meta")
    meta = _load(folder, meta_spec)
    raw_names = _get(meta, "fine_label_names" if fine else "label_names", folder / meta_spec.path)
    names = tuple(n.decode("latin-1") if isinstance(n, bytes) else str(n) for n in raw_names)
    parts = [
        _batch(folder, s, "fine_labels" if fine else "labels", len(names)) for s in info.role(split)
    ]
    images = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 32, 32, 3), np.uint8)
    labels = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    return images, labels, names
