"""``TrainResult``: every property of a training session, and the ``prop`` argument's forms.

``train(net, data, prop)`` returns one property (a name), several (a list of names or custom
histories), or the whole :class:`TrainResult` (``"all"``). Unknown names raise an error that
suggests close matches.

Example:
    >>> r = TrainResult({"round_loss": 0.25, "total_rounds": 3, "reason_training_stopped":
    ...                  "max_training_rounds"})
    >>> r["round_loss"], r.total_rounds
    (0.25, 3)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import NetTrainError, describe, did_you_mean

__all__ = [
    "PLANNED_PROPERTIES",
    "PLOT_PROPERTIES",
    "PROPERTIES",
    "TrainResult",
    "check_property_name",
]

# name -> what it is (and its type). The docs' property table is generated from this.
PROPERTIES: dict[str, str] = {
    "trained_net": "the trained nn.Module (the same object that was passed in)",
    "checkpointing_files": "list[str]: the checkpoint files written, in order "
    "(training_progress_checkpointing)",
    "final_net": "the net when training stopped (a copy when it differs from trained_net)",
    "averaged_net": "the net with the moving average of the weights (weights_averaging; "
    "trained_net itself when that holds them), or None without averaging",
    "weights_averaging": "dict or None: the resolved weights_averaging: decay, trained_net",
    "training_net": "a TrainingNet: the net with its loss attached, forward(batch) -> loss",
    "batch_size": "int: examples per batch",
    "batches_per_round": "int or None: batches in one round (None for streams of unknown length)",
    "batch_loss_list": "list[float]: the loss of every batch",
    "batch_permutation": "list[torch.Tensor]: for each round, the order examples were visited in",
    "example_losses": "torch.Tensor [n]: each training example's loss when it was last trained "
    "on, in data order (NaN: not trained on yet); kept only when asked for by name",
    "examples_processed": "int: examples trained on, counting repeats",
    "initial_learning_rate": "float: the learning rate at the first update",
    "final_learning_rate": "float: the learning rate the last update used",
    "input_form": "str: the data form that was recognised (pairs, inputs_targets, ...)",
    "train_input_form": "str: the call as Python source with every automatic choice resolved",
    "loss_function": "dict: the loss chosen for each output port",
    "mean_batches_per_second": "float",
    "mean_examples_per_second": "float",
    "optimization_method": "dict: the method and its resolved sub-options",
    "processes": "int: the processes that trained together (several: docs/distributed.md)",
    "properties": "list[str]: the names of all properties",
    "random_seed": "int: the seed the run used (useful with random_seeding='auto')",
    "reason_training_stopped": "str: one of nettrain.REASONS",
    "round_loss": "float: the mean loss per example of the last round",
    "round_loss_list": "list[float]: the mean loss of every round (a last partial round too)",
    "round_positions": "list[int]: the absolute batch at which each round_loss_list entry ended",
    "target_device": "str: the device trained on ('cpu', 'cuda:0')",
    "cpu_threads": "int: intra-op CPU threads the steps ran on (timed per net: runtime.threads)",
    "total_batches": "int: batches trained",
    "total_rounds": "int: rounds started",
    "total_training_time": "float: seconds spent in the training loop",
    "training_examples": "int or None: examples in one round",
    "weights_learning_rate_multipliers": "dict[str, float]: effective multiplier per parameter",
    "working_precision": "str: 'float32', 'float64', or 'mixed' (bfloat16 autocast)",
    "memory_format": "str: 'channels_last' or 'contiguous', the layout the net trained in",
    "performance_goal": "list[str]: the goals the run favoured ('training_speed', ...)",
    "activation_checkpointing": "int: segments of the net recomputed in backward (0: none)",
    "batch_measurements_lists": "dict[str, list]: each measurement on each batch (ask by name)",
    "best_validation_round": "int or None: the round of the best validation (the trained net's)",
    "measurements": "list[str]: the keys of the measurements taken",
    "round_measurements": "dict: the training measurements of the last round",
    "round_measurements_lists": "dict[str, list]: each training measurement, round by round",
    "stopping_criterion": "dict or None: the resolved training_stopping_criterion",
    "validation_examples": "int or None: examples in the validation set",
    "validation_loss": "float or None: the loss of the last validation",
    "validation_loss_list": "list[float]: the loss of every validation",
    "validation_measurements": "dict or None: the measurements of the last validation",
    "validation_measurements_lists": "dict[str, list]: each validation measurement, in order",
    "validation_positions": "list[int]: the absolute batch at which each validation ran",
    "encoders": "dict[str, str]: the encoder attached to each port (empty for tensor data)",
    "training_update_schedule": "list or None: the parameter groups updated in turn",
    "skipped_training_data": "dict: examples no encoder could read: count, indices, ports",
    "loss_plot": "matplotlib Figure: the batch, round and validation losses against batches "
    "(made when asked for; needs nettrain[plots])",
    "final_plots": "dict[str, Figure]: the loss plot, each scalar measurement against rounds, "
    "the confusion matrix and ROC curves when measured (made when asked for)",
    "learning_rate_finder": "dict or None: the learning-rate range test of "
    'learning_rate="find": learning_rate (the rate trained with), suggestion (the rule), index, '
    "rates, losses, smoothed_losses, stopped, start, end, steps, batch_size (None without it)",
    "learning_rate_finder_plot": "matplotlib Figure: the range test's losses against the "
    'learning rate (log axis), the suggestion marked (runs with learning_rate="find")',
}
# the properties that are figures: asking for one by name checks for matplotlib first
PLOT_PROPERTIES = ("final_plots", "loss_plot", "learning_rate_finder_plot")

PLANNED_PROPERTIES: dict[str, str] = {}
# other names of properties: NetTrain's own, and the results object
ALIASES = {
    "results_object": "all",
    "net_train_input_form": "train_input_form",
    "net_train_results_object": "all",
}


def _snake(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[\s\-]+", "_", spaced).lower()


def check_property_name(name: object) -> str:
    """The property's name in snake_case ("all" for the results object), from a snake_case or
    NetTrain CamelCase name ("RoundLoss", "ResultsObject"); else raise with close matches.

    >>> check_property_name("RoundLoss"), check_property_name("results_object")
    ('round_loss', 'all')
    """
    if not isinstance(name, str):
        raise NetTrainError(
            "prop",
            "a property must be named by a string",
            expected="a property name",
            received=describe(name),
        )
    if (name in PROPERTIES or name == "all") and name not in PLOT_PROPERTIES:
        return name
    key = _snake(name)
    key = ALIASES.get(key, key)
    if key in PLOT_PROPERTIES:
        from .plots import require  # a missing matplotlib is said before training, not after

        require(f"the property {name!r}")
    if key in PROPERTIES or key == "all":
        return key
    if key in PLANNED_PROPERTIES:
        raise NetTrainError(
            "prop",
            f"the property {name!r} is not available in this version of nettrain",
            received=repr(name),
            hint=f"it comes with {PLANNED_PROPERTIES[key]}, planned in a later version",
        )
    raise NetTrainError(
        "prop",
        f"unknown property {name!r}",
        received=repr(name),
        hint=did_you_mean(key, [*PROPERTIES, *ALIASES, "all"]),
    )


class TrainResult:
    """The results of a training session: every property, by key or attribute.

    Values that are costly to compute (``example_losses``, ``final_net`` copies, the figures
    ``loss_plot`` and ``final_plots``) are computed the first time they are asked for.
    ``unavailable`` names the properties this result cannot have, each with why (a custom
    loop's :class:`~nettrain.functional.ProgressMonitor` sees no net): asking for one raises a
    :class:`~nettrain.errors.NetTrainError` that says so, and ``properties`` lists the others.
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        lazy: Mapping[str, Callable[[], Any]] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self._values = dict(values)
        self._lazy = dict(lazy or {})
        self._unavailable = dict(unavailable or {})
        held = {*PROPERTIES, *self._values, *self._lazy, "properties"}
        self._values["properties"] = sorted(held - set(self._unavailable))

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            if name in self._lazy:
                # kept until it succeeds: a refusal (or a missing matplotlib) says so each time
                self._values[name] = self._lazy[name]()
                del self._lazy[name]
            elif name in self._unavailable:
                raise NetTrainError(
                    "prop",
                    f"this result has no {name!r}: {self._unavailable[name]}",
                    received=repr(name),
                )
            else:
                check_property_name(name)
                raise KeyError(name)
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except (KeyError, NetTrainError) as exc:
            raise AttributeError(str(exc)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._lazy

    def keys(self) -> list[str]:
        return sorted({*self._values, *self._lazy})

    def _summary(self) -> list[tuple[str, str]]:
        v = self._values
        # a custom loop's result has no batch size, examples, method, loss or device: the
        # rows of those are left out rather than shown as None
        size = f" of {v['batch_size']} examples" if "batch_size" in v else ""
        speed = (
            f"{v['mean_examples_per_second']:,.0f} examples/s"
            if "mean_examples_per_second" in v
            else f"{v.get('mean_batches_per_second', 0.0):,.1f} batches/s"
        )
        rows = [
            ("stopped because", str(v.get("reason_training_stopped"))),
            ("rounds", str(v.get("total_rounds"))),
            ("batches", f"{v.get('total_batches')}{size}"),
            ("final round loss", f"{v.get('round_loss', math.nan):.6g}"),
            ("time", f"{v.get('total_training_time', 0.0):.2f} s ({speed})"),
        ]
        if "optimization_method" in v:
            rows.append(("method", str(v["optimization_method"].get("method"))))
        if "loss_function" in v:
            losses = v["loss_function"].items()
            rows.append(("loss", ", ".join(f"{k}: {d['loss']}" for k, d in losses)))
        if "target_device" in v:
            rows.append(("device", f"{v['target_device']} ({v.get('cpu_threads')} threads)"))
        return rows

    def __repr__(self) -> str:
        lines = ["TrainResult("] + [f"  {k}: {val}" for k, val in self._summary()] + [")"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The result in a notebook: its summary and the loss chart (never computing a lazy
        property)."""
        from .result_html import result_html

        return result_html(self)

    def report(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Write the run's report to ``path`` (a str or path, ``"run.html"``) and return it as
        a :class:`pathlib.Path`: one self-contained HTML file with the outcome, the final
        measurements, the plots, every option and automatic choice, the data, the net and the
        environment (see :mod:`nettrain.report`). Without matplotlib it has no plots, and says
        how to get them.

        Raises:
            NetTrainError: argument "path" when the file cannot be written.
        """
        from .report import write_report  # the report's modules load only when one is written

        return write_report(self, path, title=title)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result to ``path`` (``"run.safetensors"``) and return it as a
        :class:`pathlib.Path`: one safetensors file, written atomically, with every tensor as a
        tensor of the file, the nets as :meth:`nettrain.Net.save` stores them and the other
        values as JSON; nothing is pickled (see :mod:`nettrain.result_file`). Properties that
        cannot be saved faithfully (``training_net``, functions, values computed on demand from
        the training session) are named in the file with why, and the loaded result's
        ``unavailable`` says so.

        Raises:
            NetTrainError: argument "path" when the file cannot be written.
        """
        from .result_file import save_result

        return save_result(self, path)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, modules: Mapping[str, Any] | None = None
    ) -> TrainResult:
        """Read a result written by :meth:`save`; no code from the file is run.

        Args:
            path: the file.
            modules: ``{"trained_net": module}`` (and ``"final_net"`` when it is another net):
                a fresh instance of a net's class that nettrain cannot rebuild from the file,
                as for ``Net.load(path, module=...)``.

        Raises:
            NetTrainError: argument "path" for a file that is missing, not a result file or
                damaged; "module" or "modules" for a net that needs a module, or one that does
                not fit.
        """
        from .result_file import load_result

        return load_result(path, modules=modules)
