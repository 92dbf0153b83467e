"""Plots (SPEC S5): the loss plot, the final plots, the "plot" form of a custom history and
``ProgressMonitor.plot``, read back from the figures and written as PNGs, with matplotlib's
object-oriented API only (no pyplot figures) and a clear error without matplotlib."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import nettrain
from conftest import QUIET, make_classification, make_net
from nettrain.errors import NetTrainError
from nettrain.functional import ProgressMonitor
from nettrain.plots import (
    figure_data_uri,
    final_plots,
    history_plot,
    loss_plot,
    save_png,
)
from nettrain.plots.classifier import area_under

N, B, R = 120, 16, 4
CLASSES = ["circle", "square", "triangle"]
MEASURED = ["accuracy", "error_rate", "confusion_matrix", "roc_curve", "precision"]
MEASURED += ["area_under_roc_curve"]
PNG = b"\x89PNG\r\n\x1a\n"


def grad_norms(live):
    """Each weight matrix's gradient norm (the seed's history of gradients per layer)."""
    return {
        name: float(p.grad.norm()) if p.grad is not None else None
        for name, p in live["net"].named_parameters()
        if p.dim() > 1
    }


@pytest.fixture(scope="module")
def run():
    """A classifier of named classes with validation, every measurement the plots show, and
    the same histories as lists and as plots."""
    x, y = make_classification(N, features=5, classes=3)
    labels = [CLASSES[int(i)] for i in y]
    props = [
        "all",
        {"property": grad_norms, "form": "list", "interval": "5 batches"},
        {"property": grad_norms, "form": "plot", "interval": "5 batches"},
        {"Property": "RoundLoss", "Form": "Plot", "Interval": "Round"},
    ]
    result, norms, norms_plot, loss_history = nettrain.train(
        make_net(),
        (x, labels),
        props,
        batch_size=B,
        max_training_rounds=R,
        validation_set=0.25,
        learning_rate=0.01,
        training_progress_measurements=MEASURED,
        **QUIET,
    )
    return result, norms, norms_plot, loss_history


def lines(figure: Figure, index: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    ax = figure.axes[index]
    return {
        line.get_label(): (np.asarray(line.get_xdata()), np.asarray(line.get_ydata()))
        for line in ax.get_lines()
    }


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_png(figure: Figure, path: Path) -> None:
    """A valid PNG of non-trivial size whose pixels are about the figure's (the tight bounding
    box crops the margins and adds a little padding)."""
    assert save_png(figure, path) == path
    assert path.stat().st_size > 5_000
    width, height = png_size(path)
    expected = figure.get_size_inches() * figure.dpi
    assert 0.85 * expected[0] <= width <= 1.1 * expected[0]
    assert 0.85 * expected[1] <= height <= 1.1 * expected[1]


def test_the_loss_plot_shows_the_results_losses(run, tmp_path):
    r = run[0]
    figure = r.loss_plot
    assert isinstance(figure, Figure) and r["loss_plot"] is figure  # computed once
    drawn = lines(figure)
    assert list(drawn) == ["batch loss", "round loss", "validation loss"]
    x, y = drawn["batch loss"]
    assert x.tolist() == list(range(1, r.total_batches + 1)) and y.tolist() == r.batch_loss_list
    assert drawn["round loss"][0].tolist() == r.round_positions
    assert drawn["round loss"][1].tolist() == r.round_loss_list
    assert drawn["validation loss"][0].tolist() == r.validation_positions
    assert drawn["validation loss"][1].tolist() == r.validation_loss_list
    ax = figure.axes[0]
    assert ax.get_xlabel() == "batches" and ax.get_ylabel() == "loss"
    assert ax.get_yscale() == "linear"  # the round losses span less than a factor of 20
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(drawn)
    assert f"{r.round_loss:.4g}" in ax.get_title()
    (top,) = ax.child_axes  # the rounds, above
    assert top.get_xlabel() == "rounds"
    check_png(figure, tmp_path / "loss.png")


def test_the_loss_plot_asked_for_by_name_is_a_figure():
    x, y = make_classification(40)
    figure = nettrain.train(make_net(), (x, y), "LossPlot", max_training_rounds=2, **QUIET)
    assert isinstance(figure, Figure)
    assert list(lines(figure)) == ["batch loss", "round loss"]  # no validation: no line


def test_a_log_scale_when_the_losses_span_more_than_a_factor_of_20(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = 30 * x.sum(1, keepdim=True)
    r = nettrain.train(
        nn.Linear(3, 1),
        (x, y),
        "all",
        max_training_rounds=8,
        batch_size=8,
        method="sgd",
        learning_rate=0.01,
        **QUIET,
    )
    losses = r.round_loss_list
    assert max(losses) > 20 * min(losses) > 0
    figure = r.loss_plot
    assert figure.axes[0].get_yscale() == "log"
    assert lines(figure)["round loss"][1].tolist() == losses
    check_png(figure, tmp_path / "log.png")
    # a loss of 0 cannot be on a log scale
    values = {"round_loss_list": [100.0, 1.0, 0.0], "round_positions": [1, 2, 3]}
    assert loss_plot(values).axes[0].get_yscale() == "linear"


def test_final_plots_have_a_figure_per_thing_measured(run, tmp_path):
    r = run[0]
    figures = r.final_plots
    # precision and area_under_roc_curve give a value per class: not a line over rounds
    assert list(figures) == ["loss", "accuracy", "error_rate", "confusion_matrix", "roc_curve"]
    assert all(isinstance(f, Figure) for f in figures.values())
    for name, figure in figures.items():
        check_png(figure, tmp_path / f"{name}.png")
    assert lines(figures["loss"]).keys() == lines(r.loss_plot).keys()
    rounds = list(range(1, R + 1))
    for key in ("accuracy", "error_rate"):
        drawn = lines(figures[key])
        assert list(drawn) == ["training", "validation"]
        assert drawn["training"][0].tolist() == rounds
        assert drawn["training"][1].tolist() == r.round_measurements_lists[key]
        # validations ran at the end of each round: at rounds 1, 2, ...
        assert r.validation_positions == r.round_positions
        assert drawn["validation"][0].tolist() == rounds
        assert drawn["validation"][1].tolist() == r.validation_measurements_lists[key]
        assert figures[key].axes[0].get_xlabel() == "rounds"


def test_the_confusion_matrix_is_the_last_validations_with_class_names(run):
    r = run[0]
    figure = r.final_plots["confusion_matrix"]
    ax = figure.axes[0]
    matrix = r.validation_measurements_lists["confusion_matrix"][-1]
    assert np.array_equal(np.asarray(ax.images[0].get_array()), matrix.numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    counts = [int(t.get_text()) for t in ax.texts]
    assert counts == matrix.reshape(-1).tolist()  # every cell annotated, row by row
    assert "validation" in ax.get_title()
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")


def test_the_roc_curves_are_the_last_validations_with_their_areas(run):
    r = run[0]
    ax = r.final_plots["roc_curve"].axes[0]
    curves = r.validation_measurements_lists["roc_curve"][-1]
    areas = r.validation_measurements_lists["area_under_roc_curve"][-1]
    drawn = ax.get_lines()
    assert len(drawn) == len(CLASSES) + 1 and drawn[-1].get_label().startswith("_")  # chance
    for c, line in enumerate(drawn[:-1]):
        fpr, tpr, _ = curves[c]
        assert np.array_equal(line.get_xdata(), fpr.numpy())
        assert np.array_equal(line.get_ydata(), tpr.numpy())
        assert area_under(fpr, tpr) == pytest.approx(float(areas[c]), abs=1e-9)
        assert line.get_label() == f"{CLASSES[c]} (AUC {float(areas[c]):.3f})"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [line.get_label() for line in drawn[:-1]]


def test_without_class_names_or_validation_the_training_matrix_by_index(tmp_path):
    x, y = make_classification(60)
    r = nettrain.train(
        make_net(),
        (x, y),
        "all",
        max_training_rounds=2,
        training_progress_measurements=["confusion_matrix", "roc_curve"],
        **QUIET,
    )
    figures = final_plots(r)  # the function, on the result: the same figures
    assert list(figures) == ["loss", "confusion_matrix", "roc_curve"]
    ax = figures["confusion_matrix"].axes[0]
    matrix = r.round_measurements_lists["confusion_matrix"][-1]
    assert np.array_equal(np.asarray(ax.images[0].get_array()), matrix.numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert "training" in ax.get_title()
    labels = [line.get_label() for line in figures["roc_curve"].axes[0].get_lines()]
    assert [label.split(" ")[0] for label in labels[:-1]] == ["0", "1", "2"]
    check_png(figures["roc_curve"], tmp_path / "roc.png")


def test_the_plot_form_of_a_history_draws_one_line_per_layer(run, tmp_path):
    r, norms, figure, _ = run
    assert isinstance(figure, Figure)
    drawn = lines(figure)
    assert list(drawn) == ["0.weight", "2.weight"]
    at = list(range(5, r.total_batches + 1, 5))
    assert len(norms) == len(at)
    for name, (x, y) in drawn.items():
        assert x.tolist() == at
        assert y.tolist() == [n[name] for n in norms]  # the list form's values
    assert figure.axes[0].get_xlabel() == "batches"
    assert "grad_norms" in figure.axes[0].get_title()
    check_png(figure, tmp_path / "history.png")


def test_the_plot_form_of_a_scalar_history_is_one_line(run, tmp_path):
    r, _, _, figure = run
    drawn = lines(figure)
    assert list(drawn) == ["round_loss"]
    assert drawn["round_loss"][0].tolist() == r.round_positions
    assert drawn["round_loss"][1].tolist() == r.round_loss_list
    check_png(figure, tmp_path / "round_loss.png")


def test_history_plot_reads_numbers_vectors_and_dicts():
    figure = history_plot("v", [[1.0, 2.0], torch.tensor([3.0, 4.0]), np.array([5.0, 6.0])])
    drawn = lines(figure)
    assert list(drawn) == ["0", "1"]
    assert drawn["0"][1].tolist() == [1.0, 3.0, 5.0] and drawn["0"][0].tolist() == [1, 2, 3]
    assert figure.axes[0].get_xlabel() == "collection"
    measured = [{"loss": 1.0, "precision": torch.tensor([0.5, 0.25]), "cm": torch.eye(2)}]
    assert list(lines(history_plot("m", measured))) == ["loss", "precision[0]", "precision[1]"]
    many = history_plot("e", [torch.rand(30) + 0.5 for _ in range(4)])  # more than 20: an image
    assert many.axes[0].images[0].get_array().shape == (30, 4)
    with pytest.raises(NetTrainError, match=r"needs numbers.*received str 'x'"):
        history_plot("s", ["x"])


def test_a_history_of_the_net_cannot_be_plotted():
    x, y = make_classification(20)
    with pytest.raises(NetTrainError, match="the net is not one") as info:
        nettrain.train(make_net(), (x, y), {"property": "net", "form": "plot"}, **QUIET)
    assert "named_parameters" in info.value.hint


def test_the_progress_monitors_plot_and_figures(tmp_path):
    with ProgressMonitor(
        metrics=["loss", "validation_loss", "accuracy"], info=["epoch"], reporting=None
    ) as monitor:
        step = 0
        for epoch in (1, 2, 3):
            monitor.update_info(epoch=epoch)
            for _ in range(5):
                step += 1
                monitor.record_metrics(step, loss=torch.tensor(2.0 / step**2), accuracy=step / 16)
            monitor.record_metrics(step, validation_loss=1.5 / step)
        live = monitor.plot("loss")  # while the loop runs: the pending tensors are read
        expected = [2.0 / s**2 for s in range(1, 16)]  # recorded as float32 tensors
        assert lines(live)["loss"][1].tolist() == pytest.approx(expected, rel=1e-6)
    figure = monitor.plot()
    assert [[line.get_label() for line in ax.get_lines()] for ax in figure.axes] == [
        ["loss", "validation_loss"],
        ["accuracy"],
    ]
    r = monitor.result()
    for index, group in enumerate([["loss", "validation_loss"], ["accuracy"]]):
        drawn = lines(figure, index)
        for metric in group:
            assert drawn[metric][0].tolist() == r.metrics_positions[metric]
            assert drawn[metric][1].tolist() == r.metrics_lists[metric]
    assert figure.axes[-1].get_xlabel() == "iteration"
    assert figure.axes[0].get_yscale() == "log"  # 2.0 down to 0.0089
    check_png(figure, tmp_path / "monitor.png")
    with pytest.raises(NetTrainError, match="'acuracy' is not one of the monitor's metrics"):
        monitor.plot("acuracy")
    # the result's figures: the batch losses at the steps they were recorded
    drawn = lines(r.loss_plot)
    assert drawn["batch loss"][0].tolist() == r.metrics_positions["loss"]
    assert drawn["round loss"][0].tolist() == r.round_positions == [5, 10, 15]
    assert drawn["validation loss"][0].tolist() == r.metrics_positions["validation_loss"]
    assert r.loss_plot.axes[0].get_xlabel() == "iteration"
    assert list(r.final_plots) == ["loss", "accuracy"]
    assert {"loss_plot", "final_plots"} <= set(r.properties)


def test_a_monitor_without_a_loss_says_why_it_has_no_loss_plot():
    with ProgressMonitor(metrics=["accuracy"], reporting=None) as monitor:
        monitor.record_metrics(1, accuracy=0.5)
    r = monitor.result()
    with pytest.raises(NetTrainError, match="no metric is named 'loss'"):
        r["loss_plot"]
    assert list(r.final_plots) == ["accuracy"] and "loss_plot" not in r.properties


def test_a_figure_as_a_data_uri_is_the_png(run, tmp_path):
    figure = run[0].loss_plot
    uri = figure_data_uri(figure)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix) :])
    path = save_png(figure, tmp_path / "same.png")
    assert data[:8] == PNG and data[16:24] == path.read_bytes()[16:24]  # same dimensions


def test_saving_into_a_missing_folder_names_the_path(run, tmp_path):
    target = tmp_path / "missing" / "loss.png"
    with pytest.raises(NetTrainError, match="missing") as info:
        save_png(run[0].loss_plot, target)
    assert info.value.argument == "path"


def test_without_matplotlib_plots_say_how_to_install_it(monkeypatch):
    x, y = make_classification(20)
    result = nettrain.train(make_net(), (x, y), "all", max_training_rounds=1, **QUIET)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" fails
    # a fresh import of the plots package: importing it needs no matplotlib
    for name in [m for m in sys.modules if m.startswith("nettrain.plots")]:
        monkeypatch.delitem(sys.modules, name)
    import nettrain.plots as fresh

    install = 'pip install "nettrain[plots]"'
    with pytest.raises(NetTrainError, match="matplotlib is needed for plots") as info:
        fresh.loss_plot(result)
    assert install in str(info.value)
    for _ in range(2):  # the lazy property refuses each time it is asked
        with pytest.raises(NetTrainError, match=r"nettrain\[plots\]"):
            result["final_plots"]
    calls = []
    with pytest.raises(NetTrainError, match="needed for the property 'loss_plot'") as info:
        nettrain.train(
            make_net(),
            (x, y),
            "loss_plot",
            training_progress_function=lambda live: calls.append(live),
            **QUIET,
        )
    assert calls == [] and install in str(info.value)  # refused before training
    with pytest.raises(NetTrainError, match='needed for the "plot" form of a history'):
        nettrain.train(make_net(), (x, y), {"property": "round_loss", "form": "plot"}, **QUIET)
    with ProgressMonitor(metrics=["loss"], reporting=None) as monitor:
        monitor.record_metrics(1, loss=1.0)
    with pytest.raises(NetTrainError, match=r"needed for ProgressMonitor\.plot"):
        monitor.plot()


def test_importing_nettrain_imports_no_matplotlib_and_plots_no_pyplot():
    code = textwrap.dedent(
        """
        import sys
        import nettrain
        assert "matplotlib" not in sys.modules, "imported by nettrain"
        import nettrain.plots
        figures = nettrain.plots.final_plots({"batch_loss_list": [1.0, 0.5]})
        nettrain.plots.figure_data_uri(figures["loss"])
        assert "matplotlib" in sys.modules and "matplotlib.pyplot" not in sys.modules
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_no_pyplot_figures_were_made(run):
    """Last: every figure above was made without pyplot (none registered, none shown)."""
    r = run[0]
    assert r.loss_plot is not None and r.final_plots
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []
