"""Keras' progress bar: :class:`Progbar` (``keras.utils.Progbar``) and :class:`ProgbarLogger`.

``fit(verbose=1)`` draws Keras 3's bar for each epoch, redrawn in place on a terminal::

    Epoch 1/5
     12/100 ━━━━━━━━━━━━━━━━━━━━ 3s 30ms/step - loss: 0.1234

and ending, when the epoch ends, with Keras' final line (the total time in place of the
estimated time left, and the epoch's logs, ``val_`` values included)::

    100/100 ━━━━━━━━━━━━━━━━━━━━ 3s 30ms/step - loss: 0.1111 - val_loss: 0.1222

The rule for the output stream (nettrain's, where Keras 3 redraws almost everywhere):

- a terminal (the stream's ``isatty()`` true, and the environment variable ``CI`` unset or
  empty): the bar is redrawn in place (a carriage return, then the line padded with spaces
  over a longer previous one), at most every ``interval`` seconds, never wider than the
  terminal (whole ``name: value`` items are left out to fit); the unfilled part of the bar
  is dimmed (an ANSI escape, left out when ``NO_COLOR`` is set or ``TERM=dumb``). The final
  line is written whole, values included, and ends the line;
- anything else (a pipe, a log file, ``CI`` set, a notebook): no carriage return and no
  escape ever; only each bar's final line is written, so a log gets one line per epoch.

``fit(verbose="auto")`` is 1 on a terminal and 2 (one plain line per epoch) elsewhere.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> ticks = iter([0.0, 1.2])
    >>> bar = Progbar(40, stream=out, clock=lambda: next(ticks))
    >>> bar.update(10, [("loss", 0.5)])
    >>> bar.update(40, [("loss", 0.25)])
    >>> print(out.getvalue(), end="")
    40/40 ━━━━━━━━━━━━━━━━━━━━ 1s 30ms/step - loss: 0.2500
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from ..errors import NetTrainError, describe
from .callbacks import Callback

__all__ = ["Progbar", "ProgbarLogger", "epoch_line"]

_FULL = "━"
_DIM, _RESET = "\x1b[2m", "\x1b[0m"
_Segments = list[tuple[str, bool]]  # (text, dimmed)


def _step_time(seconds: float, unit: str = "step") -> str:
    """Keras' ``Progbar._format_time``: " 12ms/step" (s, ms or us, no decimals)."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit}"
    return f" {seconds * 1e6:.0f}us/{unit}"


def _eta(seconds: float) -> str:
    """Keras' estimated time left: "7s", "2:05" (over a minute), "1:02:05" (over an hour)."""
    whole = int(max(seconds, 0.0))
    if seconds > 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    if seconds > 60:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole}s"


def _items(values: Iterable[tuple[str, float]], absolute: bool) -> list[str]:
    """`` - key: 0.1234`` per value, ``:.4e`` at or below 1e-3 (Keras' bar compares the absolute
    value, its verbose 2 line the value itself)."""
    out = []
    for key, value in values:
        number = float(value)
        large = (abs(number) if absolute else number) > 1e-3
        out.append(f" - {key}: {number:.4f}" if large else f" - {key}: {number:.4e}")
    return out


def _bar(current: int, target: int, width: int) -> _Segments:
    """``" 12/100 ━━━━━━━━"``: the count right-aligned to the target's digits, the filled part,
    then the unfilled part (dimmed on a terminal)."""
    filled = max(min(int(width * current / target), width), 0)
    digits = len(str(target))
    return [
        (f"{current:>{digits}}/{target} ", False),
        (_FULL * filled, False),
        (_FULL * (width - filled), True),
    ]


def _render(head: _Segments, items: list[str], limit: int | None, colour: bool) -> tuple[str, int]:
    """The line and its visible width: within ``limit`` columns (None: whole), leaving out the
    values that do not fit, then cutting the head; dimmed segments escaped when ``colour``."""
    visible = sum(len(text) for text, _ in head)
    kept = []
    for item in items:
        if limit is not None and visible + len(item) > limit:
            break
        kept.append(item)
        visible += len(item)
    parts, room = [], limit
    for text, dim in head:
        if room is not None:
            text, room = text[:room], room - len(text[:room])
        if text:
            parts.append(f"{_DIM}{text}{_RESET}" if dim and colour else text)
    width = min(visible, limit) if limit is not None else visible
    return "".join(parts) + "".join(kept), width


