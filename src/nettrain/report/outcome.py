"""The report's first sections: how the run ended, and its final measurements.

Example:
    >>> values = {"reason_training_stopped": "max_training_rounds", "total_rounds": 2,
    ...           "round_loss": 0.5, "round_measurements": {"loss": 0.5, "accuracy": 0.75}}
    >>> "the requested number of rounds was done" in outcome_section(values)
    True
    >>> measurement_rows(values)
    [('loss', '0.5000'), ('accuracy', '0.7500')]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..plots.values import Values, get
from ..progress.notebook import format_value, scalar
from ..progress.printer import format_seconds
from ..state import REASONS
from .page import escape, section, table

__all__ = ["measurement_rows", "measurements_section", "outcome_section"]


def _count(value: Any) -> str | None:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else None


def _seconds(value: Any) -> str | None:
    seconds = scalar(value)
    if seconds is None:
        return None
    return f"{seconds:.2f} s" if seconds < 60 else f"{format_seconds(seconds)} ({seconds:.0f} s)"


def _rate(value: Any, unit: str, digits: int) -> str | None:
    rate = scalar(value)
    return None if rate is None else f"{rate:,.{digits}f} {unit}/s"


def outcome_section(values: Values) -> str:
    """Why training stopped, in words, then rounds, batches, time and speed."""
    reason = get(values, "reason_training_stopped")
    why = REASONS.get(str(reason), "")
    lead = (
        f"Training stopped because {escape(why)} (<code>{escape(reason)}</code>)."
        if why
        else f"Training stopped: <code>{escape(reason)}</code>."
    )
    batches = _count(get(values, "total_batches"))
    size = get(values, "batch_size")
    if batches is not None and isinstance(size, int):
        batches += f" of {size:,} examples"
    best = get(values, "best_validation_round")
    rows = [
        ("stopped because", reason),
        ("rounds", _count(get(values, "total_rounds"))),
        ("batches", batches),
        ("batches per round", _count(get(values, "batches_per_round"))),
        ("examples processed", _count(get(values, "examples_processed"))),
        ("training time", _seconds(get(values, "total_training_time"))),
        ("examples per second", _rate(get(values, "mean_examples_per_second"), "examples", 0)),
        ("batches per second", _rate(get(values, "mean_batches_per_second"), "batches", 1)),
        ("final round loss", format_value(scalar(get(values, "round_loss")))),
        ("best validation round", best),
    ]
    body = f'<p class="lead">{lead}</p>\n' + table([r for r in rows if r[1] is not None], key=True)
    return section("outcome", "Outcome", body)


def _cell(value: Any) -> str:
    """A final measurement as text: a number, or what a per-class tensor, a matrix or a set of
    curves is (their figures are in the plots)."""
    number = scalar(value)
    if number is not None or value is None:
        return format_value(number)
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return format_value(float(value.item()))
        if value.dim() == 1:
            shown = ", ".join(format_value(float(v)) for v in value[:10].tolist())
            more = f", ... ({value.numel()} in all)" if value.numel() > 10 else ""
            return f"per class: {shown}{more}"
        return f"a {' × '.join(map(str, value.shape))} matrix (see the plots)"
    if isinstance(value, Mapping):
        return f"{len(value)} curves (see the plots)"
    return str(value)


def measurement_rows(values: Values) -> list[tuple[str, ...]]:
    """``(key, training[, validation])`` for the loss and each final measurement."""
    training = dict(get(values, "round_measurements") or {})
    validation = dict(get(values, "validation_measurements") or {})
    if get(values, "round_loss") is not None:
        training["loss"] = get(values, "round_loss")
    validated = get(values, "validation_loss") is not None or bool(validation)
    if get(values, "validation_loss") is not None:
        validation["loss"] = get(values, "validation_loss")
    keys = ["loss"] + [k for k in {**training, **validation} if k != "loss"]
    rows: list[tuple[str, ...]] = []
    for key in keys:
        cells = [_cell(training.get(key))]
        if validated:
            cells.append(_cell(validation.get(key)))
        rows.append((str(key), *cells))
    return rows


def measurements_section(values: Values) -> str:
    """The final loss and measurements: training (the last round) and validation (the last
    validation) side by side."""
    rows = measurement_rows(values)
    validated = bool(rows) and len(rows[0]) == 3
    head = ["measurement", "training (last round)"]
    if validated:
        head.append("validation (last)")
    examples = [
        f"{get(values, 'training_examples'):,} training examples"
        if isinstance(get(values, "training_examples"), int)
        else None,
        f"{get(values, 'validation_examples'):,} validation examples"
        if isinstance(get(values, "validation_examples"), int)
        else None,
    ]
    note = ", ".join(e for e in examples if e)
    body = table(rows, head=head, key=True, numbers=(1, 2))
    if note:
        body += f"\n<p>On {escape(note)}.</p>"
    return section("measurements", "Final measurements", body)
