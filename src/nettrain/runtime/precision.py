"""Working precision: which floating dtype weights and data use during training.

Example:
    >>> resolve_precision("float64")
    torch.float64
"""

from __future__ import annotations

import torch

from ..errors import NetTrainError, describe

__all__ = ["resolve_precision"]

_NAMES = {
    "float32": torch.float32,
    "real32": torch.float32,
    "auto": torch.float32,
    "float64": torch.float64,
    "real64": torch.float64,
}


def resolve_precision(spec: object) -> torch.dtype:
    """Turn ``working_precision`` into a dtype. "auto" is float32 in this version.

    Raises:
        NetTrainError: for "mixed" (not available yet) and for unknown values.
    """
    if isinstance(spec, str) and spec.lower() in _NAMES:
        return _NAMES[spec.lower()]
    if isinstance(spec, str) and spec.lower() == "mixed":
        raise NetTrainError(
            "working_precision",
            '"mixed" (bf16/fp16 autocast with float32 master weights) is not available in this '
            "version",
            expected='"float32" or "float64"',
            received='"mixed"',
            hint='use "float32" (the default) for now',
        )
    raise NetTrainError(
        "working_precision",
        "unknown precision",
        expected='"auto", "float32" or "float64"',
        received=describe(spec),
    )
