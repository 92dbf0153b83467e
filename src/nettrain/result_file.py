"""Saving a :class:`~nettrain.results.TrainResult` to one file, and loading it again.

The file is safetensors, as a net file (:mod:`nettrain.netfile`) is: every tensor of the result
is a tensor of the file, and the JSON metadata (key ``nettrain_result``) holds the rest:

* ``values``: every plain property: numbers (NaN and infinities as ``{"$float": "nan"}``),
  strings, None, booleans, lists, tuples (``{"$tuple": [...]}``), dicts with string keys
  (``{"$dict": {...}}``), dicts with other scalar keys (``{"$items": [[key, value], ...]}``)
  and tensors (``{"$tensor": "values/3"}``, a tensor of the file; one tensor held twice is
  stored once and shared again on load);
* ``nets``: ``trained_net`` and ``final_net``, each as ``Net.save`` describes a net
  (``Net.config()``) with its weights as the tensors ``trained_net/KEY``; a ``final_net`` that
  is the ``trained_net`` is ``{"same_as": "trained_net"}``;
* ``plots``: the figures, drawn again from the loaded values when asked for;
* ``not_saved``: each property that is not in the file, with why (``training_net``, functions,
  properties computed on demand from the training session): the loaded result's
  ``unavailable`` says so when one is asked for.

Nothing is pickled and loading runs no code from the file: it reads JSON and tensors, checks
each net's description with :mod:`nettrain.netfile`'s checks, and rebuilds the nets as
:meth:`nettrain.Net.load` does (a net of another class needs ``modules={"trained_net": net}``).

Example:
    >>> import os, tempfile, torch, torch.nn as nn, nettrain
    >>> x = torch.randn(40, 2); y = x.sum(1, keepdim=True)
    >>> r = nettrain.train(nn.Linear(2, 1), (x, y), "all", max_training_rounds=2,
    ...                    batch_size=8, training_progress_reporting=None)
    >>> path = r.save(os.path.join(tempfile.mkdtemp(), "run.safetensors"))
    >>> loaded = nettrain.TrainResult.load(path)
    >>> loaded.round_loss_list == r.round_loss_list, loaded.final_net is loaded.trained_net
    (True, True)
    >>> torch.equal(loaded.trained_net.weight, r.trained_net.weight)
    True
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from . import netfile
from .errors import NetTrainError, describe
from .net import Net
from .netfile.read import _check_config
from .plain_data import NotPlain, PlainDecoder, PlainEncoder
from .plots import final_plots, learning_rate_finder_plot, loss_plot
from .results import PLOT_PROPERTIES, TrainResult

__all__ = ["FORMAT", "load_result", "save_result"]

FORMAT = "nettrain.result/1"
_KEY = "nettrain_result"
NETS = ("trained_net", "final_net", "averaged_net")
# the nets that can be the trained net itself (stored once, as a reference to it)
_SAME_NETS = ("final_net", "averaged_net")
_TOP_KEYS = {"format", "values", "nets", "plots", "not_saved"}
_KEPT = "not kept in a saved result: "
_NOT_KEPT = {
    "training_net": _KEPT + "the TrainingNet joins the net to its loss functions, which are "
    "code; the trained_net is saved (train it again to get a TrainingNet)",
}
_ON_DEMAND = (
    _KEPT + "it is computed on demand from the training session (its data and their order), "
    "which the file does not hold"
)
_BY_NAME = "not recorded in this run: it is recorded only when asked for by name in train()"
_DAMAGED = (
    "the file is damaged or was not written by TrainResult.save; save the result again "
    "(nettrain never runs code from a file)"
)


# ---- saving -------------------------------------------------------------------------------


def _net_entry(net: Any, name: str, tensors: dict[str, Tensor]) -> dict[str, Any]:
    """The description of one net (as ``Net.save`` writes it); its weights go to ``tensors``."""
    if not isinstance(net, nn.Module):
        raise NotPlain(f"is {describe(net)}, not an nn.Module")
    wrapper = net if isinstance(net, Net) else Net(net)
    try:
        config = wrapper.config()
    except NetTrainError as exc:
        raise NotPlain(exc.problem) from None
    for key, value in wrapper.module.state_dict().items():
        tensors[f"{name}/{key}"] = value.detach().cpu().contiguous().clone()
    return {"kind": "net" if isinstance(net, Net) else "module", "config": config,
            "training": bool(net.training)}  # fmt: skip


def _drawn_x_label(figure: Any) -> str:
    """The x axis of a drawn loss plot (``final_plots``' "loss"), the one drawing option."""
    if isinstance(figure, dict):
        figure = figure.get("loss")
    axes = getattr(figure, "axes", None)
    label = axes[0].get_xlabel() if isinstance(axes, list) and axes else None
    return label if isinstance(label, str) and label else "batches"


def _lazy_entry(name: str, function: Callable[[], Any]) -> dict[str, str] | str:
    """A figure's drawing options (``x_label``), or why a lazy property is not saved."""
    if name in PLOT_PROPERTIES:
        try:
            x_label = inspect.getclosurevars(function).nonlocals.get("x_label", "batches")
        except TypeError:  # not a Python function: the default axis
            x_label = "batches"
        return {"x_label": x_label if isinstance(x_label, str) else "batches"}
    qualname = getattr(function, "__qualname__", "")
    return _BY_NAME if qualname.startswith("_ask_by_name.") else _ON_DEMAND


def save_result(result: TrainResult, path: str | os.PathLike[str]) -> Path:
    """Write ``result`` to ``path`` (one safetensors file, written atomically) and return it.

    Properties the file cannot hold faithfully are left out and named in the file, each with
    why; loading the file says so when one is asked for.

    Raises:
        NetTrainError: argument "path" when the file cannot be written (see
            :func:`nettrain.netfile.write`).
    """
    values, lazy = result._values, result._lazy
    encoder = PlainEncoder()
    tensors: dict[str, Tensor] = {}
    saved: dict[str, Any] = {}
    nets: dict[str, Any] = {}
    not_saved = dict(result._unavailable)
    plots: dict[str, Any] = {}
    for name, value in values.items():
        if name == "properties":  # made again from what the loaded result holds
            continue
        try:
            if name in _NOT_KEPT:
                not_saved[name] = _NOT_KEPT[name]
            elif name in _SAME_NETS and "trained_net" in values and value is values["trained_net"]:
                nets[name] = {"same_as": "trained_net"}
            elif name in NETS and value is not None:  # averaged_net is None without averaging
                nets[name] = _net_entry(value, name, tensors)
            elif name in PLOT_PROPERTIES:  # drawn already: drawn again from the loaded values
                plots[name] = {"x_label": _drawn_x_label(value)}
            else:
                saved[name] = encoder.encode(value)
        except NotPlain as exc:
            not_saved[name] = f"{_KEPT}it {exc}"
    for name, function in lazy.items():
        entry = _lazy_entry(name, function)
        if isinstance(entry, dict):
            plots[name] = entry
        else:
            not_saved[name] = entry
    for same in _SAME_NETS:
        if nets.get(same, {}).get("same_as") and "trained_net" not in nets:
            not_saved[same] = not_saved.get("trained_net", _KEPT + "the trained_net is not")
            del nets[same]
    tensors.update(encoder.tensors)
    document = {"format": FORMAT, "values": saved, "nets": nets, "plots": plots,
                "not_saved": not_saved}  # fmt: skip
    return netfile.write(path, tensors, {_KEY: json.dumps(document, allow_nan=False)})


# ---- loading ------------------------------------------------------------------------------


def _damaged(name: str, field: str, problem: str) -> NetTrainError:
    return NetTrainError(
        "path", f"{name!r} is not a valid result file: {field} {problem}", hint=_DAMAGED
    )


def _refuse_constant(text: str) -> None:
    raise ValueError(f"bare {text}")  # the file writes NaN and infinities tagged


def _read_document(name: str) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    try:
        with safe_open(name, framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise NetTrainError(
            "path",
            "is not a nettrain result file (safetensors)",
            expected="a file written by TrainResult.save",
            received=repr(name),
            hint="nettrain never unpickles files",
        ) from exc
    text = metadata.get(_KEY)
    if not isinstance(text, str):
        net = "nettrain" in metadata
        raise NetTrainError(
            "path",
            "is a net file, not a result file" if net else "is a safetensors file without a result",
            expected="a file written by TrainResult.save",
            received=repr(name),
            hint="load it with nettrain.Net.load(path)" if net else None,
        )
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise _damaged(name, "the description", "is not JSON") from None
    if not isinstance(document, dict) or set(document) != _TOP_KEYS:
        raise _damaged(
            name, "the description", "must be an object of " + ", ".join(sorted(_TOP_KEYS))
        )
    if document["format"] != FORMAT:
        raise NetTrainError(
            "path",
            "unknown nettrain result file format",
            expected=repr(FORMAT),
            received=repr(document["format"])[:60],
            hint="a newer nettrain may read it; or save the result again with this version",
        )
    for key in ("values", "nets", "plots", "not_saved"):
        if not isinstance(document[key], dict):
            raise _damaged(name, key, "must be an object")
    return document


def _load_net(
    entry: Any, name: str, file: str, tensors: Mapping[str, Tensor], module: nn.Module | None
) -> nn.Module:
    """One net of the file, checked and rebuilt as :meth:`nettrain.Net.load` does."""
    if not isinstance(entry, dict) or set(entry) != {"kind", "config", "training"}:
        raise _damaged(file, f"nets.{name}", "must be an object of kind, config, training")
    config, training = entry["config"], entry["training"]
    if entry["kind"] not in ("net", "module") or not isinstance(training, bool):
        raise _damaged(file, f"nets.{name}", "has a kind or training flag of the wrong value")
    if not isinstance(config, dict):
        raise _damaged(file, f"nets.{name}.config", "must be an object")
    _check_config(config, file)
    inputs, outputs, targets = netfile.read_coders(config, file)
    prefix = f"{name}/"
    weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    if isinstance(module, Net):
        module = module.module
    built = netfile.module_for(config["architecture"], module, weights, file)
    if entry["kind"] == "net":
        built = Net(built, inputs, outputs, config.get("example_shapes"), targets)
    return built.train(training)


def _check_modules(modules: Any) -> dict[str, nn.Module]:
    if modules is None:
        return {}
    if not isinstance(modules, Mapping) or not all(
        k in NETS and isinstance(m, nn.Module) for k, m in modules.items()
    ):
        raise NetTrainError(
            "modules",
            "must map the names of nets to fresh modules of their classes",
            expected='{"trained_net": module} (and "final_net" when it is another net)',
            received=describe(modules),
        )
    return dict(modules)


def load_result(
    path: str | os.PathLike[str], *, modules: Mapping[str, nn.Module] | None = None
) -> TrainResult:
    """Read a result written by :func:`save_result` (``TrainResult.save``).

    Args:
        path: the file.
        modules: ``{"trained_net": module}`` (and ``"final_net"`` when it is another net): a
            fresh instance of a net's class, for nets nettrain cannot rebuild from their
            description (as ``Net.load(path, module=...)``).

    Returns:
        the result; the nets are on the CPU, each in the mode (training or evaluation) it was
        saved in. Properties that were not saved are its ``unavailable`` ones, with why.

    Raises:
        NetTrainError: argument "path" for a missing file, one that is not a result file, or a
            damaged one (naming the field); "module" or "modules" for a net that needs a module,
            or a module that does not fit.
    """
    given = _check_modules(modules)
    name = netfile.readable_file(path)
    document = _read_document(name)
    tensors = netfile.read_tensors(name)
    decoder = PlainDecoder(name, tensors, lambda where, problem: _damaged(name, where, problem))
    values: dict[str, Any] = {}
    try:
        for key, data in document["values"].items():
            values[key] = decoder.decode(data, f"values[{key[:40]!r}]")
    except RecursionError:
        raise _damaged(name, "values", "are nested too deeply") from None
    nets = document["nets"]
    for key, entry in nets.items():
        if key not in NETS:
            problem = "is not trained_net, final_net or averaged_net"
            raise _damaged(name, f"nets[{key[:40]!r}]", problem)
        if entry == {"same_as": "trained_net"} and key in _SAME_NETS and "trained_net" in nets:
            continue
        values[key] = _load_net(entry, key, name, tensors, given.get(key))
    for same in _SAME_NETS:
        if same in nets and same not in values:
            values[same] = values["trained_net"]
    not_saved = document["not_saved"]
    if not all(isinstance(v, str) for v in not_saved.values()):
        raise _damaged(name, "not_saved", "must map names to reasons (strings)")
    lazy: dict[str, Callable[[], Any]] = {}
    for key, options in document["plots"].items():
        if key not in PLOT_PROPERTIES or not isinstance(options, dict):
            raise _damaged(name, f"plots[{key[:40]!r}]", "is not a figure of a result")
        x_label = options.get("x_label")
        if set(options) != {"x_label"} or not isinstance(x_label, str):
            raise _damaged(name, f"plots.{key}", "must be an object {x_label: string}")
        if key == "learning_rate_finder_plot":  # its x axis is the rate: no drawing option
            lazy[key] = partial(learning_rate_finder_plot, values)
            continue
        figure = loss_plot if key == "loss_plot" else final_plots
        lazy[key] = partial(figure, values, x_label=x_label)  # drawn when asked for
    clash = (set(values) | set(lazy)) & set(not_saved)
    if clash:
        raise _damaged(name, "not_saved", f"names a saved property ({sorted(clash)[0][:40]!r})")
    return TrainResult(values, lazy, not_saved)
