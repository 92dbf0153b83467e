"""A fixed, stratified train/test split that does not depend on any random number generator.

Datasets without an official split (MovieReview, Digits) get one from :func:`stratified_split`:
within each class, examples are ordered by the sha256 of ``"{salt}:{class}:{k}"`` (``k`` the
example's position among that class's examples, in file order) and the first
``floor(n_class * test_fraction + 0.5)`` go to the test split. A hash, not a seeded permutation,
so the split is the same with every numpy version and on every machine.

Example:
    >>> import numpy as np
    >>> train, test = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, "demo")
    >>> len(train), len(test), sorted(np.array([0, 0, 0, 0, 1, 1, 1, 1])[test].tolist())
    (6, 2, [0, 1])
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

__all__ = ["stratified_split"]


def stratified_split(
    labels: npt.NDArray[np.integer], test_fraction: float, salt: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Split example indices into train and test, the same share of each class in test.

    Args:
        labels: the class index of each example.
        test_fraction: the share of each class that goes to test (0 to 1).
        salt: names the split (``"nettrain-movie-review"``); another salt, another split.

    Returns:
        ``(train_indices, test_indices)``, each sorted ascending, disjoint, covering all.
    """
    test: list[int] = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        n_test = math.floor(len(members) * test_fraction + 0.5)
        keys = [
            hashlib.sha256(f"{salt}:{int(cls)}:{k}".encode()).digest() for k in range(len(members))
        ]
        order = sorted(range(len(members)), key=keys.__getitem__)
        test.extend(int(members[k]) for k in order[:n_test])
    test_idx = np.array(sorted(test), dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[test_idx] = False
    return np.flatnonzero(mask).astype(np.int64), test_idx
