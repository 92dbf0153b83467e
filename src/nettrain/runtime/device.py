"""Choosing the device training runs on.

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import torch

from ..errors import NetTrainError, describe
from ..scalars import as_int

__all__ = ["resolve_device"]

_EXPECTED = '"auto", "cpu", "gpu", ("gpu", n), "cuda" or "cuda:n"'


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
    GPUs) is reserved for distributed training and refused with a clear message for now.

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
        if isinstance(spec[1], str) and spec[1] == "all":
            raise NetTrainError(
                "target_device",
                'training on all GPUs at once ("gpu", "all") is not available in this version',
                expected=_EXPECTED,
                received=repr(spec),
                hint='use "gpu" for one GPU',
            )
    raise NetTrainError(
        "target_device", "unknown device", expected=_EXPECTED, received=describe(spec)
    )
