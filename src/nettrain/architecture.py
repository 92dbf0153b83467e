"""Describing a net's architecture as plain data, so a saved net loads without pickle.

``nn.Sequential`` stacks of the standard layers below are written as JSON (layer type and
constructor arguments) and rebuilt on load. Any other module is recorded by its class's import
path; loading it needs the class's module to be imported already (nettrain never imports code a
file names) and the class constructible without arguments, or a fresh instance passed to
:meth:`nettrain.Net.load` (``module=MyNet()``).

A description read from a file is untrusted: :func:`check_architecture` checks every field (layer
types, argument names, types and ranges, nesting) before anything is built, and names the field
at fault (``architecture.layers[2].args.in_features``).

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

import contextlib
import inspect
import math
import re
import sys
import types
from collections.abc import Callable
from typing import Any, NamedTuple, NoReturn

import torch
from torch import nn

from .errors import NetTrainError

__all__ = ["build_module", "check_architecture", "describe_module", "shown"]

# deeper nesting than any real net has; the limit keeps a crafted file from exhausting the stack
MAX_DEPTH = 32
# sizes beyond this are no real layer's and would overflow torch's 64-bit size arithmetic
_MAX_SIZE = 2**31
_CLASS_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: how error messages quote untrusted values.

    >>> shown("x" * 100, limit=12)
    "'xxxxxxxx..."
    """
    try:
        text = repr(value)
    except RecursionError:  # a crafted value nested deeper than repr goes
        text = f"<a {type(value).__name__} nested too deeply to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- describing ----------------------------------------------------------------------------------


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


def _sizes(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _max_pool(m: Any) -> dict[str, Any]:
    return {
        "kernel_size": _sizes(m.kernel_size),
        "stride": _sizes(m.stride),
        "padding": _sizes(m.padding),
        "dilation": _sizes(m.dilation),
        "ceil_mode": m.ceil_mode,
    }


def _avg_pool(m: Any) -> dict[str, Any]:
    args = {
        "kernel_size": _sizes(m.kernel_size),
        "stride": _sizes(m.stride),
        "padding": _sizes(m.padding),
        "ceil_mode": m.ceil_mode,
        "count_include_pad": m.count_include_pad,
    }
    if hasattr(m, "divisor_override"):  # AvgPool2d has it, AvgPool1d does not
        args["divisor_override"] = m.divisor_override
    return args


def _adaptive(m: Any) -> dict[str, Any]:
    return {"output_size": _sizes(m.output_size)}


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
        "bias": m.bias is not None or not m.elementwise_affine,
    },
    nn.Embedding: lambda m: {
        "num_embeddings": m.num_embeddings,
        "embedding_dim": m.embedding_dim,
        "padding_idx": m.padding_idx,
        "max_norm": m.max_norm,
        "norm_type": m.norm_type,
        "scale_grad_by_freq": m.scale_grad_by_freq,
    },
    nn.MaxPool1d: _max_pool,
    nn.MaxPool2d: _max_pool,
    nn.AvgPool1d: _avg_pool,
    nn.AvgPool2d: _avg_pool,
    nn.AdaptiveAvgPool1d: _adaptive,
    nn.AdaptiveAvgPool2d: _adaptive,
    nn.AdaptiveMaxPool2d: _adaptive,
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
    nn.Softplus: lambda m: {"beta": m.beta, "threshold": m.threshold},
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
    """The architecture as JSON-able data: a standard layer or an ``nn.Sequential`` of them
    (nested ones too) as layer types and arguments; any other module as its class."""
    spec = _layer(module)
    if spec is not None:
        return spec
    cls = type(module)
    return {"type": "class", "class": f"{cls.__module__}:{cls.__qualname__}", "repr": repr(module)}


# ---- checking ------------------------------------------------------------------------------------


class _Arg(NamedTuple):
    """What one constructor argument may be: ``ok(value)``, described as ``expected``."""

    ok: Callable[[Any], bool]
    expected: str


