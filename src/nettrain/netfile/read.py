"""Reading a net file and checking everything in it before anything is built.

A file is untrusted input: each problem is a ``NetTrainError`` with argument "path" naming the
field at fault; values from the file are quoted as received (cut short), never turned into advice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import types
import typing
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ..architecture import build_module, check_architecture, shown
from ..errors import NetTrainError, describe

__all__ = [
    "FORMAT",
    "file_name",
    "module_for",
    "read_coders",
    "read_config",
    "read_tensors",
    "readable_file",
]

FORMAT = "nettrain.net/1"
_DAMAGED = (
    "the file is damaged or was not written by Net.save; save the net again from the code that "
    "trained it (nettrain never runs code from a file)"
)
_CONFIG_KEYS = ("format", "architecture", "inputs", "outputs", "example_shapes", "targets")
_REQUIRED_KEYS = ("format", "architecture", "inputs", "outputs")


def file_name(path: Any) -> str:
    """``path`` as a str, or a NetTrainError for something that is not a path."""
    try:
        name = os.fspath(path)
    except TypeError:
        name = None
    if not isinstance(name, str) or not name:
        raise NetTrainError(
            "path",
            "must be the path of a file",
            expected="a non-empty str or pathlib.Path",
            received=describe(path),
        )
    return name


def _not_a_net(name: str) -> NetTrainError:
    return NetTrainError(
        "path",
        "is not a nettrain net file (safetensors)",
        expected="a file written by Net.save",
        received=repr(name),
        hint="nettrain never unpickles files",
    )


def _invalid(
    name: str, field: str, problem: str, expected: str | None = None, received: str | None = None
) -> NetTrainError:
    """A damaged description: the field at fault, what is wrong there, what was expected, and
    what the file holds (``received``, already quoted and cut by :func:`shown`)."""
    return NetTrainError(
        "path",
        f"{name!r} is not a valid net file: {field} {problem}",
        expected=expected,
        received=received,
        hint=_DAMAGED,
    )


def _cut(text: str | None, limit: int) -> str | None:
    """A message part made from a file's content, cut to ``limit`` characters."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def readable_file(path: Any) -> str:
    """``path`` as a str, once it is known to name an existing regular file.

    Raises:
        NetTrainError: argument "path": not a path, no such file, a directory, a device or
            pipe (reading one could block for ever), or a file that cannot be examined.
    """
    name = file_name(path)
    try:
        info = os.stat(name)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise NetTrainError(
            "path", f"cannot be read ({exc.strerror})", received=repr(name)
        ) from exc
    if info is None or not stat.S_ISREG(info.st_mode):
        problem = "no such file"
        if info is not None:
            problem = "is a directory" if stat.S_ISDIR(info.st_mode) else "is not a regular file"
        raise NetTrainError(
            "path",
            problem,
            expected="a net file written by Net.save",
            received=repr(name),
        )
    return name


