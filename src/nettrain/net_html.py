"""``nettrain.Net`` as HTML (its ``_repr_html_``): its ports and coders, the module and its size.

Example:
    >>> import torch.nn as nn
    >>> from nettrain.net import Net
    >>> text = net_html(Net(nn.Linear(2, 1)))
    >>> "Linear" in text and "3 parameters" in text and "tensor" in text
    True
"""

from __future__ import annotations

import html
from typing import Any

from torch.nn.parameter import is_lazy

__all__ = ["net_html"]


def _coder(coder: Any, shape: tuple[int, ...] | None = None) -> str:
    if coder is not None:
        return str(coder.describe())
    return "tensor" + (f" of shape {list(shape)} per example" if shape else "")


def net_html(net: Any) -> str:
    """A short table: each input port with its encoder, each output port with its decoder,
    the targets' encoders (if any), the module's class and its parameter count."""
    rows = [("input", p, _coder(e, net.example_shapes.get(p))) for p, e in net.inputs.items()]
    rows += [("output", p, _coder(d)) for p, d in net.outputs.items()]
    rows += [("target", p, _coder(e)) for p, e in net.targets.items()]
    params = list(net.module.parameters())
    # a lazy layer has no size before its first batch: count the others and say so
    count = sum(p.numel() for p in params if not is_lazy(p))
    size = f"{count:,} parameters" + (
        " + lazy ones not built yet" if any(map(is_lazy, params)) else ""
    )
    rows.append(("module", type(net.module).__name__, size))
    body = "".join(
        f'<tr><th style="text-align:left">{html.escape(kind)}</th>'
        f'<td style="text-align:left">{html.escape(name)}</td>'
        f'<td style="text-align:left">{html.escape(what)}</td></tr>'
        for kind, name, what in rows
    )
    return f"<table><caption>nettrain.Net</caption>{body}</table>"
