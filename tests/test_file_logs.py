"""The log-file and TensorBoard reporters: what they write, read back value by value."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import nettrain
from nettrain.errors import NetTrainError
from nettrain.progress.filelog import FileLog
from nettrain.progress.tensorboard import TensorBoardLog

NAN, INF = math.nan, math.inf
MEASURED = ["error_rate", "accuracy"]
HEADER = [
    "event", "round", "batch", "absolute_batch", "examples_processed", "time_elapsed",
    "learning_rate", "batch_loss", "round_loss", "error_rate", "accuracy", "validation_loss",
    "validation_error_rate", "validation_accuracy", "examples_per_second",
]  # fmt: skip


def live(**changes: Any) -> dict[str, Any]:
    """Live properties with every key of display.py's table (a mid-round report of round 1)."""
    values: dict[str, Any] = {
        "event": "report",
        "round": 1,
        "max_rounds": 3,
        "batch": 2,
        "batches_per_round": 4,
        "absolute_batch": 2,
        "examples_processed": 32,
        "batch_loss": 0.1 + 0.2,  # 0.30000000000000004: only a full repr reads back equal
        "round_loss": 1 / 3,
        "round_measurements": {},
        "validation_loss": None,
        "validation_measurements": None,
        "best_validation_round": None,
        "time_elapsed": 0.123456789,
        "time_remaining": INF,
        "progress_fraction": 2 / 12,
        "examples_per_second": 259.2007,
        "batches_per_second": 16.2,
        "learning_rate": 1e-3,
        "net": torch.nn.Linear(1, 1),
    }
    values.update(changes)
    return values


# a report, a round's end with its validation (a NaN batch loss, tensors, a 0-d tensor, no
# examples counted), then the end of training
FIRST = live()
VALIDATED = {"loss": 0.8, "error_rate": 0.5, "accuracy": torch.tensor(0.5), "c": torch.eye(2)}
ROUND = live(
    event="round_complete",
    batch=4,
    absolute_batch=4,
    examples_processed=64,
    batch_loss=NAN,
    round_loss=0.7,
    round_measurements={"loss": 0.7, "error_rate": 0.25, "accuracy": 0.75, "c": torch.ones(3)},
    validation_loss=0.8,
    validation_measurements=VALIDATED,
    examples_per_second=None,
)
LAST = live(**{**ROUND, "event": "training_complete", "time_elapsed": 2.5, "learning_rate": INF})
# the rows they give, column by column
EXPECTED = [
    ["report", 1, 2, 2, 32, 0.123456789, 1e-3, 0.1 + 0.2, 1 / 3, *[None] * 5, 259.2007],
    ["round_complete", 1, 4, 4, 64, 0.123456789, 1e-3, NAN, 0.7, 0.25, 0.75, 0.8, 0.5, 0.5, None],
    ["training_complete", 1, 4, 4, 64, 2.5, INF, NAN, 0.7, 0.25, 0.75, 0.8, 0.5, 0.5, None],
]