def read_config(name: str) -> dict[str, Any]:
    """The description in a net file's metadata, every field checked but the coders' (which
    :func:`read_coders` checks as it builds them).

    Raises:
        NetTrainError: argument "path": not a safetensors file, no nettrain description, or a
            damaged one (naming the field at fault).
    """
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    try:
        with safe_open(name, framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise _not_a_net(name) from exc
    text = metadata.get("nettrain")
    if not isinstance(text, str):
        raise NetTrainError(
            "path",
            "is a safetensors file without nettrain's description",
            expected="a file written by Net.save",
            received=repr(name),
        )
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        raise _invalid(name, "the description", "is not JSON", "a JSON object") from None
    if not isinstance(config, dict):
        raise _invalid(name, "the description", "is not a JSON object", "an object", shown(config))
    _check_config(config, name)
    return config


def _check_config(config: dict[str, Any], name: str) -> None:
    """Check the description's keys, the architecture, the ports and the example shapes."""
    if "format" not in config:
        raise _invalid(name, "format", "is missing", repr(FORMAT))
    if config["format"] != FORMAT:
        raise NetTrainError(
            "path",
            "unknown nettrain file format",
            expected=repr(FORMAT),
            received=shown(config["format"]),
            hint="a newer nettrain may read it; or save the net again with this version",
        )
    for key in config:
        if key not in _CONFIG_KEYS:
            raise _invalid(
                name,
                shown(key, 40),
                "is not a key of the description",
                "keys " + ", ".join(_CONFIG_KEYS),
            )
    for key in _REQUIRED_KEYS:
        if key not in config:
            raise _invalid(name, key, "is missing")
    try:
        check_architecture(config["architecture"])
    except NetTrainError as exc:
        raise _invalid(name, exc.argument, exc.problem, exc.expected, exc.received) from None
    for key in ("inputs", "outputs", "example_shapes", "targets"):
        value = config.get(key, {})
        if not isinstance(value, dict):
            raise _invalid(name, key, "must be an object", "{port: ...}", shown(value))
        if key in ("inputs", "outputs") and not value:
            raise _invalid(name, key, "has no ports", "at least one port")
    for port, shape in config.get("example_shapes", {}).items():
        field = f"example_shapes[{shown(port, 40)}]"
        if port not in config["inputs"]:
            raise _invalid(name, field, "is not an input port", "one of the inputs' ports")
        ok = isinstance(shape, list) and len(shape) <= 8
        if not ok or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise _invalid(name, field, "must be a shape", "a list of integers >= 0", shown(shape))


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a coder field's type annotation (``tuple[str, ...] | None``).

    Annotations the format does not use are left to the coder's own checks.
    """
    origin = typing.get_origin(hint)
    if hint is Any:  # class names: JSON scalars, or lists of them (tuple labels)
        return _scalar(value) or (isinstance(value, list) and all(map(_scalar, value)))
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_fits, value, args))
    if hint is type(None):
        return value is None
    if hint is bool or hint is str:
        return isinstance(value, hint)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _type_text(hint: Any) -> str:
    """A coder field's annotation in JSON's terms, for messages ("a list, each a string")."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if hint is type(None):
        return "null"
    if hint is Any:
        return "a name (a string, number or boolean)"
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(map(_type_text, args))
    if typing.get_origin(hint) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list, each {_type_text(args[0])}"
        return f"a list of {len(args)}: " + ", ".join(map(_type_text, args))
    return str(hint)


def _a(what: str) -> str:
    return f"an {what}" if what[0] in "aeiou" else f"a {what}"


def read_coders(config: dict[str, Any], name: str) -> tuple[dict[str, Any], ...]:
    """The encoders of the inputs, the decoders of the outputs and the encoders of the targets
    that a checked description (:func:`read_config`) holds, each ``{port: coder or None}``.

    Raises:
        NetTrainError: argument "path", naming the coder field at fault.
    """
    return tuple(
        {
            port: None if c is None else _coder(c, f"{key}[{shown(port, 40)}]", what, name)
            for port, c in config.get(key, {}).items()
        }
        for key, what in (("inputs", "encoder"), ("outputs", "decoder"), ("targets", "encoder"))
    )


def _coder(config: Any, field: str, what: str, name: str) -> Any:
    """An encoder or decoder (``what``) built from the file's ``config``, checked field by field.

    Raises:
        NetTrainError: argument "path", naming ``field`` and the part of it at fault.
    """
    from ..coders import DECODERS, ENCODERS

    table: Mapping[str, type[Any]] = ENCODERS if what == "encoder" else DECODERS
    if not isinstance(config, dict):
        raise _invalid(
            name, field, f"must be {_a(what)} description", "an object or null", shown(config)
        )
    kind = config.get("kind")
    if kind == "function" and what == "encoder":
        raise NetTrainError(
            "path",
            f"{field} is a function encoder, and a function's code is not saved in a file",
            received=repr(name),
            hint="load the net and attach the encoder again: "
            "Net(loaded.module, inputs={port: encoder('function', function=your_function)})",
        )
    if kind not in table:
        kinds = ", ".join(repr(k) for k in table if k != "function")
        raise _invalid(
            name, f"{field}.kind", f"is not {_a(what)} kind", f"one of {kinds}", shown(kind)
        )
    cls = table[str(kind)]
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    for f in dataclasses.fields(cls):
        needed = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if needed and f.name not in config:
            raise _invalid(name, f"{field}.{f.name}", f"is missing (a {kind} {what} needs it)")
    for key, value in config.items():
        if key == "kind":
            continue
        where = f"{field}.{key}" if key.isidentifier() else f"{field}[{shown(key, 40)}]"
        if key not in fields:
            known = ", ".join(map(repr, fields)) or "none"
            raise _invalid(name, where, f"is not a field of the {kind} {what}", f"fields {known}")
        if not _fits(value, hints.get(key)):
            raise _invalid(
                name, where, "has a value of the wrong type", _type_text(hints[key]), shown(value)
            )
    try:
        return cls.from_config(config)
    except NetTrainError as exc:
        # the coder's own check of a value (a negative length, an unknown choice); its hint may
        # have been made from the file's text, so only the problem and the value are kept
        raise _invalid(
            name,
            f"{field}.{_cut(exc.argument, 40)}",
            str(_cut(exc.problem, 200)),
            _cut(exc.expected, 200),
            _cut(exc.received, 60),
        ) from None
    except (TypeError, ValueError) as exc:
        raise _invalid(name, field, f"cannot be built ({type(exc).__name__})") from None


def _mismatch(expected: Mapping[str, Tensor], tensors: Mapping[str, Tensor]) -> str | None:
    """How the file's tensors differ from what a module holds (names, shapes, kinds), or None."""
    missing = [k for k in expected if k not in tensors]
    if missing:
        return f"has no tensor {shown(missing[0])} (the module has {len(expected)} tensors)"
    extra = [k for k in tensors if k not in expected]
    if extra:
        return f"has a tensor {shown(extra[0])} that the module does not have"
    for key, want in expected.items():
        got = tensors[key]
        if tuple(got.shape) != tuple(want.shape):
            return (
                f"has tensor {shown(key)} of shape {tuple(got.shape)}, "
                f"where the module's is {tuple(want.shape)}"
            )
        if got.is_floating_point() != want.is_floating_point():
            return (
                f"has tensor {shown(key)} of dtype {got.dtype}, where the module's is {want.dtype}"
            )
    return None


def module_for(
    spec: dict[str, Any], module: nn.Module | None, tensors: dict[str, Tensor], name: str
) -> nn.Module:
    """The module with the file's weights: ``module`` when given, else built from ``spec``.

    A described architecture is built first on the "meta" device (shapes, no memory) and
    compared with the tensors, so a file cannot make nettrain allocate layers its tensors do not
    pay for; the tensors then become the module's own (same dtypes, bit for bit). Tensors whose
    name starts with a dot are not the module's (a Keras-face model file keeps its optimizer's
    as ``.optimizer/N``; no ``state_dict`` key starts with a dot) and are left out.
    """
    tensors = {k: v for k, v in tensors.items() if not k.startswith(".")}
    if module is not None or spec["type"] == "class":
        built = build_module(spec, module)
        problem = _mismatch(built.state_dict(), tensors)
        if problem is not None:
            raise NetTrainError(
                "module" if module is not None else "path",
                f"the weights in the file do not fit this module: the file {problem}",
                expected="a module like the one the file was saved from",
                received=type(built).__name__,
            )
        built.load_state_dict(tensors)
        return built
    try:
        built = build_module(spec, device="meta")
    except NetTrainError as exc:
        raise _invalid(name, exc.argument, exc.problem) from None
    problem = _mismatch(built.state_dict(), tensors)
    if problem is not None:
        raise _invalid(name, "the tensors do not match the architecture: the file", problem)
    built.load_state_dict(tensors, assign=True)
    if any(t.is_meta for t in (*built.parameters(), *built.buffers())):
        # a buffer that is not saved (none of the layers rebuilt here has one, but torch may
        # add some): build the layers for real and copy the weights in
        built = build_module(spec)
        built.load_state_dict(tensors)
    return built


def read_tensors(name: str) -> dict[str, Tensor]:
    """Every tensor of a net file that :func:`read_config` accepted, in memory of its own.

    Raises:
        NetTrainError: argument "path" when the tensors cannot be read.
    """
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    tensors: dict[str, Tensor] = {}
    try:
        with safe_open(name, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 - a safetensors handle is not a dict
                tensor = f.get_tensor(key)
                # safetensors' buffers are not 64-byte aligned, and torch's kernels take other,
                # not bit-identical, paths on such memory: the copy makes the loaded net compute
                # exactly as the saved one did
                tensors[key] = tensor.clone() if tensor.data_ptr() % 64 else tensor
    except (SafetensorError, OSError, ValueError) as exc:
        raise _not_a_net(name) from exc
    return tensors
