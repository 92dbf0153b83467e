"""Keras' ``class_weight`` and ``sample_weight`` on the engine's ``example_weights``.

Keras scales each example's loss by its weight and divides by the batch size (the loss's default
reduction, ``"sum_over_batch_size"``), which is exactly what ``nettrain.train`` does with
``example_weights`` (:mod:`nettrain.losses.weights`). So ``fit`` passes ``class_weight`` on as
the engine's class weights, and sample weights as a data column, :data:`SAMPLE_WEIGHT`, that
travels with its examples: through the shuffle, the ``validation_split`` tail, ``shuffle=False``
and ``steps_per_epoch``. A dataset's ``(x, y, sample_weight)`` batches become such columns too.
As in Keras, ``class_weight`` weighs training only, sample weights in ``validation_data`` weigh
the validation loss, and the metrics are not weighted.

Example:
    >>> import torch
    >>> batches = WeightedBatches([(torch.ones(2, 3), torch.zeros(2), torch.tensor([1.0, 2.0]))])
    >>> sorted(next(iter(batches)))
    ['input', 'sample_weight', 'target']
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from ..errors import NetTrainError, describe
from .fit_data import SAMPLE_WEIGHT

__all__ = [
    "WeightedBatches",
    "check_weights",
    "class_sample_weights",
    "example_weights",
    "weighted_stream",
]

# the reductions whose weighted form is the engine's sum(w * loss) / batch size
_BATCH_MEAN = ("sum_over_batch_size", "mean")


def check_weights(loss: object, class_weight: object, sample_weight: object) -> None:
    """Refuse what Keras refuses (both kinds of weights at once) and what the engine cannot
    weigh (a loss reduced otherwise than over the batch size).

    Raises:
        NetTrainError: both given; class weights that are not a dict; a loss reduction other
            than "sum_over_batch_size" with weights.
    """
    if class_weight is not None and sample_weight is not None:
        raise NetTrainError(
            "class_weight",
            "cannot be given together with sample_weight (as in Keras)",
            hint="fold the class weights into the sample weights: w[i] * class_weight[y[i]]",
        )
    if class_weight is not None and not isinstance(class_weight, Mapping):
        raise NetTrainError(
            "class_weight",
            "must be a dict {class index: weight}",
            received=describe(class_weight),
        )
    reduction = getattr(loss, "reduction", "sum_over_batch_size")
    if (class_weight is not None or sample_weight is not None) and reduction not in _BATCH_MEAN:
        raise NetTrainError(
            "class_weight" if class_weight is not None else "sample_weight",
            f"weighs examples only for a loss reduced over the batch size, and this loss's "
            f"reduction is {reduction!r}",
            expected='reduction="sum_over_batch_size" (Keras\' default)',
            received=repr(reduction),
            hint="compile with the loss's default reduction",
        )


def example_weights(data: Any, class_weight: Mapping[Any, Any] | None) -> Any:
    """The engine's ``example_weights`` for ``fit``'s packed data: the class weights, the name
    of the sample weights' column, or None.

    Raises:
        NetTrainError: class weights for a dataset whose batches carry sample weights.
    """
    weighted = isinstance(data, WeightedBatches) or (
        isinstance(data, Mapping) and SAMPLE_WEIGHT in data
    )
    if class_weight is not None:
        if weighted:
            raise NetTrainError(
                "class_weight",
                "cannot be given for data with sample weights (as in Keras)",
                hint="fold the class weights into the sample weights",
            )
        return dict(class_weight)
    return SAMPLE_WEIGHT if weighted else None


class WeightedBatches:
    """A stream of ``(x, y, sample_weight)`` batches as port columns with the weights' column
    (``(x, y)`` batches pass as they are)."""

    def __init__(self, batches: Any) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Any]:
        for batch in self.batches:
            if isinstance(batch, tuple | list) and len(batch) == 3:
                x, y, w = batch
                named = dict(x) if isinstance(x, Mapping) else {"input": x}
                yield {**named, "target": y, SAMPLE_WEIGHT: w}
            else:
                yield batch

    def __len__(self) -> int:
        return len(self.batches)


def weighted_stream(data: Any) -> Any:
    """``data`` as it is, or as :class:`WeightedBatches` when its first batch is ``(x, y,
    sample_weight)`` (Keras 3 reads weights from a dataset's batches). A one-shot iterator
    gets its first batch back in front."""
    if isinstance(data, Mapping | tuple) or not hasattr(data, "__iter__"):
        return data
    iterator = iter(data)
    first = next(iterator, None)
    if iterator is data:  # one-shot: what was read must not be lost
        data = itertools.chain([first], iterator) if first is not None else iterator
    if isinstance(first, tuple | list) and len(first) == 3:
        return WeightedBatches(data)
    return data


def class_sample_weights(targets: Tensor, class_weight: Mapping[Any, Any]) -> Tensor:
    """Keras' class weights as one weight per example: the class of each target (a class
    index; the largest entry of a one-hot row; a rounded 0/1 for one binary value), weight 1
    for a class not named. For ``train_on_batch``; ``fit`` hands class weights to the engine.

    >>> class_sample_weights(torch.tensor([0, 2, 1]), {2: 5.0}).tolist()
    [1.0, 5.0, 1.0]
    """
    n = len(targets)
    if targets.ndim >= 2 and targets.shape[-1] > 1:
        classes = targets.reshape(n, -1).argmax(1)
    else:
        classes = targets.reshape(n).double().round().long()
    table = {int(k): float(v) for k, v in class_weight.items()}
    return torch.tensor([table.get(int(c), 1.0) for c in classes.tolist()])
