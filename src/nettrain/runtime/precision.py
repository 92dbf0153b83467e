"""Working precision: which floating dtype weights and data use during training, and whether
the forward pass runs under autocast ("mixed": bfloat16, or float16 with a loss scale on GPUs
without bfloat16; float32 master weights, the loss and measurements in float32).

Example:
    >>> resolve_precision("float64")
    torch.float64
"""

from __future__ import annotations

import torch

from ..errors import NetTrainError, describe

__all__ = ["MIXED", "fast_bfloat16", "is_mixed", "mixed_dtype", "resolve_precision"]

_NAMES = {
    "float32": torch.float32,
    "real32": torch.float32,
    "auto": torch.float32,
    "float64": torch.float64,
    "real64": torch.float64,
}


MIXED = "mixed"


def is_mixed(spec: object) -> bool:
    """Whether ``working_precision`` asks for mixed precision.

    >>> is_mixed("Mixed"), is_mixed("float32")
    (True, False)
    """
    return isinstance(spec, str) and spec.lower() == MIXED


def resolve_precision(spec: object) -> torch.dtype:
    """Turn ``working_precision`` into the dtype of the weights and data. "auto" is float32;
    "mixed" keeps float32 weights (the autocast dtype is :func:`mixed_dtype`'s).

    Raises:
        NetTrainError: for unknown values.
    """
    if isinstance(spec, str) and spec.lower() in _NAMES:
        return _NAMES[spec.lower()]
    if is_mixed(spec):
        return torch.float32
    raise NetTrainError(
        "working_precision",
        "unknown precision",
        expected='"auto", "float32", "float64" or "mixed"',
        received=describe(spec),
    )


def fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CPU with AVX512-BF16 or AMX, a CUDA
    GPU that supports it. Elsewhere bfloat16 is emulated, and slower than float32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    return False


def mixed_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype of "mixed" on ``device``: bfloat16 on a CPU and on a GPU that has it,
    float16 on an older CUDA GPU (with a loss scale: :mod:`nettrain.optim.loss_scale`).

    Raises:
        NetTrainError: a device with no mixed-precision autocast (MPS).
    """
    if device.type == "cpu" or (device.type == "cuda" and fast_bfloat16(device)):
        return torch.bfloat16
    if device.type == "cuda":
        return torch.float16
    raise NetTrainError(
        "working_precision",
        f'"mixed" is not available on this {device.type} device',
        expected="a CPU or a CUDA GPU",
        received=str(device),
        hint='use "float32"',
    )
