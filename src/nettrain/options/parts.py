"""Part specifications: which parameters of a net a rule applies to.

The same part syntax serves ``learning_rate_multipliers``, ``l2_regularization``,
``gradient_clipping`` and ``weight_clipping`` (and later the update schedule):

- a number: that value for every parameter;
- a dict ``{part: value}`` or a list of ``(part, value)`` pairs, tried in order, first match wins;
  parameters that no rule matches get the default.

A part is one of:

- a glob over parameter names: ``"encoder.*"``, ``"*.bias"``, ``"0.weight"``, ``"*"``;
- a module name: ``"encoder"`` matches every parameter under the submodule ``encoder``;
- an int ``i``: the i-th top-level child module (negative counts from the end);
- a ``range(m, n)`` or ``slice(m, n)``: top-level children m .. n-1;
- a tuple of parts: any of them.

NumPy integers are ints here (``np.int64(2)``, ``slice(np.int64(0), np.int64(2))``), and NumPy
numbers are numbers: every value comes out a Python ``float``. Booleans are neither parts nor
values.

Example:
    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> resolve_parts(net, {"*.bias": 0.0, 0: 0.5}, default=1.0, argument="multipliers")
    {'0.weight': 0.5, '0.bias': 0.0, '2.weight': 1.0, '2.bias': 0.0}
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence

from torch import nn

from ..errors import NetTrainError, describe
from ..scalars import as_int, as_real, is_bool

__all__ = ["plain_part", "resolve_parts"]

Part = str | int | range | slice | tuple


def _child_names(net: nn.Module) -> list[str]:
    return [name for name, _ in net.named_children()]


def _matcher(net: nn.Module, part: object, argument: str) -> Callable[[str], bool]:
    children = _child_names(net)
    modules = {name for name, _ in net.named_modules() if name}
    if isinstance(part, tuple):
        matchers = [_matcher(net, p, argument) for p in part]
        return lambda name: any(m(name) for m in matchers)
    if is_bool(part):
        raise NetTrainError(argument, "a part cannot be a bool", received=repr(part))
    index = as_int(part)
    if index is not None:
        try:
            child = children[index]
        except IndexError:
            raise NetTrainError(
                argument,
                f"part index {index} is out of range",
                expected=f"an index into the net's {len(children)} top-level children",
                received=repr(index),
            ) from None
        return lambda name: name.startswith(child + ".")
    if isinstance(part, range | slice):
        indices = range(len(children))[
            part if isinstance(part, slice) else slice(part.start, part.stop, part.step)
        ]
        prefixes = tuple(children[i] + "." for i in indices)
        return lambda name: name.startswith(prefixes)
    if isinstance(part, str):
        if part in modules:
            prefix = part + "."
            return lambda name: name.startswith(prefix)
        return lambda name: fnmatch.fnmatchcase(name, part)
    raise NetTrainError(
        argument,
        "cannot read this part specification",
        expected="a parameter-name glob, a module name, an int index, a range or a tuple of these",
        received=describe(part),
    )


def _rules(spec: object, argument: str) -> list[tuple[object, object]]:
    if isinstance(spec, Mapping):
        return list(spec.items())
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        rules = []
        for i, rule in enumerate(spec):
            if not (isinstance(rule, Sequence) and not isinstance(rule, str) and len(rule) == 2):
                raise NetTrainError(
                    argument,
                    f"rule {i} is not a (part, value) pair",
                    expected="a list of (part, value) pairs",
                    received=describe(rule),
                )
            rules.append((rule[0], rule[1]))
        return rules
    raise NetTrainError(
        argument,
        "cannot read this specification",
        expected="a number, a dict {part: value} or a list of (part, value) pairs",
        received=describe(spec),
    )


def _check_value(value: object, argument: str, allow_negative: bool) -> float:
    number = as_real(value)
    if number is None:
        raise NetTrainError(argument, "values must be numbers", received=describe(value))
    if not math.isfinite(number) or (number < 0 and not allow_negative):
        expected = "a finite number" if allow_negative else "a finite number >= 0"
        raise NetTrainError(argument, "value out of range", expected=expected, received=repr(value))
    return number


def plain_part(part: object) -> object:
    """``part`` with its NumPy integers made Python ints (inside tuples and slices too).

    For recording a part as the user meant it (``2``, not ``np.int64(2)``) in descriptions and
    results; anything that is not an integer is returned as it is.

    >>> import numpy as np
    >>> plain_part((np.int64(2), "*.bias")), plain_part(slice(np.int8(0), np.int8(2)))
    ((2, '*.bias'), slice(0, 2, None))
    """
    if isinstance(part, tuple):
        return tuple(plain_part(p) for p in part)
    if isinstance(part, slice):
        return slice(*(plain_part(p) for p in (part.start, part.stop, part.step)))
    index = as_int(part)
    return part if index is None else index


def resolve_parts(
    net: nn.Module,
    spec: object,
    *,
    default: float,
    argument: str,
    allow_negative: bool = False,
    unmatched_ok: bool = False,
) -> dict[str, float]:
    """Map every parameter name of ``net`` to the value the spec gives it (first rule wins).

    Args:
        net: the module whose ``named_parameters()`` are resolved.
        spec: a number, a dict ``{part: value}`` or a list of ``(part, value)`` pairs (Python or
            NumPy numbers; see the module docstring for the parts).
        default: the value for parameters no rule matches.
        argument: the option's name, for error messages.
        allow_negative: whether negative values are allowed (learning-rate multipliers).
        unmatched_ok: if False, a rule that matches no parameter is an error (a typo, usually).

    Returns:
        ``{parameter name: value}`` in the net's parameter order.

    Raises:
        NetTrainError: for a malformed spec, a bad value or a rule that matches nothing.
    """
    names = [name for name, _ in net.named_parameters()]
    if as_real(spec) is not None:
        value = _check_value(spec, argument, allow_negative)
        return dict.fromkeys(names, value)
    rules = [
        (part, _matcher(net, part, argument), _check_value(v, argument, allow_negative))
        for part, v in _rules(spec, argument)
    ]
    result: dict[str, float] = {}
    for name in names:
        result[name] = default
        for _, match, value in rules:
            if match(name):
                result[name] = value
                break
    if not unmatched_ok:
        # A rule shadowed by an earlier one is fine; a rule that matches nothing is a typo.
        unused = [part for part, match, _ in rules if not any(match(n) for n in names)]
        if unused:
            raise NetTrainError(
                argument,
                f"part {plain_part(unused[0])!r} matches no parameter of the net",
                expected="a glob or module name among: "
                + ", ".join(names[:8])
                + (" ..." if len(names) > 8 else ""),
                received=repr(plain_part(unused[0])),
                hint="check the spelling; parameter names come from net.named_parameters()",
            )
    return result
