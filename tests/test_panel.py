"""The "panel" and "progress_bar" displays: plain text on anything but a terminal, in-place
redraws on a real pseudo-terminal (narrow, resized, interrupted), and a clean terminal after."""

from __future__ import annotations

import io
import json
import math
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nettrain.errors import NetTrainError
from nettrain.options.resolved import parse_reporting
from nettrain.progress.bar import ProgressBar, format_value, reason_text
from nettrain.progress.display import Display
from nettrain.progress.panel import TerminalPanel, higher_is_better
from nettrain.progress.text_chart import Series, plot_lines

SRC = Path(__file__).resolve().parents[1] / "src"
DISPLAYS = [TerminalPanel, ProgressBar]
REDRAW = r"\r\x1b\[2K(?:\x1b\[1A\x1b\[2K)+"  # rich going back to the top of its last frame
pty_only = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
ESCAPE = re.compile(r"\x1b\[[?0-9;]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b.")


@pytest.fixture(autouse=True)
def a_plain_terminal(monkeypatch):
    """The tests here say what kind of stream they draw on: a CI runner's own ``CI`` or
    ``TERM=dumb`` (which turn every live display plain) must not leak in; the tests about those
    set them again."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def live_dict(step: int, rounds: int = 3, per_round: int = 10, event: str = "report") -> dict:
    """Every key of the table in display.py, for batch ``step`` of a run of ``rounds`` rounds:
    the loss falls, validation comes at each round's end (a round that ended: batch 0)."""
    total = rounds * per_round
    done = step // per_round  # rounds ended
    batch = step % per_round
    number = done if batch == 0 and step > 0 else done + 1
    loss = 2.0 * math.exp(-step / 8) + 0.05
    ended = [2.0 * math.exp(-r * per_round / 8) + 0.05 for r in range(1, done + 1)] or [0.0]
    validation = [v * 1.1 + 0.01 for v in ended]
    measured = {"loss": ended[-1], "accuracy": 1 - ended[-1] / 3, "per_class": [0.5, 0.7]}
    validated = {"loss": validation[-1], "accuracy": 0.95 - validation[-1] / 3}
    # fmt: off
    return {
        "round": number, "max_rounds": rounds, "batch": batch, "batches_per_round": per_round,
        "absolute_batch": step, "examples_processed": step * 32,
        "batch_loss": loss, "round_loss": loss if step else math.nan,
        "round_measurements": measured if done else {},
        "validation_loss": validation[-1] if done else None,
        "validation_measurements": validated if done else None,
        "best_validation_round": done or None,
        "time_elapsed": step * 0.5, "time_remaining": (total - step) * 0.5 if step else math.inf,
        "progress_fraction": step / total,
        "examples_per_second": 64.0, "batches_per_second": 2.0,
        "learning_rate": 0.001, "event": event,
    }
    # fmt: on


RUN = [live_dict(step) for step in range(31)]
FINAL = live_dict(30, event="training_complete")


def drive(display: Any, lives: list[dict] = RUN, reason: str = "training_complete") -> None:
    display.start(lives[0])
    for live in lives[1:]:
        display.show(live)
    display.finish(FINAL, reason)
    display.close()


# -- not a terminal: one plain output, at finish ----------------------------------------------


class Recording(io.StringIO):
    """A text stream that keeps its writes and may claim to be a terminal."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.tty, self.writes = tty, []

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.writes += [text] if text else []
        return super().write(text)


@pytest.mark.parametrize("kind", DISPLAYS)
def test_plain_stream_gets_one_final_output(kind, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # no colour all the same: the stream is no terminal
    out, stop = Recording(), live_dict(16)  # stopped in round 2, 7 s before the end
    display = kind(stream=out, width=80)
    assert isinstance(display, Display)
    display.start(RUN[0])
    for live in RUN[1:16]:
        display.show(live)
    assert out.getvalue() == ""  # nothing while training
    display.finish(stop, "stopped_by_user")
    display.close()
    display.close()
    text = out.getvalue()
    assert len(out.writes) == 1 and text.endswith("\n")  # one output, at finish
    assert "\r" not in text and "\x1b" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    loss, val = f"{stop['round_loss']:.4f}", f"{stop['validation_loss']:.4f}"
    if kind is ProgressBar:
        bar = "━" * 9 + "─" * 8  # 53% of 17 cells
        assert text == f"round 2/3 {bar} 53% loss {loss} val {val} 0:08<0:07 stopped by user\n"
    else:
        assert "training: stopped by user" in text and "round 2/3" in text
        assert "batch 6/10" in text and "ETA 0:07" in text
        row = next(line.split() for line in text.splitlines() if line.startswith("│ loss "))
        assert row[2:6] == [loss, f"{2.0 * math.exp(-10 / 8) + 0.05:.4f}", val, val]


def test_panel_plain_text_values():
    out = io.StringIO()
    drive(TerminalPanel(stream=out, width=80))
    text = out.getvalue()
    lines = [line.strip("│ ") for line in text.splitlines()]
    assert "training: complete" in lines[0]
    assert lines[1].startswith("round 3/3") and lines[1].endswith("100%")
    assert lines[2].startswith("batch 10/10") and lines[2].endswith("100%")
    assert "elapsed 0:15  ETA 0:00" in text and "64 examples/s" in text
    assert "learning rate 0.001" in text and "best net: round 3" in text
    table = [line.split() for line in lines if line.startswith(("loss ", "accuracy "))]
    rows = {cells[0]: cells for cells in table if cells[1] != "by"}  # not the chart's legend
    ended = [2.0 * math.exp(-r * 10 / 8) + 0.05 for r in (1, 2, 3)]
    val = [v * 1.1 + 0.01 for v in ended]
    # current, best (lowest loss over finished rounds), validation, best validation
    now = f"{FINAL['round_loss']:.4f}"
    assert rows["loss"][1:] == [now, f"{min(ended):.4f}", f"{val[-1]:.4f}", f"{min(val):.4f}"]
    # accuracy: higher is better; the per-class list (not a number) is left out
    assert (
        rows["accuracy"][1:] == [f"{1 - ended[-1] / 3:.4f}"] * 2 + [f"{0.95 - val[-1] / 3:.4f}"] * 2
    )
    assert "per_class" not in text
    assert "loss by batch" in text and "train" in text and "validation" in text
    assert any("⠀" < ch <= "⣿" for ch in text) and "•" in text  # braille line, markers


def test_best_values_follow_the_direction_of_each_measurement():
    out = io.StringIO()
    panel = TerminalPanel(stream=out, width=70)
    base = live_dict(10)
    panel.start(base)
    for err, acc in [(0.3, 0.7), (0.1, 0.9), (0.2, 0.8)]:
        panel.show({**base, "validation_measurements": {"error_rate": err, "accuracy": acc}})
    panel.finish({**base, "validation_measurements": {"error_rate": 0.2, "accuracy": 0.8}}, "x")
    text = out.getvalue()
    cells = [line.strip("│ ").split() for line in text.splitlines()]
    row = {line[0]: line[1:] for line in cells if line and line[0] in ("error_rate", "accuracy")}
    assert row["error_rate"][-2:] == ["0.2000", "0.1000"]  # lower is better
    assert row["accuracy"][-2:] == ["0.8000", "0.9000"]  # higher is better
    assert higher_is_better("val_AUC") and not higher_is_better("mean_squared_error")


@pytest.mark.parametrize("width", [20, 40, 59, 60, 100])
def test_panel_never_wider_than_asked(width):
    out = io.StringIO()
    drive(TerminalPanel(stream=out, width=width))
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    assert ("loss by batch" in out.getvalue()) == (width >= 60)  # the chart goes first
    assert ("learning rate" in out.getvalue()) == (width >= 48)  # then the secondary rows


@pytest.mark.parametrize("env", [{"CI": "true"}, {"TERM": "dumb"}])
@pytest.mark.parametrize("kind", DISPLAYS)
def test_terminal_with_ci_or_dumb_is_plain(kind, env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = Recording(tty=True)
    drive(kind(stream=out, width=60))
    assert out.getvalue() and "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_default_stream_is_looked_up_at_start(capsys):
    drive(TerminalPanel())
    assert "training: complete" in capsys.readouterr().out


@pytest.mark.parametrize("kind", DISPLAYS)
def test_close_is_safe_anytime(kind):
    kind().close()  # never started
    out = Recording(tty=True)
    display = kind(stream=out, width=60)
    display.start(RUN[0])
    display.show(RUN[5])
    display.close()  # no finish
    display.close()
    assert out.getvalue().endswith(("\n", "\n\x1b[?25h"))
    stdout, broken = sys.stdout, Recording(tty=True)
    display = kind(stream=broken, width=60)
    display.start(RUN[0])
    broken.close()
    display.close()  # the stream is gone: nothing to restore, nothing raised
    assert sys.stdout is stdout  # the panel's redirection of prints is undone


@pytest.mark.parametrize("kind", DISPLAYS)
@pytest.mark.parametrize(
    ("argument", "value"),
    [("refresh_per_second", 0), ("refresh_per_second", "fast"), ("width", 5), ("stream", 3)],
)
def test_bad_arguments(kind, argument, value):
    with pytest.raises(NetTrainError, match=argument):
        kind(**{argument: value})


@pytest.mark.parametrize("kind", DISPLAYS)
def test_ascii_only_stream(kind):
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    drive(kind(stream=out, width=70))
    out.flush()
    assert "0.0970" in raw.getvalue().decode("ascii")  # drawn with ASCII only


def test_helpers():
    assert reason_text("stopped_by_user") == "stopped by user"
    assert reason_text("weights_diverged") == "weights diverged"
    assert format_value(math.nan) == "-" and format_value(0.00001234) == "1.234e-05"
    lines = plot_lines([Series("t", [(0, 100.0), (1, 1.0), (2, 0.5)])], width=20, height=4)
    assert lines[0].startswith("100 ┤") and lines[-2].startswith("0.5 ┤")  # log scale
    assert all(len(line) <= 20 for line in lines)


# -- a terminal: rate-limited in-place redraws ------------------------------------------------


def test_panel_follows_a_resized_terminal(monkeypatch):
    """The width is asked at every redraw; after the terminal got narrower the cursor goes up
    over every row the last frame wrapped onto, and no new line is wider than the terminal."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "60")
    out = Recording(tty=True)
    panel = TerminalPanel(stream=out, refresh_per_second=1000)
    panel.start(RUN[0])
    panel.show(RUN[5])
    height = re.split(REDRAW, out.getvalue())[-1].count("\n") + 1  # of the last frame
    monkeypatch.setenv("COLUMNS", "40")
    mark = len(out.getvalue())
    time.sleep(0.002)
    panel.show(RUN[6])
    redraw = re.match(REDRAW, out.getvalue()[mark:])
    assert redraw and redraw.group(0).count("\x1b[1A") == 2 * height - 1  # 80 -> 40: 2 rows each
    panel.finish(FINAL, "training_complete")
    panel.close()
    plain = ESCAPE.sub("", out.getvalue()[mark:])
    assert max(len(line) for line in re.split(r"[\r\n]", plain)) <= 40


