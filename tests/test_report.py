"""The HTML report of a run (``TrainResult.report``, ``nettrain train --report``).

The report is read back as a browser would: parsed with the standard library's
``html.parser`` (sections, tables, images, escaping, nothing outside the file), and rendered
by headless Chromium, whose screenshot is checked by its pixels (the headings' colour, the
plots' lines) and whose DOM is checked for the headings.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch import nn

import nettrain
from conftest import QUIET, make_classification
from nettrain.cli import main
from nettrain.progress.notebook import format_value
from nettrain.report import write_report
from nettrain.report.page import ACCENT

SECTIONS = [
    "Outcome",
    "Final measurements",
    "Plots",
    "Options and automatic choices",
    "Data and net",
    "Environment",
]
# a class whose name holds markup: the report must show it as written, escaped
Strange = type("Lin<ear>&Co", (nn.Linear,), {})


class Report(HTMLParser):
    """What a report holds: headings, table rows by section and data-key, images, captions,
    ``<pre>`` texts by class, every tag and every src/href."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: dict[str, list[str]] = {"h1": [], "h2": [], "h3": []}
        self.rows: dict[str, dict[str, list[str]]] = {}  # section -> data-key -> cells
        self.images: list[str] = []
        self.captions: list[str] = []
        self.pre: dict[str, str] = {}
        self.tags: set[str] = set()
        self.links: list[str] = []
        self._section = ""
        self._row: list[str] | None = None
        self._text: list[str] | None = None
        self._into = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag == "section":
            self._section = a.get("id") or ""
        elif tag == "tr" and a.get("data-key"):
            self._row = self.rows.setdefault(self._section, {}).setdefault(a["data-key"] or "", [])
        elif tag == "img":
            self.images.append(a.get("src") or "")
        if tag in ("h1", "h2", "h3", "td", "figcaption", "pre"):
            self._text, self._into = [], tag
            if tag == "pre":
                self._into = "pre:" + (a.get("class") or "")

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._text is None or not self._into.startswith(tag):
            if tag == "tr":
                self._row = None
            return
        text, into = "".join(self._text), self._into
        self._text = None
        if tag in self.headings:
            self.headings[tag].append(text)
        elif tag == "td" and self._row is not None:
            self._row.append(text)
        elif tag == "figcaption":
            self.captions.append(text)
        elif tag == "pre":
            self.pre[into[4:]] = text


@pytest.fixture(scope="module")
def result() -> nettrain.TrainResult:
    x, y = make_classification(n=120)
    return nettrain.train(
        Strange(5, 3),
        (x, y),
        "all",
        max_training_rounds=3,
        batch_size=16,
        random_seeding=7,
        validation_set=0.25,
        method=("sgd", {"momentum": 0.5}),
        training_progress_measurements=["accuracy", "confusion_matrix"],
        **QUIET,
    )


