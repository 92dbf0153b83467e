"""THE training loop. Read it top to bottom:

    for each round:          (the order of round r is a function of (seed, r))
        for each batch:      move batch -> step (forward, loss, backward, update) -> count
            stop asked? time goal reached? time to check and report?
        end of round: (gradient accumulation: update with the round's last, incomplete group)
                      read the round's losses, check they are finite, report

Measurements, validation, the best net and stopping live in a
:class:`~nettrain.monitor.Monitor` that the loop calls after each batch and each round.
The per-batch body does no host-device synchronisation: losses stay on the device and are read
when something reports (about every 2 s) and at the end of each round. Stopping, resuming and
checkpointing only read and write the :class:`~nettrain.state.TrainState`.

Example:
    >>> import torch, torch.nn as nn
    >>> from nettrain.data.batching import InMemorySource
    >>> from nettrain.data.table import PortTable
    >>> from nettrain.losses import resolve_loss
    >>> from nettrain.optim import build_updater, parse_method
    >>> from nettrain.state import TrainState
    >>> from nettrain.step import make_step
    >>> x = torch.randn(32, 3)
    >>> table = PortTable({"input": x, "target": x.sum(1, keepdim=True)}, "pairs")
    >>> net = nn.Linear(3, 1); updater = build_updater(net, parse_method("adam", 0.05))
    >>> plan = resolve_loss("auto", net, ("input",), ("target",), table.columns)
    >>> state = TrainState(net=net, updater=updater, seed=0, batch_size=8, max_rounds=30)
    >>> run(state, LoopPlan(InMemorySource(table, 0), make_step(net, ("input",), plan, updater)))
    >>> state.reason, state.round, state.round_losses[-1] < state.round_losses[0]
    ('max_training_rounds', 30, True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from . import events
from .data.batching import BatchSource
from .data.table import Batch
from .errors import add_note
from .monitor import Monitor
from .state import TrainState
from .step import Step

__all__ = ["EXPLOSION_FACTOR", "Checkpoints", "LoopPlan", "Observer", "live_properties", "run"]

CHECK_SECONDS = 2.0  # how often losses are read for the divergence check without a reporter
# A loss this many times above the level the run started from (TrainState.loss_reference: the
# untrained net's loss on a sample, or the first round's) has exploded: the run diverged even
# though the numbers are still finite.
EXPLOSION_FACTOR = 1e4


class Checkpoints(Protocol):
    """What writes the run's checkpoints (:class:`nettrain.checkpoint.writer.Checkpointer`):
    told when a batch (``batchwise`` only) or a round is wholly done and the run goes on."""

    @property
    def batchwise(self) -> bool: ...

    def after_batch(self, absolute_batch: int, elapsed: float) -> None: ...

    def after_round(self, round: int, elapsed: float) -> None: ...


class Agreeing(Protocol):
    """What the ranks of a data-parallel run agree on after each batch and round
    (:class:`nettrain.distributed.agreement.Agreement`): the whole batch's loss and examples,
    rank 0's clock, a stop asked on any rank."""

    def after_batch(
        self, loss: torch.Tensor, examples: int, elapsed: float, stop: str | None
    ) -> tuple[torch.Tensor, int, float, str | None]: ...

    def at_round_end(self, elapsed: float, stop: str | None) -> tuple[float, str | None]: ...


class Observer(Protocol):
    """Something that watches training: a reporter, a history, a progress function.

    ``wants_batches`` asks to be asked after every batch: the loop calls ``due(absolute_batch,
    progress_fraction)`` (cheap, no sync) and, when it says so, ``notify`` with the
    ``batch_complete`` event (which reads the losses from the device). ``interval`` is in
    seconds (None: rounds only). ``label`` names it in the note on an exception it raises.
    """

    wants_batches: bool
    interval: float | None
    label: str

    def due(self, absolute_batch: int, fraction: float) -> bool: ...

    def notify(self, event: str, live: dict[str, Any]) -> None: ...