def _is_int(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v < _MAX_SIZE


def _is_number(v: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    return ok and math.isfinite(v) and low <= v <= high


def _sizes_of(low: int, *, none: bool = False) -> Callable[[Any], bool]:
    def one(v: Any) -> bool:
        return (none and v is None) or _is_int(v, low)

    return lambda v: one(v) or (isinstance(v, list) and 1 <= len(v) <= 3 and all(map(one, v)))


_POS = _Arg(lambda v: _is_int(v, 1), "an integer >= 1")
_NONNEG = _Arg(lambda v: _is_int(v, 0), "an integer >= 0")
_INT = _Arg(lambda v: _is_int(v, -_MAX_SIZE), "an integer")
_DIM = _Arg(lambda v: v is None or _is_int(v, -_MAX_SIZE), "an integer or null")
_BOOL = _Arg(lambda v: isinstance(v, bool), "true or false")
_POS_SIZES = _Arg(_sizes_of(1), "an integer >= 1 or a list of 1 to 3 of them")
_NONNEG_SIZES = _Arg(_sizes_of(0), "an integer >= 0 or a list of 1 to 3 of them")
_STRIDE = _Arg(lambda v: v is None or _sizes_of(1)(v), "null, or integers >= 1")
_OUTPUT_SIZE = _Arg(_sizes_of(1, none=True), "integers >= 1 (or null)")
_PADDING = _Arg(lambda v: v in ("same", "valid") or _sizes_of(0)(v), "'same', 'valid' or sizes")
_PAD_MODE = _Arg(lambda v: v in ("zeros", "reflect", "replicate", "circular"), "'zeros', ...")
_POSITIVE = _Arg(lambda v: _is_number(v) and v > 0, "a number > 0")
_NUMBER = _Arg(_is_number, "a finite number")
_FRACTION = _Arg(lambda v: _is_number(v, 0, 1), "a number from 0 to 1")
_MOMENTUM = _Arg(lambda v: v is None or _is_number(v, 0, 1), "null or a number from 0 to 1")
_MAX_NORM = _Arg(lambda v: v is None or (_is_number(v) and v > 0), "null or a number > 0")
_PADDING_IDX = _Arg(lambda v: v is None or _is_int(v, -_MAX_SIZE), "null or an integer")
_APPROXIMATE = _Arg(lambda v: v in ("none", "tanh"), "'none' or 'tanh'")

_CONV_ARGS = {
    "in_channels": _POS,
    "out_channels": _POS,
    "kernel_size": _POS_SIZES,
    "stride": _POS_SIZES,
    "padding": _PADDING,
    "dilation": _POS_SIZES,
    "groups": _POS,
    "bias": _BOOL,
    "padding_mode": _PAD_MODE,
}
_NORM_ARGS = {
    "num_features": _POS,
    "eps": _POSITIVE,
    "momentum": _MOMENTUM,
    "affine": _BOOL,
    "track_running_stats": _BOOL,
}
_POOL_ARGS = {"kernel_size": _POS_SIZES, "stride": _STRIDE, "padding": _NONNEG_SIZES}
_MAX_POOL_ARGS = {**_POOL_ARGS, "dilation": _POS_SIZES, "ceil_mode": _BOOL}
_AVG_POOL_ARGS = {**_POOL_ARGS, "ceil_mode": _BOOL, "count_include_pad": _BOOL}

# layer type name -> the arguments a file may give it (what describe_module writes)
_ARGS: dict[str, dict[str, _Arg]] = {
    "Linear": {"in_features": _POS, "out_features": _POS, "bias": _BOOL},
    "Conv1d": _CONV_ARGS,
    "Conv2d": _CONV_ARGS,
    "Conv3d": _CONV_ARGS,
    "BatchNorm1d": _NORM_ARGS,
    "BatchNorm2d": _NORM_ARGS,
    "LayerNorm": {
        "normalized_shape": _POS_SIZES,
        "eps": _POSITIVE,
        "elementwise_affine": _BOOL,
        "bias": _BOOL,
    },
    "Embedding": {
        "num_embeddings": _POS,
        "embedding_dim": _POS,
        "padding_idx": _PADDING_IDX,
        "max_norm": _MAX_NORM,
        "norm_type": _POSITIVE,
        "scale_grad_by_freq": _BOOL,
    },
    "MaxPool1d": _MAX_POOL_ARGS,
    "MaxPool2d": _MAX_POOL_ARGS,
    "AvgPool1d": _AVG_POOL_ARGS,
    "AvgPool2d": {
        **_AVG_POOL_ARGS,
        "divisor_override": _Arg(lambda v: v is None or _POS.ok(v), "null or an integer >= 1"),
    },
    "AdaptiveAvgPool1d": {"output_size": _OUTPUT_SIZE},
    "AdaptiveAvgPool2d": {"output_size": _OUTPUT_SIZE},
    "AdaptiveMaxPool2d": {"output_size": _OUTPUT_SIZE},
    "Flatten": {"start_dim": _INT, "end_dim": _INT},
    "Dropout": {"p": _FRACTION},
    "Dropout2d": {"p": _FRACTION},
    "Softmax": {"dim": _DIM},
    "LogSoftmax": {"dim": _DIM},
    "LeakyReLU": {"negative_slope": _NUMBER},
    "ELU": {"alpha": _NUMBER},
    "GELU": {"approximate": _APPROXIMATE},
    "Softplus": {"beta": _POSITIVE, "threshold": _NUMBER},
}
assert set(_ARGS) <= set(_BY_NAME)  # every layer checked here is one describe_module writes


def _required(layer_type: str) -> list[str]:
    """The constructor arguments of a layer type that have no default."""
    parameters = inspect.signature(_BY_NAME[layer_type]).parameters.values()
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in plain and p.default is inspect.Parameter.empty]


def _fail(field: str, problem: str, expected: str | None = None, value: Any = None) -> NoReturn:
    raise NetTrainError(
        field, problem, expected=expected, received=None if value is None else shown(value)
    )


def _check_keys(entry: dict[str, Any], where: str, allowed: tuple[str, ...]) -> None:
    for key in entry:
        if key not in allowed:
            _fail(
                f"{where}.{key}" if key.isidentifier() else f"{where}[{shown(key, 40)}]",
                "is not a field of this entry",
                "only " + ", ".join(map(repr, allowed)),
            )


def _check_args(layer_type: str, args: Any, where: str) -> None:
    if not isinstance(args, dict):
        _fail(f"{where}.args", "must be an object of constructor arguments", "an object", args)
    schema = _ARGS.get(layer_type, {})
    for name, value in args.items():
        field = f"{where}.args.{name}" if name.isidentifier() else f"{where}.args[{shown(name)}]"
        if name not in schema:
            accepted = ", ".join(map(repr, schema)) if schema else "none"
            _fail(field, f"is not an argument of {layer_type}", f"arguments: {accepted}")
        if not schema[name].ok(value):
            _fail(field, "has a bad value", schema[name].expected, value)
    for name in _required(layer_type):
        if name not in args:
            _fail(f"{where}.args.{name}", f"is missing ({layer_type} needs it)")


def check_architecture(spec: Any, where: str = "architecture", depth: int = 0) -> None:
    """Check a description read from a file, field by field, before anything is built.

    Args:
        spec: the description (as :func:`describe_module` writes it, read back from JSON).
        where: the name of ``spec`` in messages; nested fields are named from it
            (``architecture.layers[2].type``).
        depth: the nesting level of ``spec`` (the checks stop at :data:`MAX_DEPTH`).

    Raises:
        NetTrainError: naming the field at fault as the argument, saying what is wrong there.
    """
    if not isinstance(spec, dict):
        _fail(where, "must be an object with a 'type'", "an object", spec)
    kind = spec.get("type")
    if not isinstance(kind, str):
        _fail(f"{where}.type", "must be a layer type name", "a string", kind)
    if kind == "Sequential":
        _check_keys(spec, where, ("type", "layers"))
        layers = spec.get("layers")
        if not isinstance(layers, list):
            _fail(f"{where}.layers", "must be a list of layers", "a list", layers)
        if depth >= MAX_DEPTH:
            _fail("architecture", f"nests Sequentials more than {MAX_DEPTH} deep")
        for i, layer in enumerate(layers):
            check_architecture(layer, f"{where}.layers[{i}]", depth + 1)
    elif kind in _BY_NAME:
        _check_keys(spec, where, ("type", "args"))
        _check_args(kind, spec.get("args", {}), where)
    elif kind == "class" and depth == 0:
        _check_keys(spec, where, ("type", "class", "repr"))
        path = spec.get("class")
        if not (isinstance(path, str) and len(path) < 500 and _CLASS_PATH.fullmatch(path)):
            _fail(f"{where}.class", "must be a class path", "'module:ClassName'", path)
        if not isinstance(spec.get("repr", ""), str):
            _fail(f"{where}.repr", "must be a string", "a string", spec.get("repr"))
    else:
        names = ", ".join(map(repr, ["Sequential", *_BY_NAME]))
        _fail(f"{where}.type", "is not a layer type nettrain rebuilds", f"one of {names}", kind)


# ---- building ------------------------------------------------------------------------------------


def _construct(spec: dict[str, Any], where: str) -> nn.Module:
    if spec["type"] == "Sequential":
        layers = [_construct(s, f"{where}.layers[{i}]") for i, s in enumerate(spec["layers"])]
        return nn.Sequential(*layers)
    args = {
        k: tuple(v) if isinstance(v, list) and k != "normalized_shape" else v
        for k, v in spec.get("args", {}).items()
    }
    try:
        return _BY_NAME[spec["type"]](**args)
    except (ValueError, TypeError, RuntimeError, AssertionError, OverflowError) as exc:
        # torch checks combinations (groups dividing channels, padding_idx in range) itself
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NetTrainError(
            f"{where}.args", f"{spec['type']} refuses these arguments ({shown(message, 120)})"
        ) from None


def _loaded_class(path: str) -> Any:
    """The object at ``module:qualname`` among the modules already imported, or None.

    Only plain dictionary lookups: a module's ``__getattr__`` (which may import more code) is
    never called for a name read from a file.
    """
    module_name, _, qualname = path.partition(":")
    target: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        if not isinstance(target, (types.ModuleType, type)):
            return None
        target = vars(target).get(part)
    return target


def build_module(
    spec: Any, module: nn.Module | None = None, *, device: str | torch.device | None = None
) -> nn.Module:
    """Rebuild a module from :func:`describe_module`'s data (checked by
    :func:`check_architecture` first), or return the given ``module``.

    Args:
        spec: the description.
        module: a fresh instance to use instead of building one (needed for classes that
            cannot be built without arguments).
        device: where to build the layers; ``"meta"`` builds shapes without memory, to compare
            with a file's tensors before anything is allocated. Classes are always built on the
            CPU (their own code may not work on another device).

    Raises:
        NetTrainError: a bad description (the argument names the field), or a class that is not
            imported already, not an ``nn.Module``, or not constructible without arguments
            while no ``module`` was given (argument "module").
    """
    check_architecture(spec)
    if module is not None:
        return module
    if spec["type"] != "class":
        with torch.device(device) if device is not None else contextlib.nullcontext():
            return _construct(spec, "architecture")
    path = spec["class"]
    target = _loaded_class(path)
    problem = "is not among the modules imported" if target is None else ""
    if not problem and not (isinstance(target, type) and issubclass(target, nn.Module)):
        problem = "is not an nn.Module class"
    if not problem:
        try:
            return target()
        except Exception as exc:  # the class's own code failed: the user must hand us the module
            problem = f"cannot be built without arguments ({type(exc).__name__})"
    raise NetTrainError(
        "module",
        f"the net's class {problem}, and no module was given",
        expected="a fresh instance of the net's class, passed as Net.load(path, module=...)",
        received=f"class {shown(path)} named in the file",
        hint="build the net as you did for training and pass it: Net.load(path, module=net); "
        "nettrain never imports a module that a file names",
    )
