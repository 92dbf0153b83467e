"""The data of ``Model.fit``: x and y as tensors, the validation split, the epochs of a stream.

Used by :mod:`nettrain.keras.model` only: everything here turns Keras' arguments into data in a
form ``nettrain.train`` takes (``(x, y)``, port columns with a ``"target"``, or batches).

Example:
    >>> import torch
    >>> data, validation = fit_data(torch.zeros(10, 2), torch.linspace(0, 1, 10), 0.2, None)
    >>> len(data[1]), len(validation[1])
    (8, 2)
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import NetTrainError, NetTrainWarning, describe

# The data column that Keras' sample weights travel in (the engine's example_weights column).
SAMPLE_WEIGHT = "sample_weight"

__all__ = [
    "SAMPLE_WEIGHT",
    "Epochs",
    "InOrder",
    "Steps",
    "as_tensor",
    "examples_of",
    "fit_data",
    "length",
    "pack",
    "sample_weights",
    "take",
    "validation_of",
    "warn_unseen_classes",
]


def as_tensor(value: Any, argument: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise NetTrainError(
            argument, "cannot be read as an array", received=describe(value)
        ) from error
    if array.dtype == object:
        raise NetTrainError(
            argument,
            "holds values of mixed types or shapes",
            expected="numbers in a rectangular array",
            received=describe(value),
        )
    tensor = torch.from_numpy(array.copy())
    return tensor.float() if tensor.is_floating_point() else tensor


def length(value: Any) -> int:
    if isinstance(value, Mapping):
        return len(next(iter(value.values())))
    return len(value)


def take(value: Any, index: slice) -> Any:
    if isinstance(value, Mapping):
        return {k: v[index] for k, v in value.items()}
    return value[index]


class InOrder:
    """In-memory data as its batches in order, for ``fit(..., shuffle=False)``."""

    def __init__(self, data: Any, batch_size: int) -> None:
        self.data, self.batch_size = data, batch_size
        targets = data[1] if isinstance(data, tuple) else data["target"]
        self.n = len(targets)

    def __iter__(self) -> Any:
        for begin in range(0, self.n, self.batch_size):
            index = slice(begin, begin + self.batch_size)
            if isinstance(self.data, tuple):
                yield self.data[0][index], self.data[1][index]
            else:
                yield {k: v[index] for k, v in self.data.items()}

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


class Epochs:
    """A dataset for fit_dataset: each epoch a new pass (a generator function is called again),
    cut to ``limit`` batches when given."""

    def __init__(self, dataset: Any, limit: int | None, argument: str) -> None:
        if not (callable(dataset) or hasattr(dataset, "__iter__")):
            raise NetTrainError(
                argument,
                "is not a dataset",
                expected="an iterable of (xs, ys) batches, or a generator function",
                received=describe(dataset),
            )
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise NetTrainError(
                "batches_per_epoch", "must be a whole number >= 1", received=describe(limit)
            )
        self.dataset, self.limit = dataset, limit

    def __iter__(self) -> Any:
        batches = self.dataset() if callable(self.dataset) else iter(self.dataset)
        return itertools.islice(batches, self.limit) if self.limit is not None else batches

    def __len__(self) -> int:
        if self.limit is not None:
            return self.limit
        return len(self.dataset)  # raises TypeError for an iterable of unknown length


def fit_data(
    x: Any, y: Any, split: float, validation_data: Any, sample_weight: Any = None
) -> tuple[Any, Any]:
    """The training data and the validation data for ``train``; with sample weights (given,
    or in ``validation_data``'s third place) both as port columns with a
    :data:`SAMPLE_WEIGHT` column."""
    if x is None:
        raise NetTrainError("x", "is needed", expected="the training inputs", received="None")
    if y is None:  # a DataLoader or an iterable of (x, y) batches brings its targets
        if split:
            raise NetTrainError(
                "validation_split",
                "needs x and y as arrays or tensors",
                received=f"validation_split={split} with x a {type(x).__name__}",
                hint="pass validation_data instead",
            )
        if sample_weight is not None:
            raise NetTrainError(
                "sample_weight",
                "needs x and y as arrays or tensors",
                received=f"sample_weight with x a {type(x).__name__}",
                hint="yield (x, y, sample_weight) batches from the dataset instead",
            )
        return x, validation_of(validation_data)
    inputs = (
        {k: as_tensor(v, f"x[{k!r}]") for k, v in x.items()}
        if isinstance(x, Mapping)
        else as_tensor(x, "x")
    )
    targets = as_tensor(y, "y")
    n = length(inputs)
    if n != len(targets):
        raise NetTrainError(
            "y",
            "x and y hold different numbers of examples",
            expected=f"{n} targets, one per input",
            received=f"{len(targets)}",
        )
    weights = None if sample_weight is None else sample_weights(sample_weight, n)
    validation = validation_of(validation_data)
    if split:
        if validation is not None:
            raise NetTrainError(
                "validation_split",
                "cannot be used with validation_data",
                hint="give one of the two",
            )
        if not isinstance(split, (int, float)) or not 0 < split < 1:
            raise NetTrainError(
                "validation_split",
                "must be a fraction",
                expected="a number in (0, 1)",
                received=describe(split),
            )
        at = int(n * (1 - split))  # Keras: the last fraction, before any shuffling
        if at in (0, n):
            raise NetTrainError(
                "validation_split",
                f"leaves no examples for {'training' if at == 0 else 'validation'}",
                received=f"{split} of {n} examples",
            )
        tail = None if weights is None else weights[at:]
        validation = pack(take(inputs, slice(at, None)), targets[at:], tail)
        warn_unseen_classes(targets[:at], targets[at:])
        inputs, targets = take(inputs, slice(0, at)), targets[:at]
        weights = None if weights is None else weights[:at]
    if weights is None and isinstance(validation, Mapping) and SAMPLE_WEIGHT in validation:
        # weighted validation data: the training examples weigh 1 each (Keras' default)
        weights = torch.ones(len(targets))
    return pack(inputs, targets, weights), validation


def sample_weights(value: Any, n: int, argument: str = "sample_weight") -> Tensor:
    """Keras' ``sample_weight``: one number >= 0 per example (``[n]`` or ``[n, 1]``).

    >>> sample_weights([1, 2], 2).tolist()
    [1.0, 2.0]
    """
    weights = as_tensor(value, argument).double()
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.ndim != 1 or len(weights) != n:
        raise NetTrainError(
            argument,
            "must hold one weight per example",
            expected=f"{n} numbers (shape [{n}] or [{n}, 1])",
            received=f"shape {tuple(weights.shape)}",
        )
    bad = ~(torch.isfinite(weights) & (weights >= 0))
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise NetTrainError(
            argument,
            "every weight must be a finite number >= 0",
            index=index,
            received=repr(float(weights[index])),
        )
    return weights.float()


def examples_of(data: Any) -> int | None:
    """Examples per epoch of the packed data (None for a loader or an iterable)."""
    if isinstance(data, InOrder):
        return data.n
    if isinstance(data, tuple):
        return len(data[1])
    if isinstance(data, Mapping) and "target" in data:
        return len(data["target"])
    return None


def pack(inputs: Any, targets: Tensor, weights: Tensor | None = None) -> Any:
    """``(x, y)``, or port columns when the inputs are named or the examples are weighted."""
    if weights is not None:
        named = dict(inputs) if isinstance(inputs, Mapping) else {"input": inputs}
        return {**named, "target": targets, SAMPLE_WEIGHT: weights}
    if isinstance(inputs, Mapping):
        return {**inputs, "target": targets}
    return (inputs, targets)


def validation_of(validation_data: Any) -> Any:
    if validation_data is None:
        return None
    if isinstance(validation_data, tuple) and len(validation_data) in (2, 3):
        vx, vy = validation_data[:2]
        inputs = (
            {k: as_tensor(v, f"validation_data x[{k!r}]") for k, v in vx.items()}
            if isinstance(vx, Mapping)
            else as_tensor(vx, "validation_data x")
        )
        targets = as_tensor(vy, "validation_data y")
        weights = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            weights = sample_weights(
                validation_data[2], len(targets), "validation_data sample_weight"
            )
        return pack(inputs, targets, weights)
    return validation_data  # a DataLoader or another data form train accepts


def warn_unseen_classes(train_targets: Tensor, validation_targets: Tensor) -> None:
    """Keras takes the tail as is: on sorted data it may hold classes training never sees."""
    if train_targets.is_floating_point() and train_targets.dim() < 2:
        return  # regression targets
    if train_targets.dim() >= 2:  # one-hot
        train_classes = set(train_targets.argmax(-1).unique().tolist())
        val_classes = set(validation_targets.argmax(-1).unique().tolist())
    else:
        train_classes = set(train_targets.unique().tolist())
        val_classes = set(validation_targets.unique().tolist())
    unseen = sorted(val_classes - train_classes)
    if unseen:
        warnings.warn(
            f"validation_split: the validation part (the last examples, as Keras takes "
            f"them) holds classes the training part lacks: {unseen[:10]}; the data looks "
            "sorted: shuffle it before fit, or pass validation_data",
            NetTrainWarning,
            stacklevel=4,
        )


# ---- evaluate and predict -------------------------------------------------------------


class Steps:
    """``steps_per_epoch`` batches per epoch, each epoch going on where the last one stopped
    (Keras 3 keeps its data iterator across epochs when ``steps_per_epoch`` is set), a new pass
    of the data beginning whenever one ends.

    Args:
        passes: makes the batches of one pass of the data (called again for each pass).
        steps: batches per epoch.

    >>> steps = Steps(lambda: iter(range(5)), 3)
    >>> [list(steps) for _ in range(3)]
    [[0, 1, 2], [3, 4, 0], [1, 2, 3]]
    """

    def __init__(self, passes: Callable[[], Iterator[Any]], steps: int) -> None:
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise NetTrainError(
                "steps_per_epoch",
                "must be a whole number >= 1",
                expected="an int >= 1, or None",
                received=describe(steps),
            )
        self.passes, self.steps = passes, steps
        self._current: Iterator[Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        for _ in range(self.steps):
            batch = self._next()
            if batch is None:
                return  # the data gave no batch at all
            yield batch

    def _next(self) -> Any:
        for _ in range(2):  # the current pass, then (if it was over) one new pass
            if self._current is None:
                self._current = iter(self.passes())
            try:
                return next(self._current)
            except StopIteration:
                self._current = None
        return None

    def __len__(self) -> int:
        return self.steps


def shuffled_passes(data: Any, batch_size: int, shuffle: bool, seed: int) -> Callable[[], Any]:
    """The batches of one pass of in-memory ``data`` per call: pass p in the order of
    :func:`nettrain.data.batching.round_permutation` (seed, p), or the data's order."""
    from ..data.batching import round_permutation

    targets = data[1] if isinstance(data, tuple) else data["target"]
    n, count = len(targets), itertools.count(1)

    def one_pass() -> Iterator[Any]:
        order = round_permutation(seed, next(count), n) if shuffle else torch.arange(n)
        for begin in range(0, n, batch_size):
            index = order[begin : begin + batch_size]
            if isinstance(data, tuple):
                yield data[0][index], data[1][index]
            else:
                yield {k: v[index] for k, v in data.items()}

    return one_pass
