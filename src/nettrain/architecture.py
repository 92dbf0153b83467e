"""Describing a net's architecture as plain data, so a saved net loads without pickle.

``nn.Sequential`` stacks of the standard layers below are written as JSON (layer type and
constructor arguments) and rebuilt on load. Any other module is recorded by its class's import
path; loading it needs the class's module to be imported already (nettrain never imports code a
file names) and the class constructible without arguments, or a fresh instance passed to
:meth:`nettrain.Net.load` (``module=MyNet()``).

Example:
    >>> import torch.nn as nn
    >>> spec = describe_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Softmax(dim=-1)))
    >>> spec["layers"][0]
    {'type': 'Linear', 'args': {'in_features': 2, 'out_features': 3, 'bias': True}}
    >>> build_module(spec)
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): ReLU()
      (2): Softmax(dim=-1)
    )
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from torch import nn

from .errors import NetTrainError

__all__ = ["build_module", "describe_module"]


def _conv(m: Any) -> dict[str, Any]:
    return {
        "in_channels": m.in_channels,
        "out_channels": m.out_channels,
        "kernel_size": list(m.kernel_size),
        "stride": list(m.stride),
        "padding": m.padding if isinstance(m.padding, str) else list(m.padding),
        "dilation": list(m.dilation),
        "groups": m.groups,
        "bias": m.bias is not None,
        "padding_mode": m.padding_mode,
    }


def _norm(m: Any) -> dict[str, Any]:
    return {
        "num_features": m.num_features,
        "eps": m.eps,
        "momentum": m.momentum,
        "affine": m.affine,
        "track_running_stats": m.track_running_stats,
    }


def _pool(m: Any) -> dict[str, Any]:
    return {"kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding}


# layer type -> the constructor arguments that rebuild it
_LAYERS: dict[type[nn.Module], Callable[[Any], dict[str, Any]]] = {
    nn.Linear: lambda m: {
        "in_features": m.in_features,
        "out_features": m.out_features,
        "bias": m.bias is not None,
    },
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.Conv3d: _conv,
    nn.BatchNorm1d: _norm,
    nn.BatchNorm2d: _norm,
    nn.LayerNorm: lambda m: {
        "normalized_shape": list(m.normalized_shape),
        "eps": m.eps,
        "elementwise_affine": m.elementwise_affine,
    },
    nn.Embedding: lambda m: {
        "num_embeddings": m.num_embeddings,
        "embedding_dim": m.embedding_dim,
        "padding_idx": m.padding_idx,
    },
    nn.MaxPool1d: _pool,
    nn.MaxPool2d: _pool,
    nn.AvgPool1d: _pool,
    nn.AvgPool2d: _pool,
    nn.AdaptiveAvgPool1d: lambda m: {"output_size": m.output_size},
    nn.AdaptiveAvgPool2d: lambda m: {"output_size": m.output_size},
    nn.AdaptiveMaxPool2d: lambda m: {"output_size": m.output_size},
    nn.Flatten: lambda m: {"start_dim": m.start_dim, "end_dim": m.end_dim},
    nn.Dropout: lambda m: {"p": m.p},
    nn.Dropout2d: lambda m: {"p": m.p},
    nn.Softmax: lambda m: {"dim": m.dim},
    nn.LogSoftmax: lambda m: {"dim": m.dim},
    nn.LeakyReLU: lambda m: {"negative_slope": m.negative_slope},
    nn.ELU: lambda m: {"alpha": m.alpha},
    nn.GELU: lambda m: {"approximate": m.approximate},
    nn.ReLU: lambda m: {},
    nn.Tanh: lambda m: {},
    nn.Sigmoid: lambda m: {},
    nn.SiLU: lambda m: {},
    nn.Identity: lambda m: {},
    nn.Softplus: lambda m: {},
}
_BY_NAME = {cls.__name__: cls for cls in _LAYERS}


def _layer(module: nn.Module) -> dict[str, Any] | None:
    if type(module) is nn.Sequential:
        layers = [_layer(child) for child in module]
        if any(layer is None for layer in layers):
            return None
        return {"type": "Sequential", "layers": layers}
    describe = _LAYERS.get(type(module))
    return None if describe is None else {"type": type(module).__name__, "args": describe(module)}


def describe_module(module: nn.Module) -> dict[str, Any]:
    """The architecture as JSON-able data: layers of a standard ``nn.Sequential``, or the class."""
    spec = _layer(module) if type(module) is nn.Sequential else None
    if spec is not None:
        return spec
    cls = type(module)
    return {"type": "class", "class": f"{cls.__module__}:{cls.__qualname__}", "repr": repr(module)}


def build_module(spec: dict[str, Any], module: nn.Module | None = None) -> nn.Module:
    """Rebuild a module from :func:`describe_module`'s data (or check a given one matches).

    Raises:
        NetTrainError: when the class cannot be imported or built without arguments and no
            ``module`` was given, or the given module is of another class.
    """
    if spec["type"] == "Sequential" and module is None:
        return nn.Sequential(*[build_module(layer) for layer in spec["layers"]])
    if spec["type"] in _BY_NAME and module is None:
        args = {
            k: tuple(v) if isinstance(v, list) and k != "normalized_shape" else v
            for k, v in spec["args"].items()
        }
        return _BY_NAME[spec["type"]](**args)
    if module is not None:
        return module
    path = spec["class"]
    module_name, _, qualname = path.partition(":")
    try:
        # Only classes whose code is already loaded are looked up: a file never makes nettrain
        # import (run) a module it names, and only nn.Module subclasses are constructed.
        target: Any = sys.modules[module_name]
        for part in qualname.split("."):
            target = getattr(target, part)
        if not (isinstance(target, type) and issubclass(target, nn.Module)):
            raise TypeError(f"{path} is not an nn.Module class")
        return target()
    except Exception as exc:  # any failure here means: the user must hand us the module
        raise NetTrainError(
            "module",
            f"cannot rebuild the net's class {path} without arguments ({type(exc).__name__})",
            expected="a fresh instance of the class, passed as Net.load(path, module=...)",
            received="no module",
            hint=f"construct it as when it was trained: {spec.get('repr', path)[:120]}",
        ) from exc
