"""``ProgressMonitor``: MATLAB's ``trainingProgressMonitor`` for custom training loops.

A custom loop records its metrics and information; the monitor reports them through the same
reporters ``nettrain.train`` uses (the ``"print"`` line every 2 s, a
``training_progress_function``), asks the loop to stop on Ctrl-C or when that function says
so, and gives back a :class:`~nettrain.TrainResult` whose properties mean what ``train``'s do.

What the monitor understands by name:

* the metric ``"loss"`` is the training loss (``batch_loss_list``, ``round_loss_list``, the
  ``loss`` of the print line); every other metric is a training measurement, averaged per
  round like ``train``'s ``round_measurements``; a metric ``"validation_loss"`` or
  ``"validation_<name>"`` is a validation value (``val loss``, ``val <name>`` in the line;
  ``validation_loss_list``, ``validation_measurements_lists``);
* the info ``"epoch"`` numbers the rounds (``round`` in the line, ``round_loss_list`` per
  epoch); without it the whole loop is one round. Records belong to the epoch given last
  when they are recorded: give the epoch at the top of the epoch loop (records made before any
  epoch was given join the first epoch given);
* the info ``"learning_rate"`` gives ``initial_learning_rate`` / ``final_learning_rate``;
* ``step`` is the loop's iteration: ``batch`` in the line, ``total_batches`` at the end.

``monitor.plot(*metrics)`` draws the metrics recorded so far against the steps (a matplotlib
Figure; see :meth:`ProgressMonitor.plot`).

Recording never reads a tensor from its device: a loss tensor is kept (detached, copied) and
read with the others in one transfer when a report is due (about every 2 s, with or without a
reporter, so memory stays bounded), at the end of an epoch and at the end, so a GPU loop does
not wait for the device every iteration.

Example:
    >>> monitor = ProgressMonitor(metrics=["loss"], info=["epoch"], reporting=None)
    >>> with monitor:
    ...     iteration = 0
    ...     for epoch in (1, 2):
    ...         monitor.update_info(epoch=epoch)
    ...         for loss in (4.0, 2.0):
    ...             iteration += 1
    ...             monitor.record_metrics(iteration, loss=loss)
    ...             monitor.progress = 100 * iteration / 4
    ...             if monitor.stop:
    ...                 break
    >>> result = monitor.result()
    >>> result.batch_loss_list, result.round_loss_list, result.total_batches
    ([4.0, 2.0, 4.0, 2.0], [3.0, 3.0], 4)
    >>> result.reason_training_stopped
    'loop_finished'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .. import events
from ..errors import NetTrainError, add_note, describe
from ..loop import CHECK_SECONDS, Observer
from ..progress.forms import parse_reporting
from ..progress.function import ProgressFunction
from ..progress.reporters import build_reporters, close_all
from ..results import TrainResult
from ..runtime.interrupt import InterruptGuard
from ..scalars import as_int, as_real, is_bool
from .monitor_state import capture, restore
from .monitor_values import (
    VALIDATION_PREFIX,
    loss_values,
    mean,
    metrics_plot,
    names,
    plot_properties,
    read_number,
    unavailable_reasons,
    unknown_name,
    validation_values,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ProgressMonitor"]

_FINISHED = "loop_finished"  # reason_training_stopped of a loop that ended on its own


class ProgressMonitor:
    """Reports a custom training loop's progress and gives its results (MATLAB's
    ``trainingProgressMonitor``).

    The monitor is active from its creation until :meth:`close` (or :meth:`result`, or the end
    of a ``with ProgressMonitor(...) as monitor:`` block, which is the safe way: it closes even
    when the loop raises). While active it holds Ctrl-C: the first one sets :attr:`stop`, a
    second one raises ``KeyboardInterrupt`` as usual; closing restores the previous handler.
    Close monitors in the reverse order of their creation (``with`` blocks do).

    Args:
        metrics: the names of the values :meth:`record_metrics` records (one name or a list;
            default none). ``"loss"``, ``"validation_loss"`` and ``"validation_<name>"`` have
            the meanings the module documentation gives.
        info: the names of the values :meth:`update_info` shows (default none); ``"epoch"``
            and ``"learning_rate"`` have the meanings the module documentation gives.
        x_label: what a step counts (MATLAB's ``XLabel``, default ``"iteration"``); reporters
            find it in the live properties as ``"x_label"``.
        reporting: as ``train``'s ``training_progress_reporting``: ``"auto"`` (default, the
            same as ``"print"``: one line every 2 s), ``"print"``, ``None`` or ``"none"``, or
            ``(form, {"interval": seconds})``. A final line comes when the monitor closes.
        progress_function: as ``train``'s ``training_progress_function``: ``f(live)`` or ``(f,
            {"interval": "batch" | "N batches" | "round" | "N rounds" | seconds})``, called
            with the live properties (a batch is a step, a round an epoch) and always at the
            start and the end; returning ``"stop_training"`` or ``"abort_training"`` sets
            :attr:`stop` (reasons ``"progress_function"``, ``"aborted"``).
        clock: the time source, seconds (default ``time.perf_counter``; tests give a fake).

    Raises:
        NetTrainError: for bad names, an unknown reporting form, a progress function that is
            not callable.

    The live properties reporters and the progress function get are ``train``'s keys, with
    ``round`` the epoch, ``batch`` and ``absolute_batch`` the step, ``round_loss`` the mean
    ``loss`` recorded in the epoch so far (None without a ``"loss"`` metric),
    ``round_measurements`` the other training metrics' means in the epoch so far (the last
    epoch's until the new one records one), ``validation_loss`` / ``validation_measurements``
    the latest validation values, ``time_remaining`` estimated from :attr:`progress`,
    ``batches_per_second`` steps per second; ``net`` and ``examples_*`` are None. Added:
    ``metrics`` and ``info`` (the latest value of each), ``x_label``, ``status``,
    ``progress`` (percent).
    """

    def __init__(
        self,
        metrics: str | Sequence[str] = (),
        info: str | Sequence[str] = (),
        *,
        x_label: str = "iteration",
        reporting: object = "auto",
        progress_function: object = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._metrics = names(metrics, "metrics")
        self._info = names(info, "info")
        if not isinstance(x_label, str):
            raise NetTrainError("x_label", "must be a string", received=describe(x_label))
        self._x_label = x_label
        reporting_forms = parse_reporting(reporting, argument="reporting")
        self._function = (
            ProgressFunction(progress_function, argument="progress_function")
            if progress_function is not None
            else None
        )
        self._observers: list[Observer] = [self._function] if self._function else []
        self._training = [m for m in self._metrics if not m.startswith(VALIDATION_PREFIX)]
        self._validation = {
            m: m[len(VALIDATION_PREFIX) :] for m in self._metrics if m not in self._training
        }
        self._observers.extend(
            build_reporters(
                reporting_forms,
                measurements=[m for m in self._training if m != "loss"],
                validation=bool(self._validation),
            )
        )
        # every value recorded, per metric; NaN holds the place of a tensor not read yet
        self._values: dict[str, list[float]] = {m: [] for m in self._metrics}
        self._positions: dict[str, list[int]] = {m: [] for m in self._metrics}
        self._pending: list[tuple[str, int, Tensor]] = []
        self._step: int | None = None
        self._at_step: set[str] = set()  # the metrics recorded at the current step
        self._records = 0
        self._reported = 0  # records at the last report: a final line only shows news
        # rounds: the open one starts at _round_start[m] in each metric's values
        self._epoch: int | None = None
        self._round_start = {m: 0 for m in self._metrics}
        self._round_records = 0
        self._rounds: list[dict[str, float]] = []  # the training metrics' means, per round
        self._last_means: dict[str, float] = {}  # each one's mean in the last round recording it
        self._round_positions: list[int] = []
        self._latest_info: dict[str, float | Tensor | str] = {}
        self._first_rate: float | Tensor | str | None = None
        self._progress = 0.0
        self._status = ""
        self._user_stop = False
        self._closed = False
        self._reason: str | None = None
        self._result: TrainResult | None = None
        self._closed_state: dict[str, Any] | None = None  # the history as it was before closing
        self._clock = clock
        self._start = clock()
        self._end: float | None = None
        intervals = [o.interval for o in self._observers if o.interval is not None]
        self._check_every = min([CHECK_SECONDS, *intervals])
        self._next_check = self._start + self._check_every
        self._guard = InterruptGuard().__enter__()
        try:
            self._notify(events.TRAINING_STARTED, self._start)
        except BaseException:
            self._guard.__exit__(None, None, None)
            self._closed = True
            raise

    # ---- what the loop calls -------------------------------------------------------------

    def record_metrics(self, step: int, **values: object) -> None:
        """Record metric values at ``step`` (MATLAB's ``recordMetrics``).

        Args:
            step: the loop's iteration, a whole number >= 0 that never decreases; several
                calls may record different metrics at one step (the loss, then a validation).
            **values: ``name=value`` for names among ``metrics``: Python or NumPy numbers, or
                one-element tensors (kept on their device, read when a report is due). NaN
                and infinities are recorded as they are.

        Raises:
            NetTrainError: for an unknown name, a value that is not one real number, a step
                that decreases or a metric recorded twice at one step, or a closed monitor.

        >>> with ProgressMonitor(metrics=["loss"], reporting=None) as monitor:
        ...     monitor.record_metrics(1, los=0.5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nettrain.errors.NetTrainError: record_metrics: 'los' is not one of the monitor's ...
        """
        self._check_open("record_metrics")
        position = as_int(step)
        if position is None or position < 0:
            raise NetTrainError(
                "step",
                "must be a whole number >= 0 (the loop's iteration)",
                received=describe(step),
            )
        if self._step is not None and position < self._step:
            raise NetTrainError(
                "step",
                "must not decrease",
                expected=f"a step >= {self._step}, the last one recorded",
                received=str(position),
            )
        if not values:
            raise NetTrainError(
                "record_metrics",
                "records nothing",
                expected="name=value for metrics among " + repr(list(self._metrics)),
            )
        new_step = position != self._step
        parsed: dict[str, float | Tensor] = {}
        for name, value in values.items():
            if name not in self._values:
                raise unknown_name("record_metrics", name, self._metrics, "metrics")
            if not new_step and name in self._at_step:
                raise NetTrainError(
                    "step",
                    f"{name!r} was already recorded at step {position}",
                    hint="record each metric once per step; give the next one a larger step",
                )
            parsed[name] = read_number(name, value, "metric")
        if new_step:
            self._step, self._at_step = position, set()
        for name, value in parsed.items():
            column = self._values[name]
            if isinstance(value, Tensor):
                self._pending.append((name, len(column), value))
                column.append(math.nan)
            else:
                column.append(value)
            self._positions[name].append(position)
            self._at_step.add(name)
        self._records += 1
        self._round_records += 1
        now = self._clock()
        if new_step:
            self._per_step(position, now)
        if now >= self._next_check:
            self._next_check = now + self._check_every
            self._flush()  # also without reporters: pending tensors are read every few seconds
            self._reported = self._records
            self._notify(events.REPORT, now)

    def update_info(self, **values: object) -> None:
        """Show information values (MATLAB's ``updateInfo``); they are not recorded over time.

        Args:
            **values: ``name=value`` for names among ``info``: numbers, strings or
                one-element tensors. ``epoch`` must be a whole number that never decreases: a
                new epoch ends the round of the last one. ``learning_rate`` must be a number.

        Raises:
            NetTrainError: for an unknown name, a bad value, or a closed monitor.
        """
        self._check_open("update_info")
        parsed: dict[str, float | Tensor | str] = {}
        epoch: int | None = None
        for name, value in values.items():
            if name not in self._info:
                raise unknown_name("update_info", name, self._info, "info")
            if name == "epoch":
                epoch = as_int(value)
                if epoch is None:
                    raise NetTrainError(
                        "epoch",
                        "must be a whole number (it numbers the rounds)",
                        received=describe(value),
                        hint="give the epoch's number; the print line shows it as 'round N'",
                    )
                if self._epoch is not None and epoch < self._epoch:
                    raise NetTrainError(
                        "epoch",
                        "must not decrease",
                        expected=f"an epoch >= {self._epoch}, the current one",
                        received=str(epoch),
                    )
                parsed[name] = epoch
            elif isinstance(value, str) and name != "learning_rate":
                parsed[name] = value
            else:
                parsed[name] = read_number(name, value, "info value")
        if epoch is not None:
            self._new_epoch(epoch)
        if "learning_rate" in parsed and self._first_rate is None:
            self._first_rate = parsed["learning_rate"]
        self._latest_info.update(parsed)

    @property
    def progress(self) -> float:
        """How far the loop has come, in percent from 0 to 100 (MATLAB's ``Progress``; default
        0). It gives the estimate of the time remaining (``ETA`` in the print line)."""
        return self._progress

    @progress.setter
    def progress(self, percent: float) -> None:
        self._check_open("progress")
        value = as_real(percent)
        if value is None or not 0.0 <= value <= 100.0:
            raise NetTrainError(
                "progress",
                "must be a percentage",
                expected="a number from 0 to 100",
                received=describe(percent),
                hint="set 100 * iteration / total_iterations",
            )
        self._progress = value

    @property
    def stop(self) -> bool:
        """Whether the loop should stop (MATLAB's ``Stop``): after a Ctrl-C while the monitor
        was active, when the progress function returned ``"stop_training"`` or
        ``"abort_training"``, or when the loop set ``monitor.stop = True`` (MATLAB's Stop
        button). Setting ``False`` withdraws only the loop's own request."""
        return self._stop_reason() is not None

    @stop.setter
    def stop(self, value: bool) -> None:
        if not is_bool(value):
            raise NetTrainError("stop", "must be True or False", received=describe(value))
        self._user_stop = bool(value)

    @property
    def status(self) -> str:
        """A free text the loop sets to say what it is doing (MATLAB's ``Status``; default
        ""); reporters and the progress function find it in the live properties."""
        return self._status

    @status.setter
    def status(self, text: str) -> None:
        if not isinstance(text, str):
            raise NetTrainError("status", "must be a string", received=describe(text))
        self._status = text

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names (MATLAB's ``Metrics``)."""
        return self._metrics

    @property
    def info(self) -> tuple[str, ...]:
        """The info names (MATLAB's ``Info``)."""
        return self._info

    @property
    def x_label(self) -> str:
        """What a step counts (MATLAB's ``XLabel``)."""
        return self._x_label

    # MATLAB's names, so code ported from trainingProgressMonitor reads as it did
    recordMetrics = record_metrics
    updateInfo = update_info
    Metrics = metrics
    Info = info
    XLabel = x_label
    Progress = progress
    Stop = stop
    Status = status

    # ---- saving and continuing -----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The whole history as plain data (every metric value with its step, the epochs,
        the latest info, progress, status, time spent), to save with the loop's weights: a
        new monitor with the same metrics and info continues it with :meth:`load_state_dict`
        (``nettrain.functional.save_checkpoint`` does both). A closed monitor gives its state
        from before closing, so an open last epoch stays open in the monitor that continues.

        >>> with ProgressMonitor(metrics=["loss"], reporting=None) as first:
        ...     first.record_metrics(1, loss=0.5)
        >>> with ProgressMonitor(metrics=["loss"], reporting=None) as then:
        ...     then.load_state_dict(first.state_dict())
        ...     then.record_metrics(2, loss=0.25)
        >>> then.result().batch_loss_list, then.result().metrics_positions
        ([0.5, 0.25], {'loss': [1, 2]})
        """
        return self._closed_state if self._closed_state is not None else capture(self)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the history of a :meth:`state_dict`, replacing this monitor's own.

        Raises:
            NetTrainError: ``state`` is not such a dict or comes from a monitor with other
                metrics or info (argument "state"), or the monitor is closed.
        """
        self._check_open("load_state_dict")
        restore(self, state)

    # ---- the end -------------------------------------------------------------------------

    def close(self) -> None:
        """End the monitoring: restore the Ctrl-C handler, read what is pending, print the
        final line and send the final events (``training_stopped`` when the loop was asked to
        stop, then ``training_complete``). Closing again does nothing."""
        self._close(quiet=False)

    def result(self) -> TrainResult:
        """Close the monitor and return the loop's :class:`~nettrain.TrainResult`.

        Its properties mean what ``train``'s do: ``batch_loss_list`` (each ``loss`` recorded),
        ``round_loss_list`` / ``round_positions`` / ``round_loss`` (the mean ``loss`` of each
        epoch that recorded something, the step it ended at, the last), ``round_measurements``
        / ``round_measurements_lists`` (each training metric's mean per epoch, "loss"
        included; NaN for an epoch that did not record it), ``validation_loss_list``,
        ``validation_loss``, ``validation_measurements(_lists)`` (keys without the
        ``validation_`` prefix) and ``validation_positions`` (the steps any of them was
        recorded at), ``total_batches`` (the last step), ``total_rounds`` (epochs that
        recorded something), ``total_training_time`` (seconds from creation to close),
        ``mean_batches_per_second``, ``reason_training_stopped`` (``"stopped_by_user"``,
        ``"progress_function"``, ``"aborted"`` or ``"loop_finished"``),
        ``initial_learning_rate`` / ``final_learning_rate``, ``measurements`` (the training
        metrics); and the monitor's own ``metrics_lists`` / ``metrics_positions`` ({name:
        every value recorded}, {name: the step of each}); the figures ``loss_plot`` and
        ``final_plots``, drawn when asked for (``nettrain[plots]``). Means count each record
        once (the monitor knows no batch sizes). Properties a custom loop cannot have
        (``trained_net``, ``batch_size``, ...) raise a NetTrainError saying why.
        """
        self._close(quiet=False)
        if self._result is None:  # an observer raised while closing: build it now
            self._result = self._build()
        return self._result

    def plot(self, *metrics: str) -> Figure:
        """A matplotlib Figure of the metrics recorded so far against the steps they were
        recorded at (default: every metric), one axes per metric, with ``validation_<name>``
        beside ``<name>``; the x axis says the monitor's ``x_label``. It may be called while
        the loop runs (it reads pending tensors, as a report does) or after it ended.

        Raises:
            NetTrainError: a name that is not one of the metrics (argument "metrics"), or
                matplotlib is not installed.

        >>> with ProgressMonitor(metrics=["loss", "validation_loss"], reporting=None) as m:
        ...     for step in (1, 2, 3):
        ...         m.record_metrics(step, loss=1.0 / step)
        ...     m.record_metrics(3, validation_loss=0.5)
        >>> ax = m.plot().axes[0]
        >>> [(line.get_label(), line.get_xdata().tolist()) for line in ax.get_lines()]
        [('loss', [1.0, 2.0, 3.0]), ('validation_loss', [3.0])]
        """
        self._flush()
        return metrics_plot(self._values, self._positions, self._metrics, metrics, self._x_label)

    def __enter__(self) -> ProgressMonitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._user_stop = True  # a second Ctrl-C (or one outside the main thread)
        # after another exception the final reports are left out: they must not hide it
        self._close(quiet=exc_type is not None and not issubclass(exc_type, KeyboardInterrupt))

    # ---- inside --------------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise NetTrainError(
                what,
                "the monitor is closed (result(), close() or the end of its with block)",
                hint="create a new ProgressMonitor for another loop",
            )

    def _stop_reason(self) -> str | None:
        if self._guard.requested:
            return "stopped_by_user"
        if self._function is not None and self._function.signal is not None:
            return self._function.signal
        return "stopped_by_user" if self._user_stop else None

    def _flush(self) -> None:
        """Read every pending tensor: one transfer per device and dtype."""
        groups: dict[tuple[torch.device, torch.dtype], list[tuple[str, int, Tensor]]] = {}
        for entry in self._pending:
            groups.setdefault((entry[2].device, entry[2].dtype), []).append(entry)
        for group in groups.values():
            read = torch.stack([t for _, _, t in group]).tolist()
            for (name, index, _), value in zip(group, read, strict=True):
                self._values[name][index] = float(value)
        self._pending.clear()

    def _read(self, value: float | Tensor | str) -> float | str:
        return float(value.item()) if isinstance(value, Tensor) else value

    def _end_round(self) -> None:
        self._flush()
        means = {}
        for m in self._training:
            recorded = self._values[m][self._round_start[m] :]
            means[m] = mean(recorded)  # NaN: not recorded in this round
            if recorded:
                self._last_means[m] = means[m]
        self._rounds.append(means)
        self._round_positions.append(self._step if self._step is not None else 0)
        self._round_start = {m: len(v) for m, v in self._values.items()}
        self._round_records = 0

    def _new_epoch(self, epoch: int) -> None:
        if self._epoch is None:  # the first epoch given: the open round is that epoch
            self._epoch = epoch
            return
        if epoch == self._epoch:
            return
        if self._round_records:
            self._end_round()
            self._notify(events.ROUND_COMPLETE, self._clock())  # the live view: the ended one
        self._epoch = epoch

    def _per_step(self, step: int, now: float) -> None:
        due = [o for o in self._observers if o.wants_batches and o.due(step, self._fraction())]
        if due:
            live = self._live(now)
            for observer in due:
                self._tell(observer, events.BATCH_COMPLETE, live)

    def _fraction(self) -> float:
        return self._progress / 100.0

    def _notify(self, event: str, now: float) -> None:
        if self._observers:
            live = self._live(now)
            for observer in self._observers:
                self._tell(observer, event, live)

    def _tell(self, observer: Observer, event: str, live: dict[str, Any]) -> None:
        try:
            observer.notify(event, live)
        except Exception as error:
            add_note(error, f"raised by the ProgressMonitor's {observer.label} (event {event!r})")
            raise

    def _live(self, now: float) -> dict[str, Any]:
        """The live properties, with train's keys (see the class documentation)."""
        self._flush()
        elapsed = now - self._start
        step = self._step if self._step is not None else 0
        fraction = self._fraction()
        # a metric not recorded in the open round yet shows its mean in the last round that did
        current = dict(self._last_means)
        for m in self._training:
            recorded = self._values[m][self._round_start[m] :]
            if recorded:
                current[m] = mean(recorded)
        latest = {m: v[-1] for m, v in self._values.items() if v}
        validation = {key: latest[m] for m, key in self._validation.items() if m in latest}
        info = {name: self._read(value) for name, value in self._latest_info.items()}
        rate = self._rate(self._latest_info.get("learning_rate"))
        has_loss = "loss" in self._values
        # without epochs the whole loop is round 1 (round 0 before anything is recorded)
        unnumbered = 1 if self._records else 0
        return {
            "round": self._epoch if self._epoch is not None else unnumbered,
            "max_rounds": None,
            "batch": step,
            "batches_per_round": None,
            "absolute_batch": step,
            "examples_processed": None,
            "batch_loss": latest.get("loss", math.nan) if has_loss else None,
            "round_loss": current.get("loss", math.nan) if has_loss else None,
            "time_elapsed": elapsed,
            "time_remaining": elapsed * (1 - fraction) / fraction if fraction > 0 else math.inf,
            "progress_fraction": fraction,
            "batches_per_second": step / elapsed if elapsed > 0 else 0.0,
            "examples_per_second": None,
            "learning_rate": rate,
            "net": None,
            "round_measurements": current,
            "validation_loss": validation.get("loss"),
            "validation_measurements": validation or None,
            "best_validation_round": None,
            "reason": self._reason,  # why the loop stopped, once closed (None while it runs)
            "metrics": latest,
            "info": info,
            "x_label": self._x_label,
            "status": self._status,
            "progress": self._progress,
        }

    def _close(self, quiet: bool) -> None:
        if self._closed:
            return
        try:
            self._close_reports(quiet)
        finally:
            close_all(self._observers)  # a live panel leaves the terminal clean, files closed

    def _close_reports(self, quiet: bool) -> None:
        self._closed = True
        end = self._end = self._clock()
        self._reason = self._stop_reason() or _FINISHED
        self._guard.__exit__(None, None, None)  # first: nothing below may leave it installed
        self._flush()
        self._closed_state = capture(self)
        final_line = self._records > self._reported
        open_round = self._round_records > 0
        if open_round:
            self._end_round()  # a last partial round counts, as in train's round_loss_list
        self._result = self._build()
        if quiet:
            return
        # As the engine's last events: a Ctrl-C (or a KeyboardInterrupt from the progress
        # function) now ends the reports only; what was recorded is kept.
        try:
            if final_line:
                self._notify(events.REPORT, end)
            if open_round and self._reason == _FINISHED:
                self._notify(events.ROUND_COMPLETE, end)
            if self._reason != _FINISHED:
                self._notify(events.TRAINING_STOPPED, end)
            self._notify(events.TRAINING_COMPLETE, end)
        except KeyboardInterrupt:
            pass

    def _build(self) -> TrainResult:
        assert self._end is not None and self._reason is not None
        seconds = self._end - self._start
        steps = self._step if self._step is not None else 0
        values: dict[str, Any] = {
            "metrics_lists": {m: list(v) for m, v in self._values.items()},
            "metrics_positions": {m: list(v) for m, v in self._positions.items()},
            "measurements": list(self._training),
            "round_measurements_lists": {m: [r[m] for r in self._rounds] for m in self._training},
            "round_measurements": dict(self._rounds[-1]) if self._rounds else {},
            "round_positions": list(self._round_positions),
            "total_rounds": len(self._rounds),
            "total_batches": steps,
            "total_training_time": seconds,
            "mean_batches_per_second": steps / max(seconds, 1e-12),
            "reason_training_stopped": self._reason,
        }
        values.update(loss_values(self._values, self._rounds))
        values.update(validation_values(self._values, self._positions, self._validation))
        if "learning_rate" in self._info:
            last = self._latest_info.get("learning_rate")
            values["initial_learning_rate"] = self._rate(self._first_rate)
            values["final_learning_rate"] = self._rate(last)
        lazy = plot_properties(values, self._x_label)
        unavailable = {k: v for k, v in unavailable_reasons(values).items() if k not in lazy}
        return TrainResult(values, lazy, unavailable)

    def _rate(self, value: float | Tensor | str | None) -> float:
        return math.nan if value is None else float(self._read(value))