@dataclass
class LoopPlan:
    """What the loop runs: data, the step, limits and observers. Nothing here changes in a run."""

    data: BatchSource
    step: Step
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    time_goal: float | None = None
    observers: list[Observer] = field(default_factory=list)
    stop_reason: Callable[[], str | None] = lambda: None
    monitor: Monitor | None = None
    on_round_end: Callable[[TrainState], None] | None = None
    learning_rate: Callable[[], float] = lambda: float("nan")
    checkpoints: Checkpoints | None = None
    # Gradient accumulation: the update of a round's last, incomplete group of batches, made
    # when the round ends (nettrain.step.make_round_end); groups start with each round.
    finish_round: Callable[[], None] | None = None
    # Automatic rounds: the seconds of training to aim at. The round count chosen before the
    # run comes from timing one bare step, which misses validation, measurements and round ends
    # (on small data they can double a round); so after each round the count is fitted again
    # to the rounds' measured wall time.
    rounds_time_target: float | None = None
    max_auto_rounds: int = 10_000
    # Several processes (nettrain.distributed): every decision below is taken from what the
    # ranks agree on, so that all of them take it at the same batch.
    agreement: Agreeing | None = None
    # An automatic length counted in batches (options.auto.choose_batches): the run ends after
    # this many, within its last round.
    max_batches: int | None = None


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _sane(values: list[float], reference: float | None) -> bool:
    """All finite, and none exploded: above :data:`EXPLOSION_FACTOR` times the run's reference
    loss (:meth:`TrainState.loss_reference`; only when that is positive)."""
    if not all(math.isfinite(v) for v in values):
        return False
    if reference is None or reference <= 0:
        return True
    return max(values, default=0.0) <= EXPLOSION_FACTOR * reference


def _weights_finite(net: torch.nn.Module) -> bool:
    params = [p.detach() for p in net.parameters()]
    if not params:
        return True
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(params))).all())


def live_properties(state: TrainState, plan: LoopPlan, elapsed: float) -> dict[str, Any]:
    """The live view of a run that reporters and histories receive (reads pending losses)."""
    state.flush()
    per_round = plan.data.batches_per_round(state.batch_size)
    total = state.max_rounds * per_round if state.max_rounds and per_round else None
    total = plan.max_batches or total
    rate = state.absolute_batch / elapsed if elapsed > 0 else 0.0
    remaining = (total - state.absolute_batch) / rate if total and rate > 0 else math.inf
    if plan.time_goal is not None:
        remaining = min(remaining, max(plan.time_goal - elapsed, 0.0))
    fraction = _fraction(state, plan, elapsed)
    return {
        "round": state.round,
        "max_rounds": state.max_rounds,
        "batch": state.batch_in_round,
        "batches_per_round": per_round,
        "absolute_batch": state.absolute_batch,
        "examples_processed": state.examples_processed,
        "batch_loss": state.batch_losses[-1] if state.batch_losses else math.nan,
        "round_loss": state.current_round_loss()
        if state.batch_in_round
        else (state.round_losses[-1] if state.round_losses else math.nan),
        "time_elapsed": elapsed,
        "time_remaining": remaining,
        "progress_fraction": fraction,
        "batches_per_second": rate,
        "examples_per_second": state.examples_processed / elapsed if elapsed > 0 else 0.0,
        "learning_rate": plan.learning_rate(),
        "net": state.net,
        "round_measurements": state.round_measurements[-1] if state.round_measurements else {},
        "validation_loss": state.validation_losses[-1] if state.validation_losses else None,
        "validation_measurements": (
            state.validation_measurements[-1] if state.validation_measurements else None
        ),
        "best_validation_round": state.best_round,
        "reason": state.reason,  # why training stopped, once it has (None while it runs)
        **(plan.monitor.live_extras() if plan.monitor is not None else {}),
    }


def _fraction(state: TrainState, plan: LoopPlan, elapsed: float) -> float:
    """How far the run has come, from 0 to 1 (batches of the planned total, or time of the
    goal), computed without reading the device."""
    per_round = plan.data.batches_per_round(state.batch_size)
    total = state.max_rounds * per_round if state.max_rounds and per_round else None
    total = plan.max_batches or total
    fraction = state.absolute_batch / total if total else 0.0
    if plan.time_goal is not None:
        fraction = max(fraction, min(elapsed / plan.time_goal, 1.0))
    return min(fraction, 1.0)


