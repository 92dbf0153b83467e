"""What nettrain knows about each named dataset: files, checksums, mirrors, class names.

The registry is configuration only: a :class:`DatasetInfo` per dataset lists the files that make
it up (with the upstream names, relative to the dataset's folder), how each is verified, what to
download and from where. The built-in entries are read-only (:data:`BUILTIN_INFOS`, an
immutable mapping); nothing can add, replace or weaken them at run time. Readers (IDX, CIFAR
pickles, rt-polarity text, the embedded Digits) pick their files by *role* (``"train-images"``,
``"test"``, ``"meta"``, ``"pos"`` ...), so tests and users with their own copy of a dataset
format can pass a :class:`DatasetInfo` (e.g. a small fake in a real format, with its own
checksums) straight to ``load``, ``download`` or ``list_datasets``, without weakening the checks
of the real names.

Checksums: every ``md5`` in a :class:`FileSpec` is of the file's *decompressed* content, so a
recompressed copy (Debian's Fashion-MNIST) is accepted. The values come from
``shared/reference/ecosystem-reliability-anchors.md`` section 1.3 and
``shared/datasets/README.md``; none is made up. Where no trustworthy checksum of the content is
published (MNIST's decompressed files, MovieReview) the weaker check used instead is stated next
to the entry.

Example:
    >>> canonical_name("fashion-mnist"), canonical_name("cifar10"), canonical_name("movie review")
    ('FashionMNIST', 'CIFAR-10', 'MovieReview')
    >>> get_info("MNIST").folder
    'mnist'
    >>> list(BUILTIN_INFOS) == list(NAMES)
    True
    >>> BUILTIN_INFOS["MNIST"] = BUILTIN_INFOS["Digits"]
    Traceback (most recent call last):
    ...
    TypeError: 'mappingproxy' object does not support item assignment
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import NetTrainError, close_matches

__all__ = [
    "BUILTIN_INFOS",
    "NAMES",
    "DatasetInfo",
    "Download",
    "FileSpec",
    "canonical_name",
    "get_info",
]

NAMES: tuple[str, ...] = ("MNIST", "FashionMNIST", "CIFAR-10", "CIFAR-100", "MovieReview", "Digits")


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset, as it lies in the dataset's folder.

    Attributes:
        path: the upstream name relative to the dataset folder, ``/``-separated
            (``"train-images-idx3-ubyte.gz"``, ``"cifar-10-batches-py/data_batch_1"``).
        role: what the reader uses it for: ``"train-images"``, ``"train-labels"``,
            ``"test-images"``, ``"test-labels"`` (IDX); ``"train"``, ``"test"``, ``"meta"``
            (CIFAR batches, in order); ``"pos"``, ``"neg"`` (rt-polarity).
        md5: md5 of the decompressed content (of the file itself when it is not gzip).
        packed_md5: md5 of the file exactly as published (the .gz). Used where the decompressed
            md5 is not known: a file matching it is verified; any other copy (recompressed or
            decompressed) falls back to the structural check (``idx_shape``) at read time.
        idx_shape: the exact IDX array shape the file must hold (checked when read).
        lines: the exact number of lines a text file must hold (checked when verified).
    """

    path: str
    role: str
    md5: str | None = None
    packed_md5: str | None = None
    idx_shape: tuple[int, ...] | None = None
    lines: int | None = None

    @property
    def alternatives(self) -> tuple[str, ...]:
        """Names under which the file is accepted: a ``.gz`` may also lie decompressed."""
        if self.path.endswith(".gz"):
            return (self.path, self.path.removesuffix(".gz"))
        return (self.path,)


@dataclass(frozen=True)
class Download:
    """One file to fetch from the mirrors (``mirror + "/" + name``) into the dataset folder.

    Attributes:
        name: the file's name on the mirrors and in the folder.
        size: its exact size in bytes, where published; None to rely on Content-Length only.
        md5: md5 of the published bytes, where known to match every mirror listed.
        sha256: sha256 of the published bytes, where known.
        extract: True for a tar archive: extracted (safely) into the folder, then removed.
    """

    name: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    extract: bool = False


