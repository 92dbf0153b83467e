"""The public face of named datasets: :func:`load`, :func:`download`, :func:`list_datasets`.

``load(name, split)`` finds the dataset on disk (``data_dir``, ``$NETTRAIN_DATA``, the per-user
cache, the system folders: see :mod:`.locate`), verifies its files once per process, downloads it
first if it is missing and downloads are allowed, and returns a :class:`DatasetSplit`. Where a
name is taken, a :class:`DatasetInfo` may be passed instead: tests and users with their own copy
of a dataset format describe it with one (``dataclasses.replace`` of a built-in entry).

Example:
    >>> d = load("Digits", "test")
    >>> d.name, d.kind, len(d.labels), d.inputs.shape[1:], d.class_names[:3]
    ('Digits', 'image', 359, (8, 8), ('0', '1', '2'))
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import NetTrainError
from . import locate
from .archive import safe_extract
from .cifar import read_cifar
from .digits import split_digits
from .fetch import fetch, mirror_urls
from .idx import read_idx
from .locate import file_path, find_dataset, is_offline, missing_error, verify_file
from .movie_review import read_movie_review
from .registry import DatasetInfo, FileSpec, all_infos, get_info

__all__ = ["DatasetSplit", "download", "list_datasets", "load"]

PathArg = str | os.PathLike[str]
SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSplit:
    """One split of a named dataset.

    Attributes:
        name: the canonical name, e.g. ``"FashionMNIST"``.
        split: ``"train"`` or ``"test"``.
        inputs: images as uint8 ``[n, H, W]`` (grey) or ``[n, H, W, 3]`` (colour); for
            MovieReview a list of n strings.
        labels: int64 ``[n]``, class indices into ``class_names``.
        class_names: the name of each class.
        kind: ``"image"`` or ``"text"``.
    """

    name: str
    split: str
    inputs: npt.NDArray[np.uint8] | list[str]
    labels: npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    kind: str

    def __len__(self) -> int:
        return len(self.labels)


def _embedded_folder() -> Path:
    return Path(str(resources.files(__package__).joinpath("data")))


def _verify_all(info: DatasetInfo, folder: Path) -> None:
    for spec in info.files:
        path = file_path(folder, spec)
        if path is None:
            raise missing_error(info, None, reason=f"{folder / spec.path} is missing")
        verify_file(path, spec)


def _read_idx_checked(path: Path, spec: FileSpec) -> npt.NDArray[np.uint8]:
    array = read_idx(path)
    if array.dtype != np.uint8 or (spec.idx_shape is not None and array.shape != spec.idx_shape):
        raise NetTrainError(
            "data",
            f"{path} does not hold what {spec.path} should",
            expected=f"uint8 of shape {list(spec.idx_shape or ['n', '...'])}",
            received=f"{array.dtype} of shape {list(array.shape)}",
            hint=f"delete {path} and download the dataset again",
        )
    return array


def _read_idx_split(
    info: DatasetInfo, folder: Path, split: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    (image_spec,) = info.role(f"{split}-images")
    (label_spec,) = info.role(f"{split}-labels")
    out = []
    for spec in (image_spec, label_spec):
        path = file_path(folder, spec)
        assert path is not None  # find_dataset checked that every file is there
        verify_file(path, spec)
        out.append((path, _read_idx_checked(path, spec)))
    (image_path, images), (label_path, labels) = out
    classes = len(info.class_names or ())
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise NetTrainError(
            "data",
            f"{image_path} and {label_path} do not match",
            expected="images [n, H, W] and n labels",
            received=f"images {list(images.shape)}, labels {list(labels.shape)}",
        )
    if labels.size and int(labels.max()) >= classes:
        raise NetTrainError(
            "data",
            f"{label_path} holds labels outside the {classes} classes",
            received=f"a label {int(labels.max())}",
            hint=f"delete {label_path} and download the dataset again",
        )
    return images, labels.astype(np.int64)


def _download(
    info: DatasetInfo,
    data_dir: PathArg | None,
    mirrors: list[str] | None,
    progress: bool,
    offline: bool | None,
) -> Path:
    if info.embedded:
        return _embedded_folder()
    found = find_dataset(info, data_dir)
    if found is not None:
        _verify_all(info, found)
        return found
    if is_offline(offline):
        raise missing_error(info, data_dir)
    folder = locate.write_root(data_dir) / info.folder
    folder.mkdir(parents=True, exist_ok=True)
    specs = {s.path: s for s in info.files}
    for item in info.downloads:
        urls = mirror_urls(mirrors if mirrors is not None else info.mirrors, item.name)
        dest = folder / item.name
        spec = specs.get(item.name)
        if spec is not None and not item.extract:
            existing = file_path(folder, spec)
            if existing is not None:
                try:
                    verify_file(existing, spec)
                    continue  # already here and good (e.g. an earlier, interrupted run)
                except NetTrainError:
                    pass  # damaged: download it again, replacing it atomically

            def check(tmp: Path, spec: FileSpec = spec) -> None:
                verify_file(tmp, spec)

            fetch(urls, dest, item, progress=progress, check=check)
        else:
            fetch(urls, dest, item, progress=progress)
        if item.extract:
            try:
                safe_extract(dest, folder)
            finally:
                dest.unlink(missing_ok=True)  # the archive is not needed once extracted
    _verify_all(info, folder)
    return folder


def download(
    name: str | DatasetInfo,
    *,
    data_dir: PathArg | None = None,
    mirrors: list[str] | None = None,
    progress: bool = True,
) -> Path:
    """Make sure dataset ``name`` is on disk and verified; download it if it is not.

    A verified copy already in any data root (see :mod:`.locate`) is used as it is. Otherwise the
    files are downloaded into ``data_dir``, else ``$NETTRAIN_DATA``, else the per-user cache,
    in a folder named after the dataset (``fashion-mnist/``), archives extracted there.

    Args:
        name: a dataset name (any spelling :func:`canonical_name` accepts), or a
            :class:`DatasetInfo`: tests and users with their own copy of a dataset format can
            pass a DatasetInfo (its files, checksums and mirrors are used as given).
        data_dir: the data root to search first and to download into.
        mirrors: base URLs to use instead of the registry's, tried in order.
        progress: print progress lines to stderr when it is a terminal.

    Returns:
        the dataset's folder (for the embedded Digits, the package's data folder).

    Raises:
        NetTrainError: for an unknown name; when downloads are off (``NETTRAIN_OFFLINE=1``) and
            the data are missing (naming the files, the places looked in, the mirrors); when no
            mirror gives a good copy; for a found file that fails verification (naming it).

    Example:
        >>> download("digits").name
        'data'
        >>> download(get_info("Digits")).name
        'data'
    """
    return _download(get_info(name), data_dir, mirrors, progress, None)


def load(
    name: str | DatasetInfo,
    split: str = "train",
    *,
    offline: bool | None = None,
    data_dir: PathArg | None = None,
    progress: bool = True,
) -> DatasetSplit:
    """Load one split of a named dataset.

    Args:
        name: ``"MNIST"``, ``"FashionMNIST"``, ``"CIFAR-10"``, ``"CIFAR-100"``,
            ``"MovieReview"`` or ``"Digits"`` (case, dashes and spaces do not matter), or a
            :class:`DatasetInfo`: tests and users with their own copy of a dataset format can
            pass a DatasetInfo, e.g. ``replace(get_info("MNIST"), name="TinyMNIST",
            folder="tiny-mnist", files=...)`` with the checksums of their files; it is read
            with the reader of its ``format`` and verified against its own ``files``.
        split: ``"train"`` or ``"test"``.
        offline: True forbids downloads, False allows them; None (the default) reads
            ``$NETTRAIN_OFFLINE``.
        data_dir: a data root searched before ``$NETTRAIN_DATA``, the cache and the system
            folders, and the one downloads go to.
        progress: print download progress to stderr when it is a terminal.

    Returns:
        a :class:`DatasetSplit`. Files are verified the first time they are used in a process
        (checksums of the decompressed content; see the registry); later loads skip that.

    Raises:
        NetTrainError: for an unknown name or split; for missing data when downloads are off
            (the message names the missing files, every folder looked in, the mirrors and how
            to get the files); for a damaged file (naming it and what to do).

    Example:
        >>> train = load("digits")
        >>> len(train), train.inputs.dtype, train.class_names[9]
        (1438, dtype('uint8'), '9')
        >>> from dataclasses import replace
        >>> mine = replace(get_info("Digits"), name="MyDigits")
        >>> test = load(mine, "test")
        >>> test.name, len(test)
        ('MyDigits', 359)
    """
    info = get_info(name)
    if split not in SPLITS:
        raise NetTrainError(
            "split", "must be 'train' or 'test'", received=repr(split), hint="use 'train' or 'test'"
        )
    if info.embedded:
        images, labels = split_digits(split)
        return DatasetSplit(info.name, split, images, labels, info.class_names or (), info.kind)
    folder = find_dataset(info, data_dir)
    if folder is None:
        folder = _download(info, data_dir, None, progress, offline)
    inputs: npt.NDArray[np.uint8] | list[str]
    if info.format == "idx":
        inputs, labels = _read_idx_split(info, folder, split)
        names = info.class_names or ()
    elif info.format in ("cifar-10", "cifar-100"):
        inputs, labels, names = read_cifar(info, folder, split)
    elif info.format == "rt-polarity":
        inputs, labels = read_movie_review(info, folder, split)
        names = info.class_names or ()
    else:  # pragma: no cover - a registry entry with a format nobody reads
        raise NetTrainError("name", f"no reader for format {info.format!r} of {info.name}")
    return DatasetSplit(info.name, split, inputs, labels, names, info.kind)


def list_datasets(
    data_dir: PathArg | None = None, infos: Iterable[DatasetInfo] | None = None
) -> list[dict[str, object]]:
    """What nettrain knows about each dataset and where (if anywhere) it is on this machine.

    Nothing is verified or downloaded: this only looks at which files exist.

    Args:
        data_dir: a data root searched first, as in :func:`load`.
        infos: the datasets to report, in order; None (the default) for the built-in ones.
            Tests and users with their own copy of a dataset format can pass a DatasetInfo
            here, alone or with the built-in ones
            (``[*registry.BUILTIN_INFOS.values(), mine]``).

    Returns:
        one dict per dataset: ``name``, ``folder``, ``kind``, ``found`` (the folder holding all
        its files, or None), ``files`` (their names), ``sizes`` (bytes of each found file, else
        None), ``embedded``, ``licence``, ``mirrors``.

    Example:
        >>> [d["name"] for d in list_datasets()][:6]
        ['MNIST', 'FashionMNIST', 'CIFAR-10', 'CIFAR-100', 'MovieReview', 'Digits']
        >>> [d for d in list_datasets() if d["name"] == "Digits"][0]["embedded"]
        True
        >>> [d["name"] for d in list_datasets(infos=[get_info("Digits")])]
        ['Digits']
    """
    out: list[dict[str, object]] = []
    for info in all_infos() if infos is None else infos:
        if info.embedded:
            folder: Path | None = _embedded_folder()
            files = ["digits.csv.gz"]
        else:
            folder = find_dataset(info, data_dir)
            files = [s.path for s in info.files]
        sizes: dict[str, int | None] = {}
        for f in files:
            spec = next((s for s in info.files if s.path == f), None)
            path = None if folder is None else (file_path(folder, spec) if spec else folder / f)
            sizes[f] = path.stat().st_size if path is not None and path.is_file() else None
        out.append(
            {
                "name": info.name,
                "folder": info.folder,
                "kind": info.kind,
                "found": None if folder is None else str(folder.resolve()),
                "files": files,
                "sizes": sizes,
                "embedded": info.embedded,
                "licence": info.licence,
                "mirrors": list(info.mirrors),
            }
        )
    return out
