"""The TensorBoard reporter: ``training_progress_reporting="tensorboard"``.

A :class:`TensorBoardLog` is a :class:`~nettrain.progress.display.Display` that writes the live
properties as TensorBoard scalars through :class:`torch.utils.tensorboard.SummaryWriter`, each
at ``global_step`` = the absolute batch (batches trained so far):

==========================  ======================================================
``loss/train``              the round's running mean loss (the round's loss at its end)
``loss/batch``              the last batch's loss
``learning_rate``           the rate the next update uses
``examples_per_second``     the mean speed so far
``<m>/train``               each scalar measurement ``m`` of the last finished round
``loss/validation``         the last validation's loss; ``<m>/validation``: its scalar
                            measurements
==========================  ======================================================

The first four are written at every report, once per step (the end of training, at the last
round's step, adds no second point); the round's and the validation's values once each, at the
first report that has them (a report that repeats the values of the last one written, to the
last bit, is taken to be the same round or validation again). Values that are not numbers
(per-class tensors, curves) are left out; NaN is written as it is. TensorBoard keeps scalars
as 32-bit floats: the exact values are in ``train``'s result, or a csv log.

Events are written by a background thread and flushed when training ends; view them with
``tensorboard --logdir runs``. TensorBoard is an optional extra: ``pip install
"nettrain[tensorboard]"``; importing nettrain never imports it.

Example:
    >>> for tag, value in tensorboard_scalars({"round_loss": 0.5, "batch_loss": 0.25,
    ...         "round_measurements": {"loss": 0.5, "error_rate": 0.2},
    ...         "validation_loss": 0.6, "validation_measurements": {"error_rate": 0.3}}).items():
    ...     print(tag, value)
    loss/train 0.5
    loss/batch 0.25
    error_rate/train 0.2
    loss/validation 0.6
    error_rate/validation 0.3
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import NetTrainError, describe
from .filelog import scalar

__all__ = ["TensorBoardLog", "tensorboard_scalars"]

_ARGUMENT = "training_progress_reporting"

#: Written at every report: (tag, live key).
_EVERY_REPORT = (
    ("loss/train", "round_loss"),
    ("loss/batch", "batch_loss"),
    ("learning_rate", "learning_rate"),
    ("examples_per_second", "examples_per_second"),
)


def _per_report(live: dict[str, Any]) -> dict[str, float]:
    values = {tag: scalar(live.get(key)) for tag, key in _EVERY_REPORT}
    return {tag: float(v) for tag, v in values.items() if v is not None}


def _measured(values: object, suffix: str) -> dict[str, float]:
    """``{"<key>/<suffix>": value}`` for the scalar measurements; "loss" has its own tag."""
    if not isinstance(values, dict):
        return {}
    numbers = {str(key): scalar(value) for key, value in values.items() if key != "loss"}
    return {f"{key}/{suffix}": float(v) for key, v in numbers.items() if v is not None}


def _validation(live: dict[str, Any]) -> dict[str, float]:
    loss = scalar(live.get("validation_loss"))
    measured = _measured(live.get("validation_measurements"), "validation")
    return {**({"loss/validation": float(loss)} if loss is not None else {}), **measured}


def tensorboard_scalars(live: dict[str, Any]) -> dict[str, float]:
    """Every scalar a report carries, by TensorBoard tag (see the module docstring).

    A :class:`TensorBoardLog` writes the per-report tags of each report, and the round's and
    the validation's tags only when they are new.

    >>> tensorboard_scalars({"round_loss": 0.5, "examples_per_second": None, "round": 2})
    {'loss/train': 0.5}
    """
    return {
        **_per_report(live),
        **_measured(live.get("round_measurements"), "train"),
        **_validation(live),
    }


def _fingerprint(values: object) -> tuple[tuple[str, str], ...]:
    """A group's scalar values, comparable (``repr``: a NaN equals a NaN here)."""
    if not isinstance(values, dict):
        return ()
    return tuple((str(key), repr(scalar(value))) for key, value in values.items())