@dataclass(frozen=True)
class DatasetInfo:
    """Everything nettrain knows about one named dataset.

    Attributes:
        name: the canonical name (``"FashionMNIST"``).
        folder: the folder under a data root holding the files (``"fashion-mnist"``).
        kind: ``"image"`` or ``"text"``.
        format: the reader: ``"idx"``, ``"cifar-10"``, ``"cifar-100"``, ``"rt-polarity"`` or
            ``"digits"`` (embedded).
        files: the files that make up the dataset once downloaded (and extracted).
        downloads: what to fetch from the mirrors to get them.
        mirrors: base URLs, tried in turn.
        class_names: the class names, or None when they come from the data (CIFAR meta files).
        licence: licence and attribution, one line.
        embedded: True when the data ship inside the package (nothing to download).
        aliases: extra spellings accepted by :func:`canonical_name`.
    """

    name: str
    folder: str
    kind: str
    format: str
    files: tuple[FileSpec, ...]
    downloads: tuple[Download, ...] = ()
    mirrors: tuple[str, ...] = ()
    class_names: tuple[str, ...] | None = None
    licence: str = ""
    embedded: bool = False
    aliases: tuple[str, ...] = field(default=())

    def role(self, role: str) -> list[FileSpec]:
        """The files with ``role``, in registry order."""
        return [f for f in self.files if f.role == role]


_DIGITS = tuple(str(d) for d in range(10))
_FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _idx_files(md5s: tuple[str, str, str, str], *, packed: bool) -> tuple[FileSpec, ...]:
    """The four IDX files of an MNIST-like set (60,000 + 10,000 images of 28 x 28 pixels).

    Args:
        md5s: the checksums of the train images, train labels, test images and test labels,
            in that order.
        packed: True when the checksums are of the published .gz files (``packed_md5``),
            False when they are of the decompressed content (``md5``).
    """
    layout = (
        ("train-images-idx3-ubyte.gz", "train-images", (60000, 28, 28)),
        ("train-labels-idx1-ubyte.gz", "train-labels", (60000,)),
        ("t10k-images-idx3-ubyte.gz", "test-images", (10000, 28, 28)),
        ("t10k-labels-idx1-ubyte.gz", "test-labels", (10000,)),
    )
    return tuple(
        FileSpec(
            path,
            role,
            md5=None if packed else md5,
            packed_md5=md5 if packed else None,
            idx_shape=shape,
        )
        for (path, role, shape), md5 in zip(layout, md5s, strict=True)
    )


