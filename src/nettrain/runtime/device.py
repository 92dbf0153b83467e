"""Choosing the device training runs on.

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import torch

from ..errors import NetTrainError, describe
from ..scalars import as_int

__all__ = ["device_processes", "resolve_device"]

_EXPECTED = (
    '"auto", "cpu", "gpu", ("gpu", n), "cuda", "cuda:n", or for several processes ("cpu", n), '
    '("gpu", "all") or ("gpu", [i, j, ...])'
)


def _gpu(index: int, received: object) -> torch.device:
    if not torch.cuda.is_available():
        raise NetTrainError(
            "target_device",
            "no GPU is available on this machine",
            expected=_EXPECTED,
            received=repr(received),
            hint='use target_device="cpu", or "auto" to take a GPU only when there is one',
        )
    count = torch.cuda.device_count()
    if not 0 <= index < count:
        raise NetTrainError(
            "target_device",
            f"there is no GPU number {index}",
            expected=f"an index from 0 to {count - 1}",
            received=repr(received),
        )
    return torch.device("cuda", index)


def resolve_device(spec: object) -> torch.device:
    """Turn a ``target_device`` value into a ``torch.device``.

    "auto" takes the first GPU when CUDA is available, else the CPU. ``("gpu", "all")`` (several
    GPUs), ``("gpu", [i, j])`` and ``("cpu", n)`` (n processes) train on several processes
    (:func:`device_processes`); this returns rank 0's device.

    Args:
        spec: "auto", "cpu", "gpu", "cuda", "cuda:n", ``("gpu", n)`` with an int n (a NumPy
            integer is read as an int), or a ``torch.device``.

    Returns:
        The device.

    Raises:
        NetTrainError: for an unknown form, or a GPU that is not there.
    """
    if isinstance(spec, torch.device):
        return _gpu(spec.index or 0, spec) if spec.type == "cuda" else spec
    if isinstance(spec, str):
        key = spec.lower()
        if key == "auto":
            return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        if key == "cpu":
            return torch.device("cpu")
        if key in ("gpu", "cuda"):
            return _gpu(0, spec)
        if key.startswith("cuda:") and key[5:].isdigit():
            return _gpu(int(key[5:]), spec)
    if isinstance(spec, tuple) and len(spec) == 2 and str(spec[0]).lower() == "gpu":
        index = as_int(spec[1])  # a NumPy integer is a GPU number too; a bool is not
        if index is not None:
            return _gpu(index, spec)
    gpus = _gpu_list(spec)
    if gpus is not None:
        return _gpu(gpus[0], spec)
    if _cpu_processes(spec) is not None:
        return torch.device("cpu")
    raise NetTrainError(
        "target_device", "unknown device", expected=_EXPECTED, received=describe(spec)
    )


def _cpu_processes(spec: object) -> int | None:
    if isinstance(spec, tuple) and len(spec) == 2 and str(spec[0]).lower() == "cpu":
        count = as_int(spec[1])
        if count is None or count < 1:
            raise NetTrainError(
                "target_device",
                "the number of CPU processes must be a whole number of at least 1",
                expected='("cpu", n), e.g. ("cpu", 2)',
                received=repr(spec),
            )
        return count
    return None


def _gpu_list(spec: object) -> tuple[int, ...] | None:
    """The GPUs of ``("gpu", "all")`` or ``("gpu", [i, j, ...])``, else None."""
    if not (isinstance(spec, tuple) and len(spec) == 2 and str(spec[0]).lower() == "gpu"):
        return None
    which = spec[1]
    if isinstance(which, str) and which.lower() == "all":
        if not torch.cuda.is_available():
            _gpu(0, spec)  # raises: no GPU
        return tuple(range(torch.cuda.device_count()))
    if isinstance(which, list | tuple) and which:
        read = [as_int(i) for i in which]
        indices = [i for i in read if i is not None]
        if len(indices) != len(read) or len(set(indices)) != len(indices):
            raise NetTrainError(
                "target_device",
                "a list of GPUs must hold distinct GPU numbers",
                expected='("gpu", [0, 1])',
                received=repr(spec),
            )
        for i in indices:
            _gpu(i, spec)  # raises for a GPU that is not there
        return tuple(indices)
    return None


def device_processes(spec: object) -> tuple[int, tuple[int, ...]]:
    """How many processes ``target_device`` asks for, and their GPUs (empty on the CPU).

    >>> device_processes("cpu"), device_processes(("cpu", 2))
    ((1, ()), (2, ()))
    """
    count = _cpu_processes(spec)
    if count is not None:
        return count, ()
    gpus = _gpu_list(spec)
    if gpus is not None:
        return len(gpus), gpus
    return 1, ()
