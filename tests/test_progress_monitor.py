"""ProgressMonitor: a custom loop's records, reports, stops and results (SPEC S6).

Reports are compared with what the engine's own PrintReporter writes for the same live
properties, on a fake clock; results with means computed by hand.
"""

from __future__ import annotations

import itertools
import math
import signal
from statistics import fmean
from typing import Any

import numpy as np
import pytest
import torch

import nettrain
from nettrain import NetTrainError
from nettrain.functional.monitor import ProgressMonitor
from nettrain.progress.history import LIVE_PROPERTIES
from nettrain.progress.printer import PrintReporter


class Clock:
    """A fake clock: the test says what time it is."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lines(text: str) -> list[str]:
    return text.splitlines()


# ---- results ---------------------------------------------------------------------------------

LOSSES = {1: [0.9, 0.7, 0.8], 2: [0.5, 0.4, 0.6], 3: [0.3, 0.2]}
ACCURACY = {1: [0.5, 0.6, 0.55], 2: [0.7, 0.8, 0.75], 3: [0.9, 0.95]}


def run_epochs(monitor: ProgressMonitor, clock: Clock) -> None:
    """3 epochs (the last one short), the epoch given at the top of each, values in all forms."""
    step = 0
    for epoch, losses in LOSSES.items():
        monitor.update_info(epoch=epoch, learning_rate=0.1 / epoch)
        for k, loss in enumerate(losses):
            step += 1
            clock.now += 0.25
            forms = (torch.tensor(loss), np.float64(loss), loss)
            monitor.record_metrics(step, loss=forms[k % 3], accuracy=ACCURACY[epoch][k])
            monitor.progress = 100 * step / 8


def test_the_results_are_what_was_recorded(clock: Clock) -> None:
    monitor = ProgressMonitor(
        metrics=["loss", "accuracy"], info=["epoch", "learning_rate"], reporting=None, clock=clock
    )
    run_epochs(monitor, clock)
    clock.now += 1.0
    r = monitor.result()
    every_loss = [v for vs in LOSSES.values() for v in vs]
    assert r.batch_loss_list == pytest.approx(every_loss, abs=1e-7)  # float32 tensors among them
    assert r.round_loss_list == pytest.approx([fmean(v) for v in LOSSES.values()], abs=1e-7)
    # each round's loss is the plain mean of the losses it recorded (one count per record)
    kept = r.batch_loss_list
    assert r.round_loss_list == [fmean(kept[0:3]), fmean(kept[3:6]), fmean(kept[6:8])]
    assert r.round_loss == r.round_loss_list[-1]
    assert r.round_positions == [3, 6, 8]
    assert r.round_measurements_lists["accuracy"] == [fmean(v) for v in ACCURACY.values()]
    assert r.round_measurements_lists["loss"] == r.round_loss_list
    assert r.round_measurements == {"loss": r.round_loss, "accuracy": fmean(ACCURACY[3])}
    assert r.metrics_lists["accuracy"] == [v for vs in ACCURACY.values() for v in vs]
    assert r.metrics_positions == {"loss": list(range(1, 9)), "accuracy": list(range(1, 9))}
    assert r.measurements == ["loss", "accuracy"]
    assert (r.total_batches, r.total_rounds) == (8, 3)
    assert r.total_training_time == 3.0
    assert r.mean_batches_per_second == 8 / 3.0
    assert r.reason_training_stopped == "loop_finished"
    assert "loop_finished" in nettrain.REASONS
    assert (r.initial_learning_rate, r.final_learning_rate) == (0.1, 0.1 / 3)
    assert monitor.result() is r  # closing again changes nothing


def test_records_join_the_epoch_given_last_and_the_first_epoch_takes_earlier_ones() -> None:
    # MATLAB's examples update the epoch after recording: the first batch of each new epoch
    # then still counts in the epoch before (the documented rule), the very first in epoch 1
    monitor = ProgressMonitor(metrics="loss", info="epoch", reporting=None)
    step = 0
    for epoch in (1, 2):
        for loss in (1.0, 2.0, 3.0):
            step += 1
            monitor.record_metrics(step, loss=loss)
            monitor.update_info(epoch=epoch)
    r = monitor.result()
    assert r.round_loss_list == [fmean([1.0, 2.0, 3.0, 1.0]), fmean([2.0, 3.0])]
    assert r.round_positions == [4, 6]


def test_without_epochs_the_loop_is_one_round() -> None:
    with ProgressMonitor(metrics=["loss"], reporting=None) as monitor:
        for step, loss in enumerate([3.0, 1.0, 2.0], start=1):
            monitor.record_metrics(step, loss=loss)
    r = monitor.result()
    assert r.round_loss_list == [2.0] and r.total_rounds == 1 and r.round_positions == [3]


def test_validation_metrics_are_the_validation_properties() -> None:
    names = ["loss", "validation_loss", "validation_accuracy"]
    with ProgressMonitor(metrics=names, reporting=None) as monitor:
        monitor.record_metrics(1, loss=1.0)
        monitor.record_metrics(2, loss=0.5)
        monitor.record_metrics(2, validation_loss=0.75, validation_accuracy=0.5)
        monitor.record_metrics(4, validation_loss=0.25, validation_accuracy=torch.tensor(0.875))
    r = monitor.result()
    assert r.validation_loss_list == [0.75, 0.25] and r.validation_loss == 0.25
    assert r.validation_positions == [2, 4]
    assert r.validation_measurements_lists == {"loss": [0.75, 0.25], "accuracy": [0.5, 0.875]}
    assert r.validation_measurements == {"loss": 0.25, "accuracy": 0.875}
    assert r.measurements == ["loss"]  # the training metrics
    assert r.batch_loss_list == [1.0, 0.5]


def test_what_a_custom_loop_cannot_have_says_why() -> None:
    with ProgressMonitor(metrics=["accuracy"], reporting=None) as monitor:
        monitor.record_metrics(1, accuracy=0.5)
    r = monitor.result()
    with pytest.raises(NetTrainError, match="no 'trained_net': a ProgressMonitor sees only"):
        r["trained_net"]
    with pytest.raises(AttributeError, match="counts steps, not examples"):
        _ = r.examples_processed
    with pytest.raises(NetTrainError, match="no metric is named 'loss'"):
        r["batch_loss_list"]
    with pytest.raises(NetTrainError, match="no info is named 'learning_rate'"):
        r["final_learning_rate"]
    with pytest.raises(NetTrainError, match="'validation_loss' or 'validation_<name>'"):
        r["validation_loss_list"]
    with pytest.raises(NetTrainError, match="unknown property 'round_los'"):
        r["round_los"]
    assert "trained_net" not in r.properties and "metrics_lists" in r.properties
    assert set(r.properties) == set(r.keys())
    assert r.round_measurements_lists == {"accuracy": [0.5]}


def test_the_result_shows_itself(clock: Clock) -> None:
    monitor = ProgressMonitor(metrics=["loss"], info=["epoch"], reporting=None, clock=clock)
    monitor.record_metrics(1, loss=0.5)
    clock.now = 2.0
    r = monitor.result()
    assert repr(r).splitlines() == [
        "TrainResult(",
        "  stopped because: loop_finished",
        "  rounds: 1",
        "  batches: 1",
        "  final round loss: 0.5",
        "  time: 2.00 s (0.5 batches/s)",
        ")",
    ]
    assert "<td>loop_finished</td>" in r._repr_html_()


# ---- reports ---------------------------------------------------------------------------------


def live(**values: Any) -> dict[str, Any]:
    """The live properties of a monitor with metrics loss and accuracy and no progress set."""
    base: dict[str, Any] = {
        "max_rounds": None,
        "batches_per_round": None,
        "examples_processed": None,
        "examples_per_second": None,
        "time_remaining": math.inf,
        "progress_fraction": 0.0,
        "validation_loss": None,
        "validation_measurements": None,
    }
    base.update(values)
    base.setdefault("absolute_batch", base["batch"])
    return base


def test_the_print_line_is_the_printers_line_for_the_same_live_view(capsys, clock) -> None:
    seen: list[dict[str, Any]] = []
    monitor = ProgressMonitor(
        metrics=["loss", "accuracy"],
        info=["epoch", "learning_rate"],
        progress_function=(seen.append, {"interval": "2 s"}),
        clock=clock,
    )
    run_epochs(monitor, clock)  # steps every 0.25 s: a report at 2 s (step 8)
    clock.now = 2.5
    monitor.record_metrics(10, loss=0.1, accuracy=1.0)  # news since: a final line at the end
    monitor.close()
    printed = lines(capsys.readouterr().out)
    assert len(printed) == 2
    printer = PrintReporter()
    (report,) = [s for s in seen if s["event"] == "report"]  # the function's interval: 2 s
    assert printed[0] == printer.line(report)
    # the same line by hand: at step 8 (2 s), in epoch 3, which has recorded 0.3 and 0.2
    expected = live(
        round=3,
        batch=8,
        round_loss=fmean([0.3, 0.2]),
        round_measurements={"loss": fmean([0.3, 0.2]), "accuracy": fmean([0.9, 0.95])},
        time_elapsed=2.0,
        progress_fraction=7 / 8,  # set after step 7: the loop sets it after recording
        time_remaining=2.0 * (1 / 8) / (7 / 8),
        batches_per_second=4.0,
    )
    assert printed[0] == printer.line(expected)
    assert printed[0] == (
        "round 3  batch 8  loss 0.2500  accuracy 0.9250  4.0 batches/s  elapsed 0:02  ETA 0:00"
    )
    # the final line, at 2.5 s
    final = {
        **expected,
        "batch": 10,
        "absolute_batch": 10,
        "round_loss": fmean([0.3, 0.2, 0.1]),
        "round_measurements": {"accuracy": fmean([0.9, 0.95, 1.0])},
        "time_elapsed": 2.5,
        "progress_fraction": 1.0,
        "time_remaining": 0.0,
        "batches_per_second": 4.0,
    }
    assert printed[1] == printer.line(final)
    # the live view has every key train's has, and the monitor's own
    assert set(LIVE_PROPERTIES) - {"example_losses"} <= set(report)
    assert report["round_loss"] == pytest.approx(0.25) and report["learning_rate"] == 0.1 / 3
    assert report["info"] == {"epoch": 3, "learning_rate": 0.1 / 3}
    assert report["metrics"] == {"loss": pytest.approx(0.2), "accuracy": 0.95}
    assert (report["x_label"], report["progress"], report["net"]) == ("iteration", 87.5, None)
    assert report["time_remaining"] == expected["time_remaining"]


def test_the_live_view_has_the_keys_train_gives_a_progress_function() -> None:
    seen: list[dict[str, Any]] = []
    x = torch.randn(8, 2)
    nettrain.train(
        torch.nn.Linear(2, 1),
        (x, x.sum(1, keepdim=True)),
        max_training_rounds=1,
        training_progress_reporting=None,
        training_progress_function=seen.append,
    )
    with ProgressMonitor(metrics="loss", progress_function=seen.append) as monitor:
        monitor.record_metrics(1, loss=1.0)
    engine, custom = seen[0], seen[-1]
    assert engine["event"] == "training_started" and custom["event"] == "training_complete"
    assert set(engine) <= set(custom)


def test_no_flooding_one_line_per_interval_and_one_at_the_end(capsys, clock) -> None:
    monitor = ProgressMonitor(metrics=["loss"], clock=clock)
    for step in range(1, 5001):  # 1 ms a step: 5 s
        clock.now = step / 1000
        monitor.record_metrics(step, loss=1.0)
    assert [line.split("  ")[1] for line in lines(capsys.readouterr().out)] == [
        "batch 2000",
        "batch 4000",
    ]
    monitor.close()
    assert [line.split("  ")[1] for line in lines(capsys.readouterr().out)] == ["batch 5000"]


def test_many_records_within_one_interval_give_the_final_line_only(capsys, clock) -> None:
    with ProgressMonitor(metrics=["loss"], clock=clock) as monitor:
        for step in range(1, 1001):
            clock.now = step * 0.001
            monitor.record_metrics(step, loss=0.5)
    assert lines(capsys.readouterr().out) == [
        "round 1  batch 1000  loss 0.5000  1,000.0 batches/s  elapsed 0:01  ETA ?"
    ]


def test_no_final_line_repeats_the_last_report(capsys, clock) -> None:
    monitor = ProgressMonitor(metrics=["loss"], clock=clock)
    clock.now = 2.0
    monitor.record_metrics(1, loss=0.5)
    monitor.close()
    assert len(lines(capsys.readouterr().out)) == 1


def test_the_reporting_interval_and_none(capsys, clock) -> None:
    monitor = ProgressMonitor(metrics=["loss"], reporting=("print", {"interval": 0.5}), clock=clock)
    for step in range(1, 11):
        clock.now = step * 0.25
        monitor.record_metrics(step, loss=1.0)
    monitor.close()
    assert len(lines(capsys.readouterr().out)) == 5
    for reporting in (None, "none", ("None", {"interval": 1})):
        with ProgressMonitor(metrics=["loss"], reporting=reporting, clock=clock) as quiet:
            for step in range(1, 11):
                clock.now += 1.0
                quiet.record_metrics(step, loss=1.0)
        assert capsys.readouterr().out == ""
    with pytest.raises(NetTrainError, match=r"^reporting: unknown reporting form"):
        ProgressMonitor(reporting="panels")


def test_a_fast_progress_function_does_not_make_the_printer_flood(capsys, clock) -> None:
    """The loop reports at the shortest interval (the function's 0.1 s); the printer still
    writes about one line per 2 s, and the last report held back when the loop ends."""
    calls: list[float] = []
    monitor = ProgressMonitor(
        metrics=["loss"],
        progress_function=(lambda live: calls.append(live["time_elapsed"]), {"interval": "0.1 s"}),
        clock=clock,
    )
    for step in range(1, 51):  # 5 s in steps of 0.1 s
        clock.now = step * 0.1
        monitor.record_metrics(step, loss=1.0 / step)
    monitor.close()
    printed = lines(capsys.readouterr().out)
    assert len(calls) >= 40  # the function is called at its own pace
    # the first report, then one each 90% of 2 s (18 steps of 0.1 s), then the final state
    batches = [int(line.split()[3]) for line in printed]
    assert len(batches) == 4 and batches[0] == 1 and batches[-1] == 50
    assert all(later - earlier >= 12 for earlier, later in itertools.pairwise(batches))
    assert batches[2] - batches[1] >= 18
    with pytest.raises(NetTrainError, match=r'whole number.*"0.1 s"'):
        ProgressMonitor(progress_function=(print, {"interval": 0.1}), clock=clock)


def test_the_eta_comes_from_progress(clock) -> None:
    seen: list[dict[str, Any]] = []
    monitor = ProgressMonitor(
        metrics=["loss"], progress_function=(seen.append, {"interval": "batch"}), clock=clock
    )
    clock.now = 10.0
    monitor.progress = 25
    monitor.record_metrics(1, loss=1.0)
    monitor.close()
    batch = next(s for s in seen if s["event"] == "batch_complete")
    assert batch["time_remaining"] == 30.0 and batch["progress_fraction"] == 0.25


def test_tensors_are_read_only_when_a_report_is_due(monkeypatch, clock) -> None:
    reads: list[int] = []
    tolist = torch.Tensor.tolist

    def counting(self: torch.Tensor) -> Any:
        reads.append(self.numel())
        return tolist(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counting)
    monitor = ProgressMonitor(metrics=["loss", "accuracy"], reporting=None, clock=clock)
    kept = torch.zeros(())
    for step in range(1, 51):
        clock.now = step * 0.01
        kept += 1  # a tensor the loop updates in place: each record keeps its own value
        monitor.record_metrics(step, loss=kept, accuracy=torch.tensor(0.5, requires_grad=True))
    assert reads == []  # no device read while recording
    clock.now = 2.0
    monitor.record_metrics(51, loss=kept)
    assert reads == [101]  # everything pending, in one transfer
    r = monitor.result()
    assert r.batch_loss_list == [float(k) for k in range(1, 51)] + [50.0]


# ---- stopping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"), [("stop_training", "progress_function"), ("abort_training", "aborted")]
)
def test_a_progress_function_stops_the_loop(answer: str, reason: str) -> None:
    events: list[tuple[str, int]] = []

    def watch(live: dict[str, Any]) -> str | None:
        events.append((live["event"], live["batch"]))
        return answer if live["batch"] == 3 else None

    with ProgressMonitor(
        metrics=["loss"], reporting=None, progress_function=(watch, {"interval": "batch"})
    ) as monitor:
        step = 0
        while not monitor.stop:
            step += 1
            monitor.record_metrics(step, loss=1.0 / step)
    assert step == 3
    assert events == [
        ("training_started", 0),
        ("batch_complete", 1),
        ("batch_complete", 2),
        ("batch_complete", 3),
        ("training_stopped", 3),
        ("training_complete", 3),
    ]
    assert monitor.result().reason_training_stopped == reason


def test_a_progress_function_is_called_each_epoch_by_default() -> None:
    rounds: list[tuple[str, int, float]] = []
    monitor = ProgressMonitor(
        metrics=["loss"],
        info=["epoch"],
        reporting=None,
        progress_function=lambda live: rounds.append(
            (live["event"], live["round"], live["round_loss"])
        ),
    )
    for epoch in (1, 2):
        monitor.update_info(epoch=epoch)
        monitor.record_metrics(2 * epoch - 1, loss=float(epoch))
        monitor.record_metrics(2 * epoch, loss=float(epoch) + 1)
    monitor.close()
    assert rounds[1:] == [
        ("round_complete", 1, 1.5),
        ("round_complete", 2, 2.5),
        ("training_complete", 2, 2.5),
    ]


def test_ctrl_c_sets_stop_and_the_handler_comes_back() -> None:
    def previous(signum: int, frame: object) -> None:
        raise AssertionError("the monitor's handler should have had this Ctrl-C")

    before = signal.signal(signal.SIGINT, previous)
    try:
        with ProgressMonitor(metrics=["loss"], reporting=None) as monitor:
            monitor.record_metrics(1, loss=1.0)
            assert not monitor.stop
            signal.raise_signal(signal.SIGINT)
            assert monitor.stop
            monitor.record_metrics(2, loss=1.0)  # the loop may finish its iteration
        assert signal.getsignal(signal.SIGINT) is previous
        assert monitor.result().reason_training_stopped == "stopped_by_user"
        # a second Ctrl-C while the first is pending is a KeyboardInterrupt, as in train
        with pytest.raises(KeyboardInterrupt), ProgressMonitor(reporting=None) as second:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is previous
        assert second.result().reason_training_stopped == "stopped_by_user"
        # result() and close() restore it too
        for finish in ("result", "close"):
            third = ProgressMonitor(reporting=None)
            assert signal.getsignal(signal.SIGINT) is not previous
            getattr(third, finish)()
            assert signal.getsignal(signal.SIGINT) is previous
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_loop_may_set_stop_itself() -> None:
    with ProgressMonitor(reporting=None) as monitor:
        monitor.stop = True
        assert monitor.stop
        monitor.stop = False  # withdraws the loop's own request
        assert not monitor.stop
        monitor.Stop = True  # MATLAB's name
    assert monitor.result().reason_training_stopped == "stopped_by_user"
    with pytest.raises(NetTrainError, match=r"^stop: must be True or False"):
        monitor.stop = 1  # type: ignore[assignment]


def test_an_exception_in_the_loop_restores_the_handler_and_prints_nothing(capsys) -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(ZeroDivisionError), ProgressMonitor(metrics=["loss"]) as monitor:
        monitor.record_metrics(1, loss=1.0)
        _ = 1 / 0
    assert signal.getsignal(signal.SIGINT) is before
    assert capsys.readouterr().out == ""
    assert monitor.result().batch_loss_list == [1.0]


def test_an_exception_from_the_progress_function_names_it() -> None:
    def broken(live: dict[str, Any]) -> None:
        if live["event"] == "batch_complete":
            raise RuntimeError("boom")

    before = signal.getsignal(signal.SIGINT)
    with (
        ProgressMonitor(
            metrics=["loss"], reporting=None, progress_function=(broken, {"interval": "batch"})
        ) as monitor,
        pytest.raises(RuntimeError, match="boom") as caught,
    ):
        monitor.record_metrics(1, loss=1.0)
    assert (
        "nettrain: raised by the ProgressMonitor's progress_function (event 'batch_complete')"
        in (caught.value.__notes__)
    )
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(RuntimeError, match="at the start"):
        ProgressMonitor(progress_function=lambda live: _raise("at the start"))
    assert signal.getsignal(signal.SIGINT) is before


def _raise(message: str) -> None:
    raise RuntimeError(message)


# ---- mistakes --------------------------------------------------------------------------------


def test_bad_names_and_values_are_refused() -> None:
    with ProgressMonitor(metrics=["loss", "accuracy"], info=["epoch"], reporting=None) as m:
        with pytest.raises(NetTrainError, match=r"'los' is not one.*did you mean 'loss'"):
            m.record_metrics(1, los=1.0)
        with pytest.raises(NetTrainError, match=r"declare it: ProgressMonitor\(metrics="):
            m.record_metrics(1, f1=1.0)
        with pytest.raises(NetTrainError, match=r"'epoc' is not one.*did you mean 'epoch'"):
            m.update_info(epoc=1)
        bad = ["0.5", None, True, np.bool_(True), 1j, torch.ones(2), torch.tensor(True), [0.5]]
        for value in bad:
            with pytest.raises(NetTrainError, match=r"^loss: a metric must be one real number"):
                m.record_metrics(1, loss=value)
        with pytest.raises(NetTrainError, match="reduce it first"):
            m.record_metrics(1, loss=torch.ones(3))
        for step in (-1, 1.0, "1", True):
            with pytest.raises(NetTrainError, match=r"^step: must be a whole number"):
                m.record_metrics(step, loss=1.0)  # type: ignore[arg-type]
        with pytest.raises(NetTrainError, match=r"^record_metrics: records nothing"):
            m.record_metrics(1)
        m.record_metrics(5, loss=1.0)
        with pytest.raises(NetTrainError, match="'loss' was already recorded at step 5"):
            m.record_metrics(5, loss=2.0)
        m.record_metrics(5, accuracy=np.array([0.5]))  # another metric at the same step is fine
        with pytest.raises(NetTrainError, match=r"^step: must not decrease"):
            m.record_metrics(4, loss=1.0)
        m.update_info(epoch=np.int64(2))
        with pytest.raises(NetTrainError, match=r"^epoch: must not decrease"):
            m.update_info(epoch=1)
        with pytest.raises(NetTrainError, match=r"^epoch: must be a whole number"):
            m.update_info(epoch="2 of 10")
        for percent in (-1, 101, math.nan, "50"):
            with pytest.raises(NetTrainError, match=r"^progress: must be a percentage"):
                m.progress = percent  # type: ignore[assignment]
        with pytest.raises(NetTrainError, match=r"^status: must be a string"):
            m.status = 3  # type: ignore[assignment]
    # nothing of a refused call was recorded
    assert m.result().metrics_lists == {"loss": [1.0], "accuracy": [0.5]}
    with pytest.raises(NetTrainError, match=r"^record_metrics: the monitor is closed"):
        m.record_metrics(6, loss=1.0)
    with pytest.raises(NetTrainError, match=r"^update_info: the monitor is closed"):
        m.update_info(epoch=3)
    with pytest.raises(NetTrainError, match=r"^progress: the monitor is closed"):
        m.progress = 50


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"metrics": ["loss", "loss"]}, "^metrics: names 'loss' twice"),
        ({"metrics": ["val loss"]}, "^metrics: each name must be a Python identifier"),
        ({"info": 3}, "^info: must name its entries"),
        ({"x_label": 1}, "^x_label: must be a string"),
        ({"progress_function": "print"}, "^progress_function: is not callable"),
        ({"progress_function": (print, {"every": 2})}, "^progress_function: unknown sub-option"),
        ({"reporting": ("print", {"interval": "soon"})}, r"^reporting\['interval'\]: could not"),
    ],
)
def test_bad_options_are_refused_before_the_handler_is_installed(options, match) -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(NetTrainError, match=match):
        ProgressMonitor(**options)
    assert signal.getsignal(signal.SIGINT) is before


def test_matlab_names_and_status(clock) -> None:
    seen: list[dict[str, Any]] = []
    with ProgressMonitor(
        metrics=["TrainingLoss"],
        info="Epoch",
        x_label="Iteration",
        reporting=None,
        progress_function=(seen.append, {"interval": "batch"}),
        clock=clock,
    ) as monitor:
        assert (monitor.Metrics, monitor.Info, monitor.XLabel) == (
            ("TrainingLoss",),
            ("Epoch",),
            "Iteration",
        )
        monitor.Status = "warming up"
        monitor.recordMetrics(1, TrainingLoss=0.5)
        monitor.updateInfo(Epoch="1 of 10")
        monitor.Progress = 10
        assert (monitor.progress, monitor.status, monitor.Stop) == (10.0, "warming up", False)
    assert seen[1]["status"] == "warming up" and seen[1]["x_label"] == "Iteration"
    assert seen[-1]["info"] == {"Epoch": "1 of 10"}
    assert seen[1]["round_loss"] is None  # no metric named "loss"
    assert monitor.result().metrics_lists == {"TrainingLoss": [0.5]}


def test_a_monitor_without_a_loss_metric_prints_no_loss(capsys, clock) -> None:
    with ProgressMonitor(metrics=["accuracy"], clock=clock) as monitor:
        clock.now = 1.0
        monitor.record_metrics(3, accuracy=0.75)
    assert lines(capsys.readouterr().out) == [
        "round 1  batch 3  accuracy 0.7500  3.0 batches/s  elapsed 0:01  ETA ?"
    ]
