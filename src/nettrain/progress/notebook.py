"""The notebook panel: training progress as one HTML output, updated in place.

Inside a Jupyter kernel the terminal panel cannot redraw (a notebook shows what a cell prints as
a growing stream), so ``training_progress_reporting="auto"`` shows a :class:`NotebookPanel`
there: one ``display_data`` output, created when training starts and afterwards only updated
(``update_display_data``), so the notebook keeps one panel per run however long it trains, and
the saved notebook holds its final state. It needs IPython only (no ipywidgets), so it works in
a bare kernel, JupyterLab, VS Code and Colab alike.

The panel shows what the terminal panel shows: round and batch with progress bars, elapsed
time and ETA, speed, learning rate, the current and best training and validation losses and
scalar measurements, and the loss chart (inline SVG, :mod:`nettrain.progress.svg_chart`).

Example (the HTML is built without IPython):
    >>> live = {"round": 2, "max_rounds": 5, "batch": 3, "batches_per_round": 10,
    ...         "absolute_batch": 13, "round_loss": 0.5, "time_elapsed": 3.0}
    >>> text = panel_html(live, status="training")
    >>> "2 / 5" in text and "0.5000" in text and "<svg" in text
    True
    >>> in_notebook()  # in plain Python (here: the doctests)
    False
"""

from __future__ import annotations

import html
import math
import numbers
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..state import REASONS
from .printer import format_seconds
from .svg_chart import line_chart

__all__ = [
    "NotebookPanel",
    "format_value",
    "higher_is_better",
    "in_notebook",
    "panel_html",
    "scalar",
]

# keys where larger is better; any other key (loss, error_rate, mse, ...) is best when lowest
_HIGHER_BETTER = ("accuracy", "auc", "precision", "recall", "f1", "r2", "kappa", "matthews")
STATUS = {
    "starting": "starting…",
    "training": "training…",
    "training_complete": "training complete",
    "training_stopped": "training stopped",
    "weights_diverged": "weights diverged",
    "interrupted": "interrupted",
}
_BOX = "font-family:sans-serif;font-size:12px;line-height:1.4"
_CELL = "padding:1px 8px 1px 0;text-align:left;border:none"
_NUM = "padding:1px 8px 1px 0;text-align:right;border:none;font-variant-numeric:tabular-nums"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (a notebook, JupyterLab, VS Code, Colab).

    False in a terminal IPython and in plain Python. IPython is never imported here: a kernel
    has always imported it already, so a process where it is not imported is no kernel.
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:  # a half-initialised IPython: treat it as none
        return False
    if shell is None:
        return False
    if any(c.__name__ == "ZMQInteractiveShell" for c in type(shell).__mro__):
        return True
    return getattr(shell, "kernel", None) is not None  # other kernels' shells (Colab's ...)


def higher_is_better(key: str) -> bool:
    """Whether the best value of measurement ``key`` is its highest.

    >>> higher_is_better("accuracy"), higher_is_better("macro_f1"), higher_is_better("loss")
    (True, True, False)
    """
    name = key.lower()
    return any(word in name for word in _HIGHER_BETTER)


