"""Keras' progress bar: ``Progbar`` and the live ``ProgbarLogger`` of ``fit(verbose=1)``.

Reference: Keras 3's keras/src/utils/progbar.py and callbacks/progbar_logger.py (the line
``12/100 ━━━━ 3s 30ms/step - loss: 0.1234``; values weighted by the steps each update covers,
the final update's values shown as given; ETA ``7s`` / ``m:ss`` / ``h:mm:ss``). nettrain's
rule on top: on a terminal the bar is redrawn in place within the terminal's width; anywhere
else (a pipe, a file, ``CI`` set) no carriage return and no escape, one final line per bar.
The terminal cases run on real pseudo-terminals; the expected lines are written by hand.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from contextlib import contextmanager

import pytest

from nettrain import NetTrainError
from nettrain.keras.callbacks import PROGRESS_INTERVAL, Callback, CallbackBridge
from nettrain.keras.file_callbacks import ProgbarLogger as ReExported
from nettrain.keras.progbar import Progbar, ProgbarLogger, epoch_line

BAR = "━" * 20
DIM, RESET = "\x1b[2m", "\x1b[0m"
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _ticks(*times):
    values = iter(times)
    return lambda: next(values)  # one more read than listed: StopIteration


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch):
    for name in ("CI", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm")


@contextmanager
def _terminal(columns: int, rows: int = 24):
    """A real pseudo-terminal of ``columns`` x ``rows``: (its slave end as a text stream, a
    function reading what was written so far). ``\\n`` is not turned into ``\\r\\n``."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    attributes = termios.tcgetattr(slave)
    attributes[1] &= ~termios.ONLCR
    termios.tcsetattr(slave, termios.TCSANOW, attributes)
    os.set_blocking(master, False)
    stream = os.fdopen(slave, "w", encoding="utf-8")

    def read() -> str:
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                return out.decode("utf-8")
            if not chunk:
                return out.decode("utf-8")
            out += chunk

    try:
        yield stream, read
    finally:
        stream.close()
        os.close(master)


# ---- not a terminal -------------------------------------------------------------------------


def test_off_a_terminal_each_bar_writes_its_final_line_only():
    out = io.StringIO()
    # the clock is read when a bar is made and at its final update only: never per update
    bar = Progbar(10, stream=out, clock=_ticks(0.0, 2.0))
    bar.update(2, [("loss", 1.0)])
    bar.update(5, [("loss", 4.0)])  # weight 3: (2 * 1.0 + 3 * 4.0) / 5 = 2.8
    for step in range(6, 10):
        bar.update(step)
    bar.update(10)
    given = Progbar(100, stream=out, clock=_ticks(5.0, 6.2))
    given.add(40, [("loss", 9.0)])
    given.add(60, [("loss", 0.0005), ("val_loss", 12.5)])  # the final values: as given
    unknown = Progbar(None, stream=out, clock=_ticks(0.0, 1.14))
    unknown.add(57, [("loss", -0.5)])
    unknown.update(57, finalize=True)
    two = Progbar(10, verbose=2, stream=out, clock=_ticks(0.0, 0.3))
    two.update(4, [("loss", -1.0)])
    two.update(10, [("loss", -0.5)])
    Progbar(10, verbose=0, stream=out, clock=_ticks(0.0, 1.0)).update(10, [("loss", 1.0)])
    assert out.getvalue() == (
        f"10/10 {BAR} 2s 200ms/step - loss: 2.8000\n"
        f"100/100 {BAR} 1s 12ms/step - loss: 5.0000e-04 - val_loss: 12.5000\n"
        "     57/Unknown 1s 20ms/step - loss: -0.5000\n"
        "10/10 - 0s - 30ms/step - loss: -5.0000e-01\n"  # verbose 2 compares the value itself
    )


def test_the_final_line_is_epoch_line_and_ci_means_no_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("CI", "1")
    out = Tty()
    bar = Progbar(32, stream=out, clock=_ticks(0.0, 0.4))
    for step in range(1, 32):
        bar.update(step, [("loss", 0.25)])
    bar.update(32, [("loss", 0.25), ("val_loss", 1e-4)])
    expected = epoch_line(32, 0.4, {"loss": 0.25, "val_loss": 1e-4}, verbose=1)
    assert out.getvalue() == expected + "\n"
    assert expected == f"32/32 {BAR} 0s 12ms/step - loss: 0.2500 - val_loss: 1.0000e-04"


# ---- a terminal -----------------------------------------------------------------------------