def epoch_line(steps: int | None, seconds: float, logs: Mapping[str, Any], verbose: int) -> str:
    """Keras 3's end-of-epoch line for ``fit(verbose=2)``, or with ``verbose=1`` the final
    line of its progress bar (as :class:`Progbar` ends it), without terminal escapes.

    Args:
        steps: batches in the epoch (None: unknown; the count and time per step are left out).
        seconds: the epoch's wall time.
        logs: the epoch's logs, in their order.
        verbose: 1 or 2.

    >>> epoch_line(32, 0.4, {"loss": 0.25, "val_loss": 1e-4}, verbose=2)
    '32/32 - 0s - 12ms/step - loss: 0.2500 - val_loss: 1.0000e-04'
    >>> epoch_line(32, 0.4, {"loss": 0.25}, verbose=1)
    '32/32 ━━━━━━━━━━━━━━━━━━━━ 0s 12ms/step - loss: 0.2500'
    """
    items = _items(logs.items(), absolute=verbose == 1)
    if not steps:
        return f"{seconds:.0f}s" + "".join(items)
    per_step = _step_time(seconds / steps)
    if verbose == 1:
        head = [*_bar(steps, steps, 20), (f" {seconds:.0f}s{per_step}", False)]
        return _render(head, items, None, colour=False)[0]
    return f"{steps}/{steps} - {seconds:.0f}s -{per_step}" + "".join(items)


