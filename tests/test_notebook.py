"""The notebook side of reporting: the SVG chart, the notebook panel, the HTML representations,
and a real Jupyter kernel running ``train`` with ``training_progress_reporting="auto"``."""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import nettrain
from nettrain.net import Net
from nettrain.progress import notebook
from nettrain.progress.display import Display
from nettrain.progress.notebook import NotebookPanel, higher_is_better, in_notebook, panel_html
from nettrain.progress.svg_chart import line_chart
from nettrain.results import TrainResult

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]


def polylines(svg: str) -> list[list[tuple[float, float]]]:
    tree = ET.fromstring(svg)  # valid XML, or this raises
    assert tree.tag == f"{SVG}svg"
    return [
        [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]  # type: ignore[misc]
        for line in tree.iter(f"{SVG}polyline")
    ]


def tick_labels(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


# ---- svg_chart -------------------------------------------------------------------------------


def test_chart_draws_one_polyline_per_series_in_data_order() -> None:
    svg = line_chart(
        {"training": ([1, 2, 3, 4], [0.9, 0.7, 0.6, 0.55]), "validation": ([2, 4], [0.8, 0.65])},
        title="loss",
    )
    lines = polylines(svg)
    assert [len(line) for line in lines] == [4, 2]
    for line in lines:
        xs = [x for x, _ in line]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)
    training = lines[0]
    assert training[0][1] < training[-1][1]  # a falling loss goes down (SVG's y grows down)
    texts = tick_labels(svg)
    assert "training" in texts and "validation" in texts and "loss" in texts
    assert "batches" in texts  # linear: no "(log y)"
    assert svg == line_chart(
        {"training": ([1, 2, 3, 4], [0.9, 0.7, 0.6, 0.55]), "validation": ([2, 4], [0.8, 0.65])},
        title="loss",
    )  # deterministic


def test_chart_chooses_a_log_scale_for_a_wide_positive_range() -> None:
    wide = line_chart({"loss": ([1, 2, 3], [2.3, 0.1, 0.01])})
    assert "batches (log y)" in tick_labels(wide)
    assert {"0.01", "0.1", "1"} <= set(tick_labels(wide))
    narrow = line_chart({"loss": ([1, 2, 3], [0.5, 0.3, 0.1])})
    assert "batches" in tick_labels(narrow) and "(log y)" not in narrow
    negative = line_chart({"loss": ([1, 2], [-1.0, 100.0])})
    assert "(log y)" not in negative
    forced = line_chart({"loss": ([1, 2, 3], [0.0, 0.5, 0.4])}, log_y=True)
    assert "(log y)" in forced and len(polylines(forced)[0]) == 2  # zero cannot be drawn


def test_chart_skips_nan_and_infinite_points() -> None:
    svg = line_chart({"loss": ([1, 2, 3, 4, 5], [0.5, math.nan, 0.4, math.inf, 0.3])})
    (line,) = polylines(svg)
    assert len(line) == 3
    assert "nan" not in svg.lower().replace("no data", "")
    both = line_chart({"a": ([1, math.nan, 3], [1.0, 2.0, 3.0])})
    assert len(polylines(both)[0]) == 2


def test_empty_chart_says_no_data_yet() -> None:
    empty: list[dict[str, tuple[list[float], list[float]]]] = [
        {},
        {"training": ([], [])},
        {"training": ([1.0], [math.nan])},
    ]
    for series in empty:
        svg = line_chart(series, title="loss")
        assert polylines(svg) == []
        assert "no data yet" in tick_labels(svg)


def test_chart_text_is_escaped_and_many_points_are_thinned() -> None:
    svg = line_chart({"a<b & 'c'": ([1, 2], [1.0, 2.0])}, title="<loss>", x_label='"x"')
    texts = tick_labels(svg)
    assert "a<b & 'c'" in texts and "<loss>" in texts and '"x"' in texts
    n = 100_000
    (line,) = polylines(line_chart({"loss": (range(n), [1.0 / (i + 1) for i in range(n)])}))
    assert len(line) < 1000 and line[0][0] < line[-1][0]


def test_single_point_is_marked() -> None:
    svg = line_chart({"validation": ([5], [0.5])})
    assert len(polylines(svg)) == 1
    assert len(list(ET.fromstring(svg).iter(f"{SVG}circle"))) == 1


# ---- the notebook panel ----------------------------------------------------------------------


class FakeHandle:
    def __init__(self) -> None:
        self.updates: list[str] = []

    def update(self, obj: Any) -> None:
        self.updates.append(obj.data)


