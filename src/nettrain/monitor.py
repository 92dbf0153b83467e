"""Watching a run: round measurements, validation, the best net, stopping, progress functions.

The loop calls three hooks, all cheap unless something is due:

- ``observe(outputs, batch, loss)`` after every update (from the step): adds the batch to the
  round's measurement statistics, on the device, without a sync;
- ``after_batch(state, elapsed)``: validates when a batch or time interval is due;
- ``after_round(state, elapsed)``: reads the round's measurements, validates when due.

Each validation records the validation loss and measurements, keeps a copy of the weights when
they are the best so far (S2.2), and checks the stopping criterion (S2.3). ``finish`` runs the
final validation and puts the best weights back into the net.

Example:
    >>> import torch, torch.nn as nn
    >>> from nettrain.losses import resolve_loss
    >>> net = nn.Linear(2, 3)
    >>> batch = {"input": torch.randn(6, 2), "target": torch.tensor([0, 1, 2, 0, 1, 2])}
    >>> plan = resolve_loss("auto", net, ("input",), ("target",), batch)
    >>> task_of(plan.terms[0])
    ('classification', 'logits', 3)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .data.batching import BatchSource, InMemorySource
from .distributed.agreement import Agreement
from .errors import NetTrainError, NetTrainWarning, add_note, describe, did_you_mean
from .example_losses import ExampleLosses
from .losses import LossPlan, LossTerm
from .measure import Accumulator, Measurement, parse_measurements
from .options.durations import Interval, parse_interval
from .state import TrainState
from .stopping import StoppingCriterion, StoppingTracker, parse_criterion

__all__ = [
    "Monitor",
    "Validation",
    "Watch",
    "parse_validation_interval",
    "resolve_watch",
    "task_of",
]


def task_of(term: LossTerm) -> tuple[str | None, str, int | None]:
    """What the measurements look at for a loss term: (task, score kind, number of classes)."""
    if term.task is not None:  # a term that says what its outputs are (nettrain.keras' losses)
        return term.task, term.scores, term.classes
    if term.name == "cross_entropy":
        return "classification", term.scores, term.classes
    if term.name == "binary_cross_entropy":
        return "binary", "logits", None
    if term.name in ("mean_squared", "mean_absolute", "huber"):
        return "regression", "logits", None
    return None, "logits", None


def _measurements(spec: object, term: LossTerm) -> list[Measurement]:
    task, _, classes = task_of(term)
    if task is None:
        # a loss the net computes itself, or a custom loss: only the loss can be measured
        loss_only = parse_measurements(["loss"], task="regression")
        if spec in ("auto", None, "loss", ["loss"]):
            return loss_only
        raise NetTrainError(
            "training_progress_measurements",
            f"the loss {term.name!r} does not say what the outputs are, so only 'loss' can be "
            "measured",
            expected='"auto" or "loss"',
            received=describe(spec),
            hint="use a built-in loss (cross_entropy, binary_cross_entropy, mean_squared...)",
        )
    measured = parse_measurements(spec, task=task, num_classes=classes)
    if not any(m.key == "loss" for m in measured):
        # the loss is always measured (as NetTrain reports it): the best net's ties and every
        # report read it, whatever else was asked for
        measured = parse_measurements(["loss"], task=task) + measured
    return measured


@dataclass(frozen=True)
class Watch:
    """What a run measures and when it stops: resolved from the options before training.

    Attributes:
        measured: the measurements of every round and validation (the loss always first or
            among them).
        criterion: the resolved ``training_stopping_criterion``, or None.
    """

    measured: list[Measurement]
    criterion: StoppingCriterion | None

    @property
    def directions(self) -> dict[str, str | None]:
        directions: dict[str, str | None] = {m.key: m.direction for m in self.measured}
        directions.setdefault("loss", "decreasing")
        return directions


def resolve_watch(measurements: object, criterion: object, plan: LossPlan) -> Watch:
    """Check ``training_progress_measurements`` and ``training_stopping_criterion`` against the
    loss the run trains on, before any training (a misspelt name costs no time).

    Raises:
        NetTrainError: an unknown or unfitting measurement, a criterion naming no measurement.
    """
    measured = _measurements(measurements, plan.terms[0])
    watch = Watch(measured, None)
    if criterion is None:
        return watch
    return Watch(measured, parse_criterion(criterion, directions=watch.directions))


@dataclass
class Validation:
    """A validation set and how often it is used."""

    source: BatchSource
    interval: Interval = field(default_factory=lambda: Interval(1.0, "rounds"))

    @property
    def examples(self) -> int | None:
        return self.source.num_examples


def parse_validation_interval(spec: object) -> tuple[object, Interval]:
    """Split ``(data, {"interval": ...})`` into the data and its interval (default: 1 round).

    A generator takes ``round_length`` as the training generator does (seed 000):
    ``(g, {"round_length": n})`` calls ``g`` often enough for about n examples per validation,
    and may carry the ``interval`` in the same dict.

    >>> parse_validation_interval((print, {"round_length": 50, "interval": "2 rounds"}))
    ((<built-in function print>, {'round_length': 50}), Interval(amount=2.0, unit='rounds'))
    """
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        data, options = spec
        generator = callable(data) and not isinstance(data, nn.Module | Tensor)
        allowed = ("interval", "round_length") if generator else ("interval",)
        unknown = [k for k in options if k not in allowed]
        if unknown:
            raise NetTrainError(
                "validation_set",
                f"unknown sub-option {unknown[0]!r}",
                expected='{"interval": "2 rounds" | "500 batches" | "30 s"}'
                + (', and "round_length" for a generator' if generator else ""),
                received=repr(unknown[0]),
                hint=did_you_mean(str(unknown[0]), allowed),
            )
        if "round_length" in options:
            data = (data, {"round_length": options["round_length"]})
        if "interval" not in options:
            return data, Interval(1.0, "rounds")
        return data, parse_interval(options["interval"], argument="validation_set")
    return spec, Interval(1.0, "rounds")


class _PortLosses:
    """Each output port's own loss over a round, for nets with several loss terms (reported as
    "loss:<port>" beside the measurements)."""

    def __init__(self, plan: LossPlan) -> None:
        self.plan = plan
        self.sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> None:
        n = next(iter(batch.values())).shape[0]
        for port, value in self.plan.per_term(outputs, batch).items():
            value = value.detach() * n
            self.sums[port] = self.sums[port] + value if port in self.sums else value
        self.count += n

    def result(self) -> dict[str, float]:
        values = {f"loss:{p}": float(v) / self.count for p, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return values


class _BestTracker:
    """Keeps a copy of the weights each time a validation beats the best so far."""

    def __init__(self, net: nn.Module, key: str, direction: str, tie_key: str | None) -> None:
        self.net = net
        self.key, self.direction, self.tie_key = key, direction, tie_key
        self.best: tuple[float, float] | None = None

    def better(self, values: Mapping[str, Any]) -> bool:
        value = float(values[self.key])
        tie = float(values[self.tie_key]) if self.tie_key else 0.0
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        sign = -1.0 if self.direction == "increasing" else 1.0
        best_value, best_tie = self.best
        if sign * value < sign * best_value:
            return True
        return value == best_value and self.tie_key is not None and tie < best_tie

    def consider(self, values: Mapping[str, Any], state: TrainState) -> bool:
        if not self.better(values):
            return False
        self.best = (float(values[self.key]), float(values[self.tie_key]) if self.tie_key else 0.0)
        weights = self.net.state_dict()
        if state.best_weights is None:
            state.best_weights = {k: v.detach().clone() for k, v in weights.items()}
        else:
            with torch.no_grad():
                for k, v in weights.items():
                    state.best_weights[k].copy_(v)
        state.best_round = state.round
        state.best_position = state.absolute_batch
        return True


class Monitor:
    """Round measurements, validation, best net and stopping for one run (see module doc)."""

    def __init__(
        self,
        *,
        net: nn.Module,
        inputs: tuple[str, ...],
        plan: LossPlan,
        watch: Watch,
        validation: Validation | None,
        batch_size: int,
        device: torch.device,
        record_batches: bool = False,
        example_losses: ExampleLosses | None = None,
        autocast: tuple[str, torch.dtype] | None = None,
        agreement: Agreement | None = None,
    ) -> None:
        self.net, self.inputs, self.plan = net, inputs, plan
        # several processes: each rank measures its share of the round's batches and of each
        # validation batch, merged over the ranks at the round's end and after each validation
        self.agreement = agreement
        # class weights shape training only; a weight column weighs validation examples too
        self.validation_plan = plan.for_validation()
        self.example_losses = example_losses
        self.autocast = autocast  # "mixed": validation forward passes at the training precision
        self.term = plan.terms[0]
        task, scores, classes = task_of(self.term)
        self.task = task or "regression"
        self.measured = watch.measured
        self._make_accumulator: Callable[[], Accumulator] = lambda: Accumulator(
            self.measured, task=self.task, scores=scores, num_classes=classes, device=device
        )
        # Training rounds already keep every batch's loss (TrainState), so the round's "loss"
        # measurement is taken from there rather than accumulated a second time per batch.
        self._loss_from_state = any(m.key == "loss" and m.name == "loss" for m in self.measured)
        training = [m for m in self.measured if not (m.key == "loss" and m.name == "loss")]
        self.round_stats = Accumulator(
            training, task=self.task, scores=scores, num_classes=classes, device=device
        )
        self._training_measured = bool(training)
        self._ports = _PortLosses(plan) if len(plan.terms) > 1 else None
        self.device = device
        # per-batch measurements cost a sync per batch: kept only when asked for
        self.batch_stats = self._make_accumulator() if record_batches else None
        self.batch_values: list[dict[str, Any]] = []
        self.validation = validation
        self.eval_batch = max(batch_size, min(4 * batch_size, 1024))
        directions = watch.directions
        self.criterion: StoppingCriterion | None = watch.criterion
        self.stopping: StoppingTracker | None = None
        if self.criterion is not None:
            self.stopping = StoppingTracker(self.criterion)
            if validation is None:
                warnings.warn(
                    "training_stopping_criterion without a validation_set is checked on the "
                    "training round measurements, which keep improving as the net overfits; "
                    "give a validation_set to stop on unseen data",
                    NetTrainWarning,
                    stacklevel=5,
                )
        self.best: _BestTracker | None = None
        if validation is not None:
            if self.criterion is not None and self.criterion.key is not None:
                key, direction, tie = self.criterion.key, self.criterion.direction, None
            elif "error_rate" in directions:
                key, direction, tie = "error_rate", "decreasing", "loss"
            elif "accuracy" in directions:  # top-1 accuracy ranks nets as the error rate does
                key, direction, tie = "accuracy", "increasing", "loss"
            else:
                key, direction, tie = "loss", "decreasing", None
            self.best = _BestTracker(net, key, direction, tie)
        self._next_time: float | None = None

    # ---- per batch (hot path) ----------------------------------------------------------------

    @property
    def observes(self) -> bool:
        """Whether the step must hand each batch's outputs to :meth:`observe`."""
        return (
            self._training_measured
            or self.batch_stats is not None
            or self._ports is not None
            or self.example_losses is not None
        )

    def live_extras(self) -> dict[str, Any]:
        """What the monitor adds to the live properties: ``example_losses`` when tracked."""
        if self.example_losses is None:
            return {}
        return {"example_losses": self.example_losses.value()}

    def observe(
        self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor], loss: Tensor
    ) -> None:
        try:
            if self.example_losses is not None:
                self.example_losses.observe(outputs, batch)
            if self._training_measured:
                self.observe_into(self.round_stats, outputs, batch, loss)
            if self._ports is not None:
                self._ports.add(outputs, batch)
            if self.batch_stats is not None:
                self.batch_stats.reset()
                self.observe_into(self.batch_stats, outputs, batch, loss)
                self.batch_values.append(self.batch_stats.result())
        except Exception as error:
            add_note(error, "raised while measuring the batch (after its update)")
            raise

    def after_batch(self, state: TrainState, elapsed: float) -> str | None:
        v = self.validation
        if v is None or v.interval.unit == "rounds":
            return None
        if v.interval.unit == "batches":
            due = state.absolute_batch % int(v.interval.amount) == 0
        else:
            if self._next_time is None:
                self._next_time = v.interval.amount
            due = elapsed >= self._next_time
            if due:
                self._next_time = elapsed + v.interval.amount
        return self.validate(state) if due else None

    def after_round(self, state: TrainState, elapsed: float) -> str | None:
        if self.agreement is not None:
            if self._training_measured:
                self.agreement.merge_round(self.round_stats)
            if self._ports is not None:
                self._ports.sums, self._ports.count = self.agreement.merge_sums(
                    self._ports.sums, self._ports.count
                )
        measured = self.round_stats.result()
        self.round_stats.reset()
        values = {
            m.key: state.round_losses[-1]
            if m.key == "loss" and self._loss_from_state
            else measured[m.key]
            for m in self.measured
        }
        if self._ports is not None:
            values.update(self._ports.result())
        state.round_measurements.append(values)
        v = self.validation
        if v is not None:
            if v.interval.unit == "rounds" and state.round % int(v.interval.amount) == 0:
                return self.validate(state)
            return None
        if self._should_stop(state):
            return "stopping_criterion"
        return None

    # ---- validation --------------------------------------------------------------------------

    def _batches(self) -> Any:
        assert self.validation is not None
        source = self.validation.source
        if isinstance(source, InMemorySource):
            columns, n = source.table.columns, len(source.table)
            for begin in range(0, n, self.eval_batch):
                yield {k: v[begin : begin + self.eval_batch] for k, v in columns.items()}
        else:
            yield from source.round_batches(1, self.eval_batch)

    def _forward(self, batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """The net's outputs for an evaluation batch: under the run's autocast when it trains
        "mixed" (outputs back in float32 for the loss and measurements, as in training)."""
        if self.autocast is None:
            return self.plan.forward(self.net, self.inputs, batch)
        with torch.autocast(self.autocast[0], dtype=self.autocast[1]):
            outputs = self.plan.forward(self.net, self.inputs, batch)
        return {k: v.float() if v.is_floating_point() else v for k, v in outputs.items()}

    def evaluate(self) -> dict[str, Any]:
        """The loss and measurements of the net on the validation set (eval mode, under
        ``torch.inference_mode``: no autograd bookkeeping at all, faster than ``no_grad``; the
        accumulator's tensors are made outside it, so they stay ordinary tensors)."""
        stats = self._make_accumulator()
        ports = _PortLosses(self.validation_plan) if self._ports is not None else None
        was_training = self.net.training
        self.net.eval()
        on_device = self.validation is not None and self.validation.source.on_device
        agreement = self.agreement
        with torch.inference_mode():
            for whole in self._batches():
                # several processes: each rank evaluates its part of every batch, merged below
                batch = whole if agreement is None else agreement.share(whole)
                if not batch:
                    continue
                if not on_device:
                    batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                outputs = self._forward(batch)
                loss = self.validation_plan(outputs, batch)
                self.observe_into(stats, outputs, batch, loss)
                if ports is not None:
                    ports.add(outputs, batch)
        self.net.train(was_training)
        if agreement is not None:
            agreement.merge_round(stats)
            if ports is not None:
                ports.sums, ports.count = agreement.merge_sums(ports.sums, ports.count)
        values = stats.result()
        if ports is not None:
            values.update(ports.result())
        return values

    def observe_into(
        self,
        stats: Accumulator,
        outputs: Mapping[str, Tensor],
        batch: Mapping[str, Tensor],
        loss: Tensor,
    ) -> None:
        term = self.term
        if term.target is None:
            # only the loss is measured; the filler gives each batch its weight in examples
            filler = loss.detach().expand(next(iter(batch.values())).shape[0])
            stats.update(filler, filler, loss=loss.detach())
        else:
            stats.update(
                term.prediction(outputs).detach(), term.target_of(batch), loss=loss.detach()
            )

    def validate(self, state: TrainState) -> str | None:
        """Validate now: record, keep the best weights, check the stopping criterion."""
        state.flush()
        try:
            values = self.evaluate()
        except Exception as error:
            add_note(error, "raised while validating on the validation_set")
            raise
        state.validation_losses.append(float(values.get("loss", math.nan)))
        state.validation_measurements.append(values)
        state.validation_positions.append(state.absolute_batch)
        state.validation_rounds.append(state.round)
        if self.best is not None:
            self.best.consider(values, state)
        if self._should_stop(state):
            return "stopping_criterion"
        return None

    def _should_stop(self, state: TrainState) -> bool:
        if self.stopping is None:
            return False
        try:
            return bool(self.stopping.check(self._criterion_values(state)))
        except Exception as error:
            add_note(error, "raised by the training_stopping_criterion")
            raise

    def _criterion_values(self, state: TrainState) -> dict[str, Any]:
        if self.validation is not None:
            values = dict(state.validation_measurements[-1])
        else:
            values = dict(state.round_measurements[-1])
        values.update(
            round_loss=state.round_losses[-1] if state.round_losses else math.nan,
            round_measurements=state.round_measurements[-1] if state.round_measurements else {},
            validation_loss=state.validation_losses[-1] if state.validation_losses else None,
            validation_measurements=state.validation_measurements[-1]
            if state.validation_measurements
            else None,
        )
        return values

    def validate_at_end(self, state: TrainState) -> None:
        """The final validation, unless the user stopped or aborted training, or the last
        validation was at this very batch."""
        if self.validation is None or state.reason in ("stopped_by_user", "aborted"):
            return
        positions = state.validation_positions
        if not positions or positions[-1] != state.absolute_batch:
            self.validate(state)

    def restore_best(self, state: TrainState) -> None:
        """Put the best validation weights back into the net (not after an abort)."""
        if state.reason != "aborted" and state.best_weights is not None:
            self.net.load_state_dict(state.best_weights)
