"""A user's own net for the command line and ``nettrain.nets.make``: ``"module:function"``.

The module is imported (from the current folder too, when the command line says so), the
function is called with whichever of the offered keyword arguments it names, and everything
that can go wrong (no such module or function, an argument nettrain cannot give, the function
raising, something that is not an ``nn.Module`` coming back) is a ``NetTrainError`` on "net".

Example:
    >>> net_from_function("torch.nn:Identity", {"dataset": "Digits"})
    Identity()
    >>> try:
    ...     net_from_function("json:dumps", {"dataset": "Digits"})
    ... except NetTrainError as error:
    ...     print(error.problem)
    'json:dumps' needs the argument 'obj', which nettrain does not give
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from torch import nn

from .architecture import shown
from .errors import NetTrainError, close_matches, describe

__all__ = ["net_from_function"]


def _one_line(exc: BaseException) -> str:
    """``Type: message`` of an exception from the user's code, on one line, cut short."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _import_function(spec: str, known: tuple[str, ...]) -> Any:
    """The object ``module:function`` names (importing the module runs the user's code).

    Raises:
        NetTrainError: argument "net": a malformed name, a missing module or attribute, or an
            import that raised (saying what it raised).
    """
    module_name, _, function_name = spec.partition(":")
    parts = [*module_name.split("."), *function_name.split(".")]
    if not all(part.isidentifier() for part in parts):
        raise NetTrainError(
            "net",
            f"{spec!r} is not a net name nor of the form module:function",
            expected="one of " + ", ".join(map(repr, known)) + ", or e.g. 'my_nets:build'",
            received=repr(spec),
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise NetTrainError(
                "net",
                f"cannot import {spec!r}: there is no module {missing!r}",
                expected="'module:function' naming a module in the current folder or on the "
                "Python path",
                received=repr(spec),
                hint=f"check the spelling, or run nettrain in the folder holding {missing}.py",
            ) from None
        raise NetTrainError("net", f"importing {module_name!r} raised {_one_line(exc)}") from exc
    except Exception as exc:  # the user's module failed while it was imported
        raise NetTrainError("net", f"importing {module_name!r} raised {_one_line(exc)}") from exc
    for depth, part in enumerate(function_name.split(".")):
        if not hasattr(target, part):
            owner = ".".join([module_name, *function_name.split(".")[:depth]])
            near = close_matches(part, [n for n in dir(target) if not n.startswith("_")])
            raise NetTrainError(
                "net",
                f"cannot import {spec!r}: {owner!r} has no {part!r}",
                expected="a function that returns an nn.Module",
                received=repr(spec),
                hint="did you mean " + " or ".join(map(repr, near)) + "?" if near else None,
            )
        target = getattr(target, part)
    return target


def net_from_function(spec: str, offered: dict[str, Any], known: tuple[str, ...] = ()) -> nn.Module:
    """Import ``module:function`` and call it with the keyword arguments it names, taken from
    ``offered`` (``dataset``, ``in_channels``, ``image_size``, ``classes``, ``vocabulary``);
    ``known``: the built-in net names, for the message about a malformed name.

    Raises:
        NetTrainError: argument "net" when the function cannot be imported, is not callable,
            needs an argument nettrain does not have, raises (saying what), or returns
            something that is not an ``nn.Module``.
    """
    target = _import_function(spec, known)
    if not callable(target):
        raise NetTrainError(
            "net",
            f"{spec!r} is not callable",
            expected="a function that returns an nn.Module",
            received=describe(target),
        )
    try:
        parameters = dict(inspect.signature(target).parameters)
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        parameters = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    needed = [
        p.name
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and (p.name not in offered or p.kind is inspect.Parameter.POSITIONAL_ONLY)
    ]
    if needed:
        raise NetTrainError(
            "net",
            f"{spec!r} needs the argument {needed[0]!r}, which nettrain does not give",
            expected="a function whose arguments are among " + ", ".join(offered),
            received=shown(f"{spec}{inspect.signature(target)}", 120),
            hint="give the other arguments defaults, or wrap the function in one of your own",
        )
    kwargs = {k: v for k, v in offered.items() if takes_all or k in parameters}
    try:
        module = target(**kwargs)
    except Exception as exc:  # the user's function failed: say what it raised, in one line
        raise NetTrainError(
            "net",
            f"{spec!r} raised {_one_line(exc)}",
            hint="call the function in Python to see the traceback",
        ) from exc
    if not isinstance(module, nn.Module):
        raise NetTrainError(
            "net",
            f"{spec!r} did not return a torch module",
            expected="an nn.Module",
            received=describe(module),
        )
    return module
