"""``train(net, data, prop, **options)``: the one call.

Resolve options -> normalise data -> bind ports -> choose loss, batch size, rounds -> build the
state -> run THE loop -> build the results. Every automatic choice is made once here and
recorded in the results.

Example:
    >>> import torch, torch.nn as nn
    >>> import nettrain
    >>> x = torch.linspace(-1, 1, 64)[:, None]
    >>> net = nn.Linear(1, 1)
    >>> r = nettrain.train(net, (x, 3 * x + 1), "all", max_training_rounds=200, learning_rate=0.05,
    ...                    training_progress_reporting=None)
    >>> r.reason_training_stopped, round(net.weight.item(), 2), round(net.bias.item(), 2)
    ('max_training_rounds', 3.0, 1.0)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .data.batching import BatchSource, InMemorySource
from .data.forms import normalize
from .data.split import split_fraction
from .data.table import PortTable
from .errors import NetTrainError, NetTrainWarning, describe
from .loop import LoopPlan, Observer, run
from .losses import LossPlan, TrainingNet, resolve_loss
from .monitor import Monitor, ProgressFunction, Validation, parse_validation_interval, task_of
from .optim import build_updater
from .options import auto
from .options.resolved import Options, resolve_options
from .ports import PortBinding, bind_inputs
from .preflight import materialize, measure_batch_costs, probe_forward, time_steps
from .progress.history import HistoryCollector
from .progress.printer import PrintReporter
from .results import PROPERTIES, TrainResult, check_property_name
from .runtime.interrupt import InterruptGuard
from .runtime.memory import available_bytes
from .runtime.seed import seeded
from .runtime.threads import choose_threads, intra_op_threads
from .state import TrainState
from .step import make_step
from .typed import Typed

__all__ = ["NetTrainWarning", "train"]

Clock = Callable[[], float]
EVAL_CHUNK = 4096


# --------------------------------------------------------------------------------------------
# the third argument


@dataclass(frozen=True)
class Request:
    """What the caller asked for: one property, a list of them, or "all"."""

    items: tuple[str | HistoryCollector, ...]
    single: bool
    everything: bool

    @classmethod
    def parse(cls, prop: object) -> Request:
        if prop is None:
            return cls(("trained_net",), True, False)
        if prop == "all":
            return cls((), True, True)
        if isinstance(prop, Mapping):
            return cls((HistoryCollector.parse(prop),), True, False)
        if isinstance(prop, list | tuple):
            items: list[str | HistoryCollector] = []
            for p in prop:
                if isinstance(p, Mapping):
                    items.append(HistoryCollector.parse(p))
                else:
                    items.append(p if p == "all" else check_property_name(p))
            return cls(tuple(items), False, False)
        return cls((check_property_name(prop),), True, False)

    @property
    def names(self) -> set[str]:
        """The property names asked for by name."""
        return {i for i in self.items if isinstance(i, str)}

    @property
    def histories(self) -> list[HistoryCollector]:
        return [i for i in self.items if isinstance(i, HistoryCollector)]

    def answer(self, result: TrainResult) -> Any:
        if self.everything:
            return result
        values = [
            i.result() if isinstance(i, HistoryCollector) else result if i == "all" else result[i]
            for i in self.items
        ]
        return values[0] if self.single else values


# --------------------------------------------------------------------------------------------
# preparing the run


@contextlib.contextmanager
def _frozen(net: nn.Module, names: list[str]) -> Iterator[None]:
    """Parameters with multiplier 0 need no gradient while training; restore the flags after."""
    params = dict(net.named_parameters())
    previous = {n: params[n].requires_grad for n in names}
    try:
        for n in names:
            params[n].requires_grad_(False)
        yield
    finally:
        for n, flag in previous.items():
            params[n].requires_grad_(flag)


def _float_dtype(net: nn.Module, options: Options) -> torch.dtype:
    if options.dtype is not None:
        return options.dtype
    floats = [
        p.dtype
        for p in net.parameters()
        if p.is_floating_point() and not torch.nn.parameter.is_lazy(p)
    ]
    return floats[0] if floats else torch.float32


def _move(batch: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def _check_class_targets(source: BatchSource, plan: LossPlan, argument: str = "data") -> None:
    """Class indices outside [0, classes) would crash inside PyTorch: report the first one."""
    if not isinstance(source, InMemorySource):
        return
    for term in plan.terms:
        if term.classes is None or term.target is None:
            continue
        column = source.table.columns[term.target]
        bad = ((column < 0) | (column >= term.classes)).reshape(len(column), -1).any(1)
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise NetTrainError(
                argument,
                f"target {term.target!r} holds a class index outside the net's classes",
                index=index,
                expected=f"an int from 0 to {term.classes - 1} (the output port "
                f"{term.output!r} has {term.classes} classes)",
                received=repr(column[index].tolist()),
                hint="check the labels, or give the net's last layer more outputs",
            )


def _convert_targets(source: BatchSource, plan: LossPlan) -> BatchSource:
    """Give in-memory targets the dtype their loss wants once, not per batch."""
    if not isinstance(source, InMemorySource):
        return source
    columns = dict(source.table.columns)
    for term in plan.terms:
        if term.target is not None and term.target_dtype is not None:
            columns[term.target] = columns[term.target].to(term.target_dtype)
    table = type(source.table)(columns, source.table.form)
    return InMemorySource(table, source.seed)


@dataclass
class Session:
    """Everything resolved before the loop starts."""

    net: nn.Module
    options: Options
    source: BatchSource
    binding: PortBinding
    plan: LossPlan
    dtype: torch.dtype
    batch_size: int
    max_rounds: int | None
    time_goal: float | None
    updater: Any
    validation: Validation | None = None
    typed: Typed | None = None
    rounds_time_target: float | None = None  # automatic rounds: refitted to this many seconds
    threads: int = 1  # intra-op CPU threads while training (runtime.threads)


# Fewer planned steps than this are not worth timing thread counts for (it costs ~0.2 s).
MIN_STEPS_TO_TUNE_THREADS = 500


def _worth_tuning_threads(opts: Options, total_steps: int | None, time_goal: float | None) -> bool:
    """Whether to time fewer CPU threads (runtime.threads): on the CPU, with more than one thread,
    for a run long enough that a faster step repays the timing."""
    if opts.device.type != "cpu" or torch.get_num_threads() < 2:
        return False
    if time_goal is not None and time_goal < 5:
        return False
    return total_steps is None or total_steps >= MIN_STEPS_TO_TUNE_THREADS


def _choose_batch_size(
    net: nn.Module,
    opts: Options,
    source: BatchSource,
    binding: PortBinding,
    plan: LossPlan,
    sample: Mapping[str, Tensor],
    clock: Clock,
) -> int:
    if source.form in ("data_loader", "iterable"):
        # Such streams bring their own batches; the first one tells their size.
        first = len(next(iter(sample.values())))
        if opts.batch_size is not None and opts.batch_size != first:
            raise NetTrainError(
                "batch_size",
                f"a {source.form.replace('_', ' ')} brings its own batches",
                expected=f"no batch_size, or the stream's own ({first})",
                received=str(opts.batch_size),
                hint="leave batch_size out, or set the batch size where the batches are made",
            )
        return first
    if opts.batch_size is not None:
        return (
            opts.batch_size
            if source.num_examples is None
            else min(opts.batch_size, source.num_examples)
        )
    if opts.method.name == "lbfgs" and source.num_examples is not None:
        return source.num_examples  # L-BFGS is a full-batch method (as in MATLAB)
    per_example, seconds = measure_batch_costs(net, binding.inputs, plan, sample, clock)
    param_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    return auto.choose_batch_size(
        per_example_bytes=per_example,
        fixed_bytes=4 * param_bytes,  # weights, gradients, two optimizer slots
        available_bytes=available_bytes(opts.device),
        seconds_at_batch_1=seconds,
        num_examples=source.num_examples,
        device_type=opts.device.type,
    )


def _validation(
    opts: Options, source: BatchSource, plan: LossPlan, typed: Typed, inputs: tuple[str, ...]
) -> tuple[BatchSource, Validation | None]:
    """Resolve ``validation_set``: held-out fraction, other data, or None."""
    if opts.validation_set is None:
        return source, None
    spec, interval = parse_validation_interval(opts.validation_set)
    if isinstance(spec, str) and spec == "auto":
        raise NetTrainError(
            "validation_set",
            '"auto" means the test split of a named dataset',
            expected="a named dataset as training data",
            received=f"a {source.form} form",
            hint="give validation data or a fraction such as 0.1",
        )
    if isinstance(spec, float | int) and not isinstance(spec, bool):
        if not isinstance(source, InMemorySource):
            raise NetTrainError(
                "validation_set",
                "a fraction can only be held out of data held in memory",
                expected="validation data in any form",
                received=f"{spec!r} with a {source.form} stream",
            )
        term = plan.terms[0]
        task = task_of(term)[0]
        stratify = term.target if task in ("classification", "binary") else None
        kept, out = split_fraction(source.table, spec, seed=opts.seed, stratify=stratify)
        held_out = InMemorySource(out, source.seed)
        return InMemorySource(kept, source.seed), Validation(held_out, interval)
    spec = typed.encode_validation(spec, inputs)
    other = normalize(
        spec, seed=opts.seed, float_dtype=_data_dtype(source), argument="validation_set"
    )
    if isinstance(other, InMemorySource):
        other = other.to(opts.device)
    if set(other.names) != set(source.names):
        raise NetTrainError(
            "validation_set",
            "the validation data has other ports than the training data",
            expected="ports " + ", ".join(map(repr, source.names)),
            received="ports " + ", ".join(map(repr, other.names)),
        )
    _check_class_targets(other, plan, argument="validation_set")
    return source, Validation(_convert_targets(other, plan), interval)


def _data_dtype(source: BatchSource) -> torch.dtype:
    """The floating dtype the training inputs were given (validation data gets the same)."""
    if isinstance(source, InMemorySource):
        for column in source.table.columns.values():
            if column.is_floating_point():
                return column.dtype
    return torch.float32


def _prepare(net: nn.Module, data: object, opts: Options, clock: Clock, typed: Typed) -> Session:
    dtype = _float_dtype(net, opts)
    source = normalize(data, seed=opts.seed, float_dtype=dtype)
    if isinstance(source, InMemorySource):
        if typed.form is not None:  # encoded data: keep the name of the form the user gave
            source = InMemorySource(PortTable(source.table.columns, typed.form), source.seed)
        source = source.to(opts.device)
    # The first sample is taken at the batch size training will most likely use, so a stream
    # can replay it as round 1's first batch; smaller samples are slices of it.
    sample = _move(source.sample(opts.batch_size or auto.MAX_AUTO_BATCH_SIZE), opts.device)
    binding = bind_inputs(net, source.names, argument="data")
    typed.install(binding.inputs)
    net.to(opts.device)
    # Probing runs in eval mode so that it changes nothing in the net (BatchNorm statistics).
    net.eval()
    materialize(net, binding.inputs, sample)
    if opts.dtype is not None:
        net.to(opts.dtype)
    probe_forward(net, binding.inputs, sample, typed.encoders)
    plan = resolve_loss(
        opts.loss_function,
        net,
        binding.inputs,
        binding.targets,
        sample,
        float_dtype=dtype,
        binary=typed.binary_targets(),
    )
    _check_class_targets(source, plan)
    source = _convert_targets(source, plan)
    source, validation = _validation(opts, source, plan, typed, binding.inputs)
    batch_size = _choose_batch_size(net, opts, source, binding, plan, sample, clock)
    net.train()
    per_round = source.batches_per_round(batch_size)
    max_rounds, time_goal = opts.max_training_rounds, opts.time_goal
    total_steps: int | None = max_rounds * per_round if max_rounds and per_round else None
    needs_timing = max_rounds is None and (time_goal is None or opts.method.schedule is not None)
    rounds_time_target: float | None = None

    def make_updater(module: nn.Module, total: int | None = None) -> Any:
        schedule = {} if opts.update_schedule is None else {"update_schedule": opts.update_schedule}
        return build_updater(
            module,
            opts.method,
            multipliers=opts.learning_rate_multipliers,
            fused=True,  # torch's fused kernels: faster than foreach on CPU and GPU
            total_steps=total,
            **schedule,
        )

    threads = torch.get_num_threads()
    tune_threads = per_round is not None and _worth_tuning_threads(opts, total_steps, time_goal)
    if (needs_timing and per_round is not None) or tune_threads:
        batch = _move(source.sample(batch_size), opts.device)

        def time_step() -> float:
            return time_steps(
                net,
                binding.inputs,
                lambda m: resolve_loss(
                    opts.loss_function,
                    m,
                    binding.inputs,
                    binding.targets,
                    batch,
                    float_dtype=dtype,
                    binary=typed.binary_targets(),
                ),
                lambda m: make_updater(m, 1),
                batch,
                clock,
            )

        if tune_threads:
            threads, seconds = choose_threads(time_step, threads)
        else:
            seconds = time_step()
    if needs_timing and per_round is not None:
        if time_goal is None:
            max_rounds = auto.choose_rounds(seconds_per_batch=seconds, batches_per_round=per_round)
            total_steps = max_rounds * per_round
            if opts.method.schedule is None:  # a schedule's length must not move under it
                rounds_time_target = auto.TARGET_TRAINING_SECONDS
        else:
            total_steps = max(1, math.ceil(time_goal / seconds))
    elif needs_timing:
        time_goal = auto.TARGET_TRAINING_SECONDS  # a stream of unknown length: about 20 s
    if time_goal is not None and max_rounds is not None and per_round:
        total_steps = min(total_steps or math.inf, max_rounds * per_round)  # type: ignore[assignment]
    updater = make_updater(net, total_steps)
    return Session(
        net,
        opts,
        source,
        binding,
        plan,
        dtype,
        batch_size,
        max_rounds,
        time_goal,
        updater,
        validation,
        typed,
        rounds_time_target,
        threads,
    )


# --------------------------------------------------------------------------------------------
# after the run


class _Snapshot:
    """The weights at the last moment they were known to be finite (for divergence)."""

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


def _example_losses(session: Session) -> Tensor:
    source = session.source
    if not isinstance(source, InMemorySource):
        raise NetTrainError(
            "prop",
            "example_losses needs data held in memory",
            received=f"a {source.form} stream",
            hint="pass the data as tensors or pairs",
        )
    net, plan, table = session.net, session.plan, source.table
    was_training = net.training
    net.eval()
    pieces = []
    with torch.no_grad():
        for begin in range(0, len(table), EVAL_CHUNK):
            idx = torch.arange(begin, min(begin + EVAL_CHUNK, len(table)), device=table.device)
            batch = table.take(idx)
            pieces.append(plan.per_example(plan.forward(net, session.binding.inputs, batch), batch))
    net.train(was_training)
    return torch.cat(pieces).cpu()


def _permutations(session: Session, rounds: int) -> list[Tensor]:
    source = session.source
    if not isinstance(source, InMemorySource):
        raise NetTrainError(
            "prop",
            "batch_permutation is only known for data held in memory",
            received=f"a {source.form} stream",
        )
    return [source.permutation(r).cpu() for r in range(1, rounds + 1)]


def _lists(entries: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = list(entries[0]) if entries else []
    return {k: [e.get(k) for e in entries] for k in keys}


def _ask_by_name() -> Any:
    raise NetTrainError(
        "prop",
        "batch_measurements_lists is recorded only when asked for by name",
        expected='prop=["all", "batch_measurements_lists"] or the name alone',
        received='"all"',
        hint="name it: measuring every batch reads the device every batch",
    )


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


def _typed_values(session: Session, final_net: nn.Module) -> dict[str, Any]:
    """The results a run with encoders or a given ``Net`` adds: that ``Net`` as the trained net
    (and final net, when they are the same), the encoders and the skipped examples."""
    typed = session.typed
    if typed is None:
        return {}
    values: dict[str, Any] = {}
    sample = session.source.sample(1)
    wrapped = typed.net(session.binding.inputs, session.plan, sample)
    if wrapped is not None:
        values["trained_net"] = wrapped
        if final_net is session.net:
            values["final_net"] = wrapped
    values["encoders"] = typed.describe()
    values["skipped_training_data"] = typed.skipped_report()
    return values


def _results(
    session: Session,
    state: TrainState,
    final_net: nn.Module,
    training_net: nn.Module,
    monitor: Monitor,
    typed_values: Mapping[str, Any],
) -> TrainResult:
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
        "final_learning_rate": updater.learning_rate,
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
        "total_batches": state.absolute_batch,
        "total_rounds": state.round,
        "total_training_time": state.time_spent,
        "training_examples": session.source.num_examples,
        "weights_learning_rate_multipliers": dict(updater.multipliers),
        "working_precision": str(session.dtype).replace("torch.", ""),
        "encoders": {},
        "training_update_schedule": updater.describe().get("update_schedule"),
        "skipped_training_data": {"count": 0, "indices": [], "ports": {}},
    }
    values.update(typed_values)
    values.update(_measurement_values(state, session, monitor))
    lazy = {
        "example_losses": lambda: _example_losses(session),
        "batch_permutation": lambda: _permutations(session, state.round),
    }
    if monitor.batch_stats is None:
        lazy["batch_measurements_lists"] = _ask_by_name
    else:
        values["batch_measurements_lists"] = _lists(monitor.batch_values)
    missing = set(PROPERTIES) - set(values) - set(lazy) - {"properties"}
    assert not missing, missing
    return TrainResult(values, lazy)


def _divergence_warning(state: TrainState, snapshot: _Snapshot, session: Session) -> str:
    if state.best_weights is not None:
        kept = f"the weights of the best validation (round {state.best_round})"
    elif snapshot.round:
        kept = f"the weights from the end of round {snapshot.round}, the last finite state"
    else:
        kept = "the weights it had before training"
    return (
        f"Training stopped in round {state.round} (batch {state.absolute_batch}): the loss or the "
        f"weights became NaN or infinite (reason 'weights_diverged'). The net now holds {kept}; "
        f"the diverged net is the 'final_net' property. Try: normalising the inputs, a lower "
        f"learning_rate (it was {session.updater.initial_learning_rate:g}), gradient clipping "
        f'(method=("{session.options.method.name}", {{"gradient_clipping": 1.0}})), or another '
        f"method."
    )


# --------------------------------------------------------------------------------------------
# the call


def train(net: nn.Module, data: object, prop: object = None, **options: object) -> Any:
    """Train ``net`` on ``data``; return the trained net, a property, or all of them.

    Args:
        net: any ``torch.nn.Module``. Lazy modules get their shapes from the data; existing
            weights are kept (training a trained net continues it). The module is trained in
            place, moved to the target device, and left in eval mode.
        data: pairs ``[(x, y), ...]``, ``(xs, ys)``, ``{"port": column}``, rows
            ``[{"port": value}, ...]``, a ``pandas.DataFrame``, a torch ``Dataset`` or
            ``DataLoader``, any iterable of batches, or a generator function ``f(batch_size,
            round)`` / ``(f, {"round_length": n})``. Arrays, tensors and nested lists all work.
        prop: None (the trained net), a property name, a list of names, "all" (a
            :class:`~nettrain.results.TrainResult`), or a custom history dict
            ``{"property": name or f, "form": "list", "interval": "batch" | "round" | "30 s"}``.
        **options: ``batch_size``, ``learning_rate``, ``learning_rate_multipliers``,
            ``loss_function``, ``max_training_rounds``, ``time_goal``, ``method``,
            ``random_seeding`` (1234), ``target_device`` ("auto"), ``working_precision``
            ("auto"), ``training_progress_reporting`` ("auto" = "print"). See docs/options.md.

    Returns:
        what ``prop`` asks for.

    Raises:
        NetTrainError: for bad data, options or property names, with what to change.

    Warns:
        NetTrainWarning: when the weights diverged (the net keeps its last finite weights).
    """
    return _train(net, data, prop, options, time.perf_counter)


def _train(
    net: nn.Module, data: object, prop: object, options: Mapping[str, object], clock: Clock
) -> Any:
    opts = resolve_options(options)
    request = Request.parse(prop)
    if not isinstance(net, nn.Module):
        raise NetTrainError(
            "net",
            "is not a PyTorch module",
            expected="a torch.nn.Module",
            received=describe(net),
            hint="pass an nn.Module, e.g. nn.Sequential(...)",
        )
    given: dict[str, Any] = {}
    named: str | None = None
    from .named import dataset_name

    named = dataset_name(data)
    if named is not None:
        from .named import named_data

        data, given = named_data(data if not isinstance(data, str) else named, "train")
        if "validation_set" not in options:  # only an explicit None turns validation off
            opts = dataclasses.replace(opts, validation_set="auto")
    if opts.validation_set is not None:
        from .named import resolve_named_validation

        spec = resolve_named_validation(opts.validation_set, named)
        opts = dataclasses.replace(opts, validation_set=spec)
    typed = Typed.start(net, data, encoders=given, form="named_dataset" if named else None)
    try:
        with seeded(opts.seed):
            session = _prepare(typed.module, typed.data, opts, clock, typed)
            try:
                with intra_op_threads(session.threads):
                    return request.answer(_run(session, request, clock))
            finally:
                session.plan.close()
    finally:
        typed.close()


def _run(session: Session, request: Request, clock: Clock) -> TrainResult:
    net, updater = session.net, session.updater
    state = TrainState(
        net=net,
        updater=updater,
        seed=session.options.seed,
        batch_size=session.batch_size,
        max_rounds=session.max_rounds,
    )
    snapshot = _Snapshot(net)
    opts = session.options
    monitor = Monitor(
        net=net,
        inputs=session.binding.inputs,
        plan=session.plan,
        measurements=opts.measurements,
        validation=session.validation,
        criterion=opts.stopping_criterion,
        batch_size=session.batch_size,
        device=opts.device,
        record_batches="batch_measurements_lists" in request.names,
    )
    observers: list[Observer] = list(request.histories)
    function = ProgressFunction(opts.progress_function) if opts.progress_function else None
    if function is not None:
        observers.append(function)
    if opts.reporting == "print":
        observers.append(PrintReporter(interval=opts.report_interval))
    observe = monitor.observe if monitor.observes else None
    step = make_step(net, session.binding.inputs, session.plan, updater, observe)
    with _frozen(net, updater.frozen), InterruptGuard() as guard:

        def stop_reason() -> str | None:
            if guard.requested:
                return "stopped_by_user"
            return function.signal if function is not None else None

        plan = LoopPlan(
            data=session.source,
            step=step,
            device=opts.device,
            time_goal=session.time_goal,
            observers=observers,
            stop_reason=stop_reason,
            on_round_end=snapshot.take,
            learning_rate=lambda: updater.learning_rate,
            monitor=monitor,
            rounds_time_target=session.rounds_time_target,
            max_auto_rounds=auto.MAX_AUTO_ROUNDS,
        )
        run(state, plan, clock)
    final_net: nn.Module = net
    if state.reason == "weights_diverged":
        final_net = copy.deepcopy(net)
        if state.best_weights is not None:
            net.load_state_dict(state.best_weights)
        else:
            snapshot.restore()
        warnings.warn(_divergence_warning(state, snapshot, session), NetTrainWarning, stacklevel=4)
    elif session.validation is not None:
        monitor.validate_at_end(state)
        final_net = copy.deepcopy(net)
        monitor.restore_best(state)
    net.eval()
    if final_net is not net:
        final_net.eval()
    training_net = TrainingNet(net, session.binding.inputs, session.plan)
    typed_values = _typed_values(session, final_net)
    return _results(session, state, final_net, training_net, monitor, typed_values)
