"""What a finished run gives back: its results, and the weights it ends with.

:func:`collect` builds the :class:`~nettrain.results.TrainResult` from the session, the final
state and the monitor: every property of S1.5, computed once (or on first use where costly).
:class:`Snapshot` keeps the weights at the end of the last sane round, for divergence, and
:func:`divergence_warning` says what happened and what to try.

Example:
    >>> import torch, torch.nn as nn, nettrain
    >>> x = torch.randn(40, 2); y = x.sum(1, keepdim=True)
    >>> r = nettrain.train(nn.Linear(2, 1), (x, y), "all", max_training_rounds=3,
    ...                    batch_size=8, training_progress_reporting=None)
    >>> r.total_batches, r.batches_per_round, r.train_input_form.startswith("nettrain.train(")
    (15, 5, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .errors import NetTrainError, dtype_name
from .example_losses import ExampleLosses
from .losses import LOSS_NAMES
from .monitor import Monitor
from .plots import final_plots, learning_rate_finder_plot, loss_plot
from .prepare import Session
from .results import PROPERTIES, TrainResult
from .schedules import UserSchedule, resolve_schedule, schedule_name
from .state import TrainState

__all__ = ["Snapshot", "collect", "divergence_warning"]


class Snapshot:
    """The weights at the end of the last round whose loss was sane (for divergence)."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.tensors = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self.round = 0

    def take(self, state: TrainState) -> None:
        with torch.no_grad():
            for k, v in self.net.state_dict().items():
                self.tensors[k].copy_(v)
        self.round = state.round

    def restore(self) -> None:
        self.net.load_state_dict(self.tensors)


def divergence_warning(state: TrainState, snapshot: Snapshot, session: Session) -> str:
    """The warning for reason "weights_diverged": what the net holds now and what to try."""
    if state.best_weights is not None:
        kept = f"the weights of the best validation (round {state.best_round})"
    elif snapshot.round:
        kept = f"the weights from the end of round {snapshot.round}, the last sane state"
    else:
        kept = "the weights it had before training"
    return (
        f"Training stopped in round {state.round} (batch {state.absolute_batch}): the loss or the "
        f"weights became NaN or infinite, or the loss exploded (reason 'weights_diverged'). The "
        f"net now holds {kept}; the diverged net is the 'final_net' property. Try: normalising "
        f"the inputs, a lower learning_rate (it was {session.updater.initial_learning_rate:g}), "
        f'gradient clipping (method=("{session.options.method.name}", '
        f'{{"gradient_clipping": 1.0}})), or another method.'
    )


def _permutations(session: Session, rounds: int) -> list[Tensor]:
    permutation = getattr(session.source, "permutation", None)
    if permutation is None:
        raise NetTrainError(
            "prop",
            "batch_permutation is only known for data that nettrain orders itself",
            expected="data held in memory or a map-style Dataset",
            received=f"a {session.source.form} stream",
        )
    return [permutation(r).cpu() for r in range(1, rounds + 1)]