# MNIST: torchvision's md5s are of the published .gz files; the md5s of the decompressed IDX
# bytes are not in our reference, so they are not given (never invent a checksum). A copy equal
# to the published .gz is verified by packed_md5; any other copy (decompressed, recompressed)
# is accepted after the IDX header and exact length checks (``idx_shape``) at read time.
_MNIST_FILES = _idx_files(
    (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
    packed=True,
)
# Both mirrors serve the upstream .gz files, which torchvision checks against these md5s.
_MNIST_DOWNLOADS = (
    Download("train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    Download("train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432"),
    Download("t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3"),
    Download("t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c"),
)

# Fashion-MNIST: md5s of the decompressed IDX bytes (shared/datasets/README.md), so Debian's
# recompressed copies verify too. The downloads carry no archive checksum on purpose: the two
# mirrors are not known to serve byte-identical .gz files, and the decompressed md5 checked
# after the transfer is the stronger, mirror-independent test.
_FASHION_FILES = _idx_files(
    (
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "9018921c3c673c538a1fc5bad174d6f9",
        "8181f5470baa50b63fa0f6fddb340f0a",
        "15d484375f8d13e6eb1aabb0c3f46965",
    ),
    packed=False,
)

# CIFAR: per-batch md5s (torchvision); the batches are verified before they are unpickled.
_CIFAR10_FILES = (
    *(
        FileSpec(f"cifar-10-batches-py/data_batch_{i}", "train", md5=md5)
        for i, md5 in enumerate(
            (
                "c99cafc152244af753f735de768cd75f",
                "d4bba439e000b95fd0a9bffe97cbabec",
                "54ebc095f3ab1f0389bbae665268c751",
                "634d18415352ddfa80567beed471001a",
                "482c414d41f54cd18b22e5b47cb7c3cb",
            ),
            start=1,
        )
    ),
    FileSpec("cifar-10-batches-py/test_batch", "test", md5="40351d587109b95175f43aff81a1287e"),
    FileSpec("cifar-10-batches-py/batches.meta", "meta", md5="5ff9c542aee3614f3951f8cda6e48888"),
)
_CIFAR100_FILES = (
    FileSpec("cifar-100-python/train", "train", md5="16019d7e3df5f24257cddd939b257f8d"),
    FileSpec("cifar-100-python/test", "test", md5="f0ef6b0ae62326f3e7ffdfab6717acfc"),
    FileSpec("cifar-100-python/meta", "meta", md5="7973b15100ade9c7d40fb424638fde48"),
)


def _cifar_info(
    name: str, files: tuple[FileSpec, ...], archive: str, *, size: int, md5: str, sha256: str
) -> DatasetInfo:
    """A CIFAR dataset: one tar archive from Toronto, verified, then extracted.

    Args:
        name: ``"CIFAR-10"`` or ``"CIFAR-100"``; its lower-case form names the folder and the
            reader.
        files: the batches once extracted.
        archive: the archive's name on the mirror; ``size``, ``md5`` and ``sha256`` are its own.
    """
    return DatasetInfo(
        name=name,
        folder=name.lower(),
        kind="image",
        format=name.lower(),
        files=files,
        downloads=(Download(archive, size=size, md5=md5, sha256=sha256, extract=True),),
        mirrors=("https://www.cs.toronto.edu/~kriz",),
        licence=f"{name}: A. Krizhevsky, 'Learning Multiple Layers of Features from Tiny "
        "Images', 2009",
    )


# MovieReview: Cornell publishes no checksum of the archive or of the two text files, and none
# trustworthy is in our reference; the files are verified by their exact line counts (5,331
# each), and always decode (latin-1 maps every byte).
_MOVIE_FILES = (
    FileSpec("rt-polaritydata/rt-polarity.pos", "pos", lines=5331),
    FileSpec("rt-polaritydata/rt-polarity.neg", "neg", lines=5331),
)

_BUILTIN: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="MNIST",
        folder="mnist",
        kind="image",
        format="idx",
        files=_MNIST_FILES,
        downloads=_MNIST_DOWNLOADS,
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist",
            "https://storage.googleapis.com/cvdf-datasets/mnist",
        ),
        class_names=_DIGITS,
        licence="MNIST: Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0",
    ),
    DatasetInfo(
        name="FashionMNIST",
        folder="fashion-mnist",
        kind="image",
        format="idx",
        files=_FASHION_FILES,
        downloads=tuple(Download(f.path) for f in _FASHION_FILES),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets",
        ),
        class_names=_FASHION,
        licence="Fashion-MNIST: Zalando Research (H. Xiao, K. Rasul, R. Vollgraf); MIT",
    ),
    _cifar_info(
        "CIFAR-10",
        _CIFAR10_FILES,
        "cifar-10-python.tar.gz",
        size=170498071,
        md5="c58f30108f718f92721af3b95e74349a",
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ),
    _cifar_info(
        "CIFAR-100",
        _CIFAR100_FILES,
        "cifar-100-python.tar.gz",
        size=169001437,
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    ),
    DatasetInfo(
        name="MovieReview",
        folder="movie-review",
        kind="text",
        format="rt-polarity",
        files=_MOVIE_FILES,
        downloads=(Download("rt-polaritydata.tar.gz", extract=True),),
        mirrors=(
            "http://www.cs.cornell.edu/people/pabo/movie-review-data",
            "https://storage.googleapis.com/seldon-datasets/sentence_polarity_v1",
        ),
        class_names=("negative", "positive"),
        licence="Sentence polarity dataset v1.0: B. Pang and L. Lee, 'Seeing stars', ACL 2005",
        aliases=("rt-polarity", "sentence-polarity", "rotten-tomatoes"),
    ),
    DatasetInfo(
        name="Digits",
        folder="digits",
        kind="image",
        format="digits",
        files=(),
        class_names=_DIGITS,
        licence="UCI optical recognition of handwritten digits: E. Alpaydin, C. Kaynak; "
        "CC BY 4.0 (see DIGITS-LICENSE.txt)",
        embedded=True,
        aliases=("uci-digits", "optdigits"),
    ),
)

