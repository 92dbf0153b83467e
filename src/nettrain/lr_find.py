"""``learning_rate="find"``: a learning-rate range test before training (fastai's ``lr_find``).

The test trains a throwaway copy of the net for a few steps (100 by default) while the learning
rate grows exponentially from ``start`` (1e-7) to ``end`` (10): step i uses
``start * (end / start) ** (i / (steps - 1))``. Each batch's loss is smoothed with a debiased
exponential average (``beta`` 0.98: ``a = beta * a + (1 - beta) * loss``, smoothed
``a / (1 - beta ** (i + 1))``), and the test stops early when the smoothed loss is more than 4
times the best one so far (for a loss that can be negative: more than 3 ``|best|`` above it), or
when a loss is NaN or infinite. As in fastai, ``losses[i]`` is the loss of batch i computed
before the update at ``rates[i]``.

The suggestion reads the smoothed curve without its first ``steps // 10`` points and its last
5 (fastai's window; the whole curve when that leaves fewer than 3 points):

- ``"valley"`` (the default, fastai's since 2.5): the longest decreasing subsequence of the
  curve (of ``n`` points, ending at point ``e``), read as the span from ``e - n`` to ``e``, and
  the rate about halfway into it: ``int(s) + int(s / 2)`` points past its start, ``s`` a third
  of the span. It is steadier than the steepest slope on a noisy curve, and well below the
  divergence;
- ``"steepest"``: the rate where the smoothed loss falls fastest against ``log(rate)``;
- ``"minimum"``: a tenth of the rate with the lowest smoothed loss.

When the smoothed loss never goes down in that window (no point below an earlier one by more
than rounding: a net already at its minimum, a loss that does not depend on the weights) there
is nothing to suggest: training uses the method's
default learning rate, with a :class:`~nettrain.errors.NetTrainWarning`, and the result's
``suggestion`` says ``"method_default"``. A loss that is NaN or infinite at the very first step
(at 1e-7 the weights have barely moved) is a broken loss or data, not a matter of learning
rate: that is a :class:`~nettrain.errors.NetTrainError` naming ``learning_rate``.

What the test uses, so that its curve is the run's own: the run's loss (with its example
weights), method and sub-options (its ``learning_rate_schedule`` left out: the test sets the
rates itself), learning-rate multipliers, update schedule, batch size, device, precision
(``"mixed"``'s autocast too) and memory layout. Its batches are the run's first batches (round
1, then round 2, ...) for data nettrain orders itself (in memory, a map-style ``Dataset``); for
streams and batch functions, whose batches cannot be read twice, the first batch again at every
step. Nothing of the run changes: the copy (:func:`~nettrain.runtime.modules.copy_module`) has
its own weights, BatchNorm statistics and optimizer state, and the test draws from its own
random streams, seeded with the run's seed (torch's, Python's and NumPy's are put back after).

Example:
    >>> import torch, torch.nn as nn, nettrain
    >>> x = torch.linspace(-1, 1, 64)[:, None]
    >>> found = nettrain.find_learning_rate(nn.Linear(1, 1), (x, 3 * x + 1), batch_size=16,
    ...                                     learning_rate=("find", {"steps": 40}))
    >>> len(found.rates) == len(found.losses) <= 40, 1e-7 < found.learning_rate < 10
    (True, True)
    >>> found.suggestion, found.rates[found.index] == found.learning_rate
    ('valley', True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from .data.batching import BatchSource, orders_examples
from .errors import NetTrainError, NetTrainWarning, add_note, describe, did_you_mean
from .runtime.layout import CHANNELS_LAST, set_layout
from .runtime.modules import copy_module
from .runtime.seed import seeded
from .scalars import as_int, as_real
from .step import make_step

if TYPE_CHECKING:
    from .losses import LossPlan
    from .optim import MethodSpec
    from .options.resolved import Options
    from .ports import PortBinding
    from .typed import Typed

__all__ = [
    "FinderSpec",
    "LearningRateFinderResult",
    "find_learning_rate",
    "parse_learning_rate_finder",
    "search",
    "suggest",
]

BETA = 0.98  # the smoothing of the loss (fastai's)
STOP_FACTOR = 4.0  # stop when the smoothed loss exceeds this many times the best one (fastai's)
TAIL = 5  # points left out at the end of the curve when suggesting (fastai's skip_end)
SUGGESTIONS = ("valley", "steepest", "minimum")
DESCENT_TOLERANCE = 1e-9  # relative: a fall smaller than this is rounding, not a descent
_SUB_OPTIONS = ("start", "end", "steps", "suggestion")


@dataclass(frozen=True)
class FinderSpec:
    """The resolved ``learning_rate="find"`` option.

    Attributes:
        start: the first rate of the sweep (1e-7).
        end: the last rate (10).
        steps: the most steps the sweep takes (100); it stops earlier when the loss diverges.
        suggestion: the rule that reads the curve: "valley" (default), "steepest", "minimum".
    """

    start: float = 1e-7
    end: float = 10.0
    steps: int = 100
    suggestion: str = "valley"

    def rates(self) -> list[float]:
        """The rate of every step: exponentially from ``start`` to ``end``.

        >>> FinderSpec(1e-3, 1e-1, 3).rates()
        [0.001, 0.01, 0.1]
        """
        ratio = self.end / self.start
        return [self.start * ratio ** (i / (self.steps - 1)) for i in range(self.steps)]


def _is_find(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() == "find"


def _sub_options(value: object) -> Mapping[Any, Any] | None:
    """The sub-options of a find form (``{}`` for plain "find"), or None for another value."""
    if _is_find(value):
        return {}
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and _is_find(value[0])
        and isinstance(value[1], Mapping)
    ):
        return value[1]
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, options),) = value.items()
        if _is_find(key) and isinstance(options, Mapping):
            return options
    return None


def _positive(key: str, value: object) -> float:
    number = as_real(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise NetTrainError(
            f"learning_rate[{key!r}]",
            "must be a finite number > 0",
            expected="a finite number > 0",
            received=describe(value),
        )
    return number


def parse_learning_rate_finder(value: object) -> FinderSpec | None:
    """Read the ``learning_rate`` option's find forms: ``"find"``, ``("find", {sub-options})``
    or ``{"find": {sub-options}}``; None for any other value (a rate, ``"auto"``).

    Sub-options: ``"start"`` (1e-7) and ``"end"`` (10), numbers > 0 with start < end;
    ``"steps"`` (100), an int >= 5; ``"suggestion"``: "valley" (default), "steepest" or
    "minimum".

    Raises:
        NetTrainError: an unknown sub-option or a bad value, naming ``learning_rate[key]``.

    >>> parse_learning_rate_finder(("find", {"steps": 30, "end": 1}))
    FinderSpec(start=1e-07, end=1.0, steps=30, suggestion='valley')
    >>> parse_learning_rate_finder(0.01) is None
    True
    """
    options = _sub_options(value)
    if options is None:
        return None
    values: dict[str, Any] = {}
    for key, given in options.items():
        if key not in _SUB_OPTIONS:
            raise NetTrainError(
                "learning_rate",
                f'unknown sub-option {key!r} of "find"',
                expected="one of " + ", ".join(map(repr, _SUB_OPTIONS)),
                received=repr(key),
                hint=did_you_mean(str(key), _SUB_OPTIONS),
            )
        if key in ("start", "end"):
            values[key] = _positive(key, given)
        elif key == "steps":
            steps = as_int(given)
            if steps is None or steps < 5:
                raise NetTrainError(
                    "learning_rate['steps']",
                    "must be a whole number of steps, at least 5",
                    expected="an int >= 5",
                    received=describe(given),
                )
            values[key] = steps
        elif not (isinstance(given, str) and given in SUGGESTIONS):
            raise NetTrainError(
                "learning_rate['suggestion']",
                "unknown suggestion rule",
                expected="one of " + ", ".join(map(repr, SUGGESTIONS)),
                received=describe(given),
            )
        else:
            values[key] = given
    spec = FinderSpec(**values)
    if spec.start >= spec.end:
        raise NetTrainError(
            "learning_rate",
            '"find" sweeps from a start rate up to a larger end rate',
            expected="start < end",
            received=f"start={spec.start:g}, end={spec.end:g}",
        )
    return spec


def check_finder_method(method: MethodSpec, sub_rate: object) -> None:
    """Refuse ``learning_rate="find"`` where there is no rate to find: with lbfgs (its step
    length comes from its line search) or with a rate given as a method sub-option too.

    Raises:
        NetTrainError: naming ``learning_rate``.
    """
    if method.name == "lbfgs":
        raise NetTrainError(
            "learning_rate",
            '"find" searches a learning rate, and lbfgs has none to search: its line search '
            "chooses each step's length",
            received='learning_rate="find" with method="lbfgs"',
            hint="leave learning_rate out with lbfgs, or find a rate for another method, e.g. "
            'method="adam"',
        )
    if sub_rate is not None:
        raise NetTrainError(
            "learning_rate",
            "the learning rate is given twice: find as the learning_rate option, and as a "
            "method sub-option",
            received=f'learning_rate="find" and method["learning_rate"]={sub_rate!r}',
            hint="give it in one place only",
        )


@dataclass(frozen=True)
class LearningRateFinderResult:
    """What a learning-rate range test found (see the module documentation).

    Attributes:
        learning_rate: the suggested rate: the one the run trains with.
        suggestion: the rule that chose it ("valley", "steepest", "minimum"), or
            "method_default" when the loss never went down.
        index: the point of the curve the rule read (None for "method_default"); the rate is
            ``rates[index]`` (a tenth of it for "minimum").
        rates: the learning rate of each step taken.
        losses: each step's batch loss (before its update), as a float.
        smoothed_losses: the smoothed losses (beta 0.98, debiased).
        stopped: "steps" (all steps ran), "diverged" (the smoothed loss passed 4 times the
            best) or "not_finite" (a loss was NaN or infinite: the last one recorded).
        start, end, steps: the sweep asked for.
        batch_size: the examples per step.
    """

    learning_rate: float
    suggestion: str
    index: int | None
    rates: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed_losses: tuple[float, ...]
    stopped: str
    start: float
    end: float
    steps: int
    batch_size: int

    def to_plain(self) -> dict[str, Any]:
        """The result as plain values (lists, numbers, strings): the ``learning_rate_finder``
        property, and what a checkpoint keeps for a resumed run."""
        return {
            "learning_rate": self.learning_rate,
            "suggestion": self.suggestion,
            "index": self.index,
            "rates": list(self.rates),
            "losses": list(self.losses),
            "smoothed_losses": list(self.smoothed_losses),
            "stopped": self.stopped,
            "start": self.start,
            "end": self.end,
            "steps": self.steps,
            "batch_size": self.batch_size,
        }

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> LearningRateFinderResult:
        """Read :meth:`to_plain`'s dict back (a KeyError or TypeError when it is not one)."""
        index = data["index"]
        return cls(
            learning_rate=float(data["learning_rate"]),
            suggestion=str(data["suggestion"]),
            index=None if index is None else int(index),
            rates=tuple(float(v) for v in data["rates"]),
            losses=tuple(float(v) for v in data["losses"]),
            smoothed_losses=tuple(float(v) for v in data["smoothed_losses"]),
            stopped=str(data["stopped"]),
            start=float(data["start"]),
            end=float(data["end"]),
            steps=int(data["steps"]),
            batch_size=int(data["batch_size"]),
        )


