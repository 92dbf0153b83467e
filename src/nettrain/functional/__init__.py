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

from .checkpoints import load_checkpoint, save_checkpoint
from .crossentropy import crossentropy
from .grad import value_and_grad
from .gradcheck import GradientCheckReport, gradient_check, numerical_gradient
from .init import (
    Fans,
    fan_in_and_out,
    initialize_gaussian,
    initialize_glorot,
    initialize_he,
    initialize_ones,
    initialize_orthogonal,
    initialize_uniform,
    initialize_unit_forget_gate,
    initialize_zeros,
)
from .lbfgs import lbfgs_update
from .losses import huber, l1loss, l2loss, mse
from .monitor import ProgressMonitor
from .ode import ode_solve
from .onehot import onehot_decode, onehot_encode
from .ops import crosschannelnorm, ctc
from .queue import MiniBatchQueue, QueueExhausted
from .updates import (
    adam_update,
    adamw_update,
    dl_update,
    rmsprop_update,
    sgdm_update,
    signsgd_update,
)

__all__ = [
    "Fans",
    "GradientCheckReport",
    "MiniBatchQueue",
    "ProgressMonitor",
    "QueueExhausted",
    "adam_update",
    "adamw_update",
    "crosschannelnorm",
    "crossentropy",
    "ctc",
    "dl_update",
    "fan_in_and_out",
    "gradient_check",
    "huber",
    "initialize_gaussian",
    "initialize_glorot",
    "initialize_he",
    "initialize_ones",
    "initialize_orthogonal",
    "initialize_uniform",
    "initialize_unit_forget_gate",
    "initialize_zeros",
    "l1loss",
    "l2loss",
    "lbfgs_update",
    "load_checkpoint",
    "mse",
    "numerical_gradient",
    "ode_solve",
    "onehot_decode",
    "onehot_encode",
    "rmsprop_update",
    "save_checkpoint",
    "sgdm_update",
    "signsgd_update",
    "value_and_grad",
]
