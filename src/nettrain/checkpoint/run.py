"""What a run's checkpoint captures, and how a run resumes from one.

A checkpoint holds the whole state of the run at a round's end or between two batches (the
weights, the optimizer and its schedule's position, every random stream, the position in the
round and the round's measurements so far, every history, the best net and its weights, the
stopping criterion's counters, the weights of the last sane round, the custom histories and
per-example losses asked for, the weights' moving average, and a gradient-accumulation group's
summed gradients so far) and a fingerprint of the options and data it belongs to. It is
written with :func:`nettrain.checkpoint.write_checkpoint` (crash-safe, verified), so a run
killed at any moment resumes from its last checkpoint: ``train(..., resume=path)`` loads the
latest good one, checks the fingerprint, puts the state back and goes on. Since a round's data
order is a pure function of (seed, round), the resumed run trains exactly the batches the
uninterrupted run trains from there, and on the CPU with a fixed thread count ends with the
same bits.

Example:
    >>> import os, tempfile, torch, torch.nn as nn
    >>> import nettrain
    >>> x = torch.randn(32, 3); y = x.sum(1, keepdim=True)
    >>> folder = tempfile.mkdtemp()
    >>> opts = dict(batch_size=8, method="sgd", training_progress_reporting=None)
    >>> net = nn.Linear(3, 1)
    >>> files = nettrain.train(net, (x, y), "checkpointing_files", max_training_rounds=2, **opts,
    ...     training_progress_checkpointing={"directory": folder})
    >>> len(files), len(os.listdir(folder))
    (2, 2)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import NetTrainError
from ..plain_data import NotPlain, PlainDecoder, PlainEncoder
from ..runtime.random_state import random_states, restore_random_states
from .spec import ARGUMENT

__all__ = ["RunParts", "capture", "fingerprint", "restore_run"]

# the net's own weights keep their names (so the file loads as a Net); every other tensor's
# name starts with a dot, which no state_dict key does
_VALUES = ".values/"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable_repr(value: object) -> str:
    """``repr(value)`` without memory addresses: a function or an object with the default repr
    (a custom loss, a schedule function) is the same option in the process that resumes.

    >>> _stable_repr(("sgd", {"learning_rate_schedule": _stable_repr}))
    "('sgd', {'learning_rate_schedule': <function _stable_repr>})"
    """
    return _ADDRESS.sub("", repr(value))


def fingerprint(options: Mapping[str, object], columns: Mapping[str, Tensor] | None) -> dict:
    """What a checkpoint belongs to: the options that shape training (as text) and, for data
    held in memory, each column's shape, dtype and a hash of its bytes."""
    left_out = {"time_goal", "training_progress_reporting", ARGUMENT, "resume",
                "training_progress_function"}  # fmt: skip
    shown = {k: _stable_repr(v) for k, v in sorted(options.items()) if k not in left_out}
    data: dict[str, Any] = {}
    for name, column in sorted((columns or {}).items()):
        flat = column.detach().cpu().contiguous()
        digest = hashlib.sha256(flat.view(torch.uint8).numpy().tobytes()).hexdigest()
        data[name] = [list(flat.shape), str(flat.dtype), digest]
    return {"options": shown, "data": data}


def _cut(text: str, limit: int = 80) -> str:
    """An option's text as a message shows it (a tensor's repr runs to pages)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    found = []
    for part in ("options", "data"):
        a, b = saved.get(part, {}), now.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                what = "the data's column" if part == "data" else "the option"
                before, after = (_cut(str(side.get(key, "absent"))) for side in (a, b))
                found.append(f"{what} {key!r}: {before} then, {after} now")
    return found


@dataclass
class RunParts:
    """What a checkpoint captures of a run: its state, monitor, last sane weights, custom
    histories and per-example losses (the last two as the call asked for them), the weights'
    moving average (:class:`~nettrain.averaging.WeightAverage`) and the gradients of a group of
    batches (:class:`~nettrain.optim.accumulation.GradientAccumulation`), when the run has
    them."""

    state: Any
    monitor: Any
    snapshot: Any
    histories: Sequence[Any] = ()
    tracker: Any = None
    averaging: Any = None
    accumulation: Any = None
    scaler: Any = None  # float16 "mixed" precision's loss scale (nettrain.optim.loss_scale)


def _history(history: Any) -> dict[str, Any]:
    return {
        "what": _what(history),
        "values": history.values,
        "positions": history.positions,
        "next": [history._next_time, history._next_fraction],
    }


def _what(history: Any) -> str:
    """Which history this is, to match it with the resumed call's."""
    prop = history.prop
    name = prop if isinstance(prop, str) else getattr(prop, "__qualname__", type(prop).__name__)
    return f"{name}|{history.form}|{history.amount} {history.unit}"


