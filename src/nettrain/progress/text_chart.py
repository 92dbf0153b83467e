"""A small line chart drawn with text characters, for the terminal panel's loss plot.

Lines are drawn with braille characters (each cell holds 2 x 4 dots, so a 40-column chart has
80 points across); marker series (a validation loss, one point per validation) put a ``•`` in
their cells so that the two series stay apart in plain text too, where there is no colour. The
value axis turns logarithmic when the values are all positive and span more than a factor of
:data:`LOG_SPAN` (a loss falling from 2.3 to 0.01 would otherwise be a flat line after the first
round). Where braille cannot be written (an ASCII-only stream) lines become ``*`` and markers
``o``.

:func:`plot` gives each cell with the index of the series that drew it (-1 for the axes), so
the panel can colour them; :func:`plot_lines` gives plain strings.

Example:
    >>> train = Series("train", [(0, 4.0), (1, 3.0), (2, 2.0), (3, 1.0)])
    >>> validation = Series("validation", [(3, 2.0)], marker="•")
    >>> print("\\n".join(plot_lines([train, validation], width=12, height=3)))
    4 ┤⠑⠢⣀
      │   ⠑⠢⢄  •
    1 ┤      ⠉⠢⢄
      └0───────3
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

__all__ = ["LOG_SPAN", "Series", "format_tick", "plot", "plot_lines"]

LOG_SPAN = 20.0
"""Values spanning more than this factor (all positive) are drawn on a log scale."""

# The braille dot of each (column, row) position inside a cell, as an offset from U+2800.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


@dataclass(frozen=True)
class Series:
    """One series of ``(x, y)`` points. ``marker``: draw each point as this character instead
    of joining them with a line. Non-finite values are left out (a loss not read yet)."""

    name: str
    points: Sequence[tuple[float, float]]
    marker: str | None = None


def format_tick(value: float) -> str:
    """Axis label (3 digits): ``0.01234`` -> ``'0.0123'``; ``1500`` -> ``'1.5e+03'``."""
    return f"{value:.3g}"


def _finite(series: Series) -> list[tuple[float, float]]:
    return [(x, y) for x, y in series.points if math.isfinite(x) and math.isfinite(y)]


def _span(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:  # a single value: give it some room so that it lands mid-height
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    return low, high


def _line(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """The dots from ``a`` to ``b`` (Bresenham), both ends included."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x1 > x0 else -1), (1 if y1 > y0 else -1)
    error, dots = dx + dy, []
    while True:
        dots.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return dots
        twice = 2 * error
        if twice >= dy:
            error, x0 = error + dy, x0 + sx
        if twice <= dx:
            error, y0 = error + dx, y0 + sy


def plot(
    series: Sequence[Series],
    width: int,
    height: int,
    *,
    ascii_only: bool = False,
    log: bool | None = None,
) -> list[list[tuple[str, int]]]:
    """Draw ``series`` in ``width`` x ``height + 1`` cells (the last row is the x axis).

    Args:
        series: the series, drawn in order (a later one wins a shared cell).
        width: columns in all, the value labels included.
        height: rows of plot, at least 2.
        ascii_only: draw with ``*`` and ``o`` instead of braille and the series' marker.
        log: a logarithmic value axis; None chooses it from the values (see :data:`LOG_SPAN`).

    Returns:
        rows of ``(character, series index)`` cells, index -1 for axes, labels and blanks;
        no rows when there is no finite point.
    """
    finite = [_finite(s) for s in series]
    ys = [y for points in finite for _, y in points]
    if not ys or height < 2:
        return []
    if log is None:
        log = min(ys) > 0 and max(ys) / min(ys) > LOG_SPAN
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    y_low, y_high = _span([scale(y) for y in ys])
    x_low, x_high = _span([x for points in finite for x, _ in points])
    if len({x for points in finite for x, _ in points}) == 1:
        x_low, x_high = x_low, x_low + 1.0  # one x: draw it at the left edge
    labels = [format_tick(10**y_high if log else y_high), format_tick(10**y_low if log else y_low)]
    gutter = max(len(label) for label in labels) + 1
    columns = max(width - gutter - 1, 1)
    dots_x, dots_y = columns * 2, height * 4
    bits = [[0] * columns for _ in range(height)]
    owner = [[-1] * columns for _ in range(height)]  # the series that drew last in each cell
    marks = [[""] * columns for _ in range(height)]

    def dot(x: float, y: float) -> tuple[int, int]:
        col = round((x - x_low) / (x_high - x_low) * (dots_x - 1))
        row = round((1.0 - (scale(y) - y_low) / (y_high - y_low)) * (dots_y - 1))
        return min(max(col, 0), dots_x - 1), min(max(row, 0), dots_y - 1)

    for index, (item, points) in enumerate(zip(series, finite, strict=True)):
        path = [dot(x, y) for x, y in points]
        if item.marker is not None:
            for col, row in path:
                owner[row // 4][col // 2] = index
                marks[row // 4][col // 2] = "o" if ascii_only else item.marker
            continue
        for col, row in [d for a, b in pairwise(path) for d in _line(a, b)] or path:
            bits[row // 4][col // 2] |= _DOTS[col % 2][row % 4]
            owner[row // 4][col // 2] = index
    line = "*" if ascii_only else ""
    rows: list[list[tuple[str, int]]] = []
    for r in range(height):
        label = labels[0] if r == 0 else labels[1] if r == height - 1 else ""
        cells = [(ch, -1) for ch in label.rjust(gutter - 1) + " " + ("┤" if label else "│")]
        for c in range(columns):
            if owner[r][c] < 0:
                cells.append((" ", -1))
            else:
                cells.append((marks[r][c] or line or chr(0x2800 + bits[r][c]), owner[r][c]))
        rows.append(cells)
    left, right = f"{x_low:.0f}", f"{x_high:.0f}"
    axis = (left + "─" * max(columns - len(left) - len(right), 1) + right)[:columns]
    rows.append([(ch, -1) for ch in " " * gutter + "└" + axis])
    if ascii_only:
        ascii_axes = str.maketrans("┤│└─", "||+-")
        rows = [[(ch.translate(ascii_axes), i) for ch, i in row] for row in rows]
    return [_trim(row) for row in rows]


def _trim(row: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The row without trailing blanks (so that plain text has no trailing spaces)."""
    end = len(row)
    while end and row[end - 1] == (" ", -1):
        end -= 1
    return row[:end]


def plot_lines(series: Sequence[Series], width: int, height: int, **options: bool) -> list[str]:
    """:func:`plot`'s rows as plain strings."""
    return ["".join(ch for ch, _ in row) for row in plot(series, width, height, **options)]
