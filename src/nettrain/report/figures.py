"""The report's plots: every figure of ``final_plots`` as an embedded PNG, with its caption.

Each figure becomes an ``<img>`` whose ``src`` is a ``data:image/png;base64,...`` URI, so the
report stays one file. Without matplotlib (the optional extra ``nettrain[plots]``) the section
says how to install it, and the rest of the report is written as usual.

Example:
    >>> caption("accuracy")
    'accuracy against rounds: each round’s training value and each validation’s.'
    >>> png_size(bytes.fromhex("89504e470d0a1a0a0000000d49484452000002bc000001c2"))
    (700, 450)
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from ..errors import NetTrainError
from ..plots.backend import INSTALL
from .page import escape, section

__all__ = ["caption", "figures_section", "png_size"]

_CAPTIONS = {
    "loss": "The loss against batches: every batch (faint), the mean of each round (bold) and "
    "each validation.",
    "confusion_matrix": "The confusion matrix of the last validation (else of the last round): "
    "a row per true class, a column per predicted class, each cell the examples in it.",
    "roc_curve": "The ROC curves of the last validation (else of the last round): one per "
    "class, with the area under each, and the diagonal of chance.",
}


def caption(key: str) -> str:
    """What the figure ``key`` of ``final_plots`` shows, in a sentence."""
    return _CAPTIONS.get(
        key,
        f"{key} against rounds: each round’s training value and each validation’s.",
    )


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height in pixels, from its header."""
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _figures(result: Any) -> Mapping[str, Any] | None:
    """The result's ``final_plots`` (drawn from its values when it lacks the property), or
    None when matplotlib cannot be imported."""
    from ..plots import require

    try:
        require("the report's plots")
    except NetTrainError:
        return None
    if "final_plots" in result:
        return result["final_plots"]
    from ..plots import final_plots

    return final_plots(result)  # a mapping of values, or a result made without the property


def _figure_html(key: str, figure: Any) -> str:
    from ..plots import figure_data_uri

    uri = figure_data_uri(figure)
    title = figure.axes[0].get_title() if figure.axes else ""
    text = caption(key) + (f" ({title})" if title else "")
    # the image's own size (savefig crops to what is drawn), so the page keeps its place
    width, height = png_size(base64.b64decode(uri.partition(",")[2][:64]))
    return (
        f'<figure id="figure-{escape(key)}"><img src="{uri}" alt="{escape(key)}" '
        f'width="{width}" height="{height}">'
        f"<figcaption><b>{escape(key)}</b>: {escape(text)}</figcaption></figure>"
    )


def figures_section(result: Any) -> str:
    """Every figure with its caption, or the line saying how to get them."""
    figures = _figures(result)
    if figures is None:
        body = (
            '<p class="note no-plots">The plots need matplotlib, which is not installed: '
            f"<code>{escape(INSTALL)}</code>, then write the report again.</p>"
        )
    elif not figures:
        body = "<p>Nothing was recorded to plot.</p>"
    else:
        body = '<div class="figures">' + "".join(_figure_html(k, f) for k, f in figures.items())
        body += "</div>"
    return section("plots", "Plots", body)
