"""A small line chart as an SVG string, for the notebook panel and the results' HTML.

Pure Python (no matplotlib: a notebook panel redraws it every half second, and the HTML of a
result must not need an optional dependency). The output depends only on the arguments, so
tests can compare it; coordinates are written with one decimal.

Example:
    >>> svg = line_chart({"training": ([1, 2, 3], [0.9, 0.5, 0.4])}, title="loss")
    >>> svg.startswith("<svg") and svg.count("<polyline") == 1
    True
    >>> "no data yet" in line_chart({"training": ([], [])})
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

__all__ = ["PALETTE", "line_chart"]

# colour-blind-safe (Okabe-Ito), in the order the series are given
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
LOG_SPAN = 20.0  # automatic log scale when the positive values span more than this factor
_FONT = 10  # px; tick labels and legend


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float) -> str:
    """A tick label: short, and the same on every machine (``1e-05``, ``0.25``, ``1,200``)."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    if abs(value) >= 1000 and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) in [lo, hi]."""
    span = hi - lo
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 12) + 0.0)  # + 0.0: no "-0"
        k += 1
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in [lo, hi] (log10 units); 1, 2, 5 times them if fewer than two."""
    decades = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    ticks = [float(d) for d in decades]
    if len(ticks) < 2:
        ticks = [
            math.log10(m) + d
            for d in range(math.floor(lo) - 1, math.ceil(hi) + 1)
            for m in (1.0, 2.0, 5.0)
            if lo - 1e-9 <= math.log10(m) + d <= hi + 1e-9
        ]
    return ticks if len(ticks) >= 2 else [lo, hi]


def _thin(points: list[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    """At most ``most`` points, evenly spaced by index, the first and last kept: a panel
    redrawn every half second must not carry 100,000 batch losses."""
    if len(points) <= most:
        return points
    step = (len(points) - 1) / (most - 1)
    return [points[round(i * step)] for i in range(most)]


def _usable(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]], log: bool | None
) -> dict[str, list[tuple[float, float]]]:
    """Each series' finite points (positive ones too for a log scale)."""
    out = {}
    for name, (xs, ys) in series.items():
        pts = []
        for x, y in zip(xs, ys, strict=False):
            try:
                fx, fy = float(x), float(y)
            except (TypeError, ValueError):
                continue  # a tensor of several values, None: not a point
            if math.isfinite(fx) and math.isfinite(fy) and (not log or fy > 0):
                pts.append((fx, fy))
        out[name] = pts
    return out


def _choose_log(points: dict[str, list[tuple[float, float]]]) -> bool:
    ys = [y for pts in points.values() for _, y in pts]
    return bool(ys) and min(ys) > 0 and max(ys) / min(ys) > LOG_SPAN


def _padded(lo: float, hi: float) -> tuple[float, float]:
    if hi == lo:
        pad = abs(lo) * 0.1 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    width: int = 360,
    height: int = 160,
    log_y: bool | None = None,
    x_label: str = "batches",
    title: str | None = None,
) -> str:
    """A line chart of ``{name: (xs, ys)}`` as an ``<svg>`` element.

    Args:
        series: each line's x and y values, drawn in the order given (one ``<polyline>`` per
            series that has a point; a series without one appears in the legend only).
        width, height: the size in pixels.
        log_y: a logarithmic y axis; None chooses one when all values are positive and span
            more than a factor of 20 (a loss falling from 2.3 to 0.01).
        x_label: the x axis' name.
        title: written at the top left.

    Returns:
        the SVG text. Points with a NaN or infinite coordinate are left out (and, on a log
        axis, those at or below zero); with no point at all the chart says "no data yet".
    """
    points = _usable(series, log_y)
    # an automatic log scale needs every value positive, so nothing more is left out
    log = _choose_log(points) if log_y is None else log_y
    left, right, top, bottom = 44, 10, 20, 30
    plot_w, plot_h = max(width - left - right, 10), max(height - top - bottom, 10)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{_FONT}" '
        f'role="img" aria-label="{_text(title or "chart")}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        parts.append(f'<text x="4" y="13" font-weight="bold">{_text(title)}</text>')
    every = [p for pts in points.values() for p in pts]
    if not every:
        parts.append(
            f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" '
            f'fill="#888">no data yet</text></svg>'
        )
        return "".join(parts)

    def fy(y: float) -> float:
        return math.log10(y) if log else y

    x_lo, x_hi = min(x for x, _ in every), max(x for x, _ in every)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    y_lo, y_hi = _padded(min(fy(y) for _, y in every), max(fy(y) for _, y in every))

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (fy(y) - y_lo) / (y_hi - y_lo) * plot_h

    axis = 'stroke="#444" stroke-width="1"'
    parts.append(f'<path d="M{left},{top}V{top + plot_h}H{left + plot_w}" fill="none" {axis}/>')
    y_ticks = _log_ticks(y_lo, y_hi) if log else _nice_ticks(y_lo, y_hi)
    for t in y_ticks:
        y = top + plot_h - (t - y_lo) / (y_hi - y_lo) * plot_h
        label = _number(10.0**t) if log else _number(t)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 3}" y="{y + 3:.1f}" text-anchor="end">{_text(label)}</text>'
        )
    for t in _nice_ticks(x_lo, x_hi):
        x = px(t)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 3}" '
            f'{axis}/><text x="{x:.1f}" y="{top + plot_h + 13}" text-anchor="middle">'
            f"{_text(_number(t))}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 3}" text-anchor="middle" '
        f'fill="#444">{_text(x_label)}{" (log y)" if log else ""}</text>'
    )
    legend_x = width - right
    for i, name in reversed(list(enumerate(points))):  # right to left, from the right edge
        colour = PALETTE[i % len(PALETTE)]
        text_w = 6 * len(str(name)) + 18
        legend_x -= text_w
        parts.append(
            f'<line x1="{legend_x}" y1="10" x2="{legend_x + 12}" y2="10" stroke="{colour}" '
            f'stroke-width="2"/><text x="{legend_x + 15}" y="13">{_text(name)}</text>'
        )
    for i, (name, pts) in enumerate(points.items()):
        if not pts:
            continue
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in _thin(pts, 2 * plot_w))
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'data-series="{_text(name)}"/>'
        )
        if len(pts) == 1:  # a line of one point draws nothing: mark it
            x, y = pts[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)