def run_in_pty(args: list[str], cols: int, interrupt_after: float | None = None):
    """Run ``python args`` with a pseudo-terminal ``cols`` wide as its terminal; SIGINT it
    ``interrupt_after`` s after its first output. Returns (output, exit code, seconds)."""
    import fcntl
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, cols, 0, 0))
    dropped = ("CI", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(TERM="xterm-256color", PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks, first, deadline = [], None, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.02)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child is gone and the pty closed
                    data = b""
                if not data:
                    break
                chunks.append(data)
                first = first or time.monotonic()
            if interrupt_after is not None and first and time.monotonic() > first + interrupt_after:
                proc.send_signal(signal.SIGINT)
                interrupt_after = None
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
        os.close(master)
    return b"".join(chunks).decode(), code, time.monotonic() - (first or time.monotonic())


# Loads the displays without nettrain/__init__ (which imports torch, seconds): they need none
# of it. Draws on standard output with the defaults; exit code 3 when interrupted.
SCRIPT = """
import json, sys, time, types
package = types.ModuleType("nettrain")
package.__path__ = [sys.argv[1] + "/nettrain"]
sys.modules["nettrain"] = package
from nettrain.progress.{module} import {kind}
lives = json.loads(sys.argv[2])
display = {kind}()
try:
    display.start(lives[0])
    for live in lives[1:]:
        time.sleep(0.05)
        display.show(live)
    display.finish(lives[-1], "training_complete")
except KeyboardInterrupt:
    sys.exit(3)
finally:
    display.close()
"""


def run_display(kind: type, cols: int, interrupt_after: float | None = None):
    module = "panel" if kind is TerminalPanel else "bar"
    script = SCRIPT.format(module=module, kind=kind.__name__)
    args = ["-c", script, str(SRC), json.dumps([*RUN, FINAL])]
    return run_in_pty(args, cols, interrupt_after)


def screen(output: str, cols: int) -> tuple[list[str], tuple[int, int], bool]:
    """What a terminal ``cols`` wide shows after ``output``: (its lines, the cursor's row and
    column, whether the cursor is visible). Knows what the displays write: text, CR, LF,
    cursor up, erase in line and below, cursor show/hide; colours are ignored."""
    rows: list[list[str]] = [[]]
    row = col = 0
    visible = True
    for match in re.finditer(r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b.|[\s\S]", output):
        text, args, code = match.group(0), match.group(1) or "", match.group(2)
        if code == "A":
            row, col = max(row - int(args or 1), 0), min(col, cols - 1)
        elif code == "K":
            rows[row][col if args in ("", "0") else 0 :] = []
        elif code == "J":
            rows[row][col:], rows[row + 1 :] = [], []
        elif code in ("h", "l") and args == "?25":
            visible = code == "h"
        elif text == "\r":
            col = 0
        elif text == "\n":
            row += 1
        elif not text.startswith("\x1b"):  # a character (other sequences: colours)
            if col == cols:  # writing past the last column wraps
                row, col = row + 1, 0
            rows += [[] for _ in range(row + 1 - len(rows))]
            rows[row] += [" "] * (col - len(rows[row]))
            rows[row][col : col + 1] = [text]
            col += 1
        rows += [[] for _ in range(row + 1 - len(rows))]
    return ["".join(line).rstrip() for line in rows], (row, col), visible


@pty_only
@pytest.mark.parametrize(
    ("kind", "cols"), [(TerminalPanel, 80), (TerminalPanel, 40), (ProgressBar, 40)]
)
def test_terminal_redraws_in_place(kind, cols):
    output, code, seconds = run_display(kind, cols)
    assert code == 0, output
    if kind is TerminalPanel:
        redraws = len(re.findall(REDRAW, output)) + 1
        assert output.rindex("\x1b[?25h") > output.rindex("\x1b[?25l")
    else:
        redraws = len(re.findall(r"\r(?!\n)", output))  # the pty turns \n into \r\n
    assert 1 < redraws <= 4.0 * seconds + 2
    plain = ESCAPE.sub("", output)
    assert max(len(line) for line in re.split(r"[\r\n]", plain)) <= cols
    lines, (row, col), visible = screen(output, cols)
    assert visible and col == 0 and not any(lines[row:])  # the cursor below, on a new line
    shown = "\n".join(lines)
    assert shown.count("round 3/3") == 1  # one panel on screen: redrawn over, not below
    assert f"{FINAL['round_loss']:.4f}" in shown and "complete" in shown
    if kind is TerminalPanel:
        assert f"{FINAL['validation_loss']:.4f}" in shown and "ETA 0:00" in shown
        assert ("loss by batch" in shown) == (cols >= 60)


@pty_only
@pytest.mark.parametrize("kind", DISPLAYS)
def test_interrupted_terminal_is_left_clean(kind):
    output, code, _ = run_display(kind, 80, interrupt_after=0.6)
    assert code == 3, output  # interrupted in the middle of the shows, and exited
    assert ESCAPE.sub("", output).endswith("\n")
    assert "\x1b[?25l" not in output or output.rindex("\x1b[?25h") > output.rindex("\x1b[?25l")
    lines, (row, col), visible = screen(output, 80)
    assert visible and col == 0 and not any(lines[row:])
    assert "round 2/3" in "\n".join(lines) or "round 1/3" in "\n".join(lines)


def _train_takes_panel() -> bool:
    try:
        parse_reporting("panel")
    except NetTrainError:
        return False
    return True


TRAIN_SCRIPT = """
import torch, nettrain
net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
data = (torch.randn(256, 2), torch.randn(256, 1))
reason = nettrain.train(net, data, "reason_training_stopped", batch_size=8, time_goal=1.5,
                        training_progress_reporting="panel")
print("REASON", reason)
"""


@pty_only
@pytest.mark.skipif(
    not _train_takes_panel(),
    reason='nettrain.train does not take training_progress_reporting="panel" yet',
)
def test_train_with_panel_stopped_by_ctrl_c():
    output, code, _ = run_in_pty(["-c", TRAIN_SCRIPT], 80, interrupt_after=0.8)
    assert code == 0, output
    lines, (row, col), visible = screen(output, 80)
    assert lines[row - 1 : row + 1] == ["REASON stopped_by_user", ""]  # after the panel, alone
    assert lines[row - 2].startswith("╰")  # the panel's last line, then the print
    shown = "\n".join(lines)
    assert shown.count("training: stopped") == 1 and "ETA" in shown  # the final panel, once
    assert re.search(REDRAW, output)  # redrawn in place while training
    assert output.rindex("\x1b[?25h") > output.rindex("\x1b[?25l")
    assert visible and col == 0