# ---- the suggestion -------------------------------------------------------------------------


def _window(smoothed: Sequence[float], steps: int) -> range:
    """The points the rules read: finite ones, without the first ``steps // 10`` and the last
    :data:`TAIL` (the whole finite curve when that leaves fewer than 3)."""
    finite = next((i for i, v in enumerate(smoothed) if not math.isfinite(v)), len(smoothed))
    head, last = steps // 10, finite - TAIL
    return range(head, last) if last - head >= 3 else range(finite)


def _valley(losses: Sequence[float]) -> int | None:
    """fastai's valley: the longest decreasing subsequence (ending at ``end``, of ``length``
    points), read as the span ``[end - length, end]``, and the point ``int(s) + int(s / 2)``
    past its start, ``s`` a third of the span; None when no point lies below an earlier one."""
    n = len(losses)
    length = [1] * n
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j]:
                length[i] = max(length[i], length[j] + 1)
        if length[i] > length[end]:
            end = i
    if n == 0 or length[end] < 2:
        return None
    # fastai's start is one before a contiguous run's first point; at 0 it would be -1, which
    # fastai's indexing reads as the last point: here it stays at the first
    start = max(end - length[end], 0)
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def _descends(points: Sequence[float]) -> bool:
    """Whether some point lies below an earlier one by more than rounding (a constant loss,
    averaged, wobbles in its last bits)."""
    if len(points) < 2:
        return False
    tolerance = DESCENT_TOLERANCE * max(abs(p) for p in points)
    lowest = points[0]
    for point in points[1:]:
        if point < lowest - tolerance:
            return True
        lowest = min(lowest, point)
    return False


def suggest(
    rates: Sequence[float], smoothed: Sequence[float], steps: int, rule: str = "valley"
) -> tuple[float, int] | None:
    """The suggested rate and the point of the curve it comes from, by ``rule`` (see the
    module documentation); None when the smoothed loss never goes down.

    >>> rates = [10.0 ** (k - 6) for k in range(7)]
    >>> curve = [1.0, 1.0, 0.9, 0.5, 0.2, 0.1, 5.0]
    >>> [suggest(rates, curve, 7, rule) for rule in ("valley", "steepest", "minimum")]
    [(1e-05, 1), (0.0001, 2), (0.01, 5)]
    >>> suggest(rates, [1.0] * 7, 7) is None
    True
    """
    window = _window(smoothed, steps)
    points = [smoothed[i] for i in window]
    if not _descends(points):
        return None  # never below an earlier point: no valley, no descent, no useful minimum
    if rule == "valley":
        found = _valley(points)
        assert found is not None  # a point below an earlier one is a valley of length 2
        index = window[found]
        return rates[index], index
    if rule == "steepest":
        slopes = [
            (points[k + 1] - points[k])
            / (math.log(rates[window[k + 1]]) - math.log(rates[window[k]]))
            for k in range(len(points) - 1)
        ]
        index = window[min(range(len(slopes)), key=slopes.__getitem__)]
        return rates[index], index
    index = window[min(range(len(points)), key=points.__getitem__)]
    return rates[index] / 10, index


# ---- the sweep ------------------------------------------------------------------------------


@contextlib.contextmanager
def _own_random_streams(seed: int) -> Iterator[None]:
    """The sweep's draws (dropout, a data function's) from streams seeded with the run's seed,
    and every global stream as it was afterwards: the run draws what it would have drawn."""
    python, numpy = random.getstate(), np.random.get_state()
    try:
        with seeded(seed):
            yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)


def _batches(source: BatchSource, batch_size: int, device: torch.device) -> Iterator[Any]:
    """The run's own first batches for data nettrain orders (pure functions of the seed and
    the round); for streams, the first batch over and over (a stream cannot be read twice)."""
    if orders_examples(source):
        round = 1
        while True:
            for batch in source.round_batches(round, batch_size):
                yield {k: v.to(device) for k, v in batch.items()}
            round += 1
    batch = {k: v.to(device) for k, v in source.sample(batch_size).items()}
    while True:
        yield batch


def _stops(loss: float, smoothed: float, best: float) -> str | None:
    if not math.isfinite(loss):
        return "not_finite"
    if smoothed > best + (STOP_FACTOR - 1) * abs(best):  # 4 x best for a positive loss
        return "diverged"
    return None


def sweep(
    step: Callable[[Any], Tensor],
    set_rate: Callable[[float], None],
    batches: Iterator[Any],
    rates: Sequence[float],
) -> tuple[list[float], list[float], str]:
    """Train with each rate in turn: the rates used, their losses and smoothed losses, and
    why the sweep stopped ("steps", "diverged", "not_finite")."""
    losses: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    for i, rate in enumerate(rates):
        set_rate(rate)
        loss = float(step(next(batches)))  # one sync a step: the stop rule needs the value
        average = BETA * average + (1 - BETA) * loss
        losses.append(loss)
        smoothed.append(average / (1 - BETA ** (i + 1)))
        best = min(best, smoothed[-1])
        stopped = _stops(loss, smoothed[-1], best)
        if stopped is not None:
            return losses, smoothed, stopped
    return losses, smoothed, "steps"


def search(
    net: nn.Module,
    opts: Options,
    spec: FinderSpec,
    source: BatchSource,
    binding: PortBinding,
    plan: LossPlan,
    typed: Typed,
    batch_size: int,
    make_updater: Callable[[nn.Module], Any],
    *,
    autocast: tuple[str, torch.dtype] | None = None,
    channels_last: bool = False,
) -> LearningRateFinderResult:
    """Run the range test for a run being prepared (see the module documentation).

    ``make_updater(module)`` builds the run's updater for the copy, without the method's
    learning-rate schedule; ``plan`` is the run's loss (its example weights are kept).

    Raises:
        NetTrainError: the first step's loss is NaN or infinite (argument ``learning_rate``).

    Warns:
        NetTrainWarning: the loss never went down: the method's default rate is used.
    """
    from .losses import resolve_loss
    from .prepare_length import float_dtype

    twin = copy_module(net)
    if channels_last:
        set_layout(twin, CHANNELS_LAST)
    typed.install(binding.inputs, module=twin)  # the copy carries none of the library's hooks
    rates = spec.rates()
    with _own_random_streams(opts.seed):
        batches = _batches(source, batch_size, opts.device)
        sample = {k: v.to(opts.device) for k, v in source.sample(batch_size).items()}
        own = resolve_loss(opts.loss_function, twin, binding.inputs, binding.targets, sample,
                           float_dtype=float_dtype(net, opts), binary=typed.binary_targets(),
                           classes=typed.class_targets())  # fmt: skip
        try:
            # the run's example weights, read by the copy's own loss terms and logit taps
            twin_plan = dataclasses.replace(own, weights=plan.weights)
            updater = make_updater(twin)
            step = make_step(twin, binding.inputs, twin_plan, updater, autocast=autocast,
                             channels_last=channels_last)  # fmt: skip
            losses, smoothed, stopped = sweep(step, updater.set_learning_rate, batches, rates)
        except Exception as error:  # the user's code (the net, the loss, the data) raised
            add_note(error, 'raised during the learning-rate range test (learning_rate="find"), '
                     "on a copy of the net: the net's weights are unchanged")  # fmt: skip
            raise
        finally:
            own.close()
    return _result(spec, opts.method.learning_rate, rates, losses, smoothed, stopped, batch_size)


def _result(
    spec: FinderSpec,
    default: float,
    rates: Sequence[float],
    losses: list[float],
    smoothed: list[float],
    stopped: str,
    batch_size: int,
) -> LearningRateFinderResult:
    if not math.isfinite(losses[0]):
        raise NetTrainError(
            "learning_rate",
            f'"find": the loss was {losses[0]} at the first step of the range test (rate '
            f"{rates[0]:g}), before the weights had changed much: no learning rate can help",
            expected="a finite loss on the training data",
            received=repr(losses[0]),
            hint="check the loss function and the data (a log of 0, a division by 0, NaN in "
            "the targets), or give a learning rate to train anyway",
        )
    used = rates[: len(losses)]
    found = suggest(used, smoothed, spec.steps, spec.suggestion)
    if found is None:
        warnings.warn(
            f'learning_rate="find": the smoothed loss never went down at any rate from '
            f"{spec.start:g} to {used[-1]:g} ({len(losses)} steps), so there is no rate to "
            f"suggest; training uses the method's default learning rate ({default:g}). See "
            "the learning_rate_finder property (and its plot), or give a learning rate.",
            NetTrainWarning,
            stacklevel=2,
        )
    rate, index = (default, None) if found is None else found
    return LearningRateFinderResult(
        learning_rate=rate,
        suggestion=spec.suggestion if found is not None else "method_default",
        index=index,
        rates=tuple(used),
        losses=tuple(losses),
        smoothed_losses=tuple(smoothed),
        stopped=stopped,
        start=spec.start,
        end=spec.end,
        steps=spec.steps,
        batch_size=batch_size,
    )


# ---- the public function --------------------------------------------------------------------


def find_learning_rate(net: nn.Module, data: object, **options: object) -> LearningRateFinderResult:
    """Run the learning-rate range test that ``train(net, data, learning_rate="find",
    **options)`` would run, and return what it found, without training.

    Args:
        net: any ``torch.nn.Module``; its weights, buffers and mode are left as they are (lazy
            modules get their shapes, and the net moves to the target device, as ``train``
            would do).
        data: any data form ``train`` takes.
        **options: ``train``'s options: those that shape the test (``method``,
            ``learning_rate_multipliers``, ``loss_function``, ``batch_size``, ``target_device``,
            ``working_precision``, ``memory_format``, ``example_weights``, ``validation_set``
            (a fraction is held out of the test's batches too), ``random_seeding``, ...) as
            for ``train``; ``learning_rate`` is ``"find"`` (the default here) or
            ``("find", {"start": ..., "end": ..., "steps": ..., "suggestion": ...})``. Options
            of the loop (reporting, stopping, checkpoints) change nothing here.

    Returns:
        a :class:`LearningRateFinderResult`: ``learning_rate`` (what ``train`` would use),
        ``rates``, ``losses``, ``smoothed_losses``, ``suggestion`` and how the sweep ended.

    Raises:
        NetTrainError: what ``train`` would refuse; a ``learning_rate`` that is not a find form;
            a method without a learning rate (lbfgs); a loss that is NaN from the first step.

    Warns:
        NetTrainWarning: the loss never went down (the method's default rate is returned).

    Example:
        >>> import torch, torch.nn as nn, nettrain
        >>> x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
        >>> y = (x.sum(1) > 0).long()
        >>> found = nettrain.find_learning_rate(nn.Linear(3, 2), (x, y), batch_size=8,
        ...                                     method="sgd")
        >>> found.suggestion, found.rates[0], found.rates[found.index] == found.learning_rate
        ('valley', 1e-07, True)
    """
    from .options.resolved import resolve_options
    from .prepare import prepare, unchanged_on_error
    from .train import start_typed

    given = dict(options)
    given.setdefault("learning_rate", "find")
    if parse_learning_rate_finder(given["learning_rate"]) is None:
        raise NetTrainError(
            "learning_rate",
            "find_learning_rate searches the learning rate: it takes only a find form",
            expected='"find" or ("find", {"start": ..., "end": ..., "steps": ...})',
            received=describe(given["learning_rate"]),
            hint="leave learning_rate out, or call nettrain.train to train at a given rate",
        )
    opts, typed = start_typed(net, data, given, resolve_options(given))
    was_training = typed.module.training
    try:
        with seeded(opts.seed), unchanged_on_error(typed.module, opts):
            session = prepare(typed.module, typed.data, opts, time.perf_counter, typed)
        session.plan.close()  # the net keeps none of the library's hooks
    finally:
        typed.close()
        typed.module.train(was_training)
    assert session.learning_rate_finder is not None
    return session.learning_rate_finder
