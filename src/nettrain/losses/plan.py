"""What a run trains on: the loss terms of every output port, summed with their weights.

A :class:`LossPlan` is called as ``plan(outputs, batch)``; its :meth:`~LossPlan.forward_function`
runs the net and names its outputs, with the logits of a final Softmax/Sigmoid (captured by a
:class:`LogitTap`) under :func:`logits_key`. :class:`TrainingNet` is the net with its loss
attached (the ``training_net`` property).

Example:
    >>> import torch, torch.nn as nn
    >>> from nettrain.losses import resolve_loss
    >>> net = nn.Linear(2, 1)
    >>> batch = {"input": torch.ones(3, 2), "target": torch.zeros(3, 1)}
    >>> plan = resolve_loss("auto", net, ("input",), ("target",), batch)
    >>> loss = plan(plan.forward(net, ("input",), batch), batch)
    >>> torch.equal(TrainingNet(net, ("input",), plan)(batch), loss)
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..ports import output_ports
from ..runtime.modules import attach_forward_hook

__all__ = ["LogitTap", "LossFn", "LossPlan", "LossTerm", "TrainingNet", "logits_key"]

LossFn = Callable[[Tensor, Tensor], Tensor]


class LogitTap:
    """Captures the input of the net's final Softmax/Sigmoid layer (the logits) for the loss.

    The hook records only while :meth:`LossPlan.forward_function`'s forward pass runs (it arms
    the tap around the call), and that pass takes the logits out at once into the outputs it
    returns. So the tap never holds a tensor between calls: a forward pass the user makes
    meanwhile (in a progress function, say) leaves nothing behind, and the net stays
    deep-copyable (a tensor with an autograd graph cannot be copied).
    """

    def __init__(self, module: nn.Module) -> None:
        self.logits: Tensor | None = None
        self.armed = False
        self.handle = attach_forward_hook(module, self._hook)

    def _hook(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        if self.armed:
            self.logits = inputs[0]

    def take(self) -> Tensor | None:
        """The logits of the forward pass that just ran, forgotten here."""
        logits, self.logits = self.logits, None
        return logits

    def close(self) -> None:
        self.handle.remove()
        self.logits = None
        self.armed = False


def logits_key(port: str) -> str:
    """The key under which a forward pass stores the logits captured for output ``port``."""
    return f"{port}@logits"


@dataclass
class LossTerm:
    """One output port's loss: ``weight * fn(output or logits, target)``.

    Attributes:
        output: the output port. target: the target column (None if the output is a loss).
        name: the loss's name as recorded in results. weight: its weight in the total.
        fn: mean-reduced loss. per_example: the same loss per example ([batch]), or None.
        tap: captures logits when the net ends in Softmax/Sigmoid.
        target_dtype: the dtype targets are converted to (None: as they are).
        classes: the number of classes (cross-entropy with class-index targets), else None.
        scores: what ``fn`` takes as predictions: "logits", "probabilities" or
            "log_probabilities" (the measurements read the outputs the same way).
        squeeze_target: class indices given as a column ``[n, 1]``: the last axis is dropped.
        task: what the measurements see ("classification", "binary", "regression"), for a
            term whose name does not say it (a loss object that builds its own term, such as
            :mod:`nettrain.keras`' losses); None: from the name.
    """

    output: str
    target: str | None
    name: str
    weight: float
    fn: LossFn
    per_example: LossFn | None
    tap: LogitTap | None = None
    target_dtype: torch.dtype | None = None
    classes: int | None = None
    scores: str = "logits"
    squeeze_target: bool = False
    task: str | None = None

    def prediction(self, outputs: Mapping[str, Tensor]) -> Tensor:
        """What the loss and the measurements read: the captured logits, or the output."""
        if self.tap is not None:
            logits = outputs.get(logits_key(self.output))
            if logits is not None:
                return logits
        return outputs[self.output]

    def target_of(self, batch: Mapping[str, Tensor]) -> Tensor:
        if self.target is None:
            return _NO_TARGET
        t = batch[self.target]
        if self.squeeze_target and t.ndim > 1:
            t = t.squeeze(-1)
        return (
            t
            if self.target_dtype is None or t.dtype == self.target_dtype
            else t.to(self.target_dtype)
        )


_NO_TARGET = torch.empty(0)


def _computed_from(term: LossTerm) -> str:
    """What the loss reads: the output itself, or the logits before a final layer."""
    if term.tap is not None:
        layer = "Softmax" if term.name == "cross_entropy" else "Sigmoid"
        return f"logits before the final {layer}"
    if term.scores == "log_probabilities":
        return "log-probabilities (the output)"
    if term.scores == "probabilities":
        return "probabilities (the output)"
    if term.name in ("cross_entropy", "binary_cross_entropy"):
        return "logits (the output)"
    return "the output"


@dataclass
class LossPlan:
    """The losses of every output port, summed with their weights.

    Call it as ``plan(outputs, batch)`` with the net's named outputs; ``per_example`` gives one loss
    per example; ``close()`` removes the forward hooks that capture logits.
    """

    terms: list[LossTerm]
    output_is_loss: str | None = None
    # how much each example counts (nettrain.losses.weights.ExampleWeights), or None
    weights: Any = None
    _fast: Callable[[Mapping[str, Tensor], Mapping[str, Tensor]], Tensor] | None = field(
        default=None, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.weights is None and len(self.terms) == 1 and self.terms[0].weight == 1.0:
            term = self.terms[0]
            fn, tgt = term.fn, term.target
            read = logits_key(term.output) if term.tap is not None else term.output
            if tgt is not None and term.target_dtype is None:
                self._fast = lambda outputs, batch: fn(outputs[read], batch[tgt])
            elif tgt is not None:
                self._fast = lambda outputs, batch: fn(outputs[read], term.target_of(batch))

    def __call__(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> Tensor:
        if self._fast is not None:
            return self._fast(outputs, batch)
        total: Tensor | None = None
        losses = self.per_term(outputs, batch)
        for term in self.terms:
            value = losses[term.output]
            if term.weight != 1.0:
                value = value * term.weight
            total = value if total is None else total + value
        assert total is not None
        return total

    def per_term(
        self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """Each output port's own loss (without the term's weight in the total; with the
        examples' weights, where the plan has them and the batch carries them)."""
        losses: dict[str, Tensor] = {}
        weights = None
        for term in self.terms:
            prediction, target = term.prediction(outputs), term.target_of(batch)
            if self.weights is not None and weights is None:
                weights = self.weights.of(batch, prediction.dtype)
            if weights is None:
                value = term.fn(prediction, target)
            else:
                assert term.per_example is not None
                value = (term.per_example(prediction, target) * weights).mean()
            losses[term.output] = value
        return losses

    def for_validation(self) -> LossPlan:
        """The plan the validation loss is computed with: the same terms, weighted only by
        weights the validation examples carry (a column), never by class weights."""
        if self.weights is None:
            return self
        return dataclasses.replace(self, weights=self.weights.for_validation())

    def per_example(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> Tensor:
        """The loss of every example in the batch, its terms summed with their weights, shape
        [batch] (the examples' own weights left out: ``example_losses`` are each example's
        loss)."""
        total: Tensor | None = None
        for term in self.terms:
            assert term.per_example is not None
            value = term.per_example(term.prediction(outputs), term.target_of(batch)) * term.weight
            total = value if total is None else total + value
        assert total is not None
        return total

    def forward_function(
        self, net: nn.Module, inputs: tuple[str, ...]
    ) -> Callable[[Mapping[str, Tensor]], dict[str, Tensor]]:
        """The function that runs ``net`` on a batch and names its outputs, with the logits of
        a final Softmax/Sigmoid under :func:`logits_key` (what the loss reads).

        Every forward pass during training goes through such a function, so the logit taps
        record only then and never keep a tensor after it.
        """
        taps = [(logits_key(t.output), t.tap) for t in self.terms if t.tap is not None]
        if len(inputs) == 1:
            (name,) = inputs

            def call(batch: Mapping[str, Tensor]) -> object:
                return net(batch[name])
        else:

            def call(batch: Mapping[str, Tensor]) -> object:
                return net(*[batch[n] for n in inputs])

        if not taps:
            return lambda batch: output_ports(call(batch))

        def forward(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
            for _, tap in taps:
                tap.armed = True
            try:
                outputs = output_ports(call(batch))
            finally:
                for _, tap in taps:
                    tap.armed = False
            for key, tap in taps:
                logits = tap.take()
                if logits is not None:
                    outputs[key] = logits
            return outputs

        return forward

    def forward(
        self, net: nn.Module, inputs: tuple[str, ...], batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """Run the net on a batch and name its outputs (see :meth:`forward_function`)."""
        return self.forward_function(net, inputs)(batch)

    def describe(self) -> dict[str, dict[str, object]]:
        """The chosen loss per output port, for the results (JSON-able)."""
        return {
            t.output: {
                "loss": t.name,
                "target": t.target,
                "weight": t.weight,
                "computed_from": _computed_from(t),
            }
            for t in self.terms
        }

    def close(self) -> None:
        for term in self.terms:
            if term.tap is not None:
                term.tap.close()


class TrainingNet(nn.Module):
    """The net with its loss attached: ``forward(batch)`` returns the training loss.

    This is the ``training_net`` property: it shows exactly what was optimised.
    """

    def __init__(self, net: nn.Module, inputs: tuple[str, ...], plan: LossPlan) -> None:
        super().__init__()
        self.net = net
        self.inputs = inputs
        self.plan = plan

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.plan(self.plan.forward(self.net, self.inputs, batch), batch)
