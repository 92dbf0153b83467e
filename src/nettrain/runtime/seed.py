"""Seeding: every run draws its randomness from its own seed, never from global state.

Training runs inside :func:`seeded`, which forks PyTorch's random state, so the caller's random
stream is the same after ``train`` as before it, and weight initialisation of lazy modules and
dropout masks inside training depend only on the seed.

Example:
    >>> import torch
    >>> with seeded(7):
    ...     a = torch.rand(2)
    >>> with seeded(7):
    ...     b = torch.rand(2)
    >>> torch.equal(a, b)
    True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from ..errors import NetTrainError, describe
from ..scalars import as_int

__all__ = ["resolve_seed", "seeded"]

DEFAULT_SEED = 1234
# torch.manual_seed takes at most 64 bits; a larger seed would fail there, deep in training.
MAX_SEED = 2**64 - 1


def resolve_seed(spec: object) -> int:
    """Read ``random_seeding``: the seed a run draws all its randomness from.

    Args:
        spec: an int from 0 to ``2**64 - 1`` (a NumPy integer is read as an int), or "auto"
            (also None) for a fresh seed each call (recorded in the results, so the run can be
            repeated).

    Returns:
        The seed, a Python int.

    Raises:
        NetTrainError: for a negative or too large number, a bool, a float or anything else.

    >>> import numpy as np
    >>> resolve_seed(np.int64(7)), type(resolve_seed(np.uint8(7))).__name__
    (7, 'int')
    """
    if spec is None or (isinstance(spec, str) and spec == "auto"):
        return int.from_bytes(os.urandom(4), "little")
    seed = as_int(spec)
    if seed is not None and 0 <= seed <= MAX_SEED:
        return seed
    raise NetTrainError(
        "random_seeding",
        "cannot use this as a seed",
        expected='a non-negative int below 2**64, or "auto" for a fresh seed each call',
        received=describe(spec),
    )


@contextlib.contextmanager
def seeded(seed: int, devices: list[int] | None = None) -> Iterator[None]:
    """Run the block with PyTorch's generators seeded by ``seed``; restore them afterwards."""
    cuda_devices = (
        devices
        if devices is not None
        else (list(range(torch.cuda.device_count())) if torch.cuda.is_available() else [])
    )
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield
