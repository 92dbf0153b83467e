"""The report of a training run: one self-contained HTML file (``TrainResult.report``).

:func:`write_report` writes, in order: the title and date; the outcome (why training
stopped, rounds, batches, time, speed); the final measurements, training and validation; the
plots (every figure of ``final_plots``, each with its caption, embedded as PNG ``data:`` URIs);
the resolved options and every automatic choice (batch size, rounds, method and its options,
learning rate, loss per port, measurements, device, precision, threads, seed, and the call as
Python source: ``train_input_form``); the data and the net (its form and size, the ports with
their encoders and decoders, the net's class and parameter count); the environment (versions,
platform, CPU, device). The file needs nothing else: the style sheet is inline, there is no
script and no reference to the network, and everything taken from the result is escaped.

Without matplotlib (``pip install "nettrain[plots]"``) the report is written without plots,
with a line saying how to get them. The command line writes one with
``nettrain train DATASET --report run.html``.

Example:
    >>> import os, tempfile, torch, torch.nn as nn, nettrain
    >>> x = torch.randn(40, 2); y = x.sum(1, keepdim=True)
    >>> result = nettrain.train(nn.Linear(2, 1), (x, y), "all", max_training_rounds=2,
    ...                         batch_size=8, training_progress_reporting=None)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_report(result, os.path.join(folder, "run.html"), title="Linear <fit>")
    ...     text = path.read_text(encoding="utf-8")
    >>> "<h1>Linear &lt;fit&gt;</h1>" in text, text.count("data:image/png;base64,")
    (True, 1)
"""

from __future__ import annotations

from .write import DEFAULT_TITLE, report_html, write_report

__all__ = ["DEFAULT_TITLE", "report_html", "write_report"]
