"""``train(net, data, prop, **options)``: the one call.

Resolve options -> start the typed data (encoders) -> prepare the session (loss, batch size,
rounds, every check: :mod:`nettrain.prepare`) -> run THE loop -> build the results
(:mod:`nettrain.outcome`). Every automatic choice is made once and recorded in the results.

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
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .averaging import WeightAverage
from .checkpoint.resume import check_resumable, read_resume, resumed_choices, run_fingerprint
from .checkpoint.run import RunParts, restore_run
from .checkpoint.writer import Checkpointer, describe_net
from .distributed.agreement import Agreement
from .distributed.engine import check_distributable, data_parallel, distribute
from .distributed.launch import run_processes
from .distributed.world import World, joined
from .errors import NetTrainError, NetTrainWarning, describe
from .example_losses import ExampleLosses
from .loop import LoopPlan, Observer, run
from .losses import TrainingNet
from .monitor import Monitor
from .optim.accumulation import GradientAccumulation
from .optim.loss_scale import LossScaler
from .options import auto
from .options.resolved import Options, resolve_options
from .outcome import Snapshot, collect, divergence_warning
from .prepare import Session, prepare, unchanged_on_error
from .progress.function import ProgressFunction, progress_functions
from .progress.history import HistoryCollector
from .progress.reporters import build_reporters, close_all
from .results import TrainResult, check_property_name
from .runtime.activations import checkpointed
from .runtime.interrupt import InterruptGuard
from .runtime.layout import CHANNELS_LAST, CONTIGUOUS, set_layout
from .runtime.modules import copy_module
from .runtime.seed import seeded
from .runtime.threads import intra_op_threads
from .state import TrainState
from .step import make_round_end, make_step
from .typed import Typed

__all__ = ["NetTrainWarning", "train"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Request:
    """What the caller asked for: one property, a list of them, or everything (the results
    object: ``"all"`` or ``"results_object"``)."""

    items: tuple[str | HistoryCollector, ...]
    single: bool
    everything: bool

    @classmethod
    def parse(cls, prop: object) -> Request:
        if prop is None:
            return cls(("trained_net",), True, False)
        if isinstance(prop, str) and check_property_name(prop) == "all":
            return cls((), True, True)
        if isinstance(prop, Mapping):
            return cls((HistoryCollector.parse(prop),), True, False)
        if isinstance(prop, list | tuple):
            items: list[str | HistoryCollector] = []
            for p in prop:
                if isinstance(p, Mapping):
                    items.append(HistoryCollector.parse(p))
                else:
                    items.append(check_property_name(p))
            return cls(tuple(items), False, False)
        return cls((check_property_name(prop),), True, False)

    @property
    def names(self) -> set[str]:
        """The property names asked for by name, and those the histories collect."""
        names = {i for i in self.items if isinstance(i, str)}
        return names | {h.name for h in self.histories if h.name is not None}

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


def train(net: nn.Module, data: object, prop: object = None, **options: object) -> Any:
    """Train ``net`` on ``data``; return the trained net, a property, or all of them.

    Args:
        net: any ``torch.nn.Module``. Lazy modules get their shapes from the data; existing
            weights are kept (training a trained net continues it). The module is trained in
            place, moved to the target device, and left in eval mode.
        data: pairs ``[(x, y), ...]``, ``(xs, ys)``, ``{"port": column}``, rows
            ``[{"port": value}, ...]``, a ``pandas.DataFrame``, a torch ``Dataset`` or
            ``DataLoader``, any iterable of batches, a generator function ``f(batch_size,
            round)`` / ``(f, {"round_length": n})``, or a dataset name ("FashionMNIST").
            Arrays, tensors and nested lists all work; a column of scalars feeds a net whose
            first layer takes one feature as ``[n, 1]``.
        prop: None (the trained net), a property name (snake_case, or NetTrain's CamelCase),
            a list of names, "all" or "results_object" (a
            :class:`~nettrain.results.TrainResult`), or a custom history dict
            ``{"property": name or f, "form": "list", "interval": "batch" | "round" |
            "2 rounds" | "100 batches" | "10 percent" | "30 s"}``.
        **options: ``batch_size``, ``learning_rate``, ``learning_rate_multipliers``,
            ``loss_function``, ``max_training_rounds``, ``time_goal``, ``method``,
            ``random_seeding`` (1234), ``target_device`` ("auto"), ``working_precision``
            ("auto"), ``validation_set``, ``training_progress_measurements``,
            ``training_stopping_criterion``, ``training_progress_function``,
            ``training_progress_reporting`` ("auto" = "print"), ``training_update_schedule``,
            ``weights_averaging`` (a moving average of the weights: :mod:`nettrain.averaging`).
            See the options table in docs/guide.md.

    Returns:
        what ``prop`` asks for.

    Raises:
        NetTrainError: for bad data, options or property names, with what to change; raised
            before any weight changes. An exception from the user's own code during training
            (the net, the loss, the data, a progress function) propagates as it is, with notes
            naming where it happened; the net then holds the weights of its last complete
            update.

    Warns:
        NetTrainWarning: when the weights diverged (the net keeps its last sane weights).
    """
    return _train(net, data, prop, options, time.perf_counter)


def _train(
    net: nn.Module, data: object, prop: object, options: Mapping[str, object], clock: Clock
) -> Any:
    opts = resolve_options(options)
    if opts.processes > 1:  # target_device=("cpu", n), ("gpu", "all"): start the processes
        return run_processes(_train_rank, (net, data, prop, clock), options, opts.processes,
                             opts.gpus, opts.distributed_timeout)  # fmt: skip
    with joined(opts.device, opts.distributed_timeout) as world:
        if world is not None:
            opts = dataclasses.replace(opts, device=world.device)
        return _train_in(net, data, prop, options, opts, clock, world)


def _train_rank(
    net: nn.Module, data: object, prop: object, clock: Clock, options: Mapping[str, object]
) -> Any:
    """One process's run, in a process group that :func:`run_processes` has made."""
    return _train(net, data, prop, options, clock)


def _train_in(
    net: nn.Module,
    data: object,
    prop: object,
    options: Mapping[str, object],
    opts: Options,
    clock: Clock,
    world: World | None,
) -> Any:
    request = Request.parse(prop)
    if world is not None:
        check_distributable(request.names)
    # built now, so a function that is not callable costs no training (the loop's observers)
    functions = progress_functions(opts.progress_function, learning_rate_requests=True)
    opts, typed = start_typed(net, data, options, opts)
    try:
        with seeded(opts.seed):
            resumed = read_resume(opts.resume) if opts.resume is not None else None
            # a resumed run keeps what its run chose by timing (batch size, length, threads:
            # timed again they would differ, and with them a schedule's length and sums' bits)
            choices = resumed_choices(resumed) if resumed is not None else None
            with unchanged_on_error(typed.module, opts):
                keep = "example_losses" in request.names
                if world is not None and choices is None and not world.is_main:
                    choices = world.broadcast(None)  # rank 0 times, every rank runs its choices
                session = prepare(typed.module, typed.data, opts, clock, typed, keep, choices)
                if world is not None and world.is_main and resumed is None:
                    world.broadcast(session.choices())
            if resumed is not None:
                check_resumable(session.source)
                session.rounds_time_target = None  # the rounds it had chosen, not refitted
            if world is not None:
                distribute(session, world)
            try:
                with intra_op_threads(session.threads):
                    result = _run(session, request, functions, clock, options, resumed)
                    return request.answer(result)
            finally:
                session.plan.close()
    finally:
        typed.close()


def start_typed(
    net: nn.Module, data: object, options: Mapping[str, object], opts: Options
) -> tuple[Options, Typed]:
    """Check the net, read a named dataset (with its encoders and validation split) and start
    the typed data: the first part of :func:`train`, shared with
    :func:`nettrain.find_learning_rate`. The caller closes the :class:`Typed`.

    Raises:
        NetTrainError: ``net`` is not a module; a named dataset or validation set that fails.
    """
    if not isinstance(net, nn.Module):
        raise NetTrainError(
            "net",
            "is not a PyTorch module",
            expected="a torch.nn.Module",
            received=describe(net),
            hint="pass an nn.Module, e.g. nn.Sequential(...)",
        )
    from .named import dataset_name

    given: dict[str, Any] = {}
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
    return opts, typed


@contextlib.contextmanager
def _layout(net: nn.Module, channels_last: bool) -> Iterator[None]:
    """The net's weights in channels_last for the run, and back in the ordinary layout after
    it (whatever happens): the user's module comes back as it was given, values trained."""
    if not channels_last:
        yield
        return
    set_layout(net, CHANNELS_LAST)
    try:
        yield
    finally:
        set_layout(net, CONTIGUOUS)


def _net_description(session: Session) -> str | None:
    """The description a checkpoint carries so that it also loads as a ``nettrain.Net``: the
    run's typed net, or the module on its own."""
    from .net import Net

    net = None
    if session.typed is not None:
        with torch.random.fork_rng(devices=[]):  # a sample draws nothing from the run's streams
            sample = session.source.sample(1)
        net = session.typed.net(session.binding.inputs, session.plan, sample)
    return describe_net(net if net is not None else Net(session.net))


def _observers(
    session: Session, request: Request, functions: list[ProgressFunction]
) -> list[Observer]:
    opts = session.options
    observers: list[Observer] = list(request.histories)
    observers.extend(functions)
    main = session.world is None or session.world.is_main
    observers.extend(
        build_reporters(
            opts.reporting if main else (),  # several processes: rank 0 reports
            measurements=[m.key for m in session.watch.measured if m.scalar and m.key != "loss"],
            validation=session.validation is not None,
        )
    )
    return observers


def _run(
    session: Session,
    request: Request,
    functions: list[ProgressFunction],
    clock: Clock,
    given: Mapping[str, object],
    resumed: Any = None,
) -> TrainResult:
    net, updater, opts = session.net, session.updater, session.options
    state = TrainState(
        net=net,
        updater=updater,
        seed=opts.seed,
        batch_size=session.batch_size,
        max_rounds=session.max_rounds,
        initial_loss=session.initial_loss,
    )
    tracker = None
    if "example_losses" in request.names:
        tracker = ExampleLosses(session.plan, session.source, state, opts.device)
    world = session.world
    agreement = Agreement(world) if world is not None else None
    monitor = Monitor(
        net=net,
        inputs=session.binding.inputs,
        plan=session.plan,
        watch=session.watch,
        validation=session.validation,
        batch_size=session.batch_size,
        device=opts.device,
        record_batches="batch_measurements_lists" in request.names,
        example_losses=tracker,
        autocast=session.autocast,
        agreement=agreement,
    )
    snapshot = Snapshot(net)
    averaging, accumulation = _update_parts(session)
    # float16 "mixed" (GPUs without bfloat16) scales the loss: optim.loss_scale
    float16 = session.autocast is not None and session.autocast[1] == torch.float16
    scaler = LossScaler(opts.device) if float16 else None
    parts = RunParts(state, monitor, snapshot, request.histories, tracker, averaging, accumulation,
                     scaler)  # fmt: skip
    if resumed is not None:
        restore_run(resumed, parts, run_fingerprint(session, given))
    observers = _observers(session, request, functions)
    checkpointer = None
    if opts.checkpointing and (world is None or world.is_main):  # one writer: rank 0
        meta = {"fingerprint": run_fingerprint(session, given),
                "choices": session.choices().to_plain()}  # fmt: skip
        checkpointer = Checkpointer(
            opts.checkpointing, parts, meta, _net_description(session),
            resumed.meta if resumed is not None else None,
        )  # fmt: skip
    try:
        return _train_with(
            session, request, functions, monitor, observers, state, snapshot, clock, given,
            tracker, checkpointer, averaging, accumulation, scaler,
        )  # fmt: skip
    finally:
        close_all(observers)  # a live panel leaves the terminal clean, a log file is closed


def _update_parts(session: Session) -> tuple[WeightAverage | None, GradientAccumulation | None]:
    """The run's moving average of the weights and its gradient accumulation, when asked for."""
    opts = session.options
    spec, every = opts.weights_averaging, opts.method.gradient_accumulation
    averaging = WeightAverage(session.net, spec) if spec is not None else None
    accumulation = GradientAccumulation(every, session.updater.parameters) if every > 1 else None
    return averaging, accumulation


def _train_with(
    session: Session,
    request: Request,
    functions: list[ProgressFunction],
    monitor: Monitor,
    observers: list[Observer],
    state: TrainState,
    snapshot: Snapshot,
    clock: Clock,
    given: Mapping[str, object],
    tracker: ExampleLosses | None,
    checkpointer: Checkpointer | None,
    averaging: WeightAverage | None = None,
    accumulation: GradientAccumulation | None = None,
    scaler: LossScaler | None = None,
) -> TrainResult:
    """The loop and what follows it, for :func:`_run` (which closes the reporters after)."""
    net, updater, opts = session.net, session.updater, session.options
    observe = monitor.observe if monitor.observes else None
    channels_last = session.memory_format == CHANNELS_LAST
    after = averaging.update if averaging is not None else None  # after every update
    # a round's last, incomplete group of batches is updated when the round ends
    round_end = (
        make_round_end(updater, accumulation, after, scaler) if accumulation is not None else None
    )
    memory = checkpointed(net) if session.checkpoint_segments else contextlib.nullcontext()
    world = session.world
    with (
        _frozen(net, updater.frozen),
        _layout(net, channels_last),
        memory,
        data_parallel(net, world, session.source) as (trained, loss_weight),
        InterruptGuard() as guard,
    ):
        step = make_step(trained, session.binding.inputs, session.plan, updater, observe,
                         autocast=session.autocast, channels_last=channels_last,
                         accumulation=accumulation, after_update=after,
                         loss_weight=loss_weight, scaler=scaler)  # fmt: skip

        def stop_reason() -> str | None:
            # The loop asks this between updates (after each batch's notifications, and before
            # each round), so it is also where the progress functions' learning-rate requests
            # take effect: before the next update, in the functions' order (the last one wins).
            for f in functions:
                rate = f.take_learning_rate()
                if rate is not None:
                    updater.set_learning_rate(rate)
            if guard.requested:
                return "stopped_by_user"
            return next((f.signal for f in functions if f.signal is not None), None)

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
            checkpoints=checkpointer,
            finish_round=round_end,
            agreement=Agreement(world) if world is not None else None,
            max_batches=session.max_batches,
        )
        try:
            run(state, plan, clock)
        finally:
            carried = opts.method.state
            if carried is not None and state.reason != "weights_diverged":
                carried.keep(updater, updater.step_count)  # for the next run (even stopped)
    final_net: nn.Module = net
    if state.reason == "weights_diverged":
        final_net = copy_module(net)
        if state.best_weights is not None:
            net.load_state_dict(state.best_weights)
        else:
            snapshot.restore()
        warnings.warn(divergence_warning(state, snapshot, session), NetTrainWarning, stacklevel=5)
    elif session.validation is not None:
        monitor.validate_at_end(state)
        final_net = copy_module(net)
        monitor.restore_best(state)
    averaged_net = None
    if averaging is not None:  # last, over the rules above: WeightAverage.finish says why
        final_net, averaged_net = averaging.finish(net, final_net, state.reason)
        averaged_net.eval()
    net.eval()
    if final_net is not net:
        final_net.eval()
    training_net = TrainingNet(net, session.binding.inputs, session.plan)
    files = checkpointer.files if checkpointer is not None else []
    return collect(session, state, final_net, training_net, monitor, given, tracker, files,
                   averaged_net=averaged_net)  # fmt: skip