@pytest.fixture(scope="module")
def report(result, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "run.html"
    assert result.report(path, title="<b>Run</b> & co") == path
    return path


@pytest.fixture(scope="module")
def parsed(report) -> Report:
    return Report(report.read_text(encoding="utf-8"))


# ---- what it holds ---------------------------------------------------------------------------


def test_the_report_has_every_section(parsed) -> None:
    assert parsed.headings["h1"] == ["<b>Run</b> & co"]
    assert parsed.headings["h2"] == SECTIONS
    assert "The call, every automatic choice resolved" in parsed.headings["h3"]


def test_the_values_shown_are_the_results(parsed, result) -> None:
    outcome, options = parsed.rows["outcome"], parsed.rows["options"]
    assert outcome["stopped_because"] == [result.reason_training_stopped]
    assert outcome["rounds"] == [str(result.total_rounds)] == ["3"]
    assert outcome["batches"] == [f"{result.total_batches} of 16 examples"]
    assert options["batch_size"] == [str(result.batch_size)] == ["16"]
    assert options["rounds"] == ["3"]
    assert options["method"] == [result.optimization_method["method"]] == ["sgd"]
    assert "momentum: 0.5" in options["method_options"][0]
    assert options["random_seed"] == [str(result.random_seed)] == ["7"]
    assert options["cpu_threads"] == [str(result.cpu_threads)]
    assert options["device"] == [result.target_device]
    assert options["working_precision"] == [result.working_precision]
    assert options["learning_rate"] == [f"{result.initial_learning_rate:.6g}"]
    port = result.loss_function["output"]
    assert options["loss.output"] == ["cross_entropy", "target", "1.0", port["computed_from"]]
    assert options["call.max_training_rounds"] == ["3"] and options["call.random_seeding"] == ["7"]
    assert options["call.method"] == ["('sgd', {'momentum': 0.5})"]
    assert parsed.pre["train-input-form"] == result.train_input_form
    final = parsed.rows["measurements"]
    assert final["loss"] == [format_value(result.round_loss), format_value(result.validation_loss)]
    accuracy = result.validation_measurements["accuracy"]
    assert final["accuracy"][1] == format_value(accuracy)
    data = parsed.rows["data-and-net"]
    assert data["training_examples"] == ["90"] and data["validation_examples"] == ["30"]
    assert data["class"] == [f"Lin<ear>&Co ({__name__})"]
    assert data["parameters"] == ["18 (18 trainable)"]
    environment = parsed.rows["environment"]
    assert environment["nettrain"] == [nettrain.__version__]
    assert environment["python"][0].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")


def test_every_figure_is_an_embedded_png_with_its_caption(parsed, result) -> None:
    figures = result.final_plots
    assert {"loss", "accuracy", "confusion_matrix"} <= set(figures)
    assert len(parsed.images) == len(parsed.captions) == len(figures)
    for src in parsed.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        data = base64.b64decode(src[len(prefix) :], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200
            image.verify()
    assert [c.split(":")[0] for c in parsed.captions] == list(figures)
    assert parsed.captions[0].startswith("loss: The loss against batches")


def test_the_report_needs_nothing_outside_itself(report, parsed) -> None:
    text = report.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert not parsed.tags & {"script", "link", "iframe", "object", "embed"}
    assert parsed.links and all(link.startswith("data:") for link in parsed.links)
    assert "@import" not in text and "url(" not in text


def test_text_from_the_result_is_escaped(report, parsed) -> None:
    text = report.read_text(encoding="utf-8")
    assert "<b>Run</b>" not in text and "&lt;b&gt;Run&lt;/b&gt; &amp; co" in text
    assert "Lin<ear>" not in text and "Lin&lt;ear&gt;&amp;Co" in text
    # quotes in the call are escaped too, and read back as written
    assert "loss_function=&#x27;cross_entropy&#x27;" in text
    assert "<b>" not in parsed.tags and "ear" not in parsed.tags


def test_the_report_without_matplotlib_says_how_to_get_the_plots(
    result, tmp_path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    path = write_report(result, tmp_path / "run.html")
    text = path.read_text(encoding="utf-8")
    parsed = Report(text)
    assert parsed.images == [] and "data:image" not in text
    assert '<p class="note no-plots">' in text
    assert (
        "matplotlib, which is not installed: <code>pip install &quot;nettrain[plots]&quot;" in text
    )
    assert parsed.headings["h2"] == SECTIONS  # the rest of the report is all there
    assert parsed.rows["environment"]["matplotlib"] == ["not installed"]
    assert parsed.headings["h1"] == ["nettrain training report"]


# ---- writing it ------------------------------------------------------------------------------


def test_the_report_is_written_whole_and_replaces_an_earlier_one(
    result, tmp_path, monkeypatch
) -> None:
    path = tmp_path / "new" / "folder" / "run.html"  # a missing folder is made
    assert write_report(result, path, title="first") == path
    first = path.read_text(encoding="utf-8")
    assert "<h1>first</h1>" in first
    assert result.report(str(path), title="second") == path
    assert "<h1>second</h1>" in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["run.html"]  # no temporary file left

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(nettrain.NetTrainError, match="No space left") as caught:
        result.report(path, title="third")
    assert caught.value.argument == "path"
    assert "<h1>second</h1>" in path.read_text(encoding="utf-8")  # the earlier one stays
    assert [p.name for p in path.parent.iterdir()] == ["run.html"]


def test_a_folder_is_no_report_path(result, tmp_path) -> None:
    with pytest.raises(nettrain.NetTrainError, match="is a folder") as caught:
        result.report(tmp_path)
    assert caught.value.argument == "path" and "run.html" in (caught.value.hint or "")


# ---- in a browser ----------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (/usr/bin/chromium): .ci/run installs Debian's chromium "
    "where apt is usable",
)
WIDTH, HEIGHT = 1200, 8000


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        *args,
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def _near(pixels: np.ndarray, colour: np.ndarray, tolerance: int = 6) -> np.ndarray:
    """Where ``pixels`` ([..., 3]) are within ``tolerance`` of ``colour`` in every channel."""
    return np.all(np.abs(pixels.astype(np.int16) - colour) <= tolerance, axis=-1)


def _bands(rows: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive row numbers as (first, last)."""
    bands: list[tuple[int, int]] = []
    for y in rows.tolist():
        if bands and y == bands[-1][1] + 1:
            bands[-1] = (bands[-1][0], y)
        else:
            bands.append((y, y))
    return bands


@needs_chromium
def test_the_report_renders_in_a_browser(report, result, tmp_path) -> None:
    shot = tmp_path / "report.png"
    size = f"--window-size={WIDTH},{HEIGHT}"
    _chromium(tmp_path, f"--screenshot={shot}", size, report.as_uri())
    if os.environ.get("NETTRAIN_KEEP_SCREENSHOT"):  # to look at it: the folder to copy it to
        shutil.copy(shot, Path(os.environ["NETTRAIN_KEEP_SCREENSHOT"]) / "report.png")
    with Image.open(shot) as opened:
        assert opened.size == (WIDTH, HEIGHT)
        pixels = np.asarray(opened.convert("RGB"))
    accent = _near(pixels, _rgb(ACCENT)).sum(axis=1)  # accent pixels in each row
    # the header: a band of the accent colour across the whole width, at the top
    assert accent[4] == WIDTH
    below = int(np.argmax(accent == 0))  # the first row under the header
    assert 40 < below < 200, below
    # each section's heading is underlined by a rule of the accent colour, the page's column
    # wide (about 980 pixels of 1200), so there is one band of such rows per section
    rules = _bands(below + np.flatnonzero(accent[below:] > 800))
    assert len(rules) == len(SECTIONS), rules
    assert all(1 <= last - first <= 5 for first, last in rules), rules
    # the page ends: it is long (six sections, plots), and below the last section all white
    drawn = np.flatnonzero(np.any(pixels != 255, axis=(1, 2)))
    assert 2500 < drawn[-1] < HEIGHT - 200, drawn[-1]
    # the loss plot, first under "Plots" (the third rule): its lines in matplotlib's first
    # colour, and the many shades of a drawn figure (anti-aliasing, text), down to the next
    # figure (the loss figure's own height below the rule, about 470 pixels)
    top = rules[2][1] + 1
    region = pixels[top : top + 560]
    blue = int(_near(region, np.array([31, 119, 180]), 24).sum())
    assert blue > 800, blue
    colours = np.unique(region.reshape(-1, 3), axis=0)
    assert len(colours) > 200, len(colours)
    # the figures lie where the layout puts them: left-aligned in the page's column
    columns = np.flatnonzero(np.any(region != 255, axis=(0, 2)))
    assert 60 < columns[0] < 150 and 600 < columns[-1] - columns[0] < 1000, columns[[0, -1]]


@needs_chromium
def test_the_browsers_dom_has_every_heading(report, result, tmp_path) -> None:
    done = _chromium(tmp_path, "--dump-dom", report.as_uri())
    dom = Report(done.stdout)
    assert dom.headings["h1"] == ["<b>Run</b> & co"]
    assert dom.headings["h2"] == SECTIONS
    assert len(dom.images) == len(result.final_plots)
    assert all(src.startswith("data:image/png;base64,") for src in dom.images)
    assert dom.pre["train-input-form"] == result.train_input_form


# ---- the command line ------------------------------------------------------------------------


def test_nettrain_train_writes_the_report(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NETTRAIN_OFFLINE", "1")
    monkeypatch.setenv("NETTRAIN_DATA", str(tmp_path / "data"))  # empty: only Digits exists
    report = tmp_path / "run.html"
    args = ["train", "Digits", "--rounds", "2", "--reporting", "none"]
    args += ["--report", str(report), "--output", str(tmp_path / "net.safetensors")]
    assert main(args) == 0
    assert f"report written to {report}" in capsys.readouterr().out
    parsed = Report(report.read_text(encoding="utf-8"))
    assert parsed.headings["h1"] == ["nettrain train Digits with mlp"]
    assert parsed.headings["h2"] == SECTIONS
    assert parsed.rows["options"]["rounds"] == ["2"] and parsed.images
    assert parsed.rows["data-and-net"]["class"][0].startswith("nettrain.Net around Sequential")
    # a report path that cannot be written is said under the flag's name, as one paragraph
    assert main([*args[:-4], "--report", str(tmp_path), "--output", "b.safetensors"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("nettrain train: error: --report") and "is a folder" in error
