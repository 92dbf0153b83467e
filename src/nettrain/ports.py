"""Which data columns feed the net, and what the net's outputs are called.

A net's input ports are the parameters of its ``forward``; the data's columns are matched to them
by name. A net with one input takes the column "input" (any case) as well. Every other column is
a target. Outputs: a tensor is the port "output"; a dict of tensors gives one port per key.

Example:
    >>> import torch.nn as nn
    >>> bind_inputs(nn.Linear(3, 2), ("input", "target"), argument="data")
    PortBinding(inputs=('input',), targets=('target',))
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from .errors import NetTrainError, describe

__all__ = ["PortBinding", "bind_inputs", "forward_parameters", "output_ports"]

SINGLE_INPUT_NAMES = ("input", "inputs", "x")


@dataclass(frozen=True)
class PortBinding:
    """``inputs``: columns passed to ``net.forward`` positionally, in order; ``targets``: the
    rest."""

    inputs: tuple[str, ...]
    targets: tuple[str, ...]


def forward_parameters(net: nn.Module) -> tuple[list[str], list[str]]:
    """The names of ``net.forward``'s positional parameters: (all of them, the required ones)."""
    try:
        signature = inspect.signature(net.forward)
    except (TypeError, ValueError):
        return ["input"], ["input"]
    names, required = [], []
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
            if p.default is p.empty:
                required.append(p.name)
        elif p.kind == p.VAR_POSITIONAL and not names:
            names.append("input")
            required.append("input")
    return names, required


def bind_inputs(net: nn.Module, columns: tuple[str, ...], *, argument: str) -> PortBinding:
    """Match data columns to the net's input ports.

    Raises:
        NetTrainError: when a required input port has no column, naming both sides.
    """
    names, required = forward_parameters(net)
    by_name = [c for c in columns if c in names]
    if by_name and all(r in columns for r in required):
        inputs = tuple(n for n in names if n in columns)
    elif len(required) <= 1 and len(names) >= 1:
        generic = [c for c in columns if c.lower() in SINGLE_INPUT_NAMES]
        if len(generic) != 1:
            raise NetTrainError(
                argument,
                f"cannot tell which column feeds the net's input {names[0]!r}",
                expected=f'a column named "input" or {names[0]!r}',
                received="columns " + ", ".join(repr(c) for c in columns),
                hint='name the input column "input" (and the target column "target")',
            )
        inputs = (generic[0],)
    else:
        missing = [r for r in required if r not in columns]
        raise NetTrainError(
            argument,
            "the data has no column for the net's input port(s) " + ", ".join(map(repr, missing)),
            expected="columns named after the parameters of net.forward: " + ", ".join(names),
            received="columns " + ", ".join(repr(c) for c in columns),
            hint="rename the data's columns to match the forward() parameters",
        )
    return PortBinding(inputs, tuple(c for c in columns if c not in inputs))


def output_ports(output: object) -> dict[str, torch.Tensor]:
    """Name the net's outputs: a tensor is {"output": t}; a dict of tensors keeps its keys.

    Raises:
        NetTrainError: for other return types.
    """
    if isinstance(output, torch.Tensor):
        return {"output": output}
    if isinstance(output, Mapping) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in output.items()
    ):
        return dict(output)
    raise NetTrainError(
        "net",
        "forward() returned something nettrain cannot train on",
        expected="a tensor, or a dict of tensors named by strings (one per output port)",
        received=describe(output),
        hint="make forward() return a tensor or a dict {port name: tensor}",
    )
