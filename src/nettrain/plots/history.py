"""The "plot" form of a custom history: its values over the run.

Each value collected is read as numbered or named components: a number (or a one-element
tensor) is one component, drawn as one line named after the history; a sequence, array or
tensor gives one component per element (``"0"``, ``"1"``, ...); a dict one per key (and
``"key[i]"`` per element of a key's vector), so a history of each layer's gradient norm draws
one line per layer. Entries of a dict that are not numbers or vectors (a confusion matrix, ROC
curves, text) are left out; None (not measured yet) leaves a gap. Up to 20 components are
lines (with a legend); more (a history of ``example_losses``) are an image, components
against time. The y axis (an image's colours) is logarithmic when the values are all positive
and span more than a factor of :data:`~nettrain.plots.values.LOG_SPAN`.

Example:
    >>> norms = [{"0.weight": 2.0, "2.weight": 0.5}, {"0.weight": 1.0, "2.weight": 0.25}]
    >>> ax = history_plot("gradient norms", norms, positions=[5, 10]).axes[0]
    >>> [(line.get_label(), line.get_ydata().tolist()) for line in ax.get_lines()]
    [('0.weight', [2.0, 1.0]), ('2.weight', [0.5, 0.25])]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import NetTrainError, describe
from .backend import log_y, new_figure
from .values import floats, is_scalar, wants_log

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["components", "history_plot"]

LINES_UP_TO = 20  # components drawn as lines; more are an image


def _vector(value: object) -> list[float] | None:
    """A sequence, array or tensor of numbers as floats (any shape, flattened); else None."""
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            return None
        return value.detach().cpu().reshape(-1).double().tolist()
    if isinstance(value, np.ndarray):
        return value.reshape(-1).astype(np.float64).tolist() if value.dtype.kind in "iuf" else None
    text = isinstance(value, str | bytes)
    if isinstance(value, Sequence) and not text and all(is_scalar(v) for v in value):
        return floats(value).tolist()
    return None


def components(value: object) -> dict[str, float] | None:
    """One collected value as ``{component: number}`` (``""`` for a single number); None when
    it is not numbers (see the module documentation).

    >>> components(0.5), components([1, 2]), components({"a": 1.0, "b": [2, 3], "c": "x"})
    ({'': 0.5}, {'0': 1.0, '1': 2.0}, {'a': 1.0, 'b[0]': 2.0, 'b[1]': 3.0})
    """
    if value is None:
        return {}
    if is_scalar(value):
        return {"": float(floats([value])[0])}
    if isinstance(value, Mapping):
        out: dict[str, float] = {}
        for key, entry in value.items():
            if is_scalar(entry):
                out[str(key)] = float(floats([entry])[0])
            elif isinstance(entry, torch.Tensor | np.ndarray) and entry.ndim != 1:
                continue  # a matrix inside a dict (a confusion matrix): left out
            else:
                vector = _vector(entry)
                if vector is not None:
                    out.update({f"{key}[{i}]": v for i, v in enumerate(vector)})
        return out
    vector = _vector(value)
    return None if vector is None else {str(i): v for i, v in enumerate(vector)}


def _table(name: str, values: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    """The component names and a [components, collections] array (NaN: missing)."""
    rows: list[dict[str, float]] = []
    for index, value in enumerate(values):
        parts = components(value)
        if parts is None:
            raise NetTrainError(
                "prop",
                f'the "plot" form of the history of {name} needs numbers, vectors or dicts of them',
                index=index,
                received=describe(value),
                hint='collect it with "form": "list" and plot what you need from the list',
            )
        rows.append(parts)
    names: dict[str, None] = {}
    for parts in rows:
        names.update(dict.fromkeys(parts))
    table = np.full((len(names), len(rows)), math.nan)
    for j, parts in enumerate(rows):
        for i, key in enumerate(names):
            table[i, j] = parts.get(key, math.nan)
    return list(names), table


def history_plot(
    name: str,
    values: Sequence[Any],
    *,
    positions: Sequence[float] | None = None,
    x_label: str | None = None,
) -> Figure:
    """The values of a custom history over the run (see the module documentation).

    Args:
        name: what was collected (the title; the line's name for a single number).
        values: the values, one per collection.
        positions: where each was collected (absolute batches); default 1, 2, ...
        x_label: the x axis' label; default "batches" with positions, else "collection".

    Raises:
        NetTrainError: a value that is not numbers (argument "prop"), or matplotlib is not
            installed.
    """
    labels, table = _table(name, values)
    count = table.shape[1]
    given = positions is not None and len(positions) == count
    at = floats(positions) if given and positions is not None else np.arange(1.0, count + 1)
    figure = new_figure(7.0, 4.5)
    ax = figure.add_subplot()
    if len(labels) > LINES_UP_TO:
        step = float(at[1] - at[0]) if count > 1 else 1.0
        extent = (at[0] - step / 2, at[-1] + step / 2, len(labels) - 0.5, -0.5)
        from matplotlib.colors import LogNorm

        norm = LogNorm() if wants_log(table.reshape(-1)) else None
        image = ax.imshow(table, aspect="auto", interpolation="nearest", extent=extent, norm=norm)
        figure.colorbar(image, ax=ax, label=name)
        ax.set_ylabel("component")
    else:
        for label, row in zip(labels, table, strict=True):
            marker = "o" if count <= 60 else None
            ax.plot(at, row, lw=1.5, marker=marker, ms=3, label=label or name)
        if wants_log(table.reshape(-1)):
            log_y(ax)
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        if len(labels) > 1:
            ax.legend(fontsize="small" if len(labels) <= 10 else "x-small")
    ax.set_xlabel(x_label or ("batches" if given else "collection"))
    ax.set_title(f"history of {name}" + ("" if count else ": nothing collected"))
    return figure
