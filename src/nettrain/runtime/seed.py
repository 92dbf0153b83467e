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

__all__ = ["resolve_seed", "seeded"]

DEFAULT_SEED = 1234


def resolve_seed(spec: object) -> int:
    """``random_seeding``: an int, or "auto" for a fresh seed each call (recorded in results)."""
    if spec == "auto" or spec is None:
        return int.from_bytes(os.urandom(4), "little")
    if isinstance(spec, int) and not isinstance(spec, bool) and spec >= 0:
        return spec
    raise NetTrainError(
        "random_seeding",
        "cannot use this as a seed",
        expected='a non-negative int, or "auto" for a fresh seed each call',
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
