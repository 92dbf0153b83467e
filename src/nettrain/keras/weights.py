"""A module's weights as Keras lists them: ``model.weights``, ``get_weights``, ``set_weights``.

Keras' weights of a layer are its trainable variables (a Dense layer's kernel and bias) and its
non-trainable ones (a BatchNormalization layer's moving mean and variance). Here they are a
module's parameters (trainable unless ``requires_grad`` is False) and its floating-point buffers
that are saved with it (persistent: BatchNorm's ``running_mean`` and ``running_var``).
Integer buffers such as BatchNorm's ``num_batches_tracked`` are counters, not weights, and are
left out, as Keras has no such weight; :func:`nettrain.keras.saving.save_model` still saves them.

The order is Keras' ``model.weights`` order: layer by layer, in the order the module's
``state_dict`` walks them, and within a layer its parameters then its buffers (a BatchNorm
layer: weight, bias, running_mean, running_var, as Keras' gamma, beta, moving_mean,
moving_variance). A tensor shared by two layers (tied weights) is listed once, under its first
name, as ``named_parameters`` names it.

Shapes are torch's layout, not Keras': a Keras ``Dense(32)`` on 784 inputs has a kernel of shape
``[784, 32]`` (in, out), while torch's ``nn.Linear(784, 32).weight`` is ``[32, 784]`` (out, in);
arrays read from Keras must be transposed before :func:`set_weights`.

Example:
    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    >>> [(w.name, w.shape) for w in weight_list(net)]  # doctest: +NORMALIZE_WHITESPACE
    [('0.weight', (32, 784)), ('0.bias', (32,)), ('2.weight', (10, 32)), ('2.bias', (10,))]
    >>> arrays = get_weights(net)
    >>> arrays[1][:] = 0.5
    >>> set_weights(net, arrays)
    >>> net[0].bias.tolist()[3]
    0.5
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from ..errors import NetTrainError, describe

__all__ = ["Weight", "get_weights", "module_tensors", "set_weights", "weight_list"]


@dataclass(frozen=True)
class Weight:
    """One weight of a module.

    Attributes:
        name: its name as ``named_parameters`` / ``named_buffers`` give it (``"0.weight"``).
        shape: its shape in torch's layout (``nn.Linear``'s weight is ``(out, in)``, the
            transpose of a Keras Dense kernel).
        trainable: True for a parameter with ``requires_grad``; False for a frozen parameter
            or a buffer (running statistics).
        value: the tensor itself, detached: a view of the same memory, so ``value`` always
            shows the current weight and :meth:`assign` changes the module.
    """

    name: str
    shape: tuple[int, ...]
    trainable: bool
    value: Tensor

    @property
    def dtype(self) -> torch.dtype:
        """The weight's dtype (``torch.float32`` by default)."""
        return self.value.dtype

    def assign(self, value: Any) -> None:
        """Overwrite the weight in place, as TF.js's ``Variable.assign`` does.

        Args:
            value: a tensor, NumPy array or nested list of exactly :attr:`shape`; it is
                converted to the weight's dtype and device.

        Raises:
            NetTrainError: argument "value" for another shape or something not numeric.

        >>> import torch.nn as nn
        >>> layer = nn.Linear(2, 1)
        >>> weight_list(layer)[1].assign([3.0])
        >>> layer.bias.tolist()
        [3.0]
        """
        tensor = _checked(self, value, "value")
        with torch.no_grad():
            self.value.copy_(tensor)


def module_tensors(module: nn.Module) -> Iterator[tuple[str, Tensor, bool]]:
    """``(name, tensor, trainable)`` for each weight of ``module`` in Keras' order (see the
    module docstring), shared tensors once; lazy (not yet built) parameters included."""
    seen: set[int] = set()
    for prefix, m in module.named_modules():
        dot = prefix + "." if prefix else ""
        own: list[tuple[str, Tensor, bool]] = [
            (name, p, p.requires_grad) for name, p in m._parameters.items() if p is not None
        ]
        skipped = m._non_persistent_buffers_set
        own += [
            (name, b, False)
            for name, b in m._buffers.items()
            # is_lazy first: an uninitialised buffer cannot tell its dtype
            if b is not None and name not in skipped and (is_lazy(b) or b.is_floating_point())
        ]
        for name, tensor, trainable in own:
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            yield dot + name, tensor, trainable