def capture(
    run: RunParts, warn: Callable[[int, str], None] | None = None
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The run's state as tensors and JSON-able data: the net's weights under their own names,
    everything else under dotted ones. ``warn(i, problem)``: custom history ``i`` holds values
    a file cannot (it is left out)."""
    monitor = run.monitor
    state = run.state.state_dict()
    net = state.pop("net")
    ports = monitor._ports
    tracker = run.tracker
    value = {
        "state": state,
        "rng": random_states(),
        "stopping": monitor.stopping.state_dict() if monitor.stopping is not None else None,
        "best": monitor.best.best if monitor.best is not None else None,
        "next_validation": monitor._next_time,
        "round_stats": monitor.round_stats.state_dict(),
        "ports": None if ports is None else {"sums": dict(ports.sums), "count": ports.count},
        "batch_values": monitor.batch_values if monitor.batch_stats is not None else None,
        "example_losses": None
        if tracker is None
        else {"values": tracker.values, "round": tracker._round},
        "snapshot": {"tensors": run.snapshot.tensors, "round": run.snapshot.round},
        "averaging": run.averaging.state_dict() if run.averaging is not None else None,
        # within a group the summed gradients are the state: saved, a resumed run adds the
        # group's next batch to the same bits
        "accumulation": run.accumulation.state_dict() if run.accumulation is not None else None,
        "scaler": run.scaler.state_dict() if run.scaler is not None else None,
    }
    encoder = PlainEncoder(_VALUES)
    data = encoder.encode(value)
    histories: list[Any] = []
    data["histories"] = histories
    for i, history in enumerate(run.histories):
        try:
            PlainEncoder(_VALUES).encode(_history(history))  # first on its own: all or nothing
        except NotPlain as problem:
            if warn is not None:
                warn(i, str(problem))
            histories.append(None)
            continue
        histories.append(encoder.encode(_history(history)))
    return {**{k: v.detach().cpu() for k, v in net.items()}, **encoder.tensors}, data


def restore_run(checkpoint: Any, run: RunParts, now: Mapping[str, Any]) -> dict[str, Any]:
    """Put ``checkpoint`` (:func:`~nettrain.checkpoint.read_latest`'s) back into the run;
    returns its metadata.

    Raises:
        NetTrainError: a checkpoint made for other options or data, naming what differs.
    """
    meta = checkpoint.meta
    differences = _differences(meta.get("fingerprint", {}), now)
    if differences:
        raise NetTrainError(
            "resume",
            f"the checkpoint {str(checkpoint.path)!r} belongs to another run: "
            + "; ".join(differences[:5]),
            hint="resume with the options and data of the run that wrote it (time_goal and "
            "reporting may change), or start a new run without resume",
        )

    def damaged(where: str, problem: str) -> NetTrainError:
        return NetTrainError(
            "resume", f"the checkpoint {str(checkpoint.path)!r}: {where} {problem}"
        )

    decoder = PlainDecoder(str(checkpoint.path), checkpoint.tensors, damaged, _VALUES)
    data = dict(meta["run"])
    histories = data.pop("histories", [])
    value = decoder.decode(data, "run")
    saved_histories = [None if h is None else decoder.decode(h, "history") for h in histories]
    state = value["state"]
    state["net"] = {k: v for k, v in checkpoint.tensors.items() if not k.startswith(".")}
    run.state.load_state_dict(state)
    restore_random_states(value["rng"])
    monitor = run.monitor
    if monitor.stopping is not None and value["stopping"] is not None:
        monitor.stopping.load_state_dict(value["stopping"])
    if monitor.best is not None and value["best"] is not None:
        monitor.best.best = tuple(value["best"])
    monitor._next_time = value["next_validation"]
    monitor.round_stats.load_state_dict(value["round_stats"])
    if monitor._ports is not None and value["ports"] is not None:
        monitor._ports.sums = dict(value["ports"]["sums"])
        monitor._ports.count = value["ports"]["count"]
    if monitor.batch_stats is not None and value["batch_values"] is not None:
        monitor.batch_values[:] = value["batch_values"]
    tracker, losses = run.tracker, value["example_losses"]
    if tracker is not None and losses is not None:
        tracker.values, tracker._round = losses["values"], losses["round"]
        tracker._order = None  # made again from the round's permutation
    _restore_histories(run.histories, saved_histories)
    run.snapshot.tensors = {k: v.clone() for k, v in value["snapshot"]["tensors"].items()}
    run.snapshot.round = value["snapshot"]["round"]
    for part in ("averaging", "accumulation", "scaler"):
        held, saved = getattr(run, part), value.get(part)
        if held is not None and saved is not None:
            held.load_state_dict(saved)
    return meta


def _restore_histories(histories: Sequence[Any], saved: list[dict[str, Any] | None]) -> None:
    """Each custom history of the resumed call takes up the checkpoint's of the same kind."""
    left = [h for h in saved if h is not None]
    for history in histories:
        match = next((h for h in left if h["what"] == _what(history)), None)
        if match is None:
            continue  # a history the interrupted call did not ask for: from here on
        left.remove(match)
        history.values[:] = match["values"]
        history.positions[:] = match["positions"]
        history._next_time, history._next_fraction = match["next"]
