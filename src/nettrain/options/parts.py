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

__all__ = ["resolve_parts"]

Part = str | int | range | slice | tuple


def _child_names(net: nn.Module) -> list[str]:
    return [name for name, _ in net.named_children()]


def _matcher(net: nn.Module, part: object, argument: str) -> Callable[[str], bool]:
    children = _child_names(net)
    modules = {name for name, _ in net.named_modules() if name}
    if isinstance(part, tuple):
        matchers = [_matcher(net, p, argument) for p in part]
        return lambda name: any(m(name) for m in matchers)
    if isinstance(part, bool):
        raise NetTrainError(argument, "a part cannot be a bool", received=repr(part))
    if isinstance(part, int):
        try:
            child = children[part]
        except IndexError:
            raise NetTrainError(
                argument,
                f"part index {part} is out of range",
                expected=f"an index into the net's {len(children)} top-level children",
                received=repr(part),
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
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NetTrainError(argument, "values must be numbers", received=describe(value))
    number = float(value)
    if not math.isfinite(number) or (number < 0 and not allow_negative):
        expected = "a finite number" if allow_negative else "a finite number >= 0"
        raise NetTrainError(argument, "value out of range", expected=expected, received=repr(value))
    return number


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
        spec: a number, a dict ``{part: value}`` or a list of ``(part, value)`` pairs.
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
    if isinstance(spec, int | float) and not isinstance(spec, bool):
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
                f"part {unused[0]!r} matches no parameter of the net",
                expected="a glob or module name among: "
                + ", ".join(names[:8])
                + (" ..." if len(names) > 8 else ""),
                received=repr(unused[0]),
                hint="check the spelling; parameter names come from net.named_parameters()",
            )
    return result