def _tell(observer: Observer, event: str, live: dict[str, Any]) -> None:
    try:
        observer.notify(event, live)
    except Exception as error:
        add_note(error, f"raised by the {observer.label} (event {event!r})")
        raise


def _notify(plan: LoopPlan, event: str, state: TrainState, elapsed: float) -> None:
    if plan.observers:
        live = live_properties(state, plan, elapsed)
        for observer in plan.observers:
            _tell(observer, event, live)


@dataclass
class _Clock:
    """The run's time: when it started, and when losses are next read (checked and reported)."""

    read: Callable[[], float]
    start: float
    check_every: float
    next_check: float

    def elapsed(self) -> float:
        return self.read() - self.start


def _start_round(state: TrainState, plan: LoopPlan) -> bool:
    stop = plan.stop_reason()  # a progress function may have asked at the end of the last round
    if plan.agreement is not None:
        stop = None  # a stop asked since the last agreement waits for the next one
    if stop is not None:
        state.reason = stop
        return False
    if state.max_rounds is not None and state.round >= state.max_rounds:
        state.reason = "max_training_rounds"
        return False
    state.round += 1
    return True


def _train_round(state: TrainState, plan: LoopPlan, clock: _Clock) -> bool:
    """Run the rest of the current round; True when it ran to its end."""
    data, step = plan.data, plan.step
    move = None if data.on_device else plan.device
    per_batch = [o for o in plan.observers if o.wants_batches]
    checkpoints = plan.checkpoints if plan.checkpoints and plan.checkpoints.batchwise else None
    resumed_at = state.batch_in_round
    for batch in _reading(data.round_batches(state.round, state.batch_size, resumed_at)):
        if move is not None:
            batch = _to_device(batch, move)
        loss = step(batch)
        examples = next(iter(batch.values())).shape[0]
        agreed: tuple[float, str | None] | None = None
        if plan.agreement is not None:
            loss, examples, elapsed, asked = plan.agreement.after_batch(
                loss, examples, clock.elapsed(), plan.stop_reason()
            )
            agreed = (clock.start + elapsed, asked)
        state.pending.append(loss)
        state.pending_sizes.append(examples)
        state.record_batch_count(examples)
        if per_batch:
            _per_batch(per_batch, state, plan, clock, None if agreed is None else agreed[0])
        now = clock.read() if agreed is None else agreed[0]
        stop = plan.stop_reason()  # (also where the progress functions' requests take effect)
        if agreed is not None:
            stop = agreed[1]  # a stop asked on this rank alone waits for the next agreement
        if stop is not None:
            state.reason = stop
            return False
        if plan.time_goal is not None and now - clock.start >= plan.time_goal:
            state.reason = "time_goal"
            return False
        if plan.max_batches is not None and state.absolute_batch >= plan.max_batches:
            state.reason = "max_training_rounds"  # the automatic length, within a round
            return False
        if now >= clock.next_check:
            clock.next_check = now + clock.check_every
            if not _sane(state.flush(), state.loss_reference()):
                state.reason = "weights_diverged"
                return False
            _notify(plan, events.REPORT, state, now - clock.start)
        if plan.monitor is not None:
            reason = plan.monitor.after_batch(state, now - clock.start)
            if reason is not None:
                state.reason = reason
                return False
        if checkpoints is not None:  # last: the batch is wholly done, the run goes on
            checkpoints.after_batch(state.absolute_batch, clock.elapsed())
    if state.batch_in_round == 0 and resumed_at == 0:
        state.round -= 1  # the stream gave nothing: this round never happened
        state.reason = "data_exhausted"
        return False
    return True


def _reading(batches: Iterator[Batch]) -> Iterator[Batch]:
    """The round's batches; an exception while reading them (a generator, a DataLoader's
    workers or collate, a dataset's ``__getitem__``) gets a note saying so."""
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except Exception as error:
            add_note(error, "raised while reading the training data (the data's own code)")
            raise
        yield batch


def _per_batch(
    observers: list[Observer],
    state: TrainState,
    plan: LoopPlan,
    clock: _Clock,
    agreed_now: float | None = None,
) -> None:
    elapsed = clock.elapsed() if agreed_now is None else agreed_now - clock.start
    fraction = _fraction(state, plan, elapsed)
    due = [o for o in observers if o.due(state.absolute_batch, fraction)]
    if due:
        live = live_properties(state, plan, elapsed)
        for observer in due:
            _tell(observer, events.BATCH_COMPLETE, live)