def _summary_writer() -> type:
    """``SummaryWriter``, imported only when a TensorBoard log is asked for."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:  # torch raises ImportError too when tensorboard is missing
        raise NetTrainError(
            _ARGUMENT,
            '"tensorboard" needs the tensorboard package, which is not installed',
            hint='pip install "nettrain[tensorboard]"',
        ) from error
    return SummaryWriter


class TensorBoardLog:
    """Writes the live properties as TensorBoard scalars (see the module docstring).

    Args:
        log_dir: the folder for the event files (made if missing). None (the default) gives
            ``SummaryWriter``'s own choice: ``runs/<month><day>_<hours>-<minutes>-<seconds>_
            <host name>`` under the current folder, a new one for each run, so that
            ``tensorboard --logdir runs`` shows the runs side by side. A folder given here is
            shared by every run that uses it: TensorBoard shows them as one run.

    Attributes:
        log_dir: the folder given; after :meth:`start`, the folder the events go to.

    Raises:
        NetTrainError: (argument ``training_progress_reporting``) when tensorboard is not
            installed, or ``log_dir`` is not a path or names a file.
    """

    label = "TensorBoard log"

    def __init__(self, log_dir: str | os.PathLike[str] | None = None) -> None:
        self._writer_class = _summary_writer()
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise NetTrainError(
                _ARGUMENT,
                'the "log_dir" sub-option of "tensorboard" must be a folder path',
                expected="a str or pathlib.Path",
                received=describe(log_dir),
            )
        if log_dir is not None and os.path.isfile(log_dir):
            raise NetTrainError(
                _ARGUMENT,
                f'the "log_dir" of "tensorboard", {os.fspath(log_dir)!r}, is a file',
                hint="give a folder (it is made if it does not exist)",
            )
        self._requested = None if log_dir is None else os.fspath(log_dir)
        self.log_dir: str | None = self._requested
        self._writer: Any = None
        self._steps: dict[str, int] = {}  # per-report tag -> the step it was last written at
        self._round: tuple[tuple[str, str], ...] = ()
        self._validated: tuple[tuple[str, str], ...] = ()

    def start(self, live: dict[str, Any]) -> None:
        """Open a writer (SummaryWriter makes the folder and its event file)."""
        self.close()  # started twice: the second run gets its own writer (and default folder)
        self._writer = self._writer_class(log_dir=self._requested)
        self.log_dir = str(self._writer.log_dir)
        self._steps, self._round, self._validated = {}, (), ()

    def show(self, live: dict[str, Any]) -> None:
        """Write this report's scalars at ``global_step`` = ``live["absolute_batch"]``."""
        if self._writer is None:
            return
        step = scalar(live.get("absolute_batch"))
        step = int(step) if step is not None else 0
        for tag, value in _per_report(live).items():
            # once per step: the end-of-training report at the last round's step would put a
            # second point on top of the first (the speed a little lower), and TensorBoard
            # draws both
            if self._steps.get(tag) != step:
                self._steps[tag] = step
                self._writer.add_scalar(tag, value, global_step=step)
        # the round's and the validation's values belong to one round or validation: written
        # once, when any of them changes (a repeated error rate with a new loss is a new round)
        trained = live.get("round_measurements")
        if _fingerprint(trained) not in ((), self._round):
            self._round = _fingerprint(trained)
            for tag, value in _measured(trained, "train").items():
                self._writer.add_scalar(tag, value, global_step=step)
        loss, measured = live.get("validation_loss"), live.get("validation_measurements")
        if loss is not None or measured:
            seen = _fingerprint({**(measured or {}), "loss/validation": loss})
            if seen != self._validated:
                self._validated = seen
                for tag, value in _validation(live).items():
                    self._writer.add_scalar(tag, value, global_step=step)

    def finish(self, live: dict[str, Any], reason: str) -> None:
        """Write the final state (what the last report has not) and flush to disk."""
        if self._writer is None:
            return
        self.show(live)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the writer; safe to call twice, and after an exception."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