def same(a: object, b: object) -> bool:
    """Equal, a NaN equal to a NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def run_log(log: FileLog, after_each: Any = None) -> None:
    log.start(live(event="training_started", batch=0, absolute_batch=0))
    for values in (FIRST, ROUND):
        log.show(values)
        if after_each is not None:
            after_each()
    log.finish(LAST, "training_complete")
    log.close()


def read_csv(path: Path, dialect: type[csv.Dialect]) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file, dialect=dialect))


def parse(cell: str, column: str) -> object:
    if column == "event":
        return cell
    return None if cell == "" else (int(cell) if cell.lstrip("-").isdigit() else float(cell))


@pytest.mark.parametrize(("suffix", "dialect"), [(".csv", csv.excel), (".tsv", csv.excel_tab)])
def test_csv_and_tsv_rows_read_back_equal(tmp_path: Path, suffix: str, dialect: Any) -> None:
    path = tmp_path / f"log{suffix}"
    log = FileLog(path, measurements=MEASURED, validation=True)
    assert log.columns == HEADER
    run_log(log)
    header, *rows = read_csv(path, dialect)
    assert header == HEADER
    assert len(rows) == len(EXPECTED)
    for row, expected in zip(rows, EXPECTED, strict=True):
        values = [parse(cell, column) for cell, column in zip(row, HEADER, strict=True)]
        assert all(same(v, e) for v, e in zip(values, expected, strict=True)), (values, expected)
    text = path.read_text(encoding="utf-8")
    assert ("\t" in text) == (suffix == ".tsv")
    # ints are written as ints, floats in full, an unknown value as an empty field
    assert rows[0][1:5] == ["1", "2", "2", "32"]
    assert rows[0][7] == "0.30000000000000004"
    assert rows[0][11] == "" and rows[1][7] == "nan" and rows[2][6] == "inf"


def test_jsonl_objects_read_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    run_log(FileLog(path, measurements=MEASURED, validation=True))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(EXPECTED)  # no header line
    for line, expected in zip(lines, EXPECTED, strict=True):
        record = json.loads(line)
        assert list(record) == HEADER  # every key, in column order
        assert all(same(record[c], e) for c, e in zip(HEADER, expected, strict=True)), record
    assert '"batch_loss": NaN' in lines[1] and '"learning_rate": Infinity' in lines[2]
    assert '"validation_loss": null' in lines[0]
    assert isinstance(json.loads(lines[0])["round"], int)


def test_columns_without_validation_or_measurements(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "log.csv")
    assert log.columns == [*HEADER[:9], "examples_per_second"]
    run_log(log)
    header, *rows = read_csv(tmp_path / "log.csv", csv.excel)
    assert header == log.columns
    assert [row[8] for row in rows] == [repr(1 / 3), "0.7", "0.7"]  # measurements left out


def test_measurement_keys_that_would_repeat_a_column() -> None:
    log = FileLog("log.csv", ["loss", "round", "validation_x", "x", "x"], validation=True)
    assert log.columns[9:] == [
        "train_round",
        "train_validation_x",
        "x",
        "validation_loss",
        "validation_round",
        "validation_validation_x",
        "validation_x",  # free: the training column of the key "validation_x" has train_
        "examples_per_second",
    ]
    row = log.row({"round_measurements": {"round": 1.5, "x": 2.5}}, "report")
    assert row[9:12] == [1.5, None, 2.5]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_every_row_is_a_whole_line_when_written(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    seen: list[str] = []
    run_log(FileLog(path, MEASURED, True), after_each=lambda: seen.append(path.read_text("utf-8")))
    header_lines = 0 if suffix == ".jsonl" else 1
    for shows, text in enumerate(seen, start=1):
        assert text.endswith("\n")  # flushed whole, read while the log is still open
        assert len(text.splitlines()) == header_lines + shows
    final = path.read_bytes()
    assert final.count(b"\r\n") == (3 + header_lines if suffix != ".jsonl" else 0)
    assert final.count(b"\n") == 3 + header_lines


def _open_handles(path: Path) -> int:
    folder = Path("/proc/self/fd")
    links = [os.path.realpath(folder / fd) for fd in os.listdir(folder)]
    return links.count(os.path.realpath(path))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_file_is_closed_at_close_and_close_is_safe_twice(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    log = FileLog(path)
    log.start(live())
    log.show(live())
    assert _open_handles(path) == 1
    log.close()
    assert _open_handles(path) == 0
    log.close()  # again, as train's finally does after a display closed itself
    log.show(live())  # nothing is written after close
    log.finish(live(), "training_complete")
    assert len(path.read_text().splitlines()) == 2


def test_closed_after_an_exception_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = FileLog(path)
    with pytest.raises(KeyboardInterrupt):
        try:
            log.start(live())
            log.show(live())
            raise KeyboardInterrupt
        finally:
            log.close()
    log.close()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["report"]


def test_a_new_run_replaces_the_old_log(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("old,log\n1,2\n")
    log = FileLog(path)
    assert path.read_text() == "old,log\n1,2\n"  # untouched until training starts
    log.start(live())
    log.close()
    assert path.read_bytes() == (",".join(log.columns) + "\r\n").encode()


def test_missing_folder_is_refused_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "no such folder" / "log.csv"
    with pytest.raises(NetTrainError) as info:
        FileLog(path)
    assert info.value.argument == "training_progress_reporting"
    assert str(path) in str(info.value) and "does not exist" in str(info.value)
    assert not path.parent.exists()


def test_a_folder_or_a_wrong_suffix_is_refused(tmp_path: Path) -> None:
    (tmp_path / "logs.csv").mkdir()
    with pytest.raises(NetTrainError, match="is a folder"):
        FileLog(tmp_path / "logs.csv")
    with pytest.raises(NetTrainError, match=r"\.csv, \.tsv or \.jsonl"):
        FileLog(tmp_path / "log.txt")


@pytest.mark.parametrize(("text", "form"), [
    ("log.csv", "csv"), ("runs/a b.TSV", "tsv"), (Path("x") / "log.jsonl", "jsonl"),
    ("log.json", None), ("print", None), ("csv", None), (".csv", None), ("logs.csv/", None),
    ("", None), (3, None), (("log.csv", {}), None),
])  # fmt: skip
def test_check_path(text: object, form: str | None) -> None:
    assert FileLog.check_path(text) == form


# --- TensorBoard ----------------------------------------------------------------------------


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def f32(value: float) -> float:
    """TensorBoard keeps scalars as 32-bit floats."""
    return float(torch.tensor(value, dtype=torch.float32))


def test_tensorboard_scalars_read_back(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    board = TensorBoardLog(tmp_path / "run")
    board.start(live(event="training_started"))
    board.show(FIRST)
    board.show(ROUND)
    again = {**ROUND, "event": "report", "absolute_batch": 6, "round_loss": 0.6}
    board.show(again)  # the same round's and validation's values: not written again
    # the end at the same step: a final validation, the per-report tags not again
    board.finish({**again, "validation_loss": 0.9, "learning_rate": 0.5}, "training_complete")
    board.close()
    board.close()
    assert board.log_dir == str(tmp_path / "run")
    scalars = read_events(tmp_path / "run")
    assert sorted(scalars) == sorted([
        "loss/train", "loss/batch", "learning_rate", "examples_per_second", "error_rate/train",
        "accuracy/train", "loss/validation", "error_rate/validation", "accuracy/validation",
    ])  # fmt: skip
    assert scalars["loss/train"] == [(2, f32(1 / 3)), (4, f32(0.7)), (6, f32(0.6))]
    assert scalars["learning_rate"] == [(2, f32(1e-3)), (4, f32(1e-3)), (6, f32(1e-3))]
    assert scalars["examples_per_second"] == [(2, f32(259.2007))]  # None later: left out
    assert scalars["loss/batch"][0] == (2, f32(0.1 + 0.2))
    assert [s for s, _ in scalars["loss/batch"]] == [2, 4, 6]
    assert all(math.isnan(v) for _, v in scalars["loss/batch"][1:])
    assert scalars["error_rate/train"] == [(4, 0.25)]
    assert scalars["accuracy/train"] == [(4, 0.75)]
    assert scalars["loss/validation"] == [(4, f32(0.8)), (6, f32(0.9))]
    assert scalars["error_rate/validation"] == [(4, 0.5), (6, 0.5)]  # with the new loss
    assert scalars["accuracy/validation"] == [(4, 0.5), (6, 0.5)]  # from a 0-d tensor


def test_tensorboard_finish_at_a_new_step_is_written(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    board = TensorBoardLog(tmp_path)
    board.start(live())
    board.show(FIRST)
    board.finish(live(event="training_stopped", absolute_batch=3, round_loss=0.4), "x")
    board.close()
    assert read_events(tmp_path)["loss/train"] == [(2, f32(1 / 3)), (3, f32(0.4))]


def test_tensorboard_default_folder_is_summary_writers(tmp_path: Path, monkeypatch: Any) -> None:
    pytest.importorskip("tensorboard")
    monkeypatch.chdir(tmp_path)
    board = TensorBoardLog()
    assert board.log_dir is None
    board.start(live())
    board.close()
    assert board.log_dir is not None and Path(board.log_dir).parent == Path("runs")
    assert any((tmp_path / board.log_dir).glob("events.out.tfevents.*"))


def test_tensorboard_missing_extra(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(NetTrainError) as info:
        TensorBoardLog("runs/x")
    assert info.value.argument == "training_progress_reporting"
    assert 'pip install "nettrain[tensorboard]"' in str(info.value)


def test_tensorboard_log_dir_must_be_a_folder(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    (tmp_path / "file").write_text("")
    with pytest.raises(NetTrainError, match="is a file"):
        TensorBoardLog(tmp_path / "file")
    with pytest.raises(NetTrainError, match="must be a folder path"):
        TensorBoardLog(3)  # type: ignore[arg-type]


def test_importing_nettrain_does_not_import_tensorboard() -> None:
    code = (
        "import sys, nettrain, nettrain.progress.tensorboard, nettrain.progress.filelog\n"
        "print(sorted(m for m in sys.modules if 'tensorboard' in m and 'nettrain' not in m))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- Through nettrain.train -----------------------------------------------------------------


def _train_writes_logs() -> bool:
    """Whether train accepts a log file as its reporting form (being wired in alongside)."""
    from nettrain.options.resolved import resolve_options

    try:
        resolve_options({"training_progress_reporting": ("log.csv", {"interval": "1 round"})})
    except NetTrainError:
        return False
    return True


needs_wiring = pytest.mark.skipif(
    not _train_writes_logs(),
    reason="nettrain.train does not accept training_progress_reporting='log.csv' yet",
)


def _train(reporting: object) -> Any:
    torch.manual_seed(0)
    data = (torch.randn(64, 3), torch.randint(0, 2, (64,)))
    result = nettrain.train(
        torch.nn.Linear(3, 2),
        data,
        "all",
        training_progress_reporting=reporting,
        validation_set=0.25,
        max_training_rounds=3,
        batch_size=16,
    )
    return result


def _distinct(values: list[Any]) -> list[Any]:
    """The values in order, without the empty ones and without repeats of the one before."""
    out: list[Any] = []
    for value in values:
        if value is not None and (not out or value != out[-1]):
            out.append(value)
    return out


@needs_wiring
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_train_writes_the_log(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    result = _train((str(path), {"interval": "1 round"}))
    if suffix == ".csv":
        header, *cells = read_csv(path, csv.excel)
        rows = [{c: parse(v, c) for c, v in zip(header, row, strict=True)} for row in cells]
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in rows] == ["round_complete"] * 3 + ["training_complete"]
    ends = rows[:3]
    assert [r["round"] for r in ends] == [1, 2, 3]
    assert [r["absolute_batch"] for r in ends] == result["round_positions"]
    assert [r["round_loss"] for r in ends] == result["round_loss_list"]  # exactly
    assert _distinct([r["validation_loss"] for r in rows]) == result["validation_loss_list"]
    assert rows[-1]["absolute_batch"] == result["total_batches"]


@needs_wiring
def test_train_writes_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    result = _train(("tensorboard", {"log_dir": str(tmp_path / "run"), "interval": "1 round"}))
    scalars = read_events(tmp_path / "run")
    for points in scalars.values():  # one point per step, in order
        assert [s for s, _ in points] == sorted({s for s, _ in points})
    rounds = dict(scalars["loss/train"])
    assert [rounds[step] for step in result["round_positions"]] == [
        f32(v) for v in result["round_loss_list"]
    ]
    assert scalars["loss/validation"] == [
        (step, f32(v))
        for step, v in zip(
            result["validation_positions"], result["validation_loss_list"], strict=True
        )
    ]
