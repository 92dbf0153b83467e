"""Preparing a run: everything ``train`` resolves before THE loop starts, checked up front.

:func:`prepare` turns the net, the data and the resolved options into a :class:`Session`:
normalise the data at its one boundary, bind the ports, give scalar inputs their feature axis,
materialise lazy modules, choose the loss, resolve the measurements and the stopping criterion,
check the validation set against the net, choose the batch size, the CPU threads and the
number of rounds, and build the updater. Every check that can be made before training is made
here, so that a mistake costs no training time and leaves the user's weights untouched.

Example:
    >>> import torch, torch.nn as nn, time
    >>> from nettrain.options.resolved import resolve_options
    >>> from nettrain.typed import Typed
    >>> net = nn.Linear(3, 2)
    >>> x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    >>> opts = resolve_options({"max_training_rounds": 2, "batch_size": 5})
    >>> typed = Typed.start(net, (x, y))
    >>> session = prepare(net, typed.data, opts, time.perf_counter, typed)
    >>> session.batch_size, session.max_rounds, session.plan.terms[0].name
    (5, 2, 'cross_entropy')
    >>> session.plan.close(); typed.close()
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from .data.batching import BatchSource, InMemorySource
from .data.forms import normalize
from .data.streams import BatchIterableSource
from .data.table import PortTable
from .errors import NetTrainError, NetTrainWarning, add_note
from .example_losses import check_example_losses
from .losses import LossPlan, resolve_loss
from .lr_find import LearningRateFinderResult, search
from .monitor import Validation, Watch, resolve_watch
from .optim import build_updater
from .options import auto
from .options.default_schedule import with_default_schedule
from .options.goals import MEMORY
from .options.resolved import Options
from .ports import PortBinding, bind_inputs
from .preflight import (
    check_trainable,
    feature_axis_ports,
    materialize,
    measure_batch_costs,
    probe_forward,
    probe_loss,
)
from .prepare_data import (
    check_class_targets,
    check_validation_fits,
    convert_targets,
    move,
    reference_sample,
    resolve_validation,
)
from .prepare_length import Length, checked_batch_size, float_dtype, plan_length
from .prepare_precision import checked_autocast
from .prepare_weights import unbind_weights, weigh_plan, weight_column
from .runtime.activations import segment_count
from .runtime.layout import CHANNELS_LAST, CONTIGUOUS
from .runtime.memory import available_bytes
from .typed import Typed

__all__ = ["Session", "prepare", "unchanged_on_error"]

Clock = Callable[[], float]


@dataclass
class Session:
    """Everything resolved before the loop starts."""

    net: nn.Module
    options: Options
    source: BatchSource
    binding: PortBinding
    plan: LossPlan
    watch: Watch
    dtype: torch.dtype
    batch_size: int
    max_rounds: int | None
    time_goal: float | None
    updater: Any
    validation: Validation | None = None
    typed: Typed | None = None
    rounds_time_target: float | None = None  # automatic rounds: refitted to this many seconds
    threads: int = 1  # intra-op CPU threads while training (runtime.threads)
    initial_loss: float | None = None  # the untrained net's loss on the sample (divergence)
    total_steps: int | None = None  # the steps a learning-rate schedule is planned over
    autocast: tuple[str, torch.dtype] | None = None  # "mixed": (device type, autocast dtype)
    memory_format: str = CONTIGUOUS  # the layout the net trains in (runtime.layout)
    learning_rate_finder: LearningRateFinderResult | None = None  # learning_rate="find"
    checkpoint_segments: int = 0  # "training_memory": activation checkpointing's segments
    world: Any = None  # several processes: this one's World (nettrain.distributed.world)
    max_batches: int | None = None  # an automatic length in batches: the run ends mid-round

    def choices(self) -> Choices:
        """What was chosen by timing (batch size, length, threads, layout) or by the
        learning-rate range test: a resumed run reuses it."""
        return Choices(
            self.batch_size, self.max_rounds, self.time_goal, self.total_steps,
            self.rounds_time_target, self.threads, self.memory_format, self.learning_rate_finder,
            self.autocast is not None, self.options.method.gradient_accumulation,
            self.max_batches,
        )  # fmt: skip


@dataclass(frozen=True)
class Choices:
    """The choices :func:`prepare` makes by timing steps, which a second run on the same data
    and options would make differently: a run resumed from a checkpoint is given its own.

    >>> Choices(32, 10, None, 3750, 20.0, 2).to_plain()["total_steps"]
    3750
    """

    batch_size: int
    max_rounds: int | None
    time_goal: float | None
    total_steps: int | None
    rounds_time_target: float | None
    threads: int
    memory_format: str = CONTIGUOUS
    learning_rate_finder: LearningRateFinderResult | None = None  # the range test's (lr_find)
    mixed: bool = False  # bfloat16 autocast, forced or chosen by "auto" (prepare_precision)
    gradient_accumulation: int = 1  # batches per update ("training_memory" may choose 2)
    max_batches: int | None = None  # an automatic length in batches (options.auto)

    def to_plain(self) -> dict[str, Any]:
        plain = dataclasses.asdict(self)
        finder = self.learning_rate_finder
        plain["learning_rate_finder"] = finder.to_plain() if finder is not None else None
        return plain

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> Choices:
        """Read :meth:`to_plain`'s dict back (a KeyError or TypeError when it is not one); a
        checkpoint written before a field existed gets its default."""
        later = ("memory_format", "learning_rate_finder", "mixed", "gradient_accumulation",
                 "max_batches")  # fmt: skip
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in later]
        layout = data.get("memory_format", CONTIGUOUS)
        finder = data.get("learning_rate_finder")
        found = LearningRateFinderResult.from_plain(finder) if finder is not None else None
        return cls(**{name: data[name] for name in fields}, memory_format=layout,
                   learning_rate_finder=found, mixed=bool(data.get("mixed", False)),
                   gradient_accumulation=int(data.get("gradient_accumulation", 1)),
                   max_batches=data.get("max_batches"))  # fmt: skip


def _own_batch_size(source: BatchSource) -> int | None:
    """The batch size a data loader or iterable brings with it (its first batch's)."""
    if isinstance(source, BatchIterableSource):
        return source.first_batch_size()
    return None


def _choose_batch_size(
    net: nn.Module,
    opts: Options,
    source: BatchSource,
    binding: PortBinding,
    plan: LossPlan,
    sample: Mapping[str, Tensor],
    clock: Clock,
) -> int:
    own = _own_batch_size(source)
    if own is not None:
        # Such streams bring their own batches; the first one tells their size.
        if opts.batch_size is not None and opts.batch_size != own:
            raise NetTrainError(
                "batch_size",
                f"a {source.form.replace('_', ' ')} brings its own batches, of {own} examples",
                expected=f"no batch_size, or the stream's own ({own})",
                received=str(opts.batch_size),
                hint="leave batch_size out, or set the batch size where the batches are made "
                "(DataLoader(..., batch_size=n))",
            )
        return own
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


def _updater_factory(opts: Options) -> Callable[..., Any]:
    def make(module: nn.Module, total: int | None = None, carry: bool = False) -> Any:
        """The run's updater (``carry``: it starts from the method's carried state), or one
        for a throwaway copy timed before the run (which must leave that state alone)."""
        schedule = {} if opts.update_schedule is None else {"update_schedule": opts.update_schedule}
        method = opts.method if carry else dataclasses.replace(opts.method, state=None)
        return build_updater(
            module,
            method,
            multipliers=opts.learning_rate_multipliers,
            fused=True,  # torch's fused kernels: faster than foreach on CPU and GPU
            total_steps=total,
            **schedule,
        )

    return make


def _smaller_batches(batch_size: int, opts: Options, source: BatchSource) -> tuple[int, Options]:
    """``performance_goal="training_memory"``: an automatic batch of ``b`` examples becomes
    batches of ``b // 2`` with two accumulated per update, so the updates stay those of ``b``
    while a step holds half the activations. A batch size given (or brought by a stream), or
    an accumulation asked for, is kept."""
    method = opts.method
    own = opts.batch_size is not None or _own_batch_size(source) is not None
    if own or batch_size < 2 or method.gradient_accumulation != 1 or method.name == "lbfgs":
        return batch_size, opts
    method = dataclasses.replace(method, gradient_accumulation=2)
    return batch_size // 2, dataclasses.replace(opts, method=method)


def _with_chosen_mixed(
    autocast: tuple[str, torch.dtype] | None, length: Length, opts: Options
) -> tuple[str, torch.dtype] | None:
    """The run's autocast: "mixed"'s, or bfloat16 where "auto" chose it by timing."""
    if autocast is None and length.mixed:
        return opts.device.type, torch.bfloat16
    return autocast


def _find_rate(
    net: nn.Module,
    opts: Options,
    source: BatchSource,
    binding: PortBinding,
    plan: LossPlan,
    typed: Typed,
    batch_size: int,
    autocast: tuple[str, torch.dtype] | None,
    memory_format: str,
) -> LearningRateFinderResult:
    """``learning_rate="find"``: the range test on a copy of the net, with the run's method
    minus its learning-rate schedule (the test sets each step's rate itself)."""
    assert opts.learning_rate_finder is not None
    unscheduled = dataclasses.replace(opts.method, schedule=None)
    make = _updater_factory(dataclasses.replace(opts, method=unscheduled))
    return search(net, opts, opts.learning_rate_finder, source, binding, plan, typed,
                  batch_size, make, autocast=autocast,
                  channels_last=memory_format == CHANNELS_LAST)  # fmt: skip


@contextlib.contextmanager
def unchanged_on_error(net: nn.Module, opts: Options) -> Iterator[None]:
    """Put the net back as it was (mode, device, dtype, weights) when preparing fails: a call
    refused before training changes nothing in the user's net.

    Tensors only change when ``working_precision`` converts them, so only then are they kept
    (a float64 net cast to float32 and back would lose bits), each with its own dtype.
    """
    was_training = net.training
    params = [t for t in net.parameters() if not is_lazy(t)]
    buffers = [(m, n, b) for m in net.modules() for n, b in m.named_buffers(recurse=False)]
    tensors = [*params, *(b for _, _, b in buffers if not is_lazy(b))]
    device = tensors[0].device if tensors else None
    dtypes = {t.dtype for t in tensors if t.is_floating_point()}
    converts = opts.dtype is not None and bool(dtypes) and dtypes != {opts.dtype}
    saved_params = [(p, p.detach().clone()) for p in params] if converts else []
    saved_buffers = [(m, n, b.detach().clone()) for m, n, b in buffers] if converts else []
    try:
        yield
    except BaseException:
        if converts:
            with torch.no_grad():
                for param, value in saved_params:  # .to() replaced a parameter's .data
                    param.data = value
            for module, name, value in saved_buffers:  # and replaced the buffers themselves
                setattr(module, name, value)
        if device is not None:
            net.to(device)
        net.train(was_training)
        raise


def prepare(
    net: nn.Module,
    data: object,
    opts: Options,
    clock: Clock,
    typed: Typed,
    example_losses: bool = False,
    choices: Choices | None = None,
) -> Session:
    """Resolve everything a run needs; see the module docstring for the order.

    ``example_losses``: the run keeps each example's loss (asked for by name), so the data and
    the loss are checked to allow it. ``choices``: the batch size, length and threads of the run
    being resumed, used as they are instead of timing steps again.

    Raises:
        NetTrainError: bad data, a net that cannot take it or has nothing to train, a loss,
            measurement, criterion or validation set that does not fit, an option that does
            not fit the data; all before the net's weights change.
    """
    dtype = float_dtype(net, opts)
    source = normalize(data, seed=opts.seed, float_dtype=dtype)
    if isinstance(source, InMemorySource):
        if typed.form is not None:  # encoded data: keep the name of the form the user gave
            source = InMemorySource(PortTable(source.table.columns, typed.form), source.seed)
        source = source.to(opts.device)
    source, weights_column = weight_column(source, opts.example_weights)
    # The first sample is taken at the batch size training will most likely use, so a stream
    # can replay it as round 1's first batch; smaller samples are slices of it.
    try:
        sample = move(source.sample(opts.batch_size or auto.MAX_AUTO_BATCH_SIZE), opts.device)
    except NetTrainError:
        raise
    except Exception as error:  # the data's own code (a generator, collate, __getitem__)
        add_note(
            error,
            "raised while reading the training data's first batch (round 1, batch 1), "
            "before any training",
        )
        raise
    binding = bind_inputs(net, source.names, argument="data")
    binding = unbind_weights(binding, weights_column, sample)
    net.to(opts.device)
    # Probing runs in eval mode so that it changes nothing in the net (BatchNorm statistics).
    net.eval()
    typed.add_feature_axes(feature_axis_ports(net, binding.inputs, sample, typed.encoders))
    typed.install(binding.inputs)
    materialize(net, binding.inputs, sample)
    if opts.dtype is not None:
        net.to(opts.dtype)
    check_trainable(net)
    probe_forward(net, binding.inputs, sample, typed.encoders)
    plan = resolve_loss(
        opts.loss_function,
        net,
        binding.inputs,
        binding.targets,
        sample,
        float_dtype=dtype,
        binary=typed.binary_targets(),
        classes=typed.class_targets(),
    )
    try:
        plan = weigh_plan(plan, opts.example_weights, weights_column, sample, typed, opts.device)
        if example_losses:  # asked for by name: the data and the loss must allow it
            check_example_losses(source, plan)
        return _with_loss(net, source, sample, binding, plan, opts, clock, typed, dtype, choices)
    except BaseException:
        plan.close()  # a refused call leaves no hook behind
        raise


def _with_loss(
    net: nn.Module,
    source: BatchSource,
    sample: Mapping[str, Tensor],
    binding: PortBinding,
    plan: LossPlan,
    opts: Options,
    clock: Clock,
    typed: Typed,
    dtype: torch.dtype,
    choices: Choices | None,
) -> Session:
    """The part of :func:`prepare` after the loss is chosen."""
    watch = resolve_watch(opts.measurements, opts.stopping_criterion, plan)
    autocast = checked_autocast(net, binding.inputs, plan, sample, opts) if opts.mixed else None
    check_class_targets(source, plan)
    given, source = source, convert_targets(source, plan)
    reference = reference_sample(source, sample, opts.device)
    initial_loss = (
        None
        if reference is None
        else probe_loss(net, binding.inputs, plan, reference, argument="data")
    )
    source, validation = resolve_validation(opts, source, plan, typed, binding.inputs, given)
    if validation is not None:
        check_validation_fits(net, binding, plan, typed, validation.source, opts.device)
    # automatic rounds: the run knows its length, so Adam gets its one-cycle schedule
    opts = with_default_schedule(opts, known_length=source.num_examples is not None)
    make_updater = _updater_factory(opts)
    finder = None
    if choices is None:
        batch_size = _choose_batch_size(net, opts, source, binding, plan, sample, clock)
        if opts.batch_size is None and _own_batch_size(source) is None:
            batch_size = checked_batch_size(net, opts, source, binding, typed, batch_size,
                                            make_updater, autocast)  # fmt: skip
        if MEMORY in opts.performance_goal:
            batch_size, opts = _smaller_batches(batch_size, opts, source)
            make_updater = _updater_factory(opts)
        net.train()
        length = plan_length(net, opts, source, binding, plan, typed, batch_size, make_updater,
                              clock)  # fmt: skip
        autocast = _with_chosen_mixed(autocast, length, opts)
        if opts.learning_rate_finder is not None:
            finder = _find_rate(net, opts, source, binding, plan, typed, batch_size, autocast,
                                length.memory_format)  # fmt: skip
    else:
        batch_size = choices.batch_size
        net.train()
        length = Length(choices.max_rounds, choices.time_goal, choices.total_steps,
                         choices.rounds_time_target, choices.threads,
                         choices.memory_format, choices.mixed, choices.max_batches)  # fmt: skip
        autocast = _with_chosen_mixed(autocast, length, opts)
        if choices.gradient_accumulation != opts.method.gradient_accumulation:  # memory goal's
            method = dataclasses.replace(
                opts.method, gradient_accumulation=choices.gradient_accumulation
            )
            opts = dataclasses.replace(opts, method=method)
            make_updater = _updater_factory(opts)
        finder = choices.learning_rate_finder  # a resumed run does not search again
    if finder is not None:  # the found rate is the method's from here on (a schedule scales it)
        method = dataclasses.replace(opts.method, learning_rate=finder.learning_rate)
        opts = dataclasses.replace(opts, method=method)
        make_updater = _updater_factory(opts)
    updater = make_updater(net, length.total_steps, carry=True)
    return Session(
        net,
        opts,
        source,
        binding,
        plan,
        watch,
        dtype,
        batch_size,
        length.max_rounds,
        length.time_goal,
        updater,
        validation,
        typed,
        length.rounds_time_target,
        length.threads,
        initial_loss,
        length.total_steps,
        autocast,
        length.memory_format,
        finder,
        _segments(net, opts),
        max_batches=length.max_batches,
    )


def _segments(net: nn.Module, opts: Options) -> int:
    """``performance_goal="training_memory"``: the segments activation checkpointing cuts the
    net into (a warning when it has no ``nn.Sequential`` chain to cut)."""
    if MEMORY not in opts.performance_goal:
        return 0
    segments = segment_count(net)
    if segments == 0:
        warnings.warn(
            'performance_goal="training_memory": this net has no nn.Sequential chain of layers '
            "to checkpoint, so its activations are all kept (its batches are still halved); "
            "build its layers as an nn.Sequential for activation checkpointing",
            NetTrainWarning,
            stacklevel=5,
        )
    return segments
