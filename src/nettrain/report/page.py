"""The report's HTML: its style sheet, the page around the sections, tables, values as text.

Everything here escapes what it is given: a value, a caption or a name from a result can hold
``<`` or ``&`` (a class named ``Lin<ear>``, a port ``"x&y"``) and must show as written, never
as markup. The page is self-contained: the style sheet is inline, there is no script and no
reference to anything outside the file.

Example:
    >>> text = table([("batch size", 32), ("method", "<adam>")], key=True)
    >>> text.split("</tr>")[1]
    '<tr data-key="method"><th>method</th><td>&lt;adam&gt;</td>'
    >>> show({"beta1": 0.9, "frozen": []}), show(1e-05), show(None)
    ('beta1: 0.9; frozen: none', '1e-05', '–')
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["ACCENT", "escape", "page", "section", "show", "table"]

# the headings' colour: one no matplotlib default uses, so a screenshot test can find the
# headings by their pixels (the plots draw in C0 blue and C1 orange)
ACCENT = "#6a1b9a"

_CSS = f"""
:root {{ color-scheme: light; }}
body {{ margin: 0; background: #ffffff; color: #1d1d1f;
  font: 15px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; }}
header {{ background: {ACCENT}; color: #ffffff; padding: 20px 32px 16px; }}
header h1 {{ margin: 0 0 4px; font-size: 26px; }}
header p {{ margin: 0; opacity: 0.9; }}
main {{ max-width: 1040px; margin: 0 auto; padding: 8px 32px 40px; }}
h2 {{ color: {ACCENT}; border-bottom: 3px solid {ACCENT}; padding-bottom: 4px;
  margin: 32px 0 12px; font-size: 21px; }}
h3 {{ color: {ACCENT}; margin: 20px 0 8px; font-size: 16px; }}
table {{ border-collapse: collapse; margin: 8px 0 12px; }}
th, td {{ text-align: left; vertical-align: top; padding: 4px 12px 4px 8px;
  border-bottom: 1px solid #e3e3e8; }}
th {{ font-weight: 600; white-space: nowrap; }}
thead th {{ background: #f3eef7; }}
td.number {{ text-align: right; font-variant-numeric: tabular-nums; }}
pre {{ background: #f6f6f8; border: 1px solid #e3e3e8; padding: 10px 12px; font-size: 13px;
  white-space: pre-wrap; overflow-wrap: anywhere; }}
p.lead {{ font-size: 16px; }}
p.note {{ background: #fff8e1; border-left: 4px solid #f0b400; padding: 8px 12px; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 24px; }}
figure {{ margin: 0; max-width: 100%; }}
figure img {{ display: block; max-width: 100%; height: auto; border: 1px solid #e3e3e8; }}
figcaption {{ font-size: 13px; color: #555555; max-width: 720px; margin-top: 4px; }}
"""


_NUMBER = re.compile(r"[-+]?[\d,.]+(e[-+]?\d+)?|nan|inf|-inf|–")


def escape(value: object) -> str:
    """``value`` as text, HTML-escaped (quotes too: the result may go in an attribute)."""
    return html.escape(str(value), quote=True)


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{value:.1f}"
    return f"{value:.6g}"


def show(value: Any) -> str:
    """``value`` as plain text for a table cell (not escaped): numbers briefly, mappings as
    ``key: value; ...``, sequences joined with commas, empty ones as "none", None as "–"."""
    if value is None:
        return "–"
    if isinstance(value, bool | int | str):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return show(value.item())
        return f"tensor of shape {list(value.shape)}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {show(v)}" for k, v in value.items()) or "none"
    if isinstance(value, Sequence):
        return ", ".join(show(v) for v in value) or "none"
    return str(value)


def _key(label: str) -> str:
    """A row's ``data-key``: its label in snake_case (what a test or a script looks rows up by)."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _cell(text: str, number: bool) -> str:
    """A ``<td>``; in a column of figures aligned right when it holds one (not a sentence)."""
    if number and _NUMBER.fullmatch(text):
        return f'<td class="number">{escape(text)}</td>'
    return f"<td>{escape(text)}</td>"


def table(
    rows: Iterable[tuple[Any, ...]],
    *,
    head: Sequence[str] = (),
    key: bool | str = False,
    numbers: Sequence[int] = (),
) -> str:
    """A table: the first cell of each row a header, the others data (all escaped).

    ``head``: the column titles; ``key``: give each row a ``data-key``, its label in
    snake_case (after ``key`` when a string: ``"call."``, so that two tables of a section
    never share keys); ``numbers``: the columns aligned right, as figures. No rows: no
    table ("").
    """
    prefix = key if isinstance(key, str) else ""
    rows = list(rows)
    if not rows:
        return ""  # nothing to show: no empty frame
    parts = ["<table>"]
    if head:
        parts.append(
            "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>"
        )
    for label, *cells in rows:
        attribute = f' data-key="{escape(prefix + _key(str(label)))}"' if key else ""
        tds = "".join(_cell(show(c), i + 1 in numbers) for i, c in enumerate(cells))
        parts.append(f"<tr{attribute}><th>{escape(label)}</th>{tds}</tr>")
    parts.append("</table>")
    return "".join(parts)


def section(ident: str, title: str, body: str) -> str:
    """A ``<section>`` with its ``<h2>`` (``body`` is HTML already)."""
    return f'<section id="{escape(ident)}">\n<h2>{escape(title)}</h2>\n{body}\n</section>'


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    """The whole document: the header (``title``, ``subtitle``), then ``sections`` (HTML)."""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><p>{subtitle}</p></header>\n"
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
