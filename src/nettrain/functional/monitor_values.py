"""The values a ``ProgressMonitor`` records, and the result it builds from them.

Checks of the names and numbers a loop gives the monitor, and the properties of its
:class:`~nettrain.TrainResult` (with why each of ``train``'s others is missing). Used by
:mod:`nettrain.functional.monitor` only.

Example:
    >>> names(["loss", "accuracy"], "metrics"), mean([1.0, 2.0])
    (('loss', 'accuracy'), 1.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean
from ..results import PROPERTIES
from ..scalars import as_real

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "VALIDATION_PREFIX",
    "loss_values",
    "mean",
    "metrics_plot",
    "names",
    "plot_properties",
    "read_number",
    "unavailable_reasons",
    "unknown_name",
    "validation_values",
]

VALIDATION_PREFIX = "validation_"  # metrics named validation_<key> are validation values

# Why a custom loop's result lacks a property of train's. Any property not named here that the
# monitor does not give gets _UNSEEN (so a property train gains later is refused with a reason).
_UNSEEN = (
    "a ProgressMonitor sees only the metrics and info the loop records, not the loop's net, "
    "data, loss, optimizer or device (the loop holds those itself)"
)
_NOT_GIVEN = {
    "examples_processed": "the monitor counts steps, not examples; see total_batches",
    "mean_examples_per_second": "the monitor counts steps, not examples; see "
    "mean_batches_per_second",
    "batch_measurements_lists": "a custom loop's values per step are metrics_lists (and "
    "metrics_positions)",
    "best_validation_round": "the monitor keeps no best net; the loop chooses its own",
    "stopping_criterion": "a custom loop stops itself (or sets monitor.stop)",
}
_NO_LOSS = "no metric is named 'loss': declare ProgressMonitor(metrics=['loss', ...])"
_NO_RATE = (
    "no info is named 'learning_rate': declare ProgressMonitor(info=['learning_rate', ...]) "
    "and give it with update_info(learning_rate=...)"
)
_NO_VALIDATION = (
    "no metric is named 'validation_loss' or 'validation_<name>': declare one and record it"
)


def names(value: object, argument: str) -> tuple[str, ...]:
    """The metric or info names: one string or a list of them, each an identifier, once."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, Sequence):
        raise NetTrainError(
            argument,
            "must name its entries",
            expected="a list of names, e.g. ['loss', 'accuracy'], or one name",
            received=describe(value),
        )
    seen: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise NetTrainError(
                argument,
                "each name must be a Python identifier (it is passed as a keyword)",
                expected="names like 'loss', 'validation_accuracy', 'TrainingLoss'",
                received=describe(name),
            )
        if name in seen:
            raise NetTrainError(argument, f"names {name!r} twice", received=repr(list(names)))
        seen.append(name)
    return tuple(seen)


def unknown_name(argument: str, name: str, declared: Sequence[str], declare: str) -> NetTrainError:
    hint = did_you_mean(name, declared) if declared else ""
    add = f"declare it: ProgressMonitor({declare}=[..., {name!r}])"
    return NetTrainError(
        argument,
        f"{name!r} is not one of the monitor's {declare}",
        expected=f"one of {list(declared)}" if declared else f"a name given in {declare}=[...]",
        received=repr(name),
        hint=f"{hint}; or {add}" if hint.startswith("did") else add,
    )


def read_number(argument: str, value: object, kind: str) -> float | Tensor:
    """A metric or info value: a float now, or a detached copy of a one-element tensor read
    later (reading it now would wait for its device)."""
    if isinstance(value, Tensor):
        if value.numel() != 1 or value.dtype == torch.bool or value.is_complex():
            raise NetTrainError(
                argument,
                f"a {kind} must be one real number",
                expected="a Python or NumPy number, or a tensor of one element",
                received=describe(value),
                hint="reduce it first, e.g. loss.mean()" if value.numel() != 1 else None,
            )
        # the copy: a tensor the loop keeps updating in place must not change what was recorded
        return value.detach().reshape(()).clone()
    number = as_real(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        number = float(value.reshape(()).item())
    if number is None:
        raise NetTrainError(
            argument,
            f"a {kind} must be one real number",
            expected="a Python or NumPy number, or a tensor of one element",
            received=describe(value),
        )
    return number


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def unavailable_reasons(values: Mapping[str, Any]) -> dict[str, str]:
    """Why the result lacks each of ``train``'s properties that is not in ``values``."""
    unavailable = {
        name: _NOT_GIVEN.get(name, _UNSEEN)
        for name in PROPERTIES
        if name not in values and name != "properties"  # TrainResult adds that one
    }
    for name in ("batch_loss_list", "round_loss_list", "round_loss", "loss_plot"):
        if name in unavailable:
            unavailable[name] = _NO_LOSS
    for name in ("initial_learning_rate", "final_learning_rate"):
        if name in unavailable:
            unavailable[name] = _NO_RATE
    for name in unavailable:
        if name.startswith("validation_") and name != "validation_examples":
            unavailable[name] = _NO_VALIDATION
    return unavailable


def loss_values(
    values: Mapping[str, list[float]], rounds: Sequence[Mapping[str, float]]
) -> dict[str, Any]:
    """The loss properties, from the metric "loss" (none when it is not a metric)."""
    if "loss" not in values:
        return {}
    losses = [r["loss"] for r in rounds]
    return {
        "batch_loss_list": list(values["loss"]),
        "round_loss_list": losses,
        "round_loss": losses[-1] if losses else math.nan,
    }


def validation_values(
    values: Mapping[str, list[float]],
    positions: Mapping[str, list[int]],
    validation: Mapping[str, str],
) -> dict[str, Any]:
    """The validation properties, from the metrics named validation_<key>."""
    if not validation:
        return {}
    lists = {key: list(values[m]) for m, key in validation.items()}
    last = {key: v[-1] for key, v in lists.items() if v}
    out: dict[str, Any] = {
        "validation_measurements_lists": lists,
        "validation_measurements": last or None,
        "validation_positions": sorted({p for m in validation for p in positions[m]}),
    }
    if "loss" in lists:
        out["validation_loss_list"] = lists["loss"]
        out["validation_loss"] = last.get("loss")
    return out


def plot_properties(values: Mapping[str, Any], x_label: str) -> dict[str, Callable[[], Any]]:
    """The result's figures, drawn when asked for: ``final_plots``, and ``loss_plot`` when
    a metric is named "loss" (its x axis counts what the monitor's ``x_label`` says)."""
    from ..plots import final_plots, loss_plot

    lazy: dict[str, Callable[[], Any]] = {
        "final_plots": lambda: final_plots(values, x_label=x_label)
    }
    if "batch_loss_list" in values:
        lazy["loss_plot"] = lambda: loss_plot(values, x_label=x_label)
    return lazy


def metrics_plot(
    values: dict[str, list[float]],
    positions: dict[str, list[int]],
    metrics: tuple[str, ...],
    chosen: tuple[str, ...],
    x_label: str,
) -> Figure:
    """``ProgressMonitor.plot``'s figure of the metrics ``chosen`` (default: every metric)
    from the monitor's recorded values (read already).

    Raises:
        NetTrainError: a name that is not one of the metrics (argument "metrics"), or
            matplotlib is not installed.
    """
    from ..plots import monitor_plot, require

    require("ProgressMonitor.plot", argument="metrics")
    for name in chosen:
        if name not in values:
            raise unknown_name("metrics", name, metrics, "metrics")
    return monitor_plot(values, positions, list(chosen) if chosen else list(metrics), x_label)
