"""How long a run trains, on how many threads, in which layout and precision: the choices
:func:`nettrain.prepare.prepare` makes by timing a few steps on a throwaway copy of the net.

Steps are timed when the length is automatic (no ``max_training_rounds``, or a time goal with a
learning-rate schedule), when thread counts are worth tuning, or under
``performance_goal="training_speed"``. From the timings: the number of rounds (about
:data:`~nettrain.options.auto.TARGET_TRAINING_SECONDS` of training), the schedule's total
steps, the CPU threads (:mod:`nettrain.runtime.threads`), the memory layout
(:mod:`nettrain.runtime.layout`) and "auto"'s bfloat16 autocast
(:mod:`nettrain.prepare_precision`).

Example:
    >>> Length(5, None, 50, None, 1).total_steps
    50
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .data.batching import BatchSource
from .losses import LossPlan, resolve_loss
from .optim.accumulation import planned_updates
from .options import auto
from .options.goals import SPEED
from .options.resolved import Options
from .ports import PortBinding
from .preflight import one_step, time_steps
from .prepare_data import move
from .prepare_precision import choose_mixed, keeps_loss, mixed_candidate
from .runtime.layout import CHANNELS_LAST, CONTIGUOUS, choose_layout, has_convolutions
from .runtime.memory import is_out_of_memory
from .runtime.threads import choose_threads
from .typed import Typed

__all__ = [
    "MIN_STEPS_TO_TUNE_THREADS",
    "Length",
    "checked_batch_size",
    "float_dtype",
    "plan_length",
    "twin_plan",
]

Clock = Callable[[], float]

# Fewer planned steps than this are not worth timing thread counts for (it costs ~0.2 s).
MIN_STEPS_TO_TUNE_THREADS = 500


def float_dtype(net: nn.Module, options: Options) -> torch.dtype:
    """The floating dtype of the run: the option's, else the net's own, else float32."""
    if options.dtype is not None:
        return options.dtype
    floats = [
        p.dtype
        for p in net.parameters()
        if p.is_floating_point() and not torch.nn.parameter.is_lazy(p)
    ]
    return floats[0] if floats else torch.float32


def _worth_tuning_threads(opts: Options, total_steps: int | None, time_goal: float | None) -> bool:
    """Whether to time fewer CPU threads (runtime.threads): on the CPU, with more than one thread,
    for a run long enough that a faster step repays the timing."""
    if opts.device.type != "cpu" or torch.get_num_threads() < 2:
        return False
    if time_goal is not None and time_goal < 5:
        return False
    return total_steps is None or total_steps >= MIN_STEPS_TO_TUNE_THREADS


@dataclass
class Length:
    """How long the run is planned: rounds, a time goal, total steps, the rounds' time target."""

    max_rounds: int | None
    time_goal: float | None
    total_steps: int | None
    rounds_time_target: float | None
    threads: int
    memory_format: str = CONTIGUOUS
    mixed: bool = False  # "auto" chose bfloat16 autocast (prepare_precision)
    max_batches: int | None = None  # automatic length in batches (auto.choose_batches)


def twin_plan(
    net: nn.Module, opts: Options, binding: PortBinding, typed: Typed, batch: dict[str, Any]
) -> Callable[[nn.Module], LossPlan]:
    """``plan_for(copy)``: the loss plan of a throwaway copy of the net, for timed steps. The
    copy carries none of the library's hooks: this gives it the encoders' batch work too."""

    def plan_for(twin: nn.Module) -> LossPlan:
        typed.install(binding.inputs, module=twin)
        return resolve_loss(
            opts.loss_function,
            twin,
            binding.inputs,
            binding.targets,
            batch,
            float_dtype=float_dtype(net, opts),
            binary=typed.binary_targets(),
            classes=typed.class_targets(),
        )

    return plan_for