class FakeDisplay:
    """``IPython.display.display`` recording each call and giving a recording handle."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.handles: list[FakeHandle] = []

    def __call__(self, obj: Any, display_id: Any = None) -> FakeHandle:
        self.calls.append((obj.data, display_id))
        self.handles.append(FakeHandle())
        return self.handles[-1]


@pytest.fixture
def fake_display(monkeypatch: pytest.MonkeyPatch) -> FakeDisplay:
    display = FakeDisplay()
    monkeypatch.setattr("IPython.display.display", display)
    return display


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live(batch: int, **extra: Any) -> dict[str, Any]:
    """Round 1 of 3, ``batch`` of 10, the loss falling with the batches."""
    values: dict[str, Any] = {
        "round": 1 + (batch - 1) // 10 if batch else 1,
        "max_rounds": 3,
        "batch": (batch - 1) % 10 + 1 if batch else 0,
        "batches_per_round": 10,
        "absolute_batch": batch,
        "examples_processed": 32 * batch,
        "batch_loss": 1.0 / (batch + 1),
        "round_loss": 1.0 / (batch + 1) if batch else math.nan,
        "round_measurements": {},
        "validation_loss": None,
        "validation_measurements": None,
        "best_validation_round": None,
        "time_elapsed": batch * 0.1,
        "time_remaining": (30 - batch) * 0.1,
        "progress_fraction": batch / 30,
        "examples_per_second": 320.0,
        "batches_per_second": 10.0,
        "learning_rate": 0.001,
        "event": "report",
    }
    values.update(extra)
    return values


def test_panel_displays_once_and_then_updates_that_output(fake_display: FakeDisplay) -> None:
    clock = Clock()
    panel = NotebookPanel(refresh_per_second=2.0, clock=clock)
    panel.start(live(0, event="training_started"))
    assert len(fake_display.calls) == 1 and fake_display.calls[0][1] is True
    handle = fake_display.handles[0]
    for batch in range(1, 11):
        clock.now += 0.6  # slower than the limit: every report drawn
        panel.show(live(batch))
    assert len(handle.updates) == 10
    assert "1 / 3" in handle.updates[-1] and "10 / 10" in handle.updates[-1]
    assert len(fake_display.calls) == 1


def test_panel_keeps_to_its_rate_and_always_draws_the_end(fake_display: FakeDisplay) -> None:
    clock = Clock()
    panel = NotebookPanel(refresh_per_second=2.0, clock=clock)
    panel.start(live(0))
    handle = fake_display.handles[0]
    for batch in range(1, 21):
        clock.now += 0.125  # 8 reports a second (exact in binary), 2 drawn
        panel.show(live(batch))
    assert len(handle.updates) == 5  # at 0.5, 1.0, 1.5, 2.0, 2.5 s
    end = live(
        30,
        round_measurements={"loss": 0.05, "accuracy": 0.93, "per_class": torch.ones(3)},
        validation_loss=0.0625,
        validation_measurements={"loss": 0.0625, "accuracy": 0.91},
        time_remaining=0.0,
        reason="max_training_rounds",
    )
    clock.now += 0.01  # within the limit: finish draws anyway
    panel.finish(end, "training_complete")
    final = handle.updates[-1]
    assert len(handle.updates) == 6 and len(fake_display.calls) == 1
    assert "training complete: the requested number of rounds was done" in final
    assert "3 / 3" in final
    assert "0.0323" in final  # 1/31: the running round loss
    assert "0.0625" in final and "0.9300" in final and "0.9100" in final
    assert "per_class" not in final  # a tensor is no table cell
    assert final.count("<polyline") == 2  # training and validation loss
    panel.close()
    panel.close()  # twice: harmless
    assert len(handle.updates) == 6


def test_panel_close_without_finish_marks_it_interrupted(fake_display: FakeDisplay) -> None:
    clock = Clock()
    panel = NotebookPanel(clock=clock)
    panel.start(live(0))
    clock.now += 0.1
    panel.show(live(3))  # held back by the rate limit
    panel.close()
    (handle,) = fake_display.handles
    assert len(handle.updates) == 1 and "interrupted" in handle.updates[0]
    assert "3 / 10" in handle.updates[0]
    NotebookPanel().close()  # never started: nothing to do
    assert len(fake_display.calls) == 1


def test_panel_best_values_follow_each_keys_direction(fake_display: FakeDisplay) -> None:
    clock = Clock()
    panel = NotebookPanel(clock=clock)
    panel.start(live(0))
    for batch, accuracy, error in ((10, 0.9, 0.1), (20, 0.8, 0.2)):
        clock.now += 1
        panel.show(live(batch, validation_loss=0.5, validation_measurements={"accuracy":
            accuracy, "error_rate": error}))  # fmt: skip
    last = fake_display.handles[0].updates[-1]
    assert ">0.8000<" in last and ">0.9000<" in last and ">0.1000<" in last
    assert higher_is_better("val_auc") and higher_is_better("R2") and not higher_is_better("mse")


def test_panel_training_curve_has_a_point_per_round_after_two(fake_display: FakeDisplay) -> None:
    clock = Clock()
    panel = NotebookPanel(clock=clock)
    panel.start(live(0))

    def finished(batch: int) -> dict[str, float]:  # the last finished round's mean loss
        rounds_done = (batch - 1) // 10
        return {"loss": 0.5 / rounds_done} if rounds_done else {}

    def curve() -> list[tuple[float, float]]:
        return polylines(svg_of(fake_display.handles[0].updates[-1]))[0]

    for batch in range(2, 11, 2):  # round 1: the running mean at every report
        clock.now += 1
        panel.show(live(batch, round_measurements=finished(batch)))
    assert len(curve()) == 6  # and the start's (the helper gives batch 0 a loss)
    for batch in range(12, 36, 2):  # rounds 2 to 4: one point per finished round, and the last
        clock.now += 1
        panel.show(live(batch, round_measurements=finished(batch)))
    assert len(curve()) == 4  # the ends of rounds 1, 2 and 3, and batch 34
    xs = [x for x, _ in curve()]
    assert xs == sorted(xs) and abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 0.2


def svg_of(html: str) -> str:
    return html[html.index("<svg") : html.index("</svg>") + 6]


def test_panel_without_examples_counts_shows_batches_per_second() -> None:
    text = panel_html(live(5, examples_per_second=None, batches_per_second=12.5))
    assert "12.5 batches/s" in text and "examples/s" not in text
    assert "no data yet" in panel_html({})  # nothing known yet: no error, an empty chart
    between = {**live(10), "batch": 0}  # between rounds: the last one is done
    assert "10 / 10" in panel_html(between)


def test_panel_rejects_a_rate_that_is_not_positive() -> None:
    assert isinstance(NotebookPanel(), Display)
    with pytest.raises(ValueError, match="refresh_per_second"):
        NotebookPanel(refresh_per_second=0)


def test_not_in_a_notebook_here(monkeypatch: pytest.MonkeyPatch) -> None:
    assert in_notebook() is False
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert in_notebook() is False
    assert "IPython" not in sys.modules  # it never imports IPython itself


def test_in_notebook_reads_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    class ZMQInteractiveShell:
        pass

    class TerminalInteractiveShell:
        pass

    class OtherKernelShell:
        kernel = object()

    for shell, expected in (
        (ZMQInteractiveShell(), True),
        (TerminalInteractiveShell(), False),
        (OtherKernelShell(), True),
        (None, False),
    ):
        monkeypatch.setattr(IPython, "get_ipython", lambda shell=shell: shell)
        assert notebook.in_notebook() is expected


# ---- HTML representations --------------------------------------------------------------------


def test_result_html_summarises_without_computing_lazy_values() -> None:
    def costly() -> Any:
        raise AssertionError("a lazy property was computed for the HTML")

    result = TrainResult(
        {
            "reason_training_stopped": "time_goal",
            "total_rounds": 4,
            "total_batches": 40,
            "batch_size": 8,
            "total_training_time": 2.5,
            "mean_examples_per_second": 128.0,
            "round_loss": 0.125,
            "round_loss_list": [0.5, 0.25, 0.2, 0.125],
            "round_positions": [10, 20, 30, 40],
            "round_measurements": {"loss": 0.125, "accuracy": 0.875, "roc": torch.ones(3)},
            "validation_loss": 0.25,
            "validation_loss_list": [0.5, 0.25],
            "validation_positions": [20, 40],
            "validation_measurements": {"loss": 0.25, "accuracy": 0.75},
            "loss_function": {"output": {"loss": "cross_entropy"}},
            "optimization_method": {"method": "adam"},
            "initial_learning_rate": 0.001,
            "final_learning_rate": 0.0001,
            "target_device": "cpu",
            "cpu_threads": 4,
        },
        lazy={"batch_permutation": costly, "example_losses": costly},
    )
    text = result._repr_html_()
    assert "<td>time_goal</td>" in text and "the time goal was reached" in text
    for piece in ("40 of 8 examples", "2.50 s (128 examples/s)", "cross_entropy", "adam",
                  "0.001 → 0.0001", "cpu (4 threads)", "0.1250", "0.8750", "0.7500"):  # fmt: skip
        assert piece in text, piece
    assert "roc" not in text
    assert text.count("<polyline") == 2
    ET.fromstring(text[text.index("<svg") : text.index("</svg>") + 6])


def test_result_html_of_a_real_run_and_a_custom_loop() -> None:
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    result = nettrain.train(
        nn.Linear(3, 2), (x, y), "all", max_training_rounds=3, training_progress_reporting=None
    )
    lazy = sorted(result._lazy)  # the plots, the permutations: made only when asked for
    text = result._repr_html_()
    assert "<td>max_training_rounds</td>" in text and "<svg" in text
    assert sorted(result._lazy) == lazy
    monitor = nettrain.functional.ProgressMonitor(metrics=["loss"], reporting=None)
    monitor.record_metrics(1, loss=0.5)
    assert "<td>loop_finished</td>" in monitor.result()._repr_html_()


def test_net_html_shows_ports_module_and_size() -> None:
    text = Net(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))._repr_html_()
    assert "Sequential" in text and "26 parameters" in text
    assert ">input<" in text and ">output<" in text
    ET.fromstring(text)


# ---- a real Jupyter kernel -------------------------------------------------------------------


def _wired() -> bool:
    """Whether "auto" can pick the notebook panel (nettrain.progress.reporters builds it)."""
    try:
        from nettrain.progress import reporters
    except ImportError:
        return False
    return "NotebookPanel" in inspect.getsource(reporters)


def _kernel_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a "python3" kernel running this interpreter: the installed spec,
    or one installed for this venv into ``tmp_path``."""
    env = dict(os.environ)
    found = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    specs = json.loads(found.stdout).get("kernelspecs", {}) if found.returncode == 0 else {}
    if "python3" not in specs:
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--prefix", str(tmp_path)],
            check=True,
            capture_output=True,
        )
        env["JUPYTER_PATH"] = str(tmp_path / "share" / "jupyter")
    return env