def _lists(entries: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = list(entries[0]) if entries else []
    return {k: [e.get(k) for e in entries] for k in keys}


def _ask_by_name(name: str, why: str) -> Any:
    def refuse() -> Any:
        raise NetTrainError(
            "prop",
            f"{name} is recorded only when asked for by name",
            expected=f'prop=["all", "{name}"] or the name alone',
            received='"all"',
            hint=f"name it: {why}",
        )

    return refuse


def _measurement_values(state: TrainState, session: Session, monitor: Monitor) -> dict[str, Any]:
    validation = session.validation
    return {
        "round_measurements": state.round_measurements[-1] if state.round_measurements else {},
        "round_measurements_lists": _lists(state.round_measurements),
        "validation_examples": validation.examples if validation is not None else None,
        "validation_loss": state.validation_losses[-1] if state.validation_losses else None,
        "validation_loss_list": list(state.validation_losses),
        "validation_measurements": (
            state.validation_measurements[-1] if state.validation_measurements else None
        ),
        "validation_measurements_lists": _lists(state.validation_measurements),
        "validation_positions": list(state.validation_positions),
        "best_validation_round": state.best_round,
        "measurements": [m.key for m in monitor.measured],
        "stopping_criterion": (
            monitor.criterion.describe() if monitor.criterion is not None else None
        ),
    }


def _precision(session: Session) -> str:
    """The working precision as recorded: "mixed" (float32 weights, bfloat16 autocast) or the
    weights' dtype."""
    return "mixed" if session.autocast is not None else dtype_name(session.dtype)


def _averaging_values(
    session: Session, averaged_net: nn.Module | None, trained: Any
) -> dict[str, Any]:
    """``averaged_net`` (the trained net's very object when it holds the averages; a ``Net``
    for a typed run, as the trained net) and the option."""
    spec, typed = session.options.weights_averaging, session.typed
    net: Any = averaged_net
    if averaged_net is session.net:
        net = trained
    elif averaged_net is not None and typed is not None:
        inputs, plan, sample = session.binding.inputs, session.plan, session.source.sample(1)
        net = typed.net(inputs, plan, sample, averaged_net) or averaged_net
    return {"averaged_net": net, "weights_averaging": None if spec is None else spec.describe()}


def _typed_values(session: Session, final_net: nn.Module) -> dict[str, Any]:
    """The results a run with encoders or a given ``Net`` adds: that ``Net`` as the trained net
    and the final net, the encoders and the skipped examples."""
    typed = session.typed
    if typed is None:
        return {}
    values: dict[str, Any] = {}
    sample = session.source.sample(1)
    inputs, plan = session.binding.inputs, session.plan
    wrapped = typed.net(inputs, plan, sample)
    if wrapped is not None:
        values["trained_net"] = wrapped
        values["final_net"] = (
            wrapped if final_net is session.net else typed.net(inputs, plan, sample, final_net)
        )
    values["encoders"] = typed.describe()
    values["skipped_training_data"] = typed.skipped_report()
    return values


# ---- train_input_form -----------------------------------------------------------------------


class _Source:
    """A value shown as Python source (a name, not a quoted string)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _name_of(value: object) -> _Source:
    return _Source(str(getattr(value, "__name__", type(value).__name__)))


def _plain(value: object) -> object:
    """``value`` as something whose repr is Python source."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_plain(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if callable(value):
        return _name_of(value)
    return _Source(type(value).__name__.lower())  # data and other objects: a placeholder name


def _method_source(session: Session) -> object:
    described = session.options.method.describe()  # the method's own options, resolved
    name = described.pop("method")
    described.pop("learning_rate", None)  # given as its own argument
    schedule = resolve_schedule(session.options.method.schedule)
    if isinstance(schedule, UserSchedule):
        described["learning_rate_schedule"] = _name_of(schedule.function)
    elif schedule is not None:
        named = schedule_name(schedule)
        parts = dict(named) if isinstance(named, Mapping) else {"name": named}
        label = parts.pop("name")
        described["learning_rate_schedule"] = (label, parts) if parts else label
    return (name, _plain(described)) if described else name


def _loss_source(session: Session) -> object:
    terms = session.plan.terms
    given = session.options.loss_function

    def one(term: Any) -> object:
        if term.name in LOSS_NAMES:
            return term.name
        if term.name == "output_is_loss":
            return term.output
        return _plain(given if not isinstance(given, Mapping) else given.get(term.output))

    if len(terms) == 1 and terms[0].weight == 1.0:
        return one(terms[0])
    return {t.output: one(t) if t.weight == 1.0 else (one(t), t.weight) for t in terms}


def train_input_form(session: Session, state: TrainState, given: Mapping[str, Any]) -> str:
    """The call as Python source with every automatic choice resolved (NetTrainInputForm).

    ``net`` and ``data`` stand for the objects passed; functions appear by name.
    """
    opts = session.options
    resolved: dict[str, object] = {
        "batch_size": session.batch_size,
        "learning_rate": session.updater.initial_learning_rate,
        "loss_function": _loss_source(session),
        "max_training_rounds": state.max_rounds,
        "method": _method_source(session),
        "random_seeding": opts.seed,
        "target_device": str(opts.device),
        "working_precision": _precision(session),
        "memory_format": session.memory_format,
        "training_progress_measurements": [m.key for m in session.watch.measured],
    }
    if session.time_goal is not None:
        resolved["time_goal"] = session.time_goal
    if opts.weights_averaging is not None:
        resolved["weights_averaging"] = opts.weights_averaging.describe()
    for name, value in given.items():
        if name not in resolved and name != "learning_rate":
            resolved[name] = (
                _Source(name) if name == "validation_set" and not _is_plain(value) else value
            )
    text = ", ".join(f"{k}={_plain(v)!r}" for k, v in sorted(resolved.items()))
    return f"nettrain.train(net, data, {text})"


def _is_plain(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


# ---- the results ----------------------------------------------------------------------------


def collect(
    session: Session,
    state: TrainState,
    final_net: nn.Module,
    training_net: nn.Module,
    monitor: Monitor,
    given: Mapping[str, Any],
    example_losses: ExampleLosses | None,
    checkpoint_files: list[str] | None = None,
    averaged_net: nn.Module | None = None,
) -> TrainResult:
    """Every property of the run (S1.5) as a :class:`TrainResult`; ``averaged_net``: the net
    with the averaged weights (``weights_averaging``)."""
    updater, opts = session.updater, session.options
    time_spent = max(state.time_spent, 1e-12)
    round_losses = list(state.round_losses)
    positions = list(state.round_positions)
    if state.batch_in_round:
        round_losses.append(state.current_round_loss())
        positions.append(state.absolute_batch)
    values = {
        "trained_net": session.net,
        "final_net": final_net,
        "training_net": training_net,
        "batch_size": session.batch_size,
        "batches_per_round": session.source.batches_per_round(session.batch_size),
        "batch_loss_list": list(state.batch_losses),
        "examples_processed": state.examples_processed,
        "initial_learning_rate": updater.initial_learning_rate,
        "final_learning_rate": updater.last_learning_rate,
        "input_form": session.source.form,
        "loss_function": session.plan.describe(),
        "mean_batches_per_second": state.absolute_batch / time_spent,
        "mean_examples_per_second": state.examples_processed / time_spent,
        "optimization_method": updater.describe(),
        "random_seed": opts.seed,
        "reason_training_stopped": state.reason,
        "round_loss": round_losses[-1] if round_losses else math.nan,
        "round_loss_list": round_losses,
        "round_positions": positions,
        "target_device": str(opts.device)
        if opts.device.index is not None or opts.device.type == "cpu"
        else f"{opts.device.type}:0",
        "cpu_threads": session.threads,
        "processes": 1 if session.world is None else session.world.size,
        "total_batches": state.absolute_batch,
        "total_rounds": state.round,
        "total_training_time": state.time_spent,
        "training_examples": session.source.num_examples,
        "weights_learning_rate_multipliers": dict(updater.multipliers),
        "working_precision": _precision(session),
        "memory_format": session.memory_format,
        "performance_goal": list(opts.performance_goal),
        "activation_checkpointing": session.checkpoint_segments,
        "encoders": {},
        "training_update_schedule": updater.describe().get("update_schedule"),
        "skipped_training_data": {"count": 0, "indices": [], "ports": {}},
        "train_input_form": train_input_form(session, state, given),
        "learning_rate_finder": (
            session.learning_rate_finder.to_plain()
            if session.learning_rate_finder is not None
            else None
        ),
    }
    values.update(_typed_values(session, final_net))
    values.update(_averaging_values(session, averaged_net, values["trained_net"]))
    values.update(_measurement_values(state, session, monitor))
    lazy = {
        "batch_permutation": lambda: _permutations(session, state.round),
        # figures: drawn from the result's own values when asked for (matplotlib loaded then)
        "loss_plot": lambda: loss_plot(values),
        "final_plots": lambda: final_plots(values),
        "learning_rate_finder_plot": lambda: learning_rate_finder_plot(values),
    }
    if example_losses is None:
        lazy["example_losses"] = _ask_by_name(
            "example_losses", "keeping each example's loss costs an unreduced loss per batch"
        )
    else:
        values["example_losses"] = example_losses.value()
    if monitor.batch_stats is None:
        lazy["batch_measurements_lists"] = _ask_by_name(
            "batch_measurements_lists", "measuring every batch reads the device every batch"
        )
    else:
        values["batch_measurements_lists"] = _lists(monitor.batch_values)
    values["checkpointing_files"] = list(checkpoint_files or [])
    missing = set(PROPERTIES) - set(values) - set(lazy) - {"properties"}
    assert not missing, missing
    return TrainResult(values, lazy)
