"""The custom-loop face (MATLAB's custom training loops): the engine's pieces, made public.

See docs/custom-loops.md. Parameters are an ``nn.Module`` or a (nested) dict of tensors;
:func:`value_and_grad` differentiates a model loss function; the ``*_update`` functions are
stateless optimizer updates ``(params, grads, state) -> (params, state)`` computing what the
engine's optimizers compute.

Example:
    >>> import torch
    >>> from nettrain.functional import adam_update, value_and_grad
    >>> params = {"w": torch.zeros(1)}
    >>> state = None
    >>> for _ in range(200):
    ...     loss, grads = value_and_grad(lambda p: ((p["w"] - 3.0) ** 2).sum(), params)
    ...     params, state = adam_update(params, grads, state, learning_rate=0.1)
    >>> round(params["w"].item(), 2)
    3.0
"""

from .grad import value_and_grad
from .lbfgs import lbfgs_update
from .updates import (
    adam_update,
    adamw_update,
    dl_update,
    rmsprop_update,
    sgdm_update,
    signsgd_update,
)

__all__ = [
    "adam_update",
    "adamw_update",
    "dl_update",
    "lbfgs_update",
    "rmsprop_update",
    "sgdm_update",
    "signsgd_update",
    "value_and_grad",
]