CELL_TRAIN = """\
import torch, nettrain
torch.manual_seed(0)
x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
result = nettrain.train(torch.nn.Linear(3, 2), (x, y), "all",
                        training_progress_reporting="auto", time_goal=2)
"""


class _Recording:
    """Records each iopub message's cell, type and display id (the saved outputs keep no
    display id: nbclient folds an update into the output it updates)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str | None]] = []

    def wrap(self, client: Any) -> None:
        process = client.process_message

        def recording(msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            transient = msg.get("content", {}).get("transient") or {}
            self.seen.append((cell_index, msg["msg_type"], transient.get("display_id")))
            return process(msg, cell, cell_index)

        client.process_message = recording


def _cell_text(html: str, header: str) -> str:
    """The text of the table cell after the header cell ``header``, tags removed."""
    found = re.search(rf">{header}</th><td[^>]*>(.*?)</td>", html)
    assert found, (header, html)
    return re.sub(r"<[^>]+>", "", found.group(1))


@pytest.mark.slow  # a kernel starts, imports torch and trains for 2 s: about 20 s
@pytest.mark.skipif(
    not _wired(),
    reason='training_progress_reporting="auto" does not build the NotebookPanel yet '
    "(nettrain.progress.reporters does not name it)",
)
def test_a_real_kernel_shows_one_panel_and_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for name, value in _kernel_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL_TRAIN), nbformat.v4.new_code_cell("result")]
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    messages = _Recording()
    messages.wrap(client)
    client.execute()

    train_outputs, result_outputs = nb.cells[0].outputs, nb.cells[1].outputs
    assert [o.output_type for o in train_outputs] == ["display_data"], train_outputs
    assert not [m for m in messages.seen if m[1] == "stream"], messages.seen  # no printed lines
    shown = [m for m in messages.seen if m[0] == 0 and m[1] == "display_data"]
    updates = [m for m in messages.seen if m[0] == 0 and m[1] == "update_display_data"]
    assert len(shown) == 1 and shown[0][2], messages.seen  # one output, with a display id
    assert updates and {m[2] for m in updates} == {shown[0][2]}  # updated in place

    final = train_outputs[0].data["text/html"]
    # the time goal ends a run with "training_stopped" (the rounds done: "training_complete")
    assert re.search("nettrain: training (stopped|complete)", final), final[:400]
    assert "the time goal was reached" in final
    assert len(result_outputs) == 1 and "text/html" in result_outputs[0].data
    summary = result_outputs[0].data["text/html"]
    assert "<td>time_goal</td>" in summary and "<svg" in summary
    rounds = _cell_text(summary, "rounds")
    assert _cell_text(final, "round").split(" / ")[0] == rounds  # the panel's last round
