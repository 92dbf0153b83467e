"""The ``example_weights`` side of preparing a run: where the weights are, and the weighted loss.

The rules are in :mod:`nettrain.losses.weights`. Here the option meets the data: weights given
one per example become a column of the training table (so that they travel with their examples
through shuffling and a held-out validation fraction), a named column is checked and taken out
of the targets, and class weights become a table read from the targets.

Example:
    >>> import torch
    >>> from nettrain.data.batching import InMemorySource
    >>> from nettrain.data.table import PortTable
    >>> table = PortTable({"input": torch.zeros(3, 2), "target": torch.arange(3)}, "pairs")
    >>> source, column = weight_column(InMemorySource(table, 0), torch.tensor([1.0, 2, 3]))
    >>> column, source.table.columns[column].tolist()
    ('example_weights', [1.0, 2.0, 3.0])
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from .data.batching import BatchSource, InMemorySource
from .data.table import PortTable
from .errors import NetTrainError, did_you_mean, dtype_name
from .losses import LossPlan
from .losses.weights import (
    ARGUMENT,
    WEIGHT_COLUMN,
    ExampleWeights,
    class_weight_table,
    per_example_weights,
    with_weights,
)
from .monitor import task_of
from .ports import PortBinding
from .typed import Typed

__all__ = ["unbind_weights", "weigh_plan", "weight_column"]


def weight_column(source: BatchSource, spec: object) -> tuple[BatchSource, str | None]:
    """The training data with the weights' column, and that column's name (None: no column).

    Raises:
        NetTrainError: weights per example for a stream or of the wrong length; a data column
            already named like the column the weights are kept in.
    """
    if isinstance(spec, str):
        return source, spec
    if not isinstance(spec, Tensor):
        return source, None
    held = source.num_examples if isinstance(source, InMemorySource) else None
    vector = per_example_weights(spec, held, source.form)
    assert isinstance(source, InMemorySource)
    if WEIGHT_COLUMN in source.names:
        raise NetTrainError(
            ARGUMENT,
            f"the data already has a column {WEIGHT_COLUMN!r}",
            hint=f'name that column as the weights: example_weights="{WEIGHT_COLUMN}"',
        )
    table = source.table
    dtype = next((c.dtype for c in table.columns.values() if c.is_floating_point()), None)
    column = vector.to(table.device, dtype or torch.float32)
    columns = {**table.columns, WEIGHT_COLUMN: column}
    return InMemorySource(PortTable(columns, table.form), source.seed), WEIGHT_COLUMN


def unbind_weights(
    binding: PortBinding, column: str | None, sample: Mapping[str, Tensor]
) -> PortBinding:
    """The binding without the weights' column among the targets, once the column is checked.

    Raises:
        NetTrainError: no such column, a column the net takes as input, or values that are not
            one finite number >= 0 per example.
    """
    if column is None:
        return binding
    if column not in sample:
        raise NetTrainError(
            ARGUMENT,
            f"the data has no column {column!r}",
            expected="the name of the data column that holds the weights: one of "
            + ", ".join(map(repr, binding.targets)),
            received=repr(column),
            hint=did_you_mean(column, list(binding.targets)),
        )
    if column in binding.inputs:
        raise NetTrainError(
            ARGUMENT,
            f"the column {column!r} feeds the net's input",
            expected="a column of its own holding the weights",
            received=repr(column),
        )
    values = sample[column]
    n = len(values)
    if values.is_complex() or values.reshape(n, -1).shape[1] != 1:
        raise NetTrainError(
            ARGUMENT,
            f"the column {column!r} must hold one number per example",
            expected="a weight >= 0 per example (shape [n] or [n, 1])",
            received=f"shape {tuple(values.shape)} ({dtype_name(values.dtype)})",
        )
    bad = ~(torch.isfinite(values.double()) & (values >= 0)).reshape(n)
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise NetTrainError(
            ARGUMENT,
            f"the column {column!r} holds a weight that is not a finite number >= 0",
            index=index,
            received=repr(values.reshape(n)[index].item()),
        )
    return PortBinding(binding.inputs, tuple(t for t in binding.targets if t != column))


def weigh_plan(
    plan: LossPlan,
    spec: object,
    column: str | None,
    sample: Mapping[str, Tensor],
    typed: Typed,
    device: torch.device,
) -> LossPlan:
    """The run's loss with its example weights (the plan itself when there are none).

    Raises:
        NetTrainError: class weights for a loss that is not one classification over classes
            read one per example; weights for a net that returns one loss per batch.
    """
    if column is not None:
        return with_weights(plan, ExampleWeights(column=column))
    if not isinstance(spec, Mapping):
        return plan
    terms = [t for t in plan.terms if t.target is not None]
    if len(terms) != 1:
        raise NetTrainError(
            ARGUMENT,
            "class weights need one classification loss",
            expected="a net with one output port trained on class labels",
            received=f"{len(terms)} loss terms with targets",
            hint="weigh examples with a column instead",
        )
    (term,) = terms
    assert term.target is not None
    task = task_of(term)[0]
    target = sample[term.target]
    n = len(target)
    per_example = target.reshape(n, -1).shape[1]
    one_hot = target.is_floating_point() and target.ndim == 2 and per_example > 1
    read = "binary" if task == "binary" else "argmax" if one_hot else "index"
    if task in ("classification", "binary") and per_example != 1 and not one_hot:
        raise NetTrainError(
            ARGUMENT,
            "class weights need one class per example",
            expected="targets holding one class label per example",
            received=f"targets of shape {tuple(target.shape[1:])} per example",
            hint="weigh examples with a column instead",
        )
    encoder = typed.encoders.get(term.target)
    labels = (
        getattr(encoder, "classes", None) if getattr(encoder, "kind", None) == "class" else None
    )
    count = 2 if read == "binary" else per_example if read == "argmax" else term.classes
    table = class_weight_table(spec, term, labels, task, count)
    weights = ExampleWeights(classes=table.to(device), target=term.target, read=read)
    return with_weights(plan, weights)
