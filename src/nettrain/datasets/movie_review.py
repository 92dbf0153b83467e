"""Read MovieReview: Cornell's sentence polarity dataset v1.0 (Pang and Lee, ACL 2005).

Files: ``rt-polaritydata/rt-polarity.pos`` and ``rt-polarity.neg``, 5,331 snippets each, one per
line (lower-cased and tokenised upstream). They are not UTF-8: they are decoded as latin-1,
which maps every byte to one character (0x97 -> ``"\\x97"``), never fails and is reversible.
Lines are split on ``\\n`` only (``str.splitlines`` would also split on ``\\x85``, a byte these
files may hold) and stripped of spaces, tabs and ``\\r`` at the ends.

Classes: 0 ``"negative"``, 1 ``"positive"``.

Split (there is no official one): fixed and stratified, 10% of each class to test, chosen by
:func:`~.split.stratified_split` with salt ``"nettrain-movie-review"`` on the line numbers:
on the real data 9,596 training and 1,066 test snippets (533 per class). Within a split the
negative snippets come first, then the positive ones, each in file order.

Example:
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "rt-polarity.neg"
    ...     _ = p.write_bytes(b"bad \\x97 film . \\nworse\\n")
    ...     read_lines(p)
    ['bad \\x97 film .', 'worse']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from .locate import verify_file
from .registry import DatasetInfo
from .split import stratified_split

__all__ = ["MOVIE_REVIEW_SALT", "MOVIE_REVIEW_TEST_FRACTION", "read_lines", "read_movie_review"]

MOVIE_REVIEW_TEST_FRACTION = 0.1
MOVIE_REVIEW_SALT = "nettrain-movie-review"


def read_lines(path: Path) -> list[str]:
    """The snippets of one rt-polarity file, decoded as latin-1, one per line."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline ending the last line does not start another
    return [line.decode("latin-1").strip(" \t\r") for line in lines]


def read_movie_review(
    info: DatasetInfo, folder: Path, split: str
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The snippets and labels (0 negative, 1 positive) of ``split`` (see the module doc).

    Raises:
        NetTrainError: naming the file, if a file's line count is not the registered one.
    """
    texts: list[str] = []
    labels: list[int] = []
    for label, role in enumerate(("neg", "pos")):
        for spec in info.role(role):
            path = folder / spec.path
            verify_file(path, spec)
            lines = read_lines(path)
            texts.extend(lines)
            labels.extend([label] * len(lines))
    y = np.array(labels, dtype=np.int64)
    train, test = stratified_split(y, MOVIE_REVIEW_TEST_FRACTION, MOVIE_REVIEW_SALT)
    chosen = train if split == "train" else test
    return [texts[i] for i in chosen], y[chosen]
