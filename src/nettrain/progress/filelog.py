"""The log-file reporters: ``training_progress_reporting="log.csv"``, ``".tsv"`` or ``".jsonl"``.

A :class:`FileLog` is a :class:`~nettrain.progress.display.Display` that writes one row per
report (and one when training ends) to a file, in the format its suffix names (any case):

* ``.csv``: comma-separated, with a header row (the :mod:`csv` module's ``excel`` dialect:
  fields quoted where needed, lines ending in ``\\r\\n``);
* ``.tsv``: the same, tab-separated (``excel_tab``);
* ``.jsonl``: one JSON object per line, keys in the column order; a NaN or infinite value is
  written as JavaScript's ``NaN`` / ``Infinity`` / ``-Infinity`` (as ``json.dumps`` does), which
  Python's :mod:`json` and pandas read back, though strict JSON parsers refuse it.

The columns are fixed when the log is made, so every row has every column (an empty field, or
``null``, where a value is not known yet; the validation columns before the first validation):

``event, round, batch, absolute_batch, examples_processed, time_elapsed, learning_rate,
batch_loss, round_loss, <m>..., validation_loss, validation_<m>..., examples_per_second``

where ``<m>`` are the run's scalar measurements (the last finished round's values) and the
validation columns are there only when the run has a validation set. Numbers are written in
full (``repr(float)``), so they read back equal; tensors (per-class values, curves) are left out.

Each row is written with one ``write`` and flushed at once: a run that is killed leaves whole
lines, and the log can be read (``tail -f``, pandas) while training goes on.

Example:
    >>> import csv, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> log = FileLog(path, measurements=["error_rate"], validation=True)
    >>> log.columns[-4:]
    ['error_rate', 'validation_loss', 'validation_error_rate', 'examples_per_second']
    >>> log.start({})
    >>> log.show({"event": "report", "round": 1, "batch": 5, "round_loss": 0.1 + 0.2})
    >>> log.close()
    >>> with open(path, newline="") as file:
    ...     rows = list(csv.DictReader(file))
    >>> rows[0]["round_loss"], float(rows[0]["round_loss"]) == 0.1 + 0.2, rows[0]["validation_loss"]
    ('0.30000000000000004', True, '')
    >>> FileLog.check_path("runs/Log.TSV"), FileLog.check_path("print")
    ('tsv', None)
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..errors import NetTrainError, describe

__all__ = ["LOG_FORMATS", "FileLog", "scalar"]

#: The log formats, by file suffix (compared without case).
LOG_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}

_ARGUMENT = "training_progress_reporting"

#: The columns every log has, in order, before the measurements.
_HEAD = (
    "event",
    "round",
    "batch",
    "absolute_batch",
    "examples_processed",
    "time_elapsed",
    "learning_rate",
    "batch_loss",
    "round_loss",
)
_TAIL = ("examples_per_second",)

_DIALECTS: dict[str, type[csv.Dialect]] = {"csv": csv.excel, "tsv": csv.excel_tab}


def scalar(value: object) -> int | float | None:
    """A value as a plain Python number, or None where it is not one number.

    Ints stay ints (a round, a batch count), other reals become floats (NumPy scalars too), a
    0-dimensional tensor or array gives its one number; None, bools, strings and tensors with
    more than one element (per-class values, curves) give None, so logs leave them out.

    >>> import torch
    >>> scalar(3), scalar(0.5), scalar(torch.tensor(0.25)), scalar(torch.ones(2)), scalar(None)
    (3, 0.5, 0.25, None, None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if getattr(value, "ndim", None) == 0 and callable(item):
        return scalar(item())  # reads a device tensor: only at report time, never per batch
    return None


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... where it is taken (two keys naming one column)."""
    candidate, count = name, 2
    while candidate in taken:
        candidate, count = f"{name}_{count}", count + 1
    taken.add(candidate)
    return candidate


def _cell(value: int | float | str | None) -> str:
    """A csv field: empty for an unknown value, numbers in full (``repr`` reads back equal)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # 'nan', 'inf' and '-inf' too, which float() reads back
    return str(value)


class FileLog:
    """Writes the live properties to a csv, tsv or JSON-lines file (see the module docstring).

    The file is opened at :meth:`start` with mode ``"w"``: a new run replaces a log left at the
    same path by an earlier one (give each run its own path to keep both). Its folder must
    exist; that is checked here, so a wrong path fails before training starts.

    Args:
        path: the log file; its suffix (``.csv``, ``.tsv``, ``.jsonl``) chooses the format.
        measurements: the keys of the scalar measurements the run makes, besides ``"loss"``
            (one column each, and one ``validation_<key>`` column with ``validation``). A key
            that would repeat a column name gets ``train_`` in front (``train_round``).
        validation: whether the run has a validation set (the ``validation_*`` columns).

    Attributes:
        path: the log file, a :class:`~pathlib.Path`.
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"``.
        columns: the column names, in order (the header row; the keys of each JSON object).

    Raises:
        NetTrainError: (argument ``training_progress_reporting``) for a path without one of the
            three suffixes, a folder that does not exist, or a path that is a folder.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        measurements: Sequence[str] = (),
        validation: bool = False,
    ) -> None:
        form = self.check_path(path)
        if form is None:
            raise NetTrainError(
                _ARGUMENT,
                "is not a log file path",
                expected="a file path ending in .csv, .tsv or .jsonl",
                received=describe(path),
            )
        self.path = Path(os.fspath(path))
        self.format = form
        self.label = f"log file {str(self.path)!r}"
        _check_folder(self.path)
        self.validation = bool(validation)
        self._keys: list[tuple[str, str, str | None]] = []  # (key, column, validation column)
        taken = set(_HEAD) | set(_TAIL) | {"validation_loss"}
        for key in dict.fromkeys(str(k) for k in measurements if str(k) != "loss"):
            # a training column must not look like a validation one (a key "validation_x")
            clash = key in taken or key.startswith("validation_")
            column = _unique(f"train_{key}" if clash else key, taken)
            self._keys.append((key, column, None))
        if self.validation:
            self._keys = [(k, c, _unique(f"validation_{k}", taken)) for k, c, _ in self._keys]
        self.columns: list[str] = [
            *_HEAD,
            *(column for _, column, _ in self._keys),
            *(["validation_loss"] if self.validation else []),
            *(v for _, _, v in self._keys if v is not None),
            *_TAIL,
        ]
        self._file: TextIO | None = None

    @staticmethod
    def check_path(path: object) -> str | None:
        """The log format a reporting form names (``"csv"``, ``"tsv"``, ``"jsonl"``), or None
        when it is not a file path with one of those suffixes (compared without case).

        Only the string is looked at (the folder is checked when a :class:`FileLog` is made).

        >>> [FileLog.check_path(p) for p in ["log.csv", "out/run.JSONL", "csv", ".tsv", "d/"]]
        ['csv', 'jsonl', None, None, None]
        """
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path.strip() or "\0" in path or "\n" in path:
            return None
        if path.endswith(("/", os.sep)):
            return None  # a folder, even one named "logs.csv/"
        name = Path(path)
        # Path(".csv").suffix is "": a hidden file's name is its stem, not a suffix
        return LOG_FORMATS.get(name.suffix.lower())

    def start(self, live: dict[str, Any]) -> None:
        """Open the file (replacing an old one) and write the header (csv and tsv)."""
        self.close()  # a display started twice writes a new log, never two in one file
        try:
            # newline="": the csv module writes its own line ends; JSON lines get "\n" as is
            self._file = self.path.open("w", newline="", encoding="utf-8")
        except OSError as error:
            raise NetTrainError(
                _ARGUMENT,
                f"cannot write the log file {str(self.path)!r} ({error.strerror or error})",
                hint="give a path in a folder you can write to",
            ) from error
        if self.format != "jsonl":  # JSON lines have no header: each object names its keys
            self._write(self._line(self.columns))

    def show(self, live: dict[str, Any]) -> None:
        """Write one row: the live properties, the event in the ``event`` column."""
        if self._file is not None:
            self._write(self._line(self.row(live, live.get("event"))))

    def finish(self, live: dict[str, Any], reason: str) -> None:
        """Write the last row, its ``event`` the reason training ended ("training_complete")."""
        if self._file is not None:
            self._write(self._line(self.row(live, reason)))

    def close(self) -> None:
        """Close the file; safe to call twice, and after an exception."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def row(self, live: dict[str, Any], event: object) -> list[int | float | str | None]:
        """One row's values, in column order (None where a value is not known or not a number).

        >>> log = FileLog("log.jsonl", measurements=["error_rate"])
        >>> log.row({"round": 2, "round_measurements": {"error_rate": 0.25}}, "report")
        ['report', 2, None, None, None, None, None, None, None, 0.25, None]
        """
        trained = live.get("round_measurements") or {}
        validated = live.get("validation_measurements") or {}
        values: list[int | float | str | None] = [None if event is None else str(event)]
        values += [scalar(live.get(key)) for key in _HEAD[1:]]
        values += [scalar(trained.get(key)) for key, _, _ in self._keys]
        if self.validation:
            values.append(scalar(live.get("validation_loss")))
            values += [scalar(validated.get(key)) for key, _, _ in self._keys]
        values += [scalar(live.get(key)) for key in _TAIL]
        return values

    def _line(self, values: Sequence[int | float | str | None]) -> str:
        """A whole row (or the csv header) as a line of the file, its line end included."""
        if self.format == "jsonl":
            record = dict(zip(self.columns, values, strict=True))
            return json.dumps(record, allow_nan=True, ensure_ascii=False) + "\n"
        buffer = io.StringIO()
        csv.writer(buffer, dialect=_DIALECTS[self.format]).writerow([_cell(v) for v in values])
        return buffer.getvalue()

    def _write(self, text: str) -> None:
        # one write and a flush per line: the bytes reach the operating system whole, so a
        # process killed between reports leaves whole lines (a power cut may still lose the
        # last few, which only an fsync per row, far too slow here, would keep)
        if self._file is not None:
            self._file.write(text)
            self._file.flush()


def _check_folder(path: Path) -> None:
    """Refuse a log path whose folder is missing, or that is a folder itself."""
    folder = path.parent
    if not folder.is_dir():
        raise NetTrainError(
            _ARGUMENT,
            f"the folder of the log file {str(path)!r} does not exist",
            received=repr(str(folder)),
            hint=f"create the folder {str(folder)!r} first, or log to a path in an existing one",
        )
    if path.is_dir():
        raise NetTrainError(
            _ARGUMENT,
            f"the log file path {str(path)!r} is a folder",
            expected="a path to a file (it need not exist yet)",
            hint=f"name a file inside it, like {str(path / 'log.csv')!r}",
        )
