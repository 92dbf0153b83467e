"""Memory layout: convolutional nets on channels_last where it is measured to be faster.

A convolution over an NHWC ("channels_last") tensor runs faster than over NCHW on most CPUs
(oneDNN) and GPUs (cuDNN, tensor cores), but not for every net, batch and machine, so
``memory_format="auto"`` times a few steps both ways on a throwaway copy (as the thread count
is chosen) and keeps channels_last only when it is at least :data:`MIN_GAIN` faster. The
weights of the net are converted for the run and back to the ordinary layout after it; each
4-D input batch is converted on the device, not per example.

Example:
    >>> import torch
    >>> from torch import nn
    >>> has_convolutions(nn.Sequential(nn.Conv2d(1, 2, 3))), has_convolutions(nn.Linear(2, 2))
    (True, False)
    >>> choose_layout(lambda: 1.0, lambda: 0.8)
    'channels_last'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from ..errors import NetTrainError, describe
from .timing import interleaved_seconds

__all__ = [
    "CHANNELS_LAST",
    "CONTIGUOUS",
    "MIN_GAIN",
    "choose_layout",
    "has_convolutions",
    "parse_memory_format",
    "set_layout",
    "to_layout",
]

CHANNELS_LAST = "channels_last"
CONTIGUOUS = "contiguous"
MIN_GAIN = 0.05  # channels_last is kept when a step takes at most 95% of the plain step's time
_NAMES = {"auto": "auto", "channels_last": CHANNELS_LAST, "contiguous": CONTIGUOUS,
          "contiguous_format": CONTIGUOUS}  # fmt: skip


def parse_memory_format(value: object) -> str:
    """Read ``memory_format``: "auto", "channels_last", "contiguous" (or torch's
    ``torch.channels_last`` / ``torch.contiguous_format``).

    Raises:
        NetTrainError: any other value.
    """
    if value is None:
        return "auto"
    if value is torch.channels_last:
        return CHANNELS_LAST
    if value is torch.contiguous_format:
        return CONTIGUOUS
    if isinstance(value, str) and value.lower() in _NAMES:
        return _NAMES[value.lower()]
    raise NetTrainError(
        "memory_format",
        "unknown memory format",
        expected='"auto", "channels_last" or "contiguous"',
        received=describe(value),
    )


def has_convolutions(net: nn.Module) -> bool:
    """Whether ``net`` has a 2-D convolution, the layer channels_last speeds up."""
    return any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in net.modules())


def set_layout(net: nn.Module, layout: str) -> None:
    """Put the 4-D weights of ``net`` in ``layout``, in place (values unchanged)."""
    target = torch.channels_last if layout == CHANNELS_LAST else torch.contiguous_format
    net.to(memory_format=target)  # type: ignore[call-overload]  # documented; not in the stubs


def to_layout(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The batch with its 4-D floating tensors in channels_last (the others as they are)."""
    return {
        k: v.contiguous(memory_format=torch.channels_last)
        if v.dim() == 4 and v.is_floating_point()
        else v
        for k, v in batch.items()
    }


def choose_layout(time_plain: Callable[[], float], time_channels_last: Callable[[], float]) -> str:
    """The faster layout: channels_last when its step takes at most ``1 - MIN_GAIN`` of the
    plain step's seconds, each the fastest of interleaved timings
    (:func:`~nettrain.runtime.timing.interleaved_seconds`)."""
    seconds = interleaved_seconds({CONTIGUOUS: time_plain, CHANNELS_LAST: time_channels_last})
    return (
        CHANNELS_LAST
        if seconds[CHANNELS_LAST] <= (1 - MIN_GAIN) * seconds[CONTIGUOUS]
        else CONTIGUOUS
    )
