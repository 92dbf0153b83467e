"""The report's data and net section: the data's form and size, the ports, the net.

The net is the result's ``trained_net``: a plain ``nn.Module``, or a ``nettrain.Net`` (a
module with ports, encoders and decoders: its ``module`` is counted and shown), or absent (a
custom loop's result has none). A lazy layer not built yet has no size: its parameters are
left out of the count, and the count says so.

Example:
    >>> import torch.nn as nn
    >>> net_rows(nn.Linear(3, 2))
    [('class', 'Linear (torch.nn.modules.linear)'), ('parameters', '8 (8 trainable)')]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn
from torch.nn.parameter import is_lazy

from ..plots.values import Values, get
from .page import escape, section, table

__all__ = ["data_section", "net_rows", "port_rows"]

_ARCHITECTURE_LINES = 200  # the net's printed form beyond this is cut (a ResNet's is long)


def _class_name(module: nn.Module) -> str:
    """``Linear (torch.nn.modules.linear)``: the class, then where it is defined."""
    kind = type(module)
    return f"{kind.__qualname__} ({kind.__module__})"


def _module_of(net: Any) -> nn.Module | None:
    """The module a ``nettrain.Net`` wraps, else ``net`` itself when it is a module."""
    from ..net import Net

    if isinstance(net, Net):
        return net.module
    return net if isinstance(net, nn.Module) else None


def net_rows(net: Any) -> list[tuple[str, str]]:
    """The net's class (``nettrain.Net`` around its module's) and its parameter count."""
    module = _module_of(net)
    if module is None:
        return [("class", type(net).__name__)]
    name = _class_name(module)
    if module is not net:
        name = f"nettrain.Net around {name}"
    params = list(module.parameters())
    built = [p for p in params if not is_lazy(p)]
    total = sum(p.numel() for p in built)
    trainable = sum(p.numel() for p in built if p.requires_grad)
    count = f"{total:,} ({trainable:,} trainable)"
    if len(built) < len(params):
        count += f" + {len(params) - len(built)} lazy tensors not built yet"
    return [("class", name), ("parameters", count)]


def _coder(coder: Any, shape: Any = None) -> str:
    if coder is not None:
        describe = getattr(coder, "describe", None)
        return str(describe()) if callable(describe) else str(coder)
    return "tensor" + (f" of shape {list(shape)} per example" if shape else "")


def port_rows(values: Values) -> list[tuple[str, str, str]]:
    """``(kind, port, what)`` for each port: a ``nettrain.Net``'s inputs, outputs and targets
    with their coders; else the output ports the losses read, their targets, and the
    encoders train attached."""
    net = get(values, "trained_net")
    losses = get(values, "loss_function")
    losses = losses if isinstance(losses, Mapping) else {}
    inputs, outputs, targets = (getattr(net, k, None) for k in ("inputs", "outputs", "targets"))
    if isinstance(inputs, Mapping) and isinstance(outputs, Mapping):
        shapes = getattr(net, "example_shapes", {}) or {}
        rows = [("input", str(p), _coder(e, shapes.get(p))) for p, e in inputs.items()]
        rows += [("output", str(p), _coder(d)) for p, d in outputs.items()]
        rows += [("target", str(p), _coder(e)) for p, e in (targets or {}).items()]
        return rows
    encoders = get(values, "encoders")
    encoders = encoders if isinstance(encoders, Mapping) else {}
    rows = [("output", str(p), "tensor") for p in losses]
    for d in losses.values():
        target = d.get("target") if isinstance(d, Mapping) else None
        if target is not None and target not in encoders:
            rows.append(("target", str(target), "tensor"))
    rows += [("encoder", str(p), str(e)) for p, e in encoders.items()]
    return rows


def _count(value: Any) -> str | None:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else None


def _architecture(net: Any) -> str:
    lines = repr(net).splitlines()
    if len(lines) > _ARCHITECTURE_LINES:
        cut = len(lines) - _ARCHITECTURE_LINES
        lines = [*lines[:_ARCHITECTURE_LINES], f"... ({cut} more lines)"]
    return "\n".join(lines)


def data_section(values: Values) -> str:
    """The data (its form, the training and validation examples, what was skipped), the
    ports with their encoders and decoders, and the net (class, size, printed form)."""
    skipped = get(values, "skipped_training_data")
    count = skipped.get("count") if isinstance(skipped, Mapping) else None
    rows = [
        ("input form", get(values, "input_form")),
        ("training examples", _count(get(values, "training_examples"))),
        ("validation examples", _count(get(values, "validation_examples"))),
        ("skipped training examples", _count(count)),
    ]
    body = [table([r for r in rows if r[1] is not None], key=True)]
    ports = port_rows(values)
    if ports:
        body.append("<h3>Ports</h3>")
        body.append(table([(k, p, w) for k, p, w in ports], head=["kind", "port", "what"]))
    net = get(values, "trained_net")
    body.append("<h3>Net</h3>")
    if net is None:
        body.append("<p>This result holds no net (a custom training loop's).</p>")
    else:
        body.append(table(net_rows(net), key=True))
        body.append(f'<pre class="architecture">{escape(_architecture(net))}</pre>')
    return section("data-and-net", "Data and net", "\n".join(body))
