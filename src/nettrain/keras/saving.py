"""``model.save(path)`` / ``load_model(path)``: a whole model in one net file, never pickled.

The file is nettrain's net file (:mod:`nettrain.netfile`, what :meth:`nettrain.Net.save`
writes): one safetensors file whose metadata holds, as JSON, the net's description under
"nettrain" (architecture, ports) and, under "nettrain.keras", what the Keras face adds:

- ``function``: the ``"module:function"`` that builds the net, when the net is one nettrain
  cannot describe as data (and its keyword arguments, JSON);
- ``compile``: the compile settings (optimizer name and configuration, loss, metrics), JSON;
- ``optimizer``: the optimizer's ``state_dict`` as JSON in which each tensor is a reference
  ``{"tensor": ".optimizer/3"}`` to a tensor of the file (step counts and moments stay bit for
  bit); tuples, integer keys and non-finite numbers are tagged so that the state comes back
  exactly as ``torch.optim`` gave it;
- ``extra``: anything else JSON can hold.

The module's tensors are its ``state_dict`` under their own names, so :meth:`nettrain.Net.load`
reads a file saved without optimizer state, and :func:`load_model` reads any net file
(its compile settings and optimizer state are then None). Optimizer tensors are named
``.optimizer/N``: a leading dot, which no ``state_dict`` key can have.

What is rebuilt without the user's code (as Keras rebuilds a model from its config): an
``nn.Sequential`` of standard layers, nested ones too, and the built-in nets of
:mod:`nettrain.nets`. A net saved with ``architecture=build`` (a function, or its
``"module:function"`` name, with keyword arguments) is rebuilt by calling that function with the
saved arguments, once the user hands it over: ``load_model(path, builders=[build])``, as Keras
calls only the ``custom_objects`` it is given. The file only names the function: nettrain never
imports or calls code because a file says so (a crafted file could otherwise call any imported
function, ``os:system``, with arguments of its choosing). Any other module is loaded into a
fresh instance the user builds: ``load_model(path, module=MyNet())``.

Example:
    >>> import os, tempfile, torch, torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> opt = torch.optim.Adam(net.parameters())
    >>> net(torch.ones(2, 4)).sum().backward(); opt.step()
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> _ = save_model(net, path, compile_config={"loss": "mse"}, optimizer_state=opt)
    >>> loaded = load_model(path)
    >>> torch.equal(loaded.module[2].weight, net[2].weight), loaded.compile_config
    (True, {'loss': 'mse'})
    >>> sorted(loaded.optimizer_state["state"][0])
    ['exp_avg', 'exp_avg_sq', 'step']
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from .. import netfile, nets
from ..architecture import shown
from ..errors import NetTrainError, describe
from ..net import Net

__all__ = ["KERAS_FORMAT", "LoadedModel", "load_model", "save_model"]

KERAS_FORMAT = "nettrain.keras/1"
_SECTION = "nettrain.keras"
_SECTION_KEYS = ("format", "function", "compile", "optimizer", "extra")
_OPTIMIZER = ".optimizer/"
_FUNCTION = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# deeper than any optimizer state; the limit keeps a crafted file from exhausting the stack
_MAX_DEPTH = 32
_DAMAGED = (
    "save the model again from the code that trained it (nettrain never runs code from a file)"
)


@dataclass(frozen=True)
class LoadedModel:
    """What :func:`load_model` read.

    Attributes:
        module: the net with the file's weights and buffers, in evaluation mode.
        architecture: the file's description of the net (as
            :func:`nettrain.architecture.describe_module` writes it).
        function: the ``"module:function"`` that built it, or None.
        compile_config: the compile settings as saved (JSON data), or None.
        optimizer_state: a ``torch.optim`` ``state_dict`` (pass it to the new optimizer's
            ``load_state_dict``), or None.
        extra: the extra data as saved, or None.
    """

    module: nn.Module
    architecture: dict[str, Any]
    function: str | None
    compile_config: dict[str, Any] | None
    optimizer_state: dict[str, Any] | None
    extra: dict[str, Any] | None


# ---- the optimizer's state as JSON plus tensors --------------------------------------------------


def _encode(value: Any, tensors: dict[str, Tensor], where: str) -> Any:
    """``value`` as JSON data: every dict, tuple, tensor and non-finite float tagged, so that
    :func:`_decode` gives back the same types (torch's state has int keys and tuple betas)."""
    if isinstance(value, Tensor):
        key = f"{_OPTIMIZER}{len(tensors)}"
        tensors[key] = value.detach().cpu().contiguous()
        return {"tensor": key}
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise NetTrainError(
                    "optimizer_state",
                    f"{where} has a key the file format cannot hold",
                    expected="str or int keys",
                    received=describe(k),
                )
            items.append([k, _encode(v, tensors, f"{where}[{k!r}]")])
        return {"dict": items}
    raise NetTrainError(
        "optimizer_state",
        f"{where} holds a value the file format cannot hold",
        expected="tensors, numbers, strings, booleans, None, lists, tuples and dicts",
        received=describe(value),
    )


def _damaged(name: str, field: str, problem: str) -> NetTrainError:
    return NetTrainError(
        "path", f"{name!r} is not a valid model file: {field} {problem}", hint=_DAMAGED
    )


def _decode(value: Any, tensors: Mapping[str, Tensor], used: set[str], ctx: tuple[str, str]) -> Any:
    """The inverse of :func:`_encode`, checking every node (``ctx``: file name, field)."""
    name, where = ctx
    if where.count("[") > _MAX_DEPTH:
        raise _damaged(name, "optimizer", f"nests more than {_MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, tensors, used, (name, f"{where}[{i}]")) for i, v in enumerate(value)]
    if not (isinstance(value, dict) and len(value) == 1):
        raise _damaged(name, where, "is not a tagged value")
    tag, body = next(iter(value.items()))
    if (
        tag == "tensor"
        and isinstance(body, str)
        and body.startswith(_OPTIMIZER)
        and body in tensors
    ):
        used.add(body)
        return tensors[body]
    if tag == "float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "tuple" and isinstance(body, list):
        return tuple(_decode(v, tensors, used, (name, f"{where}[{i}]")) for i, v in enumerate(body))
    if tag == "dict" and isinstance(body, list):
        out: dict[Any, Any] = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2 and type(item[0]) in (int, str)):
                raise _damaged(name, where, "has an entry that is not a [key, value] pair")
            out[item[0]] = _decode(item[1], tensors, used, (name, f"{where}[{shown(item[0])}]"))
        return out
    raise _damaged(name, where, f"has an unknown or bad tag {shown(tag, 30)}")


# ---- saving -------------------------------------------------------------------------------------


def _json_section(value: Any, argument: str) -> Any:
    """``value`` (a dict of JSON data, or None) checked to survive the trip through JSON."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise NetTrainError(argument, "must be a dict", expected="a dict", received=describe(value))
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise NetTrainError(
            argument,
            f"cannot be written as JSON ({str(exc).splitlines()[0]})",
            expected="a dict of str keys and JSON values (numbers, strings, lists, dicts)",
            hint="describe objects by name and configuration, e.g. {'optimizer': 'adam', "
            "'learning_rate': 0.001}",
        ) from None


def _name_of(function: Any) -> str | None:
    """``"module:qualname"`` of a function the user hands us, or None for other objects."""
    if isinstance(function, str):
        return function if _FUNCTION.fullmatch(function) else None
    if not callable(function) or isinstance(function, nn.Module):
        return None
    spec = f"{getattr(function, '__module__', '')}:{getattr(function, '__qualname__', '')}"
    return spec if _FUNCTION.fullmatch(spec) else None  # lambdas and local functions: None


def _has_lazy(module: nn.Module) -> bool:
    return any(is_lazy(t) for t in (*module.parameters(), *module.buffers()))


def _function(architecture: Any) -> dict[str, Any] | None:
    if architecture is None:
        return None
    target: Any = architecture
    kwargs: Any = {}
    if isinstance(architecture, tuple) and len(architecture) == 2:
        target, kwargs = architecture
    spec = _name_of(target)
    if spec is None:
        raise NetTrainError(
            "architecture",
            "must name the function that builds the net",
            expected="a module-level function or its name 'module:function', optionally as "
            "(function, {keyword arguments})",
            received=describe(architecture),
            hint="lambdas and functions defined inside other functions have no importable name",
        )
    return {"function": spec, "kwargs": _json_section(kwargs, "architecture")}


def save_model(
    module: nn.Module,
    path: str | os.PathLike[str],
    *,
    architecture: Any = None,
    compile_config: Mapping[str, Any] | None = None,
    optimizer_state: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``module`` and what the Keras face knows of it to one file (see the module doc).

    The write is :func:`nettrain.netfile.write`'s: atomic (a temporary file renamed over
    ``path``), safetensors and JSON only.

    Args:
        module: the net; its ``state_dict`` (parameters and persistent buffers) is saved.
        path: the file (``.safetensors`` by convention, as Keras' ``.keras``); its folder
            must exist.
        architecture: None (default): the net is described as data when it is an
            ``nn.Sequential`` of standard layers or a built-in net, else by its class; or
            the module-level function that builds it, or its ``"module:function"`` name, as
            ``(function, {keyword arguments})`` when it takes any (JSON values), which
            ``load_model(path, builders=[function])`` calls.
        compile_config: the compile settings, a dict of JSON data (tuples come back as lists).
        optimizer_state: a ``torch.optim.Optimizer`` or its ``state_dict()``.
        extra: any other dict of JSON data.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        NetTrainError: argument "module" for something not an ``nn.Module``; "architecture",
            "compile_config", "optimizer_state" or "extra" for values the file cannot hold;
            "path" as :meth:`nettrain.Net.save`.
    """
    if not isinstance(module, nn.Module):
        raise NetTrainError(
            "module", "must be a torch module", expected="an nn.Module", received=describe(module)
        )
    if _has_lazy(module):
        raise NetTrainError(
            "module",
            "has lazy layers that are not built yet, so their weights have no shape to save",
            hint="call the model on a batch first (or summary(module, input_shape=...)), as "
            "Keras builds a model before it saves it",
        )
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    state = optimizer_state
    if isinstance(state, torch.optim.Optimizer):
        state = state.state_dict()
    if state is not None and not isinstance(state, Mapping):
        raise NetTrainError(
            "optimizer_state",
            "must be an optimizer or its state_dict()",
            expected="a torch.optim.Optimizer or a dict",
            received=describe(optimizer_state),
        )
    section = {
        "format": KERAS_FORMAT,
        "function": _function(architecture),
        "compile": _json_section(compile_config, "compile_config"),
        "optimizer": None if state is None else _encode(state, tensors, "optimizer_state"),
        "extra": _json_section(extra, "extra"),
    }
    metadata = {
        "nettrain": json.dumps(Net(module).config()),
        _SECTION: json.dumps(section, allow_nan=False),
    }
    return netfile.write(path, tensors, metadata)


# ---- loading ------------------------------------------------------------------------------------


def _read_section(name: str) -> dict[str, Any]:
    """The checked "nettrain.keras" section of a file :func:`netfile.read_config` accepted;
    an empty one for a plain net file."""
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    try:
        with safe_open(name, framework="pt") as f:
            text = (f.metadata() or {}).get(_SECTION)
    except (SafetensorError, OSError, ValueError) as exc:
        raise _damaged(name, "the file", "cannot be read") from exc
    if text is None:
        return dict.fromkeys(_SECTION_KEYS)
    try:
        section = json.loads(text)
    except (ValueError, RecursionError):
        raise _damaged(name, _SECTION, "is not JSON") from None
    if not isinstance(section, dict) or section.get("format") != KERAS_FORMAT:
        raise NetTrainError(
            "path",
            f"{name!r} has a model section of an unknown format",
            expected=repr(KERAS_FORMAT),
            received=shown(section.get("format") if isinstance(section, dict) else section),
            hint="a newer nettrain may read it; or save the model again with this version",
        )
    for key in section:
        if key not in _SECTION_KEYS:
            raise _damaged(name, shown(key, 40), "is not a key of the model section")
    for key in ("compile", "extra"):
        if section.get(key) is not None and not isinstance(section[key], dict):
            raise _damaged(name, key, "must be an object or null")
    function = section.get("function")
    if function is not None and not (
        isinstance(function, dict)
        and set(function) == {"function", "kwargs"}
        and isinstance(function["function"], str)
        and _FUNCTION.fullmatch(function["function"])
        and isinstance(function["kwargs"], dict)
    ):
        raise _damaged(name, "function", "must be {'function': 'module:function', 'kwargs': {}}")
    return section


def _builders(builders: Any) -> dict[str, Any]:
    """``{"module:function": function}`` from the functions (or the mapping) the user gave."""
    if builders is None:
        return {}
    pairs = builders.items() if isinstance(builders, Mapping) else ((None, b) for b in builders)
    table = {}
    for key, function in pairs:
        spec = key if key is not None else _name_of(function)
        if not (isinstance(spec, str) and callable(function) and _FUNCTION.fullmatch(spec)):
            raise NetTrainError(
                "builders",
                "must be the functions that build nets, or {'module:function': function}",
                expected="module-level functions returning an nn.Module",
                received=describe(function if key is None else key),
            )
        table[spec] = function
    return table


def _from_function(function: dict[str, Any], builders: dict[str, Any]) -> nn.Module:
    """The net, built by the user's own function that the file names.

    The file only names the function: it is called when the user handed it over in
    ``builders`` (as Keras calls only the custom objects it was given). Looking it up among the
    imported modules instead would let a crafted file call any imported function (``os:system``)
    with arguments of its choosing.
    """
    spec = function["function"]
    if spec not in builders:
        known = ", ".join(map(repr, builders)) or "none"
        raise NetTrainError(
            "builders",
            f"the net is built by {spec!r}, which was not given, and no module was given",
            expected=f"builders=[{spec.rpartition(':')[2]}] (the function itself)",
            received=f"builders {known}",
            hint="pass the function that built the net: load_model(path, builders=[fn]), or a "
            "fresh net: load_model(path, module=net); nettrain never imports or calls code "
            "a file names by itself",
        )
    try:
        built = builders[spec](**function["kwargs"])
    except Exception as exc:  # the user's builder failed: say what it raised, in one line
        text = " ".join(str(exc).split())[:200]
        raise NetTrainError(
            "builders",
            f"{spec!r} raised {type(exc).__name__}: {text} when called with the saved "
            f"arguments {shown(function['kwargs'], 120)}",
            hint="call it yourself with those arguments to see the traceback",
        ) from exc
    if not isinstance(built, nn.Module):
        raise NetTrainError(
            "builders",
            f"{spec!r} did not return a torch module",
            expected="an nn.Module",
            received=describe(built),
        )
    return built


def _module(
    config: dict[str, Any],
    section: dict[str, Any],
    module: nn.Module | None,
    tensors: dict[str, Tensor],
    name: str,
    builders: dict[str, Any],
) -> nn.Module:
    spec = config["architecture"]
    if module is None and section.get("function") is not None:
        module = _from_function(section["function"], builders)
    if module is None and spec["type"] == "class":
        module = nets.rebuild(name)  # the built-in nets whose sizes the tensors tell
    if module is not None and _has_lazy(module):
        # torch's lazy layers take their shapes from a state_dict loaded into them; the
        # comparison below needs shapes, so they are built from the file's tensors first
        try:
            module.load_state_dict(tensors)
        except RuntimeError as exc:
            raise NetTrainError(
                "module",
                "the weights in the file do not fit this module "
                f"({' '.join(str(exc).split())[-200:]})",
                expected="a module like the one the file was saved from",
                received=type(module).__name__,
            ) from None
    try:
        return netfile.module_for(spec, module, tensors, name)
    except NetTrainError as exc:
        if exc.argument != "module" or module is not None:
            raise
        # the class cannot be built by nettrain: say how to load it, in load_model's terms
        raise NetTrainError(
            "module",
            f"the net's class {spec['class']!r} cannot be rebuilt from the file, and no module "
            "was given",
            expected="a fresh instance of the net's class: load_model(path, module=MyNet(...))",
            received=exc.received,
            hint="build the net as you did for training and pass it; or save it with "
            "architecture=the function that builds it, and load it with builders=[function]",
        ) from None


def load_model(
    path: str | os.PathLike[str],
    module: nn.Module | None = None,
    *,
    builders: Iterable[Callable[..., nn.Module]]
    | Mapping[str, Callable[..., nn.Module]]
    | None = None,
) -> LoadedModel:
    """Read a file written by :func:`save_model` (or by :meth:`nettrain.Net.save`).

    Only safetensors and JSON are read; everything is checked before anything is built (as
    :meth:`nettrain.Net.load` does), and nothing is unpickled or imported.

    Args:
        path: the file.
        module: a fresh instance of the net, needed when the file's net is neither rebuilt from
            its description nor built by one of ``builders``; it gets the file's values copied
            in (keeping its own dtypes).
        builders: the functions that build nets (Keras' ``custom_objects``): when the file says
            its net was built by ``"my_nets:build"`` (``save_model(...,
            architecture=my_nets.build)``), the function of that ``module:qualname`` here is
            called with the saved keyword arguments. A mapping ``{"module:function": fn}``
            gives a function under another name (one defined in a script's ``__main__``).

    Returns:
        a :class:`LoadedModel`; its module is in evaluation mode, with the weights and buffers
        bit for bit as saved.

    Raises:
        NetTrainError: argument "path" for a missing, truncated, damaged or foreign file (a
            pickle, say), naming the field at fault; "module" when the net cannot be rebuilt
            and no ``module`` was given (saying how to give one), or when the weights do not
            fit the ``module`` given; "builders" when the file's function is not among them,
            or fails, or returns something other than a module.
    """
    table = _builders(builders)
    name = netfile.readable_file(path)
    config = netfile.read_config(name)
    section = _read_section(name)
    tensors = netfile.read_tensors(name)
    own = {k: v for k, v in tensors.items() if not k.startswith(_OPTIMIZER)}
    state = None
    if section.get("optimizer") is not None:
        used: set[str] = set()
        state = _decode(section["optimizer"], tensors, used, (name, "optimizer"))
        if not isinstance(state, dict):
            raise _damaged(name, "optimizer", "is not a state_dict")
        stray = sorted(set(tensors) - set(own) - used)
        if stray:
            raise _damaged(name, f"the tensor {shown(stray[0])}", "belongs to nothing")
    elif len(own) != len(tensors):
        raise _damaged(name, "the optimizer's tensors", "are there without its state")
    built = _module(config, section, module, own, name, table)
    built.eval()
    function = section.get("function")
    return LoadedModel(
        module=built,
        architecture=config["architecture"],
        function=None if function is None else function["function"],
        compile_config=section.get("compile"),
        optimizer_state=state,
        extra=section.get("extra"),
    )
