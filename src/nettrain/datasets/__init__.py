"""Named datasets: find, verify, download and load them; readers for their file formats.

``load(name, split)`` returns a :class:`DatasetSplit` for "MNIST", "FashionMNIST", "CIFAR-10",
"CIFAR-100", "MovieReview" or the embedded "Digits". Data live in one folder per dataset
(``mnist/``, ``fashion-mnist/``, ``cifar-10/``, ``cifar-100/``, ``movie-review/``, with the
upstream file names) under ``data_dir``, ``$NETTRAIN_DATA``, the per-user cache
(``$XDG_CACHE_HOME/nettrain`` or ``~/.cache/nettrain``) or ``/usr/share/datasets``, searched in
that order. ``NETTRAIN_OFFLINE=1`` forbids downloads. Files are verified once per process by the
md5 of their decompressed content (see :mod:`.registry` for the exceptions).

Modules: :mod:`.registry` (what each dataset is), :mod:`.locate` (where, verification),
:mod:`.fetch` (mirrors, atomic downloads), :mod:`.archive` (safe extraction), :mod:`.idx`,
:mod:`.cifar` (checksum first, restricted unpickler), :mod:`.movie_review`, :mod:`.digits`,
:mod:`.split` (fixed stratified splits).

Example:
    >>> from nettrain.datasets import FASHION_MNIST_FILES, NAMES, canonical_name
    >>> sorted(FASHION_MNIST_FILES)[0]
    't10k-images-idx3-ubyte.gz'
    >>> canonical_name("cifar100") in NAMES
    True
"""

from .api import DatasetSplit, download, list_datasets, load
from .idx import (
    FASHION_MNIST_FILES,
    IDX_TYPES,
    load_fashion_mnist,
    md5_of_decompressed,
    parse_idx,
    read_idx,
)
from .registry import NAMES, DatasetInfo, Download, FileSpec, canonical_name

__all__ = [
    "FASHION_MNIST_FILES",
    "IDX_TYPES",
    "NAMES",
    "DatasetInfo",
    "DatasetSplit",
    "Download",
    "FileSpec",
    "canonical_name",
    "download",
    "list_datasets",
    "load",
    "load_fashion_mnist",
    "md5_of_decompressed",
    "parse_idx",
    "read_idx",
]