def test_on_a_terminal_the_bar_is_redrawn_in_place_with_keras_averages():
    with _terminal(200) as (stream, read):
        bar = Progbar(8, stream=stream, clock=_ticks(0.0, 1000.0, 1000.01, 1200.0, 1600.0))
        bar.update(1, [("loss", 2.0)])  # drawn: per step 1000 s, 7 steps left
        bar.update(2, [("loss", 1.0)])  # within `interval` of the last draw: counted, not drawn
        bar.update(4, [("loss", 0.5)])  # weight 2: (2.0 + 1.0 + 2 * 0.5) / 4 = 1.0
        bar.update(8)
        written = read()
    assert written == (
        f"\r1/8 ━━{DIM}{'━' * 18}{RESET} 1:56:40 1000s/step - loss: 2.0000"
        f"\r4/8 ━━━━━━━━━━{DIM}{'━' * 10}{RESET} 20:00 300s/step - loss: 1.0000   "
        f"\r8/8 {BAR} 1600s 200s/step - loss: 1.0000\n"
    )  # the second line is padded over the longer first one (58 > 55 columns)


def test_on_a_narrow_terminal_no_redraw_is_wider_than_it(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # shutil's size: the stream's own terminal wins
    values = [("loss", 0.5), ("mae", 0.25), ("val_loss", 0.125)]
    with _terminal(60) as (stream, read):
        bar = Progbar(10, stream=stream, clock=_ticks(0.0, 0.1, 0.16, 1.0))
        bar.update(1, values)  # 55 columns: the values after loss would pass 59
        bar.update(2, values)
        bar.update(10, values)
        wide = read()
    draws = wide.split("\r")[1:]
    assert draws[0] == f" 1/10 ━━{DIM}{'━' * 18}{RESET} 0s 100ms/step - loss: 0.5000"
    assert draws[1] == f" 2/10 ━━━━{DIM}{'━' * 16}{RESET} 0s 80ms/step - loss: 0.5000 "
    # the final line is never redrawn, so it is written whole, every value kept
    assert draws[2] == (
        f"10/10 {BAR} 1s 100ms/step - loss: 0.5000 - mae: 0.2500 - val_loss: 0.1250\n"
    )
    with _terminal(20) as (stream, read):
        bar = Progbar(10, stream=stream, clock=_ticks(0.0, 0.1, 0.2, 1.0))
        for step in (1, 5):
            bar.update(step, values)
        tiny = read()
    assert tiny == f"\r 1/10 ━━{DIM}{'━' * 11}{RESET}\r 5/10 ━━━━━━━━━━{DIM}━━━{RESET}"
    assert [len(ESCAPE.sub("", draw)) for draw in draws[:2]] == [55, 55]  # <= 60 - 1
    assert [len(ESCAPE.sub("", draw)) for draw in tiny.split("\r")[1:]] == [19, 19]


def test_progbar_logger_live_on_a_terminal_ends_with_the_epoch_line():
    logs = {"loss": 0.75, "mae": 0.5, "val_loss": 0.625, "val_mae": 0.375}
    with _terminal(120) as (stream, read):
        logger = ProgbarLogger(clock=_ticks(0.0, 0.5, 1.0, 2.4), stream=stream)
        logger.set_params({"epochs": 3, "steps": 20, "verbose": "auto"})
        assert logger.verbose == 1  # "auto" on a terminal
        logger.on_epoch_begin(1)
        logger.nettrain_progress(5, {"loss": 1.5})  # running means: shown as given
        logger.nettrain_progress(10, {"loss": 1.0})
        logger.on_epoch_end(1, logs)
        written = read()
    assert written == (
        "Epoch 2/3\n"
        f"\r 5/20 ━━━━━{DIM}{'━' * 15}{RESET} 1s 100ms/step - loss: 1.5000"
        f"\r10/20 ━━━━━━━━━━{DIM}{'━' * 10}{RESET} 1s 100ms/step - loss: 1.0000"
        f"\r{epoch_line(20, 2.4, logs, 1)}\n"
    )
    assert epoch_line(20, 2.4, logs, 1) == (
        f"20/20 {BAR} 2s 120ms/step - loss: 0.7500 - mae: 0.5000 - val_loss: 0.6250 - "
        "val_mae: 0.3750"
    )


def test_auto_is_1_on_a_terminal_only(monkeypatch):
    logger = ProgbarLogger(stream=io.StringIO())
    logger.set_params({"epochs": 1, "steps": 1, "verbose": "auto"})
    assert logger.verbose == 2
    with _terminal(80) as (stream, _):
        logger = ProgbarLogger(stream=stream)
        logger.set_params({"epochs": 1, "steps": 1, "verbose": "auto"})
        assert logger.verbose == 1
        monkeypatch.setenv("CI", "true")
        assert logger.verbose == 2
    assert ReExported is ProgbarLogger


# ---- the bridge's timed updates ---------------------------------------------------------------


def test_the_bridge_gives_timed_updates_to_callbacks_that_ask():
    seen = []

    class Live(Callback):
        def nettrain_progress(self, batch, logs=None):
            seen.append((batch, logs))

    bridge = CallbackBridge([Live()], model=None, metric_keys={"mae": "mae"}, epochs=(0, 2))
    specs = bridge.specs()
    assert specs[1][1] == {"interval": PROGRESS_INTERVAL} == {"interval": "0.1 s"}
    progress = specs[1][0]
    live = {"round": 2, "batch": 7, "round_loss": 0.5, "round_measurements": {"mae": 9.0}}
    for event in ("training_started", "batch_complete", "report"):
        progress({**live, "event": event})
    progress({**live, "batch": 0, "event": "report"})
    assert seen == [(7, {"loss": 0.5})]  # mae is the last round's until this one ends
    assert len(CallbackBridge([Callback()], model=None, metric_keys={}, epochs=(0, 1)).specs()) == 1


def test_bad_progbar_arguments_are_refused():
    for make, argument in [
        (lambda: Progbar(-1), "Progbar: target"),
        (lambda: Progbar(10, width=0), "Progbar: width"),
        (lambda: Progbar(10, verbose=3), "Progbar: verbose"),
        (lambda: Progbar(10, interval="1 s"), "Progbar: interval"),
        (lambda: Progbar(10, stream="out"), "Progbar: stream"),
        (lambda: ProgbarLogger(stream=3), "ProgbarLogger: stream"),
        (lambda: Progbar(10, stream=io.StringIO()).update(1, [("loss", "x")]), "Progbar: values"),
    ]:
        with pytest.raises(NetTrainError) as error:
            make()
        assert error.value.argument == argument


# ---- a real fit, in a process whose stdout is a terminal ------------------------------------

# One process (importing torch and building its first optimizer take seconds): the same fit
# three times, with sys.stdout the process's terminal, then a pipe, then the terminal
# again with CI=1. ProgbarLogger looks sys.stdout up at each line, as print does.
SCRIPT = """
import os, sys, time, torch
from torch import nn
import nettrain
from nettrain.keras import Model


class Sleep(nn.Module):
    def forward(self, x):
        time.sleep(0.003)  # about 0.6 s an epoch
        return x

def fit():
    torch.manual_seed(0)
    x = torch.randn(2000, 3)
    y = x.sum(1, keepdim=True)
    model = Model(nn.Sequential(nn.Linear(3, 1), Sleep()))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(x, y, batch_size=10, epochs=2, verbose=1, validation_split=0.1)

fit()
terminal, sys.stdout = sys.stdout, os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
fit()
sys.stdout.close()
sys.stdout = terminal
print("CI=1", flush=True)
os.environ["CI"] = "1"
fit()
"""
FINAL = re.compile(
    r"180/180 ━{20} \d+s \d+(?:s|ms|us)/step - loss: \S+ - mae: \S+ - val_loss: \S+ - "
    r"val_mae: \S+"
)


def _run_on_a_terminal(path, columns: int) -> tuple[str, str]:
    """Run ``path`` with its stdout a pty of ``columns`` and a pipe's fd as its argument:
    what each got."""
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    environment["TERM"] = "xterm"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    attributes = termios.tcgetattr(slave)
    attributes[1] &= ~termios.ONLCR  # "\n" stays "\n"
    termios.tcsetattr(slave, termios.TCSANOW, attributes)
    pipe_read, pipe_write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, str(path), str(pipe_write)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=environment,
        pass_fds=(pipe_write,),
    )
    os.close(slave)
    os.close(pipe_write)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child's end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    with os.fdopen(pipe_read, "rb") as piped:
        pipe = piped.read().decode("utf-8")
    _, error = process.communicate(timeout=60)
    assert process.returncode == 0, error.decode()
    return b"".join(chunks).decode("utf-8"), pipe