def weight_list(module: nn.Module) -> list[Weight]:
    """The weights of ``module`` (Keras' ``model.weights``), in Keras' order.

    Args:
        module: any ``nn.Module``.

    Returns:
        one :class:`Weight` per parameter and floating-point persistent buffer.

    Raises:
        NetTrainError: argument "module" when a lazy layer (``nn.LazyLinear``) is not built
            yet, so its weights have no shape.
    """
    weights = []
    for name, tensor, trainable in module_tensors(module):
        if is_lazy(tensor):
            raise NetTrainError(
                "module",
                f"the weight {name!r} is not built yet (a lazy layer), so it has no shape",
                hint="call the model on a batch first, or give input_shape= to the Model "
                "(Keras builds a model on its first call in the same way)",
            )
        weights.append(Weight(name, tuple(tensor.shape), trainable, tensor.detach()))
    return weights


def get_weights(module: nn.Module) -> list[np.ndarray]:
    """The weights' values as NumPy arrays (copies), in :func:`weight_list`'s order.

    Keras' ``model.get_weights()``. bfloat16 weights, which NumPy cannot hold, come back as
    float32 (exactly: every bfloat16 value is a float32 value).

    Raises:
        NetTrainError: as :func:`weight_list`.
    """
    arrays = []
    for weight in weight_list(module):
        value = weight.value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        arrays.append(value.numpy().copy())
    return arrays


def _checked(weight: Weight, value: Any, argument: str) -> Tensor:
    """``value`` as a tensor of the weight's dtype and device, once its shape is checked."""
    try:
        tensor = value.detach() if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise NetTrainError(
            argument,
            f"cannot be made into a tensor for the weight {weight.name!r} "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
            expected=f"an array of shape {weight.shape}",
            received=describe(value),
        ) from None
    if tensor.dtype == torch.bool or tensor.is_complex() != weight.value.is_complex():
        raise NetTrainError(
            argument,
            f"the weight {weight.name!r} takes numbers of dtype {weight.dtype}",
            expected=f"a numeric array of shape {weight.shape}",
            received=f"dtype {tensor.dtype}",
        )
    if tuple(tensor.shape) != weight.shape:
        hint = None
        if tensor.dim() == 2 and tuple(tensor.shape[::-1]) == weight.shape:
            hint = "a Keras Dense kernel is (in, out) and torch's Linear weight is (out, in): "
            hint += "pass its transpose, kernel.T"
        raise NetTrainError(
            argument,
            f"the weight {weight.name!r} has another shape",
            expected=f"shape {weight.shape}",
            received=f"shape {tuple(tensor.shape)}",
            hint=hint,
        )
    return tensor.to(device=weight.value.device, dtype=weight.dtype)


def set_weights(module: nn.Module, arrays: Sequence[Any]) -> None:
    """Assign every weight of ``module`` from ``arrays`` (Keras' ``model.set_weights``).

    Every array is checked before any weight is changed, so a failed call leaves the module as
    it was.

    Args:
        module: any ``nn.Module``.
        arrays: one array (NumPy, tensor or nested list) per weight, in :func:`weight_list`'s
            order, each of the weight's shape (torch's layout); values are converted to the
            weight's dtype.

    Raises:
        NetTrainError: argument "weights" for a wrong number of arrays, or "weights[i]" naming
            the weight, its shape and the shape received; as :func:`weight_list` for a lazy
            layer not built yet.
    """
    weights = weight_list(module)
    if isinstance(arrays, (str, bytes, Tensor, np.ndarray)) or not isinstance(arrays, Sequence):
        raise NetTrainError(
            "weights",
            "must be a list of arrays, one per weight",
            expected=f"a list of {len(weights)} arrays",
            received=describe(arrays),
        )
    if len(arrays) != len(weights):
        names = ", ".join(w.name for w in weights[:6]) + (", ..." if len(weights) > 6 else "")
        raise NetTrainError(
            "weights",
            f"the module has {len(weights)} weights ({names})",
            expected=f"{len(weights)} arrays",
            received=f"{len(arrays)} arrays",
            hint="get_weights(module) shows the order and shapes",
        )
    tensors = [
        _checked(w, a, f"weights[{i}]")
        for i, (w, a) in enumerate(zip(weights, arrays, strict=True))
    ]
    with torch.no_grad():
        for weight, tensor in zip(weights, tensors, strict=True):
            weight.value.copy_(tensor)
