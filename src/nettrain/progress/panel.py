"""The "panel" reporting form: a live panel in the terminal, redrawn in place with ``rich``.

It shows the progress of rounds and of batches in the round (with bars where the totals are
known), time elapsed and remaining, examples (or batches) per second, the learning rate, the
current and best training and validation loss and scalar measurements, and a chart of the loss
(training: one point per report; validation: one point per validation). The best of a
measurement is its lowest, or its highest for those where higher is better (accuracy, AUC,
precision, recall, F1, R², kappa, Matthews; see :func:`higher_is_better`).

It is redrawn at most ``refresh_per_second`` times a second, to the terminal's width as it is
at each redraw: below 60 columns the chart goes, below 48 the secondary rows (speed, learning
rate, measurements other than the loss); no line is ever wider than the terminal. When the
stream is not a terminal (a file, a pipe, a notebook, ``CI`` set, ``TERM=dumb``) nothing is
drawn while training: the final panel is written once, as plain text (no colour, no cursor
movement), when training ends.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> panel = TerminalPanel(stream=out, width=58)  # below 60 columns: no chart
    >>> live = {"round": 2, "max_rounds": 4, "batch": 5, "batches_per_round": 10,
    ...     "absolute_batch": 15, "round_loss": 0.42131, "time_elapsed": 7.0, "time_remaining": 9.0,
    ...     "examples_per_second": 2000.0, "learning_rate": 0.001,
    ...     "round_measurements": {"loss": 0.5, "accuracy": 0.8}, "validation_loss": 0.45}
    >>> panel.start(live); panel.show(live); out.getvalue()  # not a terminal: nothing yet
    ''
    >>> panel.finish(live, "training_complete"); panel.close()
    >>> print(out.getvalue(), end="")
    ╭────────────────── training: complete ──────────────────╮
    │ round 2/4   ━━━━━━━━━━━━━━───────────────────────  38% │
    │ batch 5/10  ━━━━━━━━━━━━━━━━━━╸──────────────────  50% │
    │ elapsed 0:07  ETA 0:09                                 │
    │ 2,000 examples/s  learning rate 0.001                  │
    │                                                        │
    │            train    best  validation    best           │
    │ loss      0.4213  0.5000      0.4500  0.4500           │
    │ accuracy  0.8000  0.8000           -       -           │
    ╰────────────────────────────────────────────────────────╯
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from .bar import (
    bar_cells,
    check_arguments,
    current_loss,
    format_value,
    is_terminal,
    reason_text,
    scalar,
    terminal_size,
)
from .printer import format_seconds
from .text_chart import Series, plot

__all__ = ["TerminalPanel", "higher_is_better"]

_HIGHER = ("accuracy", "auc", "precision", "recall", "f1", "r2", "kappa", "matthews")
_MAX_WIDTH = 100  # wider than this, a panel only spreads its numbers apart
_MAX_POINTS = 2000  # chart points kept; more are thinned (every other one dropped)
_CHART_ROWS = 8
_STYLES = {"train": "cyan", "validation": "magenta", "done": "magenta", "todo": "grey37"}


def higher_is_better(key: str) -> bool:
    """Whether a measurement improves upwards: ``'accuracy'`` yes, ``'error_rate'`` no."""
    name = key.lower()
    return any(word in name for word in _HIGHER)


def _better(key: str, value: float, best: float | None) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value > best if higher_is_better(key) else value < best


def _scalars(values: Any) -> dict[str, float]:
    """The plain numbers among measurements (tensors, per-class values, curves are left out)."""
    if not isinstance(values, dict):
        return {}
    found = {str(key): scalar(value) for key, value in values.items()}
    return {key: value for key, value in found.items() if value is not None}


class TerminalPanel:
    """A live training panel on a terminal (see the module docstring).

    Args:
        stream: where to draw; None: standard output, looked up when training starts.
        refresh_per_second: the most redraws a second (a report sooner is skipped; the final
            state is always drawn).
        width: columns to use at most; None: the terminal's width (at most 100), asked at every
            redraw.
    """

    label = "progress panel"

    def __init__(
        self,
        stream: TextIO | None = None,
        refresh_per_second: float = 4.0,
        width: int | None = None,
    ) -> None:
        self.stream, self.refresh_per_second, self.width = check_arguments(
            stream, refresh_per_second, width
        )
        self._out: TextIO | None = None
        self._console: Console | None = None
        self._live: Live | None = None
        self._drawn_at: float | None = None
        self._printed = False
        self._last: dict[str, Any] = {}
        self._reason: str | None = None
        self._train: list[tuple[float, float]] = []
        self._validation: list[tuple[float, float]] = []
        self._best_train: dict[str, float] = {}
        self._best_validation: dict[str, float] = {}

    # -- what is seen ----------------------------------------------------------------------

    def _record(self, live: dict[str, Any]) -> None:
        """Keep what the chart and the best values need from every report, drawn or not."""
        self._last = live
        step = scalar(live.get("absolute_batch"))
        loss = current_loss(live)
        if step is not None and loss is not None:
            if self._train and self._train[-1][0] == step:
                self._train.pop()  # a report again at the same batch (finish after show)
            self._train.append((step, loss))
        validation = scalar(live.get("validation_loss"))
        new = not self._validation or self._validation[-1][1] != validation
        if step is not None and validation is not None and not math.isnan(validation) and new:
            self._validation.append((step, validation))
        for points in (self._train, self._validation):
            if len(points) > _MAX_POINTS:
                points[:] = points[::2]
        measured = _scalars(live.get("round_measurements"))
        round_over = not live.get("batch") and (step or 0) > 0
        if "loss" not in measured and round_over and loss is not None:
            measured["loss"] = loss  # the loss of the round that just ended
        seen = _scalars(live.get("validation_measurements"))
        if validation is not None:
            seen["loss"] = validation
        for best, values in ((self._best_train, measured), (self._best_validation, seen)):
            for key, value in values.items():
                if _better(key, value, best.get(key)):
                    best[key] = value

    # -- drawing ---------------------------------------------------------------------------

    def _progress(self, live: dict[str, Any], inner: int, ascii_only: bool) -> list[Text]:
        rounds, number = live.get("max_rounds"), live.get("round") or 0
        per_round, batch = live.get("batches_per_round"), live.get("batch") or 0
        round_over = not batch and (live.get("absolute_batch") or 0) > 0
        if round_over and per_round:
            batch = per_round  # batch 0 after a round: that round is complete
        done_rounds = (number - 1 + batch / per_round) if per_round else number - 1
        if round_over:
            done_rounds = number
        overall = scalar(live.get("progress_fraction"))
        rows = [
            ("round", f"{number}/{rounds}" if rounds else f"{number}",
             done_rounds / rounds if rounds else overall),
            ("batch", f"{batch}/{per_round}" if per_round else f"{batch}",
             batch / per_round if per_round else None),
        ]  # fmt: skip
        count = max(len(text) for _, text, _ in rows)
        lines = []
        for name, text, fraction in rows:
            line = Text(f"{name} {text.ljust(count)}", no_wrap=True, overflow="ellipsis")
            room = inner - len(line) - 7  # two spaces, the bar, " 100%"
            if fraction is not None and math.isfinite(fraction) and room >= 5:
                done, todo = bar_cells(fraction, room, ascii_only)
                line.append("  ").append(done, _STYLES["done"]).append(todo, _STYLES["todo"])
                line.append(f" {min(max(fraction, 0.0), 1.0) * 100:3.0f}%")
            lines.append(line)
        return lines

    def _stats(self, live: dict[str, Any], inner: int) -> list[Text]:
        elapsed, remaining = scalar(live.get("time_elapsed")), scalar(live.get("time_remaining"))
        eta = format_seconds(math.inf if remaining is None else remaining)
        times = f"elapsed {format_seconds(elapsed or 0.0)}  ETA {eta}"
        examples = scalar(live.get("examples_per_second"))
        if examples is not None:
            speed = f"{examples:,.0f} examples/s"
        else:
            speed = f"{scalar(live.get('batches_per_second')) or 0.0:,.1f} batches/s"
        rate = scalar(live.get("learning_rate"))
        extra = [speed] + ([f"learning rate {rate:.3g}"] if rate is not None else [])
        best = live.get("best_validation_round")
        extra += [f"best net: round {best}"] if best is not None else []
        if inner < 44:  # secondary rows dropped
            parts = [times]
        elif len("  ".join([times, *extra])) <= inner:
            parts = ["  ".join([times, *extra])]
        else:
            parts = [times, "  ".join(extra)]
        return [Text(part, no_wrap=True, overflow="ellipsis") for part in parts]

    def _values(self, live: dict[str, Any], inner: int) -> list[Text]:
        measured = _scalars(live.get("round_measurements"))
        validated = _scalars(live.get("validation_measurements"))
        keys = ["loss"] + [k for k in dict.fromkeys([*measured, *validated]) if k != "loss"]
        if inner < 44:
            keys = keys[:1]  # secondary rows dropped
        validation = scalar(live.get("validation_loss"))
        has_validation = validation is not None or bool(validated)
        header = ["", "train", "best"] + (["val" if inner < 52 else "validation", "best"]
                                          if has_validation else [])  # fmt: skip
        table = [header]
        for key in keys:
            now = current_loss(live) if key == "loss" else measured.get(key)
            row = [key, format_value(now), format_value(self._best_train.get(key))]
            if has_validation:
                val = validation if key == "loss" else validated.get(key)
                row += [format_value(val), format_value(self._best_validation.get(key))]
            table.append(row)
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        widths[0] = min(widths[0], max(inner - sum(widths[1:]) - 2 * (len(widths) - 1), 4))
        lines = []
        for row in table:
            cells = [row[0][: widths[0]].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            lines.append(Text("  ".join(cells), no_wrap=True, overflow="ellipsis"))
        lines[0].stylize("bold")
        return lines

    def _chart(self, inner: int, rows: int, ascii_only: bool) -> list[Text]:
        series = [Series("train", self._train)]
        if self._validation:
            series.append(Series("validation", self._validation, marker="•"))
        if len(self._train) + len(self._validation) < 2:
            return []  # one point makes no chart
        cells = plot(series, inner, rows, ascii_only=ascii_only)
        if not cells:
            return []
        styles = [_STYLES[s.name] for s in series]
        lines = []
        for row in cells:
            line = Text(no_wrap=True, overflow="crop")
            for char, owner in row:
                line.append(char, styles[owner] if owner >= 0 else None)
            lines.append(line)
        legend = Text("loss by batch: ", no_wrap=True, overflow="ellipsis")
        legend.append("*" if ascii_only else "⠒", _STYLES["train"]).append(" train")
        if self._validation:
            legend.append("  ").append("o" if ascii_only else "•", _STYLES["validation"])
            legend.append(" validation")
        return [*lines, legend]

    def render(self, columns: int, lines: int | None = None, ascii_only: bool = False) -> Panel:
        """The panel for the last report, ``columns`` wide, fitting in ``lines`` rows where
        given (the chart shrinks, then goes)."""
        live = self._last
        inner = max(columns - 4, 1)  # the border and one space of padding on each side
        body: list[Text] = [
            *self._progress(live, inner, ascii_only),
            *self._stats(live, inner),
            Text(),
            *self._values(live, inner),
        ]
        if columns >= 60:
            room = _CHART_ROWS if lines is None else min(_CHART_ROWS, lines - len(body) - 6)
            chart = self._chart(inner, room, ascii_only) if room >= 3 else []
            body += [Text(), *chart] if chart else []
        title = "training" if self._reason is None else f"training: {reason_text(self._reason)}"
        if len(title) > columns - 6:  # rich widens a panel to fit its title: shorten it
            title = title.removeprefix("training: ")[: max(columns - 6, 0)]
        return Panel(Group(*body), title=title, box=box.ROUNDED, width=columns, padding=(0, 1))

    def _renderable(self) -> RenderableType:
        """The panel at the terminal's size now (asked at every redraw: it may be resized)."""
        console, out = self._console, self._out
        assert console is not None and out is not None
        size = terminal_size(out)
        if self._live is None and self.width is not None:
            columns = self.width  # no terminal to fit: the width asked for
        else:
            columns = max(min(size.columns, self.width or _MAX_WIDTH), 1)
        size = os.terminal_size((max(size.columns, columns), size.lines))
        console.size = (size.columns, size.lines)
        live = self._live
        # rich keeps the last frame's (width, height) here, to go back up over it
        shape = getattr(getattr(live, "_live_render", None), "_shape", None)
        if live is not None and shape is not None and size.columns < shape[0]:
            # The terminal got narrower: each line of the last frame has wrapped onto several
            # rows, so moving up by the frame's height would leave its top on screen.
            rows = shape[1] * -(-shape[0] // size.columns)
            live._live_render._shape = (size.columns, rows)
        ascii_only = console.options.ascii_only
        return self.render(columns, size.lines if live is not None else None, ascii_only)

    # -- the Display protocol --------------------------------------------------------------

    def start(self, live: dict[str, Any]) -> None:
        self._out = out = self.stream if self.stream is not None else sys.stdout
        self._record(live)
        if not is_terminal(out):
            self._console = Console(
                file=out, force_terminal=False, force_jupyter=False, force_interactive=False,
                no_color=True, color_system=None, highlight=False, emoji=False, markup=False,
            )  # fmt: skip
            return
        self._console = Console(
            file=out, force_terminal=True, force_jupyter=False, force_interactive=True,
            highlight=False, emoji=False, markup=False,
        )  # fmt: skip
        # Drawn only when asked (no refresh thread): a redraw never races a Ctrl-C or close.
        # Prints and warnings during training go above the panel instead of through it.
        self._live = Live(
            console=self._console, auto_refresh=False, redirect_stdout=True,
            redirect_stderr=True, transient=False, vertical_overflow="ellipsis",
        )  # fmt: skip
        self._live.start()
        self._live.update(self._renderable(), refresh=True)
        self._drawn_at = time.monotonic()

    def show(self, live: dict[str, Any]) -> None:
        self._record(live)
        if self._live is None:
            return
        now = time.monotonic()
        if self._drawn_at is not None and now - self._drawn_at < 1.0 / self.refresh_per_second:
            return  # drawn too recently; a later report (or finish) catches up
        self._live.update(self._renderable(), refresh=True)
        self._drawn_at = now

    def finish(self, live: dict[str, Any], reason: str) -> None:
        if self._console is None:  # finish without start: draw on the stream all the same
            self.start(live)
        self._record(live)
        if self._printed:
            return  # the final state is drawn once
        # a stop says why (stopped by user, time goal, ...): the run's own reason
        if reason == "training_stopped" and live.get("reason"):
            reason = str(live["reason"])
        self._reason, self._printed = reason, True
        if self._live is not None:
            self._stop()  # stopping draws the final frame, once
        elif self._console is not None:
            self._console.print(self._renderable())

    def _stop(self) -> None:
        live = self._live
        if live is None:
            return
        try:
            live.update(self._renderable())  # the latest report, even one skipped
        finally:
            self._live = None
            live.stop()  # shows the cursor and ends the line

    def close(self) -> None:
        # a stream that is gone (a closed file, a broken pipe) cannot be cleaned any more
        with contextlib.suppress(OSError, ValueError):
            self._stop()
        self._console = None
