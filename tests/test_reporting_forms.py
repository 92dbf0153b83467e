"""The forms of ``training_progress_reporting``: parsing, the pace of each interval, "auto", and
what a real run reports through them (plain output has no carriage returns or escapes)."""

from __future__ import annotations

import itertools
import re

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError
from nettrain.options.durations import Interval
from nettrain.progress.forms import ReportSpec, parse_reporting
from nettrain.progress.pace import Paced
from nettrain.progress.reporters import auto_form, build_reporters, is_terminal

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = X.sum(1, keepdim=True)
SECONDS = Interval(2.0, "seconds")


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("auto", (ReportSpec("auto", None, SECONDS),)),
        ("AUTO", (ReportSpec("auto", None, SECONDS),)),
        ("print", (ReportSpec("print", None, SECONDS),)),
        ("Panel", (ReportSpec("panel", None, Interval(0.25, "seconds")),)),
        ("progress bar", (ReportSpec("progress_bar", None, Interval(0.25, "seconds")),)),
        ("none", ()),
        (None, ()),
        ((None, {"interval": 5}), ()),
        ([], ()),
        (("print", {"interval": 5}), (ReportSpec("print", None, Interval(5.0, "seconds")),)),
        (("print", {"interval": "1 min"}), (ReportSpec("print", None, Interval(60.0, "seconds")),)),
        (("print", {"interval": "2 rounds"}), (ReportSpec("print", None, Interval(2, "rounds")),)),
        (("print", {"interval": "round"}), (ReportSpec("print", None, Interval(1, "rounds")),)),
        (("print", {"interval": "50 batches"}),
         (ReportSpec("print", None, Interval(50, "batches")),)),
        (("print", {"interval": "10%"}), (ReportSpec("print", None, Interval(10, "percent")),)),
        (("print", {"interval": "25 percent", "minimum_interval": "1 s"}),
         (ReportSpec("print", None, Interval(25, "percent"), 1.0),)),
        ("run.csv", (ReportSpec("file", "run.csv", Interval(1, "rounds")),)),
        ("logs/run.JSONL", (ReportSpec("file", "logs/run.JSONL", Interval(1, "rounds")),)),
        ("tensorboard", (ReportSpec("tensorboard", None, Interval(1, "rounds")),)),
        (("tensorboard", {"log_dir": "tb"}),
         (ReportSpec("tensorboard", "tb", Interval(1, "rounds")),)),
        (["print", "run.tsv"], (ReportSpec("print", None, SECONDS),
                                ReportSpec("file", "run.tsv", Interval(1, "rounds")))),
    ],
)  # fmt: skip
def test_every_form_is_read(value, want):
    assert parse_reporting(value) == want


def test_a_function_and_a_path_object_are_forms(tmp_path):
    (spec,) = parse_reporting(print)
    assert spec == ReportSpec("callable", print, SECONDS)
    (spec,) = parse_reporting(tmp_path / "log.csv")
    assert spec.form == "file" and spec.target == str(tmp_path / "log.csv")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("pannel", "did you mean 'panel'"),
        (3, "unknown reporting form"),
        (("print", {"interval": "0.5 rounds"}), "must be a whole number"),
        (("print", {"interval": "150%"}), "in (0, 100]"),
        (("print", {"interval": "soon"}), "could not read"),
        (("print", {"every": 2}), "unknown sub-option 'every'"),
        (("print", {"log_dir": "x"}), "unknown sub-option 'log_dir'"),
        (("print", {"minimum_interval": -1}), "must be positive"),
    ],
)
def test_bad_forms_are_refused_naming_the_option(value, words):
    with pytest.raises(NetTrainError) as info:
        nettrain.train(nn.Linear(3, 1), (X, Y), training_progress_reporting=value)
    assert str(info.value).startswith("training_progress_reporting")
    assert words in str(info.value)


class Recorder:
    """A display that records what it is asked to do."""

    label = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, live):
        self.calls.append(("start", live["round"]))

    def show(self, live):
        self.calls.append(("show", live["absolute_batch"], live["event"]))

    def finish(self, live, reason):
        self.calls.append(("finish", reason))

    def close(self):
        self.calls.append(("close",))


def _live(batch: int, elapsed: float, fraction: float = 0.0, round_: int = 1) -> dict:
    return {"round": round_, "absolute_batch": batch, "time_elapsed": elapsed,
            "progress_fraction": fraction}  # fmt: skip


def test_seconds_pace_takes_reports_at_least_ninety_percent_apart_and_a_minimum():
    display = Recorder()
    paced = Paced(display, Interval(2.0, "seconds"))
    assert paced.interval == 2.0 and not paced.wants_batches
    paced.notify("training_started", _live(0, 0.0))
    for batch, elapsed in [(1, 1.9), (2, 2.0), (3, 3.7), (4, 3.85), (5, 6.0)]:
        paced.notify("report", _live(batch, elapsed))
    paced.notify("training_complete", _live(5, 6.1))
    paced.notify("training_complete", _live(5, 6.1))  # once only
    paced.close()
    paced.close()
    assert display.calls == [
        ("start", 1), ("show", 1, "report"), ("show", 3, "report"), ("show", 5, "report"),
        ("finish", "training_complete"), ("close",),
    ]  # fmt: skip
    limited = Recorder()
    paced = Paced(limited, Interval(1.0, "batches"), minimum=1.0)
    for batch in range(1, 8):
        if paced.due(batch, 0.0):
            paced.notify("batch_complete", _live(batch, 0.4 * batch))
    assert [c[1] for c in limited.calls] == [1, 4, 7]  # 0.4, 1.6, 2.8 s