# The built-in datasets by canonical name, in NAMES order. Read-only: a MappingProxyType over a
# dict nothing else refers to, so no code can add, replace or remove an entry.
BUILTIN_INFOS: Mapping[str, DatasetInfo] = MappingProxyType({i.name: i for i in _BUILTIN})


def _key(name: str) -> str:
    # Case, dashes, underscores and spaces do not matter: "Fashion-MNIST" == "fashion_mnist".
    return re.sub(r"[\s\-_]+", "", name).lower()


def canonical_name(name: str) -> str:
    """The canonical name of a dataset, spelled any way (case, dashes and spaces are ignored).

    Args:
        name: e.g. ``"fashion-mnist"``, ``"cifar10"``, ``"movie review"``.

    Returns:
        the name as in :data:`NAMES` (only the built-in datasets have names to look up).

    Raises:
        NetTrainError: for an unknown name, suggesting close matches.

    Example:
        >>> canonical_name("Fashion MNIST")
        'FashionMNIST'
        >>> canonical_name("cifer-10")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nettrain.errors.NetTrainError: name: unknown dataset 'cifer-10'; ... 'CIFAR-10' or ...
    """
    if not isinstance(name, str):
        raise NetTrainError(
            "name", "must be a dataset name", expected="a string", received=type(name).__name__
        )
    wanted = _key(name)
    spellings: dict[str, str] = {}
    for info in BUILTIN_INFOS.values():
        for spelling in (info.name, info.folder, *info.aliases):
            spellings[_key(spelling)] = info.name
    if wanted in spellings:
        return spellings[wanted]
    names = list(BUILTIN_INFOS)
    matches = close_matches(name, names) or [spellings[k] for k in close_matches(wanted, spellings)]
    hint = (
        "did you mean " + " or ".join(repr(m) for m in dict.fromkeys(matches)) + "?"
        if matches
        else "use one of the names listed"
    )
    raise NetTrainError(
        "name",
        f"unknown dataset {name!r}",
        expected="one of " + ", ".join(names),
        received=repr(name),
        hint=hint,
    )


def get_info(name: str | DatasetInfo) -> DatasetInfo:
    """The :class:`DatasetInfo` for ``name`` (any spelling :func:`canonical_name` accepts).

    Tests and users with their own copy of a dataset format can pass a :class:`DatasetInfo`
    instead of a name: it is returned as it is (the built-in entries are never changed).

    Example:
        >>> from dataclasses import replace
        >>> get_info("fashion mnist").folder
        'fashion-mnist'
        >>> tiny = replace(get_info("MNIST"), name="TinyMNIST", folder="tiny-mnist")
        >>> get_info(tiny) is tiny, get_info("MNIST").name
        (True, 'MNIST')
    """
    if isinstance(name, DatasetInfo):
        return name
    return BUILTIN_INFOS[canonical_name(name)]


def all_infos() -> list[DatasetInfo]:
    """Every built-in dataset, in :data:`NAMES` order."""
    return list(BUILTIN_INFOS.values())
