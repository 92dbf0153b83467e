"""``example_weights``: how much each example counts in the training loss.

A weighted run trains on ``sum_i w_i * loss_i / n`` over each batch of ``n`` examples: every
example's own loss (the loss's per-example form), scaled by its weight, averaged over the batch.
Weights of 1 give the plain loss; a weight of 2 counts an example twice; 0 leaves it out. This is
Keras' ``sample_weight`` with its default reduction (``"sum_over_batch_size"``), so scaling every
weight by ``c`` scales the loss, and its gradients, by ``c``. (PyTorch's class-weighted
``CrossEntropyLoss(weight=...)`` divides by the sum of the weights instead: pass that module as
``loss_function`` for its convention.)

The option takes three forms:

- a **column name**: the data (named columns, rows, or a stream's dict batches) has a column with
  one number >= 0 per example, read with every batch and never fed to the net;
- **one weight per example** (a 1-D tensor, array or list as long as the training data held in
  memory): the weights travel with their examples, into a held-out ``validation_set`` fraction too;
- **class weights** ``{class: weight}`` for a classification (or binary) loss: each example
  weighs as its target's class, an index (or a class name the data's labels use); classes left out
  weigh 1. They shape training only: the validation loss stays the plain loss, as Keras'
  ``class_weight`` does.

The validation loss is weighted where the validation examples carry weights (the column, or a
held-out fraction of weights given per example). The measurements (accuracy, error rate, ...) and
``example_losses`` are never weighted: they say how the net does on each example.

Example:
    >>> import torch, torch.nn as nn
    >>> from nettrain.losses import resolve_loss
    >>> net = nn.Linear(2, 1)
    >>> batch = {"input": torch.ones(2, 2), "target": torch.tensor([[0.0], [2.0]]),
    ...          "w": torch.tensor([1.0, 0.0])}
    >>> plan = resolve_loss("mean_squared", net, ("input",), ("target",), batch)
    >>> weighted = with_weights(plan, ExampleWeights(column="w"))
    >>> out = weighted.forward(net, ("input",), batch)
    >>> each = (out["output"] - batch["target"]).squeeze(1) ** 2
    >>> torch.allclose(weighted(out, batch), (each * batch["w"]).mean())
    True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean
from ..scalars import as_int, as_real
from .plan import LossPlan, LossTerm

__all__ = [
    "WEIGHT_COLUMN",
    "ExampleWeights",
    "class_weight_table",
    "parse_example_weights",
    "per_example_weights",
    "with_weights",
]

# The column that weights given one per example are kept in beside the data's own columns.
WEIGHT_COLUMN = "example_weights"

ARGUMENT = "example_weights"
EXPECTED = (
    "a data column name, one number >= 0 per training example (a 1-D tensor, array or list), "
    "or class weights {class: weight}"
)


@dataclass(frozen=True)
class ExampleWeights:
    """The weights of a run (see the module docstring).

    Attributes:
        column: the batch column holding one weight per example (None: class weights).
        classes: class weights as a table indexed by class (float, on the run's device).
        target: the target column the class is read from.
        read: how the target gives the class: "index" (class indices), "argmax" (one-hot or
            probability rows), "binary" (one 0/1 value per example).
    """

    column: str | None = None
    classes: Tensor | None = None
    target: str | None = None
    read: str = "index"

    def of(self, batch: Mapping[str, Tensor], dtype: torch.dtype) -> Tensor | None:
        """The batch's weights, shape [batch], or None when the batch carries none."""
        if self.column is not None:
            w = batch.get(self.column)
            return None if w is None else w.reshape(len(w)).to(dtype)
        assert self.classes is not None and self.target is not None
        t = batch[self.target]
        if self.read == "argmax":
            index = t.reshape(len(t), -1).argmax(1)
        elif self.read == "binary":
            index = t.reshape(len(t)).round().long()
        else:
            index = t.reshape(len(t)).long()
        table = self.classes
        inside = (index >= 0) & (index < len(table))
        w = table[index.clamp(0, len(table) - 1)]
        return torch.where(inside, w, torch.ones_like(w)).to(dtype)

    def for_validation(self) -> ExampleWeights | None:
        """What weighs the validation loss: a weight column, never class weights."""
        return self if self.column is not None else None


def parse_example_weights(spec: object) -> object:
    """Check the option's form (its values are checked against the data in :func:`with_weights`
    and :func:`per_example_weights`); returns it with a per-example vector as a float64 tensor.

    >>> parse_example_weights([1, 2]).tolist(), parse_example_weights({0: 2})
    ([1.0, 2.0], {0: 2})
    """
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        if not spec:
            raise NetTrainError(ARGUMENT, "the class weights are empty", expected=EXPECTED)
        for key, value in spec.items():
            _check_weight(value, f"example_weights[{key!r}]")
        return dict(spec)
    if isinstance(spec, Tensor | np.ndarray | Sequence):
        try:
            vector = torch.as_tensor(np.asarray(spec, dtype=np.float64))
        except (TypeError, ValueError):
            raise NetTrainError(
                ARGUMENT, "cannot be read as numbers", expected=EXPECTED, received=describe(spec)
            ) from None
        if vector.ndim != 1:
            raise NetTrainError(
                ARGUMENT,
                "weights given per example must be one number per example",
                expected="a 1-D tensor, array or list",
                received=f"shape {tuple(vector.shape)}",
                hint="flatten them: weights.reshape(-1)",
            )
        bad = ~(torch.isfinite(vector) & (vector >= 0))
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise NetTrainError(
                ARGUMENT,
                "every weight must be a finite number >= 0",
                index=index,
                received=repr(float(vector[index])),
            )
        return vector
    raise NetTrainError(
        ARGUMENT, "cannot use this as example weights", expected=EXPECTED, received=describe(spec)
    )


def _check_weight(value: object, where: str) -> float:
    weight = as_real(value)
    if weight is None or not (math.isfinite(weight) and weight >= 0):
        raise NetTrainError(
            where, "a class weight must be a finite number >= 0", received=describe(value)
        )
    return weight


def per_example_weights(vector: Tensor, examples: int | None, form: str) -> Tensor:
    """Check weights given one per example against the training data; returns them as given.

    Raises:
        NetTrainError: a stream (its examples have no fixed order to match), or a length that
            is not the number of training examples.
    """
    if examples is None:
        raise NetTrainError(
            ARGUMENT,
            "weights given one per example need data held in memory",
            expected="training data as tensors, pairs or columns",
            received=f"a {form.replace('_', ' ')} stream",
            hint="put the weights in the stream's batches as a column and name it: "
            'example_weights="weight"',
        )
    if len(vector) != examples:
        raise NetTrainError(
            ARGUMENT,
            "there must be one weight per training example",
            expected=f"{examples} weights",
            received=f"{len(vector)}",
        )
    return vector


def class_weight_table(
    spec: Mapping[object, object],
    term: LossTerm,
    labels: Sequence[object] | None,
    task: str | None,
    count: int | None,
) -> Tensor:
    """Class weights as a table indexed by class; classes not named weigh 1.

    Args:
        spec: ``{class: weight}``: class indices, or names among ``labels`` (the classes of the
            target's encoder), or True/False for a binary loss.
        term: the loss term whose targets give the classes.
        labels: the class names, in index order, when the data's labels are names.
        task: "classification" or "binary".
        count: the number of classes (None: not known before training).

    >>> from nettrain.losses.plan import LossTerm
    >>> term = LossTerm("output", "target", "cross_entropy", 1.0, None, None, classes=3)
    >>> class_weight_table({2: 5.0}, term, None, "classification", 3).tolist()
    [1.0, 1.0, 5.0]

    Raises:
        NetTrainError: a loss that is not a classification, a class that does not exist.
    """
    if task not in ("classification", "binary"):
        raise NetTrainError(
            ARGUMENT,
            "class weights need a classification loss",
            expected="a cross-entropy loss (class labels as targets)",
            received=f"the {term.name} loss",
            hint="weigh examples with a column or one weight per example instead",
        )
    weights: dict[int, float] = {}
    for key, value in spec.items():
        where = f"example_weights[{key!r}]"
        index = _class_index(key, labels, count, where)
        weights[index] = _check_weight(value, where)
    size = max([count or 0, *(i + 1 for i in weights)])
    table = torch.ones(size, dtype=torch.float64)
    for index, weight in weights.items():
        table[index] = weight
    return table


def _class_index(
    key: object, labels: Sequence[object] | None, count: int | None, where: str
) -> int:
    if labels is not None and key in list(labels):
        return list(labels).index(key)
    if isinstance(key, bool | np.bool_) and count == 2:
        return int(key)
    index = as_int(key)
    if index is None or index < 0 or (count is not None and index >= count):
        classes = f"0 to {count - 1}" if count else "0, 1, 2, ..."
        names = f", or one of the labels {list(labels)}" if labels is not None else ""
        raise NetTrainError(
            where,
            "is not one of the classes",
            expected=f"a class index from {classes}{names}",
            received=repr(key),
            hint=did_you_mean(str(key), [str(x) for x in labels]) if labels is not None else None,
        )
    return index


def with_weights(plan: LossPlan, weights: ExampleWeights | None) -> LossPlan:
    """The plan with ``weights`` applied to its loss (the same terms and hooks).

    Raises:
        NetTrainError: a loss without a per-example form (the net returns one loss per batch).
    """
    if weights is None:
        return dataclasses.replace(plan, weights=None)
    if plan.output_is_loss is not None or any(t.per_example is None for t in plan.terms):
        raise NetTrainError(
            ARGUMENT,
            "weighing examples needs one loss per example, and the net returns one loss for "
            "the whole batch",
            expected="a net whose loss nettrain computes (a loss_function), or one returning a "
            "loss per example",
            received="a scalar loss from the net",
        )
    return dataclasses.replace(plan, weights=weights)
