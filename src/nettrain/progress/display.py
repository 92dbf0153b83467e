"""What every reporting form draws on: a :class:`Display`, shown at the pace its form asks for.

A reporting form (``training_progress_reporting``: "panel", "print", "progress_bar", a log file,
TensorBoard, a callable, ...) is a :class:`Display`: it is told when training starts, asked to
``show`` the live properties whenever a report is due, told how training ended, and always
closed at the end, even when training raised. When a report is due (every 2 s by default, or
every N rounds, batches or percent) is decided outside it, by
:class:`nettrain.progress.pace.Paced`, which turns the loop's events into these calls; so a
display only draws.

The live properties (a dict, the same for every display) hold at least:

==========================  ================================================================
``round``                   the current round (1-based); ``max_rounds``: planned, or None
``batch``                   the batch within the round (1-based, 0 before the first);
                            ``batches_per_round`` (None for a stream of unknown length)
``absolute_batch``          batches trained so far; ``examples_processed`` examples so far
``batch_loss``              the last batch's loss (float); ``round_loss``: the running mean loss
                            of the current round (the last round's at a round's end)
``round_measurements``      ``{key: value}`` of the last finished round (floats; some values
                            may be tensors: per-class values, curves; skip non-floats)
``validation_loss``         the last validation's loss, or None; ``validation_measurements``
                            ``{key: value}`` or None; ``best_validation_round`` or None
``time_elapsed``            seconds since training started; ``time_remaining`` (may be inf)
``progress_fraction``       0 to 1
``examples_per_second``     float (None in a custom loop that counts no examples);
                            ``batches_per_second``
``learning_rate``           the rate the next update uses
``event``                   the event the report comes with (see below)
==========================  ================================================================

A custom loop's ``ProgressMonitor`` gives the same keys (its own values, and None where it has
none). Values may be NaN (a loss not read yet); never assume a key holds a float without checking.

Events, in order: ``training_started`` (once), then reports (``report`` on the time interval,
``round_complete`` at the end of a round, ``batch_complete`` after a batch when the pace is in
batches), then one of ``training_complete``, ``training_stopped``, ``weights_diverged``.

Example:
    >>> class Count:
    ...     label = "counter"
    ...     def __init__(self): self.shown = 0
    ...     def start(self, live): pass
    ...     def show(self, live): self.shown += 1
    ...     def finish(self, live, reason): pass
    ...     def close(self): pass
    >>> isinstance(Count(), Display)
    True
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Display"]


@runtime_checkable
class Display(Protocol):
    """A reporting form's drawing side (see the module docstring).

    Attributes:
        label: names it in the note added to an exception it raises ("progress panel").
    """

    label: str

    def start(self, live: dict[str, Any]) -> None:
        """Training starts (draw the empty panel, open the file and write its header)."""

    def show(self, live: dict[str, Any]) -> None:
        """A report is due: draw these live properties (redraw a panel, write one row)."""

    def finish(self, live: dict[str, Any], reason: str) -> None:
        """Training ended (``reason`` is the event: "training_complete", "training_stopped",
        "weights_diverged"): draw the final state. :meth:`close` follows."""

    def close(self) -> None:
        """Release everything (the terminal restored, files flushed and closed). Always called
        once, last, also after an exception or Ctrl-C, also when :meth:`finish` was not."""