def test_fit_verbose_1_is_live_on_a_terminal_and_one_line_per_epoch_elsewhere(tmp_path):
    path = tmp_path / "fit.py"
    path.write_text(SCRIPT)
    terminal, pipe = _run_on_a_terminal(path, columns=100)
    live, ci = terminal.split("CI=1\n")

    assert live.startswith("Epoch 1/2\n")
    first, second = live.removeprefix("Epoch 1/2\n").split("Epoch 2/2\n")
    for epoch in (first, second):
        assert epoch.endswith("\n") and epoch.count("\n") == 1  # one line, redrawn
        draws = epoch[:-1].split("\r")
        assert draws[0] == "" and len(draws) >= 4  # at least two redraws, then the final
        assert FINAL.fullmatch(draws[-1].rstrip(" ")), draws[-1]
        for draw in draws[1:-1]:
            plain = ESCAPE.sub("", draw)
            assert len(plain) <= 99  # the pty is 100 columns wide
            assert re.fullmatch(r" *\d+/180 ━{20} \d+s \d+(?:s|ms|us)/step - loss: \S+ *", plain)
    assert DIM in live

    for text in (pipe, ci):
        assert "\r" not in text and "\x1b" not in text
        lines = text.split("\n")
        assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and lines[4] == ""
        assert len(lines) == 5 and FINAL.fullmatch(lines[1]) and FINAL.fullmatch(lines[3])