def test_round_batch_and_percent_paces():
    rounds = Recorder()
    paced = Paced(rounds, Interval(2.0, "rounds"))
    for r in range(1, 6):
        paced.notify("round_complete", _live(r * 10, r, round_=r))
        paced.notify("report", _live(r * 10, r + 0.5, round_=r))  # not its unit: ignored
    assert [c[1] for c in rounds.calls] == [20, 40]

    percent = Recorder()
    paced = Paced(percent, Interval(25.0, "percent"))
    assert paced.wants_batches and paced.interval is None
    for batch in range(1, 41):
        if paced.due(batch, batch / 40):
            paced.notify("batch_complete", _live(batch, batch, batch / 40))
    assert [c[1] for c in percent.calls] == [10, 20, 30, 40]


def test_auto_is_the_print_lines_off_a_terminal_and_when_ci_is_set(monkeypatch):
    assert not is_terminal()  # pytest captures standard output
    assert auto_form() == "print"

    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert is_terminal(Tty())
    monkeypatch.setenv("CI", "1")
    assert not is_terminal(Tty())
    (built,) = build_reporters(parse_reporting("auto"))
    assert type(built.display).__name__ == "PrintReporter" and built.every == SECONDS


def test_a_reporting_function_gets_every_report_and_the_end():
    seen: list[dict] = []
    nettrain.train(
        nn.Linear(3, 1), (X, Y), batch_size=8, max_training_rounds=3,
        training_progress_reporting=(seen.append, {"interval": "1 round"}),
    )  # fmt: skip
    assert [(s["event"], s["round"]) for s in seen] == [
        ("round_complete", 1), ("round_complete", 2), ("round_complete", 3),
        ("training_complete", 3),
    ]  # fmt: skip
    assert seen[-1]["reason"] == "max_training_rounds"


def test_plain_lines_off_a_terminal_one_per_interval_no_carriage_returns(capsys):
    result = nettrain.train(
        nn.Linear(3, 1), (X, Y), "all", batch_size=4, max_training_rounds=10,
        training_progress_reporting=[("print", {"interval": "2 rounds"}), ("auto", {})],
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    by_rounds = [line for line in lines if re.match(r"round (2|4|6|8|10)/10  batch 16/16", line)]
    assert len(by_rounds) >= 5
    assert len(lines) <= result["total_rounds"] + result["total_training_time"] / 2 + 5


def test_reporters_are_closed_when_training_raises():
    closed: list[str] = []

    class Boom(Recorder):
        def close(self):
            closed.append("closed")

    def fail(live):
        raise RuntimeError("boom")

    import nettrain.progress.reporters as reporters

    real = reporters._display
    try:
        reporters._display = lambda spec, m, v: Boom() if spec.form == "print" else real(spec, m, v)
        with pytest.raises(RuntimeError, match="boom"):
            nettrain.train(
                nn.Linear(3, 1), (X, Y), batch_size=8, max_training_rounds=2,
                training_progress_reporting=["print", (fail, {"interval": "1 round"})],
            )  # fmt: skip
    finally:
        reporters._display = real
    assert closed == ["closed"]


def test_the_count_of_lines_is_bounded_on_a_fast_clock(capsys):
    counter = itertools.count()
    from nettrain.train import _train

    _train(
        nn.Linear(3, 1), (X, Y), "all",
        {"batch_size": 4, "max_training_rounds": 5, "training_progress_reporting": "print"},
        lambda: next(counter) * 0.5,
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert all("\r" not in line for line in lines)
    assert len(lines) >= 2


def test_the_same_forms_report_from_the_keras_face_and_the_progress_monitor():
    from nettrain.functional import ProgressMonitor
    from nettrain.keras import Model

    seen: list[tuple] = []
    model = Model(nn.Linear(3, 1))
    model.compile("sgd", "mse")
    model.fit(X, Y, batch_size=16, epochs=2,
              verbose=(lambda live: seen.append(("fit", live["event"], live["round"])),
                       {"interval": "1 round"}))  # fmt: skip
    assert seen == [("fit", "round_complete", 1), ("fit", "round_complete", 2),
                    ("fit", "training_complete", 2)]  # fmt: skip
    with pytest.raises(NetTrainError, match=r"^verbose: unknown reporting form"):
        model.fit(X, Y, verbose="pannel")

    monitor_seen: list[tuple] = []
    monitor = ProgressMonitor(
        metrics=["loss"], info=["epoch"],
        reporting=(lambda live: monitor_seen.append((live["event"], live["round_loss"])),
                   {"interval": "1 round"}),
    )  # fmt: skip
    for step in range(1, 5):
        monitor.update_info(epoch=(step + 1) // 2)
        monitor.record_metrics(step, loss=1.0 / step)
    monitor.close()
    assert [e for e, _ in monitor_seen] == ["round_complete", "round_complete", "training_complete"]
    assert monitor_seen[0][1] == pytest.approx(0.75)  # epoch 1: losses 1 and 1/2
