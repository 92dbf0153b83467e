"""The "print" reporter: one plain line every few seconds, never carriage-return spam.

Lines look like::

    round 2/5  batch 412/938  loss 0.4213  error_rate 0.1520  val loss 0.4408
    val error_rate 0.1561  25,310 examples/s  elapsed 0:07  ETA 0:13

(one line; round measurements are those of the last round that ended).

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> printer = PrintReporter(stream=out)
    >>> printer.show({"round": 1, "max_rounds": 2, "batch": 5, "batches_per_round": 10,
    ...     "absolute_batch": 5, "round_loss": 0.5, "examples_per_second": 1000.0,
    ...     "time_elapsed": 3.0, "time_remaining": 12.0})
    >>> out.getvalue()
    'round 1/2  batch 5/10  loss 0.5000  1,000 examples/s  elapsed 0:03  ETA 0:12\\n'
"""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

__all__ = ["PrintReporter", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``75`` -> ``'1:15'``; ``3725`` -> ``'1:02:05'``; infinite -> ``'?'``."""
    if not math.isfinite(seconds):
        return "?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _scalars(prefix: str, values: dict[str, Any]) -> list[str]:
    """Scalar measurements as "key 0.1234"; tensors (per-class values, curves) are left out."""
    return [
        f"{prefix}{key} {value:.4f}"
        for key, value in values.items()
        if key != "loss" and isinstance(value, float)
    ]


def _rate(live: dict[str, Any]) -> str:
    """Examples per second; batches per second where examples are not counted (a custom
    loop's ProgressMonitor counts only its steps)."""
    if live["examples_per_second"] is None:
        return f"{live['batches_per_second']:,.1f} batches/s"
    return f"{live['examples_per_second']:,.0f} examples/s"


class PrintReporter:
    """Prints progress lines to ``stream`` (standard output by default): a
    :class:`~nettrain.progress.display.Display`, shown every 2 s by default
    (:class:`~nettrain.progress.pace.Paced` decides when).

    At the end it prints the final state once more unless the last line already showed it, so
    the final state is always shown; a run whose weights diverged ends with a line saying so.
    """

    label = "progress printer"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._last: tuple[Any, ...] | None = None  # what the last printed line showed

    def _write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def line(self, live: dict[str, Any]) -> str:
        rounds = live.get("max_rounds")
        per_round = live.get("batches_per_round")
        parts = [
            f"round {live['round']}" + (f"/{rounds}" if rounds else ""),
            f"batch {live['batch']}" + (f"/{per_round}" if per_round else ""),
            # a custom loop's ProgressMonitor may have no "loss" metric (round_loss None)
            *([f"loss {live['round_loss']:.4f}"] if live["round_loss"] is not None else []),
            *_scalars("", live.get("round_measurements") or {}),
            *(
                [f"val loss {live['validation_loss']:.4f}"]
                if live.get("validation_loss") is not None
                else []
            ),
            *_scalars("val ", live.get("validation_measurements") or {}),
            _rate(live),
            f"elapsed {format_seconds(live['time_elapsed'])}",
            f"ETA {format_seconds(live['time_remaining'])}",
        ]
        return "  ".join(parts)

    @staticmethod
    def _state(live: dict[str, Any]) -> tuple[Any, ...]:
        return (live.get("absolute_batch"), live.get("round"), live.get("batch"),
                live.get("validation_loss"))  # fmt: skip

    def start(self, live: dict[str, Any]) -> None:
        pass

    def show(self, live: dict[str, Any]) -> None:
        self._write(self.line(live))
        self._last = self._state(live)

    def finish(self, live: dict[str, Any], reason: str) -> None:
        if reason == "weights_diverged":
            self._write(f"round {live['round']}  batch {live['batch']}: weights diverged")
        elif self._last is not None and self._state(live) != self._last:
            self.show(live)  # news since the last line: the final state

    def close(self) -> None:
        pass
