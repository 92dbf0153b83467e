"""Typed training: the encoders a run attaches, and the ``Net`` it returns.

``train`` calls :meth:`Typed.start` before anything else: a ``nettrain.Net`` is unwrapped to its
module (its encoders are used as they are), raw columns of in-memory data are encoded
(:func:`nettrain.data.raw.encode_raw`), and encoders with per-batch work (images: uint8 ->
normalised floats; text: padding trimmed) get a forward pre-hook on the module for the length
of the run. After training, :meth:`Typed.net` wraps the module with its encoders and the
decoders that match the targets' encoders.

Example:
    >>> import torch.nn as nn
    >>> typed = Typed.start(nn.Linear(1, 2), ([[0.0], [1.0]], ["no", "yes"]), argument="data")
    >>> typed.encoders["target"].describe()[:13]
    'Class encoder'
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from .data.raw import encode_raw, split_ports
from .errors import NetTrainError, NetTrainWarning
from .losses import LossPlan
from .net import Net
from .ports import bind_inputs
from .runtime.modules import attach_forward_pre_hook

__all__ = ["Typed"]


@dataclass
class Typed:
    """What a run knows about typed inputs and outputs."""

    module: nn.Module
    data: Any
    form: str | None = None
    encoders: dict[str, Any] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    examples: int = 0
    given: Net | None = None
    hooks: list[RemovableHandle] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        net: nn.Module,
        data: Any,
        *,
        argument: str = "data",
        encoders: dict[str, Any] | None = None,
        form: str | None = None,
    ) -> Typed:
        given = net if isinstance(net, Net) else None
        module = net.module if isinstance(net, Net) else net
        encoders = dict(encoders or {})
        if given is not None:
            encoders.update({p: e for p, e in {**given.inputs, **given.targets}.items() if e})
        split = split_ports(data)
        if split is None:
            return cls(module, data, given=given)
        try:
            inputs = bind_inputs(module, tuple(split[0]), argument=argument).inputs
        except NetTrainError:
            # columns that do not name the net's inputs (a wide data frame, say): no raw data
            # to encode here; the data boundary stacks or reports them
            return cls(module, data, given=given, encoders=encoders)
        encoded = encode_raw(data, inputs=inputs, given=encoders, argument=argument)
        if encoded is None:
            return cls(module, data, given=given, encoders=encoders)
        if encoded.skipped:
            first = list(encoded.skipped)[:5]
            warnings.warn(
                f"{len(encoded.skipped)} of {encoded.examples} training examples could not be "
                f"read by their encoder and were skipped (indices {first}"
                f"{' ...' if len(encoded.skipped) > 5 else ''}); see the "
                "'skipped_training_data' property",
                NetTrainWarning,
                stacklevel=4,
            )
        return cls(
            module,
            encoded.columns,
            form or encoded.form,
            {**encoders, **encoded.encoders},
            encoded.skipped,
            encoded.examples,
            given,
        )

    def encode_validation(self, data: Any, inputs: tuple[str, ...]) -> Any:
        """Validation data encoded with the training set's (fitted) encoders."""
        encoded = encode_raw(
            data, inputs=inputs, given=self.encoders, argument="validation_set", fit=False
        )
        return data if encoded is None else encoded.columns

    def add_feature_axes(self, ports: list[str]) -> None:
        """Columns of scalars that the net takes as ``[n, 1]`` get a scalar encoder that adds
        the axis per batch (recorded in the ``encoders`` property; the returned ``Net`` then
        answers ``net(3.7)``)."""
        from .coders import ScalarEncoder

        for port in ports:
            self.encoders[port] = ScalarEncoder(feature_axis=True)

    def install(self, inputs: tuple[str, ...], module: nn.Module | None = None) -> None:
        """Per-batch encoder work (images: scale and normalise; text: trim the padding; scalars:
        add the feature axis) as a pre-hook on ``module`` (default: the net being trained)."""
        steps = [(i, self.encoders[p].prepare) for i, p in enumerate(inputs) if p in self.encoders]
        if not steps:
            return

        def prepare(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            values = list(args)
            for position, function in steps:
                values[position] = function(values[position])
            return tuple(values)

        target = self.module if module is None else module
        self.hooks.append(attach_forward_pre_hook(target, prepare))

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks.clear()

    def net(
        self,
        inputs: tuple[str, ...],
        plan: LossPlan,
        sample: Mapping[str, Tensor],
        module: nn.Module | None = None,
    ) -> Net | None:
        """The trained ``Net`` around ``module`` (default: the net trained in place), when the
        run used encoders or was given a ``Net``; None otherwise.

        Each output's decoder reads what the module really outputs: probabilities after a
        final Softmax/Sigmoid, log-probabilities after a LogSoftmax, logits otherwise.
        """
        from .coders import decoder_for

        if not self.encoders and self.given is None:
            return None
        outputs: dict[str, Any] = {}
        targets: dict[str, Any] = {}
        for term in plan.terms:
            encoder = self.encoders.get(term.target) if term.target else None
            scores = "probabilities" if term.tap is not None else term.scores
            outputs[term.output] = (
                decoder_for(encoder, scores=scores) if encoder is not None else None
            )
            if encoder is not None and term.target is not None:
                targets[term.target] = encoder
        shapes = {p: list(sample[p].shape[1:]) for p in inputs if p in sample}
        net = Net(
            self.module if module is None else module,
            {p: self.encoders.get(p) for p in inputs},
            outputs,
            shapes,
            targets=targets,
        )
        if self.given is not None and module is None:
            # keep the object the user holds: update it in place
            self.given.inputs, self.given.outputs = net.inputs, net.outputs
            self.given.targets, self.given.example_shapes = net.targets, net.example_shapes
            return self.given
        return net

    def binary_targets(self) -> tuple[str, ...]:
        """Columns whose encoder made 0/1 floats (booleans, label sets): trained with BCE."""
        return tuple(
            p
            for p, e in self.encoders.items()
            if e.kind == "boolean" or (e.kind == "class" and getattr(e, "multilabel", False))
        )

    def class_targets(self) -> dict[str, int]:
        """Target columns that a class encoder made class indices, and their class counts."""
        return {
            p: len(e.classes)
            for p, e in self.encoders.items()
            if e.kind == "class"
            and not getattr(e, "multilabel", False)
            and getattr(e, "output", "index") == "index"
            and e.classes is not None
        }

    def describe(self) -> dict[str, str]:
        """Which encoder each port got (recorded in the results)."""
        return {p: e.describe() for p, e in self.encoders.items()}

    def skipped_report(self) -> dict[str, Any]:
        return {
            "count": len(self.skipped),
            "indices": list(self.skipped),
            "ports": dict(self.skipped),
            "examples": self.examples,
        }
