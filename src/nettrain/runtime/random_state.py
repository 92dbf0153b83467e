"""Every global random stream as plain data, and back: what a checkpoint keeps so that dropout,
shuffles and a data function's draws go on after a resume exactly as they would have.

The streams: torch's CPU generator, each CUDA device's (once CUDA is in use; before that
nothing has drawn from them), Python's ``random`` and NumPy's global generator. The states are
tensors and numbers only (NumPy's uint32 words as int64: the files' integer dtypes are signed),
ready for :class:`nettrain.plain_data.PlainEncoder`.

Example:
    >>> import random, torch
    >>> saved = random_states()
    >>> a = (torch.rand(1).item(), random.random())
    >>> restore_random_states(saved)
    >>> a == (torch.rand(1).item(), random.random())
    True
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..errors import NetTrainWarning

__all__ = ["random_states", "restore_random_states"]


def random_states() -> dict[str, Any]:
    """The state of every global random stream (see the module docstring)."""
    version, internal, gauss = random.getstate()
    numpy_state: Any = np.random.get_state(legacy=True)
    kind, keys, position, has_gauss, cached = numpy_state
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = list(torch.cuda.get_rng_state_all())
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
    }


def restore_random_states(state: Mapping[str, Any]) -> None:
    """Put back what :func:`random_states` returned.

    Raises:
        TypeError, ValueError, KeyError, RuntimeError, AttributeError: ``state`` is not such a
            state (the caller says which file it came from).

    Warns:
        NetTrainWarning: the state holds more GPUs' streams than this machine has.
    """
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal.tolist()), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    cuda = state.get("cuda") or []
    here = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for index, device_state in enumerate(cuda[:here]):
        torch.cuda.set_rng_state(device_state, index)
    if len(cuda) > here:
        warnings.warn(
            NetTrainWarning(
                f"the checkpoint holds the random states of {len(cuda)} GPUs and this machine "
                f"has {here}: random draws on the GPU will differ from the saved run's"
            ),
            stacklevel=3,
        )
