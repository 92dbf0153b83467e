"""A :class:`~nettrain.TrainResult` as HTML (its ``_repr_html_``): a summary and the loss chart.

Only the values a result already holds are read: a lazy property (``batch_permutation``
replays every round's data order; ``example_losses`` not asked for raises) is never computed
for a picture, and a property a result lacks (a custom loop's has no batch size, method or
device) leaves its row out.

Example:
    >>> from nettrain.results import TrainResult
    >>> r = TrainResult({"reason_training_stopped": "max_training_rounds", "total_rounds": 2,
    ...     "round_loss": 0.25, "round_loss_list": [0.5, 0.25], "round_positions": [4, 8]})
    >>> text = result_html(r)
    >>> "<td>max_training_rounds</td>" in text and "0.2500" in text and "<polyline" in text
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .progress.notebook import format_value, scalar
from .progress.printer import format_seconds
from .progress.svg_chart import line_chart
from .state import REASONS

__all__ = ["result_html"]

_BOX = "font-family:sans-serif;font-size:12px;display:flex;flex-wrap:wrap;gap:16px"


def _stored(result: Any) -> Mapping[str, Any]:
    """The values ``result`` holds, without computing its lazy ones (``result[name]`` would)."""
    values = getattr(result, "_values", None)
    if isinstance(values, Mapping):
        return values
    return result if isinstance(result, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _speed(v: Mapping[str, Any]) -> str:
    examples = scalar(v.get("mean_examples_per_second"))
    if examples is not None:
        return f"{examples:,.0f} examples/s"
    batches = scalar(v.get("mean_batches_per_second"))
    return "" if batches is None else f"{batches:,.1f} batches/s"


def _time(v: Mapping[str, Any]) -> str | None:
    seconds = scalar(v.get("total_training_time"))
    if seconds is None:
        return None
    text = f"{seconds:.2f} s" if seconds < 60 else format_seconds(seconds)
    speed = _speed(v)
    return f"{text} ({speed})" if speed else text


def _method(v: Mapping[str, Any]) -> str | None:
    method = v.get("optimization_method")
    if not isinstance(method, Mapping):
        return None
    first, last = scalar(v.get("initial_learning_rate")), scalar(v.get("final_learning_rate"))
    rate = ""
    if first is not None:
        rate = f", learning rate {first:.3g}"
        if last is not None and not math.isclose(first, last):
            rate += f" → {last:.3g}"
    return f"{method.get('method')}{rate}"


def _loss(v: Mapping[str, Any]) -> str | None:
    losses = v.get("loss_function")
    if not isinstance(losses, Mapping):
        return None
    return ", ".join(
        f"{port}: {d.get('loss') if isinstance(d, Mapping) else d}" for port, d in losses.items()
    )


def _rows(v: Mapping[str, Any]) -> list[tuple[str, Any]]:
    batches = v.get("total_batches")
    if batches is not None and v.get("batch_size") is not None:
        batches = f"{batches} of {v['batch_size']} examples"
    device = v.get("target_device")
    if device is not None and v.get("cpu_threads") is not None:
        threads = v["cpu_threads"]
        device = f"{device} ({threads} thread{'' if threads == 1 else 's'})"
    return [
        ("stopped because", v.get("reason_training_stopped")),
        ("rounds", v.get("total_rounds")),
        ("batches", batches),
        ("time", _time(v)),
        ("loss", _loss(v)),
        ("method", _method(v)),
        ("batch size", v.get("batch_size")),
        ("device", device),
        ("precision", v.get("working_precision")),
        ("best validation round", v.get("best_validation_round")),
    ]


def _measurements(v: Mapping[str, Any]) -> str:
    """The final training and validation loss and scalar measurements, side by side."""
    training = dict(v.get("round_measurements") or {})
    validation = dict(v.get("validation_measurements") or {})
    training["loss"] = v.get("round_loss", training.get("loss"))
    has_val = v.get("validation_loss") is not None or bool(validation)
    if has_val:
        validation["loss"] = v.get("validation_loss", validation.get("loss"))
    keys = ["loss"] + [k for k in {**training, **validation} if k != "loss"]
    sides = [training, validation] if has_val else [training]
    head = "<th></th><th>training</th>" + ("<th>validation</th>" if has_val else "")
    rows = [f"<tr>{head}</tr>"]
    for key in keys:
        values = [scalar(side.get(key)) for side in sides]
        if all(value is None for value in values):
            continue  # per-class values, curves: no cell holds them
        cells = "".join(f'<td style="text-align:right">{format_value(x)}</td>' for x in values)
        rows.append(f'<tr><th style="text-align:left">{html.escape(str(key))}</th>{cells}</tr>')
    return f"<table><caption>final values</caption>{''.join(rows)}</table>"


def _chart(v: Mapping[str, Any]) -> str:
    losses, positions = _list(v.get("round_loss_list")), _list(v.get("round_positions"))
    if len(losses) < 2:  # one round: its batches show the curve
        losses = _list(v.get("batch_loss_list"))
        positions = list(range(1, len(losses) + 1))
    series = {"training": (positions, losses)}
    val_losses = _list(v.get("validation_loss_list"))
    if val_losses:
        series["validation"] = (_list(v.get("validation_positions")), val_losses)
    return line_chart(series, title="loss")


def result_html(result: Any) -> str:
    """A summary of ``result`` (a :class:`~nettrain.TrainResult`) as HTML: why training
    stopped, rounds, batches, time and speed, the loss and method, the final losses and
    measurements, and the loss chart (inline SVG)."""
    v = _stored(result)
    reason = v.get("reason_training_stopped")
    why = REASONS.get(str(reason), "")
    rows = "".join(
        f'<tr><th style="text-align:left">{html.escape(name)}</th><td>{html.escape(str(x))}</td>'
        "</tr>"
        for name, x in _rows(v)
        if x is not None
    )
    heading = f"<div><b>TrainResult</b>{': ' + html.escape(why) if why else ''}</div>"
    return (
        f'<div class="nettrain-result" style="font-family:sans-serif;font-size:12px">{heading}'
        f'<div style="{_BOX}"><div><table>{rows}</table>{_measurements(v)}</div>'
        f"<div>{_chart(v)}</div></div></div>"
    )