def checked_batch_size(
    net: nn.Module,
    opts: Options,
    source: BatchSource,
    binding: PortBinding,
    typed: Typed,
    batch_size: int,
    make_updater: Callable[..., Any],
    autocast: tuple[str, torch.dtype] | None,
) -> int:
    """An automatic batch size checked with one real training step on a copy of the net (at the
    run's forced precision: "auto"'s bfloat16, chosen later, needs less memory than float32):
    halved while the step runs out of memory, so the estimate of
    :func:`~nettrain.options.auto.choose_batch_size` never costs the user a crash mid-run."""
    while True:
        batch = move(source.sample(batch_size), opts.device)
        plan_for = twin_plan(net, opts, binding, typed, batch)
        devices = [opts.device] if opts.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):  # the run's random streams untouched
                one_step(net, binding.inputs, plan_for, lambda m: make_updater(m, 1), batch,
                         autocast=autocast)  # fmt: skip
            return batch_size
        except Exception as error:
            if batch_size == 1 or not is_out_of_memory(error):
                raise
        finally:
            if opts.device.type == "cuda":
                torch.cuda.empty_cache()  # the failed step's blocks, before the smaller try
        batch_size //= 2


def plan_length(
    net: nn.Module,
    opts: Options,
    source: BatchSource,
    binding: PortBinding,
    plan: LossPlan,
    typed: Typed,
    batch_size: int,
    make_updater: Callable[..., Any],
    clock: Clock,
) -> Length:
    """Rounds, threads, the memory layout and the precision: timed steps on a throwaway copy of
    the net where they are automatic. The layout and the precision are timed when the run's
    steps are timed anyway, or always under ``performance_goal="training_speed"``."""
    per_round = source.batches_per_round(batch_size)
    max_rounds, time_goal = opts.max_training_rounds, opts.time_goal
    total_steps: int | None = max_rounds * per_round if max_rounds and per_round else None
    needs_timing = max_rounds is None and (time_goal is None or opts.method.schedule is not None)
    rounds_time_target: float | None = None
    max_batches: int | None = None
    threads = torch.get_num_threads()
    seconds = 0.0
    layout = CHANNELS_LAST if opts.memory_format == CHANNELS_LAST else CONTIGUOUS
    tune_threads = per_round is not None and _worth_tuning_threads(opts, total_steps, time_goal)
    auto_layout = opts.memory_format == "auto" and has_convolutions(net)
    candidate = mixed_candidate(opts, float_dtype(net, opts))
    speed = SPEED in opts.performance_goal and (auto_layout or candidate is not None)
    mixed = False
    if (needs_timing and per_round is not None) or tune_threads or speed:
        batch = move(source.sample(batch_size), opts.device)

        plan_for = twin_plan(net, opts, binding, typed, batch)

        def time_step(channels_last: bool | None = None, autocast: bool | None = None) -> float:
            last = layout == CHANNELS_LAST if channels_last is None else channels_last
            under = (mixed if autocast is None else autocast) and candidate is not None
            return time_steps(net, binding.inputs, plan_for, lambda m: make_updater(m, 1),
                              batch, clock, channels_last=last,
                              autocast=candidate if under else None)  # fmt: skip

        if auto_layout:
            layout = choose_layout(lambda: time_step(False), lambda: time_step(True))
        if candidate is not None and keeps_loss(net, binding.inputs, plan, batch, candidate):
            mixed = choose_mixed(
                lambda: time_step(autocast=False), lambda: time_step(autocast=True)
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
            else:  # planned once: a few rounds' length is better counted in batches
                max_batches = auto.choose_batches(seconds_per_batch=seconds,
                                                  batches_per_round=per_round)  # fmt: skip
                if max_batches is not None:
                    max_rounds, total_steps = math.ceil(max_batches / per_round), max_batches
        else:
            total_steps = max(1, math.ceil(time_goal / seconds))
    elif needs_timing:
        time_goal = auto.TARGET_TRAINING_SECONDS  # a stream of unknown length: about 20 s
    if time_goal is not None and max_rounds is not None and per_round:
        total_steps = min(total_steps or math.inf, max_rounds * per_round)  # type: ignore[assignment]
    # gradient accumulation (issue 14): a schedule counts updates, one per group of batches
    total_steps = planned_updates(total_steps, per_round, opts.method.gradient_accumulation)
    return Length(max_rounds, time_goal, total_steps, rounds_time_target, threads, layout, mixed,
                  max_batches)  # fmt: skip