def _end_round(state: TrainState, plan: LoopPlan, clock: _Clock) -> None:
    elapsed = clock.elapsed
    if plan.agreement is not None:
        agreed, stop = plan.agreement.at_round_end(clock.elapsed(), plan.stop_reason())
        elapsed = lambda: agreed  # noqa: E731  (rank 0's clock for every decision below)
        if stop is not None:
            state.reason = stop
            return
    if plan.finish_round is not None:  # before the weights are checked, measured, saved
        plan.finish_round()
    reference = state.loss_reference()  # before this round's loss can join it
    loss = state.end_round()
    if not (_sane([loss], reference) and _weights_finite(state.net)):
        state.reason = "weights_diverged"
        return
    if plan.on_round_end is not None:
        plan.on_round_end(state)
    if plan.monitor is not None:
        state.reason = plan.monitor.after_round(state, elapsed())
    if plan.rounds_time_target is not None:
        _refit_rounds(state, plan.rounds_time_target, plan.max_auto_rounds, elapsed())
    _notify(plan, events.ROUND_COMPLETE, state, elapsed())
    if plan.checkpoints is not None and state.reason is None:
        plan.checkpoints.after_round(state.round, elapsed())


def _refit_rounds(state: TrainState, target: float, most: int, elapsed: float) -> None:
    """Set ``max_rounds`` so the whole run takes about ``target`` seconds at the mean round
    time so far (never below the rounds already done: then this round was the last)."""
    if elapsed <= 0:
        return
    rounds = math.ceil(target * state.round / elapsed - 1e-9)
    state.max_rounds = min(max(rounds, state.round, 1), most)


def run(state: TrainState, plan: LoopPlan, clock: Callable[[], float] = time.perf_counter) -> None:
    """Train until a limit, a stop request or divergence; record why in ``state.reason``.

    Continues from wherever ``state`` is (a fresh state starts at round 1), so resuming a run
    is: load the state, call ``run`` again.
    """
    state.reason = None  # running a stopped state again continues it
    intervals = [o.interval for o in plan.observers if o.interval is not None]
    check_every = min([CHECK_SECONDS, *intervals])
    now = clock()
    timer = _Clock(clock, now - state.time_spent, check_every, now + check_every)
    _notify(plan, events.TRAINING_STARTED, state, timer.elapsed())
    try:
        while state.reason is None:
            if state.batch_in_round == 0 and not _start_round(state, plan):
                break
            if _train_round(state, plan, timer):
                _end_round(state, plan, timer)
    except KeyboardInterrupt:
        if plan.stop_reason() == "stopped_by_user":
            raise  # a second Ctrl-C while the first is pending: the user means it
        state.reason = "stopped_by_user"
    except Exception as error:
        state.time_spent = timer.elapsed()
        add_note(error, f"{_position(state)}; the net holds the weights of its last full update")
        raise
    state.time_spent = timer.elapsed()
    if state.reason != "weights_diverged" and not _sane(state.flush(), state.loss_reference()):
        state.reason = "weights_diverged"
    _finish(state, plan)


def _position(state: TrainState) -> str:
    """Where the run is, in words, for the note on an exception."""
    n = state.absolute_batch
    done = f"{n} batch{'' if n == 1 else 'es'} trained in all"
    if state.batch_in_round == 0 and len(state.round_positions) == state.round:
        return f"at the end of round {state.round} ({done})"
    return f"in round {state.round}, after {state.batch_in_round} of its batches ({done})"


def _finish(state: TrainState, plan: LoopPlan) -> None:
    """The last events. Training is over: a Ctrl-C (or a KeyboardInterrupt from a progress
    function) during them must not lose what was trained, so it ends the reports only."""
    try:
        if state.reason != "max_training_rounds":
            final = (
                events.WEIGHTS_DIVERGED
                if state.reason == "weights_diverged"
                else events.TRAINING_STOPPED
            )
            _notify(plan, final, state, state.time_spent)
        _notify(plan, events.TRAINING_COMPLETE, state, state.time_spent)
    except KeyboardInterrupt:
        pass