def _interactive(stream: Any) -> bool:
    """Whether ``stream`` is a terminal to redraw on: ``isatty()``, and ``CI`` unset."""
    if os.environ.get("CI"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        return False


def _colour() -> bool:
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _columns(stream: Any) -> int:
    """The width of the stream's own terminal, else ``shutil.get_terminal_size()``'s."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or shutil.get_terminal_size().columns


def _scalar(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        mean = getattr(value, "mean", None)
        if callable(mean):  # an array of values: their mean, as Keras
            return float(mean())
        raise NetTrainError(
            "Progbar: values", "a value is not a number", received=describe(value)
        ) from None


class Progbar:
    """A progress bar (Keras 3's ``keras.utils.Progbar``).

    Args (Keras 3's names, order and defaults):
        target: the number of steps expected; None if unknown (the bar then shows
            ``    57/Unknown`` and the time so far).
        width: the bar's width in characters.
        verbose: 0 silent; 1 the bar; 2 only a final line, ``40/40 - 1s - 30ms/step -
            loss: 0.2500`` (none when ``target`` is unknown, as Keras).
        interval: the least number of seconds between two redraws.
        stateful_metrics: names whose values are shown as given; the others are averaged.
        unit_name: what a step is called in the time per step ("step", "sample").
        stream: beyond Keras: where to write (None: ``sys.stdout``, looked up at each write).
        clock: beyond Keras: the time in seconds (``time.perf_counter``), for tests.

    The values of :meth:`update` are averaged as Keras averages them: each value counts for
    the steps it covers (``current`` minus the step of the previous update, at least 1), and
    the values given with the final update (when ``current`` reaches ``target``, or
    ``finalize=True``) are shown as given (``fit``'s epoch logs are the epoch's means already;
    give no values then to keep the averages). The time per step is the time since the bar
    was made divided by the steps (Keras leaves the first step out when it saw it alone); the
    time is the estimated time left while running, the time taken at the end.

    Where it writes, redraws and colours follows the module's rule: in place on a terminal,
    only the final line elsewhere (never a carriage return or an escape in a log).

    Raises:
        NetTrainError: a bad argument; a value that is not a number.

    >>> import io
    >>> out = io.StringIO()
    >>> ticks = iter([0.0, 2.0])
    >>> bar = Progbar(10, stream=out, clock=lambda: next(ticks), stateful_metrics=["lr"])
    >>> bar.update(2, [("loss", 1.0), ("lr", 0.1)])
    >>> bar.add(3, [("loss", 4.0), ("lr", 0.05)])  # loss (2 * 1.0 + 3 * 4.0) / 5 = 2.8
    >>> bar.update(10)
    >>> out.getvalue()
    '10/10 ━━━━━━━━━━━━━━━━━━━━ 2s 200ms/step - loss: 2.8000 - lr: 0.0500\\n'
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
        *,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        _check(
            "target",
            target,
            target is None or (_whole(target) and target >= 0),
            "None or a whole number >= 0",
        )
        _check("width", width, _whole(width) and width >= 1, "a whole number >= 1")
        _check(
            "verbose", verbose, verbose in (0, 1, 2) and not isinstance(verbose, bool), "0, 1 or 2"
        )
        _check(
            "interval",
            interval,
            isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval >= 0,
            "a number of seconds >= 0",
        )
        _check("unit_name", unit_name, isinstance(unit_name, str), "a str such as 'step'")
        _check(
            "stream",
            stream,
            stream is None or callable(getattr(stream, "write", None)),
            "None or a text file",
        )
        _check("clock", clock, callable(clock), "a function returning seconds")
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = float(interval), unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self.stream, self.clock = stream, clock
        self._seen = 0
        self._values: dict[str, list[float]] = {}  # name: [weighted sum, weight], in order
        self._start = clock()
        self._last_draw: float | None = None
        self._drawn = 0  # visible width of the line now on the terminal (0: none open)

    def update(
        self,
        current: int,
        values: Iterable[tuple[str, Any]] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Show the bar at step ``current`` (Keras').

        Args:
            current: the steps done.
            values: ``[(name, value for the last step), ...]``; stateful names shown as
                given, the others averaged (see the class).
            finalize: whether this is the last update; None: ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            number = _scalar(value)
            if finalize or name in self.stateful_metrics:
                self._values[name] = [number, 1]
            else:
                weight = max(current - self._seen, 1)
                total = self._values.setdefault(name, [0.0, 0])
                total[0] += number * weight
                total[1] += weight
        self._seen = current
        if self.verbose == 0:
            return
        stream = self.stream if self.stream is not None else sys.stdout
        live = _interactive(stream)
        if not finalize:
            if self.verbose == 1 and live:
                now = self.clock()
                if self._last_draw is None or now - self._last_draw >= self.interval:
                    self._last_draw = now
                    self._draw(stream, current, now)
            return
        now = self.clock()
        if self.verbose == 2:
            if self.target:
                elapsed = now - self._start
                per_step = _step_time(elapsed / current if current else 0.0, self.unit_name)
                count = f"{current:>{len(str(self.target))}}/{self.target}"
                items = _items(self._averages(), absolute=False)
                self._end(stream, f"{count} - {elapsed:.0f}s -{per_step}" + "".join(items))
            return
        head, items = self._line(current, now, final=True)
        self._end(stream, *_render(head, items, None, live and _colour()))

    def add(self, n: int, values: Iterable[tuple[str, Any]] | None = None) -> None:
        """``update(steps so far + n, values)`` (Keras')."""
        self.update(self._seen + n, values)

    def _averages(self) -> list[tuple[str, float]]:
        return [(name, total / max(weight, 1)) for name, (total, weight) in self._values.items()]

    def _line(self, current: int, now: float, final: bool) -> tuple[_Segments, list[str]]:
        elapsed = now - self._start
        per_step = _step_time(elapsed / current if current else 0.0, self.unit_name)
        if self.target:
            left = (elapsed / current if current else 0.0) * (self.target - current)
            time_text = f"{elapsed:.0f}s" if final else _eta(left)
            head = [*_bar(current, self.target, self.width), (f" {time_text}{per_step}", False)]
        else:
            head = [(f"{current:>7}/Unknown", False), (f" {elapsed:.0f}s{per_step}", False)]
        return head, _items(self._averages(), absolute=True)

    def _draw(self, stream: IO[str], current: int, now: float) -> None:
        """Redraw the open line in place, within the terminal's width less one column."""
        limit = max(_columns(stream) - 1, 1)
        text, width = _render(*self._line(current, now, final=False), limit, _colour())
        pad = max(min(self._drawn, limit) - width, 0)
        stream.write("\r" + text + " " * pad)
        stream.flush()
        self._drawn = width

    def _end(self, stream: IO[str], text: str, width: int | None = None) -> None:
        """Write the final line (``width``: its visible width, None: ``len(text)``): over the
        open line on a terminal, then a line break."""
        width = len(text) if width is None else width
        if self._drawn:
            text = "\r" + text + " " * max(self._drawn - width, 0)
        stream.write(text + "\n")
        stream.flush()
        self._drawn = 0

    def _close(self) -> None:
        """End a line left open (a run stopped without finishing the bar)."""
        if self._drawn:
            stream = self.stream if self.stream is not None else sys.stdout
            stream.write("\n")
            stream.flush()
            self._drawn = 0


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(argument: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise NetTrainError(
            f"Progbar: {argument}", "is not valid", expected=expected, received=describe(value)
        )


class ProgbarLogger(Callback):
    """Print Keras' epoch lines: ``Epoch 1/5``, then the epoch's bar or line.

    What it prints follows ``self.params["verbose"]`` (``fit``'s): 0 nothing; 2 Keras 3's
    line at each epoch's end, ``32/32 - 1s - 12ms/step - loss: 0.1234 - val_loss: 0.2345``;
    1 a :class:`Progbar` for each epoch, ending with ``32/32 ━━━━━━━━━━━━━━━━━━━━ 1s 12ms/step
    - loss: 0.1234`` (:func:`epoch_line`'s verbose 1 text). On a terminal the bar is live:
    redrawn about every 0.1 s from the engine's running mean of the epoch's ``loss`` (the
    metrics are measured at the epoch's end, so they join the final line); elsewhere only the
    final line is printed (see the module). "auto" is 1 on a terminal (and ``CI`` unset),
    else 2 (Keras 3 takes 1 everywhere).

    The ``Epoch 3/5`` header comes at the epoch's start, only when ``epochs > 1``, as Keras'.
    The time is the epoch's wall time from ``on_epoch_begin`` to ``on_epoch_end`` (validation
    included); the time per step is it divided by ``params["steps"]``. With unknown steps the
    line starts with the time.

    The live updates come through :meth:`nettrain_progress`, which the
    :class:`~nettrain.keras.callbacks.CallbackBridge` calls on a seconds interval, without
    making the loop read the loss every batch.

    Args (beyond Keras):
        clock: the time in seconds (``time.perf_counter``), for reproducible lines in tests.
        stream: where to print (None: ``sys.stdout``, looked up at each line).

    >>> ticks = iter([10.0, 10.048])
    >>> logger = ProgbarLogger(clock=lambda: next(ticks))
    >>> logger.set_params({"epochs": 2, "steps": 2, "verbose": 2})
    >>> logger.on_epoch_begin(0)
    Epoch 1/2
    >>> logger.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75})
    2/2 - 0s - 24ms/step - loss: 0.5000 - accuracy: 0.7500
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.perf_counter, stream: IO[str] | None = None
    ) -> None:
        if not callable(clock):
            raise NetTrainError(
                "ProgbarLogger: clock",
                "must be a function returning seconds",
                received=describe(clock),
            )
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise NetTrainError(
                "ProgbarLogger: stream", "must be None or a text file", received=describe(stream)
            )
        self.clock, self.stream = clock, stream
        self.progbar: Progbar | None = None
        self._start: float | None = None

    def _out(self) -> IO[str]:
        return self.stream if self.stream is not None else sys.stdout

    @property
    def verbose(self) -> int:
        """``params["verbose"]``, with "auto" 1 on a terminal (``CI`` unset) and 2 elsewhere."""
        verbose = self.params.get("verbose", 1)
        if verbose == "auto":
            return 1 if _interactive(self._out()) else 2
        return int(verbose)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        verbose = self.verbose
        self.progbar = None
        if verbose == 1:
            steps = self.params.get("steps")
            # the running means are shown as given (Keras 3 would average them again)
            self.progbar = Progbar(steps, stateful_metrics=(), stream=self.stream, clock=self.clock)
            self._start = self.progbar._start
        else:
            self._start = self.clock()
        epochs = self.params.get("epochs") or 1
        if verbose and epochs > 1:
            print(f"Epoch {epoch + 1}/{epochs}", file=self._out(), flush=True)

    def wants_nettrain_progress(self) -> bool:
        """Whether the bar is drawn live (verbose 1 on a terminal): only then does ``fit`` ask
        the loop for the timed updates (read after ``set_params``)."""
        return self.verbose == 1 and _interactive(self._out())

    def nettrain_progress(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """nettrain's own, beyond Keras: redraw the bar at ``batch`` batches done in the
        epoch, with ``logs`` (``{"loss": the epoch's running mean}``)."""
        if self.progbar is None:
            return
        items = list((logs or {}).items())
        self.progbar.stateful_metrics.update(name for name, _ in items)
        self.progbar.update(batch, items, finalize=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        verbose, steps, bar = self.verbose, self.params.get("steps"), self.progbar
        if verbose == 1 and bar is not None and steps:
            bar.update(steps, list(logs.items()), finalize=True)
            return
        now = self.clock()
        seconds = now - (self._start if self._start is not None else now)
        if verbose == 1 and bar is not None:
            bar._end(self._out(), epoch_line(None, seconds, logs, 1))
        elif verbose:
            print(epoch_line(steps, seconds, logs, verbose), file=self._out(), flush=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.progbar is not None:
            self.progbar._close()