def scalar(value: Any) -> float | None:
    """``value`` as a float if it is one number (not a bool, tensor or None), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def format_value(value: float | None) -> str:
    """A loss or measurement for a table: four decimals, or three digits in e-notation for
    very small or large values; "–" for none.

    >>> format_value(0.25), format_value(3.2e-6), format_value(None), format_value(math.nan)
    ('0.2500', '3.200e-06', '–', 'nan')
    """
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        return f"{value:.3e}"
    return f"{value:.4f}"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _bar(done: float, total: float | None, label: str) -> str:
    """``label`` and, when the total is known, a bar filled to ``done / total`` (divs, not
    ``<progress>``: they look the same in every front end and in a saved notebook)."""
    if not total:
        return _esc(label)
    part = min(max(done / total, 0.0), 1.0)
    return (
        f'<span style="display:inline-block;width:120px;height:8px;background:#e4e4e4;'
        f'border-radius:4px;overflow:hidden;vertical-align:middle;margin-right:6px">'
        f'<span style="display:block;width:{100 * part:.1f}%;height:100%;background:#0072B2">'
        f"</span></span>{_esc(label)}"
    )


def _count(value: Any, total: Any) -> str:
    return f"{value} / {total}" if total else str(value)


def _rate(live: Mapping[str, Any]) -> str:
    examples = scalar(live.get("examples_per_second"))
    if examples is not None:
        return f"{examples:,.0f} examples/s"
    batches = scalar(live.get("batches_per_second"))
    return "–" if batches is None else f"{batches:,.1f} batches/s"


class _Track:
    """What a panel remembers between reports: the loss curves and the best values.

    The training curve is that of the result's chart: one point per finished round (its mean
    loss) once two rounds are done, then also the current round's running mean as the last
    point; before that, the running mean at every report (the running mean of a round's first
    few batches is noise, a finished round's mean is not).
    """

    def __init__(self) -> None:
        self.running: tuple[list[float], list[float]] = ([], [])  # every report's
        self.rounds: tuple[list[float], list[float]] = ([], [])  # each finished round's
        self.tail: tuple[float, float] | None = None  # the current round's, last report
        self.validation: tuple[list[float], list[float]] = ([], [])
        self.best: dict[str, dict[str, float]] = {"training": {}, "validation": {}}
        self._round = 0  # the round of the last report

    @property
    def training(self) -> tuple[list[float], list[float]]:
        xs, ys = self.rounds
        if len(xs) < 2:
            return self.running
        if self.tail is not None and self.tail[0] > xs[-1]:
            return [*xs, self.tail[0]], [*ys, self.tail[1]]
        return self.rounds

    @staticmethod
    def _add(curve: tuple[list[float], list[float]], x: float, y: float) -> None:
        xs, ys = curve
        if xs and xs[-1] == x:  # a second report at the same batch replaces the first
            ys[-1] = y
        elif not xs or x > xs[-1]:
            xs.append(x)
            ys.append(y)

    def _curve(self, live: Mapping[str, Any], x: float, loss: float) -> None:
        rnd, batch = int(live.get("round") or 0), int(live.get("batch") or 0)
        ends = live.get("event") == "round_complete"
        if self._round and rnd > self._round and not ends:  # a round ended between reports
            last = scalar((live.get("round_measurements") or {}).get("loss"))
            if last is not None and math.isfinite(last) and x - batch > 0:
                self._add(self.rounds, x - batch, last)
        self._round = rnd
        if not math.isfinite(loss):
            return
        self._add(self.running, x, loss)
        # at a round's end (its event, or a report between rounds) the loss is that round's
        if ends or (batch == 0 and x > 0):
            self._add(self.rounds, x, loss)
            self.tail = None
        else:
            self.tail = (x, loss)

    def _better(self, side: str, key: str, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            return
        old = self.best[side].get(key)
        up = higher_is_better(key)
        if old is None or (value > old if up else value < old):
            self.best[side][key] = value

    def record(self, live: Mapping[str, Any]) -> None:
        x = scalar(live.get("absolute_batch"))
        loss = scalar(live.get("round_loss"))
        if loss is None or math.isnan(loss):
            loss = scalar(live.get("batch_loss"))
        if x is not None and loss is not None:
            self._curve(live, x, loss)
        val = scalar(live.get("validation_loss"))
        _, val_ys = self.validation
        if x is not None and val is not None and (not val_ys or val_ys[-1] != val):
            self._add(self.validation, x, val)
        # best training values: those of finished rounds (a round's running mean after a few
        # batches is noise, not a result)
        for key, value in (live.get("round_measurements") or {}).items():
            self._better("training", key, scalar(value))
        if live.get("event") == "round_complete":
            self._better("training", "loss", loss)
        for key, value in (live.get("validation_measurements") or {}).items():
            self._better("validation", key, scalar(value))
        self._better("validation", "loss", val)


def _measure_rows(live: Mapping[str, Any], best: Mapping[str, Mapping[str, float]]) -> str:
    training = dict(live.get("round_measurements") or {})
    validation = dict(live.get("validation_measurements") or {})
    running = scalar(live.get("round_loss"))  # the current round's, fresher than the last's
    if running is not None and not math.isnan(running):
        training["loss"] = running
    current = {
        "training": training,
        "validation": {**validation, "loss": scalar(live.get("validation_loss"))},
    }
    keys = ["loss"] + [k for k in {**training, **validation} if k != "loss"]
    has_val = live.get("validation_loss") is not None or bool(validation)
    sides = ("training", "validation") if has_val else ("training",)
    head = "".join(f'<th style="{_NUM}">{s}</th><th style="{_NUM}">best</th>' for s in sides)
    rows = [f'<tr><th style="{_CELL}"></th>{head}</tr>']
    for key in keys:
        values = [(scalar(current[s].get(key)), best[s].get(key)) for s in sides]
        if all(v is None and b is None for v, b in values):
            continue  # a tensor measurement (per-class values, a curve): not a table cell
        cells = "".join(
            f'<td style="{_NUM}">{format_value(v)}</td>'
            f'<td style="{_NUM};color:#666">{format_value(b)}</td>'
            for v, b in values
        )
        rows.append(f'<tr><th style="{_CELL}">{_esc(key)}</th>{cells}</tr>')
    return '<table style="border-collapse:collapse;margin-top:6px">' + "".join(rows) + "</table>"


def _state_rows(live: Mapping[str, Any]) -> str:
    rnd, rounds = live.get("round", 0), live.get("max_rounds")
    batch, per_round = live.get("batch", 0), live.get("batches_per_round")
    if not batch and per_round and live.get("absolute_batch"):
        batch = per_round  # between rounds (and at the end): the last round is done
    fraction = scalar(live.get("progress_fraction"))
    rows = [
        ("round", _bar(rnd, rounds, _count(rnd, rounds))),
        ("batch", _bar(batch, per_round, _count(batch, per_round))),
    ]
    if fraction is not None and not rounds:  # a time goal: the bar of the rounds is unknown
        rows.append(("progress", _bar(fraction, 1.0, f"{100 * fraction:.0f}%")))
    elapsed = scalar(live.get("time_elapsed"))
    remaining = scalar(live.get("time_remaining"))
    times = format_seconds(elapsed) if elapsed is not None else "–"
    if remaining is not None:
        times += f" &nbsp; ETA {format_seconds(remaining)}"
    rows.append(("elapsed", times))
    rows.append(("speed", _esc(_rate(live))))
    rate = scalar(live.get("learning_rate"))
    if rate is not None:
        rows.append(("learning rate", f"{rate:.3g}"))
    cells = "".join(
        f'<tr><th style="{_CELL}">{name}</th><td style="{_CELL}">{value}</td></tr>'
        for name, value in rows
    )
    return f'<table style="border-collapse:collapse">{cells}</table>'


def panel_html(
    live: Mapping[str, Any],
    *,
    status: str = "training",
    curves: Mapping[str, tuple[list[float], list[float]]] | None = None,
    best: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """The panel for these live properties as HTML (what :class:`NotebookPanel` displays).

    Args:
        live: the live properties (see :mod:`nettrain.progress.display`); missing keys and
            None values are shown as "–".
        status: "starting", "training", "interrupted" or the event training ended with
            ("training_complete", ...); other text is shown as given. At the end, the
            ``reason`` training stopped for (a live property) is added in words.
        curves: ``{"training": (batches, losses), "validation": ...}`` for the chart.
        best: ``{"training": {key: best value}, "validation": {...}}``.
    """
    words = STATUS.get(status, status.replace("_", " "))
    reason = live.get("reason")  # why training stopped (the loop's reason), once it has
    if isinstance(reason, str) and status not in ("starting", "training", "interrupted"):
        words += ": " + REASONS.get(reason, reason.replace("_", " "))
    colour = {"weights_diverged": "#D55E00", "interrupted": "#D55E00"}.get(status, "#333")
    chart = line_chart(
        {k: v for k, v in (curves or {}).items() if k == "training" or v[0]},
        title="loss",
        width=340,
        height=170,
    )
    best = best or {"training": {}, "validation": {}}
    return (
        f'<div class="nettrain-panel" style="{_BOX}">'
        f'<div style="font-weight:bold;color:{colour};margin-bottom:4px">nettrain: '
        f"{_esc(words)}</div>"
        f'<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
        f"<div>{_state_rows(live)}{_measure_rows(live, best)}</div>"
        f"<div>{chart}</div></div></div>"
    )


class NotebookPanel:
    """Training progress in a notebook: one output, created at the start, updated in place.

    Args:
        refresh_per_second: the most redraws a second (a report due sooner is held back and
            drawn with the next one; the final state is always drawn).
        clock: seconds, for the rate limit (tests pass a fake one).

    It displays its output with ``IPython.display.display(..., display_id=True)`` at
    :meth:`start` and afterwards only calls ``update`` on that handle.
    """

    label = "notebook panel"

    def __init__(
        self, refresh_per_second: float = 2.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not refresh_per_second > 0:
            raise ValueError(f"refresh_per_second must be > 0, not {refresh_per_second!r}")
        self.refresh_per_second = float(refresh_per_second)
        self._clock = clock
        self._track = _Track()
        self._handle: Any = None
        self._drawn_at: float | None = None
        self._last: dict[str, Any] | None = None  # the last report, drawn or not
        self._done = False
        self._closed = False

    def html(self, live: Mapping[str, Any], status: str = "training") -> str:
        """The panel's HTML for ``live``, with the curves and best values seen so far."""
        curves = {"training": self._track.training, "validation": self._track.validation}
        return panel_html(live, status=status, curves=curves, best=self._track.best)

    def _draw(self, live: Mapping[str, Any], status: str) -> None:
        from IPython.display import HTML, display  # imported here: a kernel has it loaded

        content = HTML(self.html(live, status))
        if self._handle is None:
            self._handle = display(content, display_id=True)
        else:
            self._handle.update(content)
        self._drawn_at = self._clock()

    def _remember(self, live: dict[str, Any]) -> None:
        self._track.record(live)
        self._last = dict(live)  # a copy: the loop may reuse its dict

    def start(self, live: dict[str, Any]) -> None:
        self._remember(live)
        self._draw(live, "starting")

    def show(self, live: dict[str, Any]) -> None:
        self._remember(live)
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= 1.0 / self.refresh_per_second:
            self._draw(live, "training")
        # else held back: the next report due or finish() draws the newer state

    def finish(self, live: dict[str, Any], reason: str) -> None:
        self._remember(live)
        self._draw(live, reason)
        self._done = True

    def close(self) -> None:
        """When training ended without :meth:`finish` (an exception, Ctrl-C), redraw the last
        report as "interrupted" (else the output would say "training…" for ever); then forget
        the output. A second call does nothing."""
        if self._closed:
            return
        self._closed = True
        if not self._done and self._handle is not None and self._last is not None:
            self._draw(self._last, "interrupted")
        self._handle = None
