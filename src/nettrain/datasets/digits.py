"""The embedded Digits dataset: the UCI optical recognition of handwritten digits (8x8).

The data ship inside the package (``data/digits.csv.gz``, the copy in scikit-learn's wheel, which
is the UCI set's 1,797-image "test" part), so loading needs no network and no data folder.
Licence and attribution: ``data/DIGITS-LICENSE.txt`` (CC BY 4.0, E. Alpaydin and C. Kaynak).

Each CSV row is 64 pixel values in 0..16 (an 8x8 image, row-major) then the digit. Returned
images are uint8 ``[n, 8, 8]`` scaled to 0..255 by ``value * 255 // 16`` (16 -> 255, 8 -> 127),
so the usual image normalisation (divide by 255) gives 0..1.

Split: fixed and stratified, 20% of each digit to test (:func:`~.split.stratified_split`, salt
``"nettrain-digits"``): 1,438 training and 359 test images.

Example:
    >>> images, labels = read_digits()
    >>> images.shape, images.dtype, int(images.max()), labels.shape
    ((1797, 8, 8), dtype('uint8'), 255, (1797,))
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import numpy.typing as npt

from ..errors import NetTrainError
from .split import stratified_split

__all__ = ["DIGITS_SALT", "DIGITS_TEST_FRACTION", "read_digits", "split_digits"]

DIGITS_TEST_FRACTION = 0.2
DIGITS_SALT = "nettrain-digits"
_FILE = "digits.csv.gz"
_cache: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None = None


def read_digits() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """All 1,797 images (uint8 ``[n, 8, 8]``, 0..255) and labels (int64 ``[n]``, 0..9).

    Read once per process; later calls return copies of the cached arrays.

    Raises:
        NetTrainError: if the package's data file is missing or damaged (a broken install).
    """
    global _cache
    if _cache is None:
        try:
            raw = resources.files(__package__).joinpath("data", _FILE).read_bytes()
            table = np.loadtxt(gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",")
        except (OSError, ValueError, EOFError) as exc:
            raise NetTrainError(
                "name",
                f"the embedded Digits data (nettrain/datasets/data/{_FILE}) cannot be read ({exc})",
                hint="reinstall nettrain",
            ) from None
        if table.shape != (1797, 65) or table[:, :64].min() < 0 or table[:, :64].max() > 16:
            raise NetTrainError(
                "name",
                f"the embedded Digits data (nettrain/datasets/data/{_FILE}) is damaged",
                expected="1,797 rows of 64 values in 0..16 and a label",
                received=f"shape {list(table.shape)}",
                hint="reinstall nettrain",
            )
        pixels = table[:, :64].astype(np.int64)
        images = (pixels * 255 // 16).astype(np.uint8).reshape(-1, 8, 8)
        _cache = (images, table[:, 64].astype(np.int64))
    return _cache[0].copy(), _cache[1].copy()


def split_digits(split: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The ``"train"`` (1,438) or ``"test"`` (359) part of Digits, as :func:`read_digits`."""
    images, labels = read_digits()
    train, test = stratified_split(labels, DIGITS_TEST_FRACTION, DIGITS_SALT)
    chosen = train if split == "train" else test
    return images[chosen], labels[chosen]
