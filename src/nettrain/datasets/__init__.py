"""Datasets on disk: readers for the formats that named datasets come in.

For now this holds the IDX reader (MNIST, Fashion-MNIST) and a loader for Fashion-MNIST's four
files in a folder; the named-dataset system (download, cache, ``train(net, "FashionMNIST")``)
builds on these.

Example:
    >>> from nettrain.datasets import FASHION_MNIST_FILES
    >>> sorted(FASHION_MNIST_FILES)[0]
    't10k-images-idx3-ubyte.gz'
"""

from .idx import (
    FASHION_MNIST_FILES,
    IDX_TYPES,
    load_fashion_mnist,
    md5_of_decompressed,
    parse_idx,
    read_idx,
)

__all__ = [
    "FASHION_MNIST_FILES",
    "IDX_TYPES",
    "load_fashion_mnist",
    "md5_of_decompressed",
    "parse_idx",
    "read_idx",
]
