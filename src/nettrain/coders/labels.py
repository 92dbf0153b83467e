"""Label encoders: class labels (index, indicator vector, multilabel) and booleans.

Class names are learnt by :meth:`ClassEncoder.fit` from the training column in sorted order when
the labels can be sorted (so the same labels always give the same indices, whatever their order
in the data), else in the order they are first seen. Give ``classes=[...]`` to fix the order.

Example:
    >>> enc = ClassEncoder().fit(["square", "circle", "triangle", "circle"])
    >>> enc.describe()
    "Class encoder: 3 classes 'circle', 'square', 'triangle' -> index"
    >>> enc.encode(["triangle", "circle"]).tensor
    tensor([2, 0])
    >>> BooleanEncoder().encode([True, False]).tensor
    tensor([1., 0.])
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import NetTrainError, describe, did_you_mean
from .base import (
    Encoded,
    Encoder,
    as_column,
    check_choice,
    numeric_passthrough,
    plain,
    quote_list,
)

__all__ = ["BooleanEncoder", "ClassEncoder"]

_COLLECTIONS = (list, tuple, set, frozenset)
_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ClassEncoder(Encoder):
    """Class labels (any hashable values) -> class indices, indicator vectors or multi-hot vectors.

    Args:
        classes: the class names in index order; ``None`` = learnt by :meth:`fit` (sorted when
            the labels are sortable, else first-seen order).
        output: ``"index"`` (int64 ``[n]``, for cross-entropy) or ``"indicator"`` (float32
            one-hot ``[n, C]``).
        multilabel: each value is a collection (list, tuple, set) of labels, encoded as a
            float32 multi-hot ``[n, C]`` (for binary cross-entropy); ``output`` is ignored.

    Passing through: a tensor already in encoded form (integer ``[n]`` for ``"index"``, float
    ``[n, C]`` otherwise) is returned as it is. A numpy array is passed through the same way
    unless the class names are themselves numbers, in which case it holds labels.

    Raises:
        NetTrainError: unknown class at encode time (naming the index, the class and the known
            classes), a missing (None) or unhashable label, a label that is not a collection
            with ``multilabel=True``, an unfitted encoder.

    >>> ClassEncoder(multilabel=True).fit([["a"], ["b", "c"]]).encode([["c", "a"], []]).tensor
    tensor([[1., 0., 1.],
            [0., 0., 0.]])
    >>> ClassEncoder(classes=("no", "yes"), output="indicator").encode(["yes"]).tensor
    tensor([[0., 1.]])
    """

    kind: ClassVar[str] = "class"
    classes: tuple[Any, ...] | None = None
    output: str = "index"
    multilabel: bool = False

    def __post_init__(self) -> None:
        check_choice("output", self.output, ("index", "indicator"))
        if self.classes is not None:
            classes = tuple(plain(c) for c in self.classes)
            if len(set(classes)) != len(classes):
                raise NetTrainError(
                    "classes", "class names must be unique", received=quote_list(classes)
                )
            if not classes:
                raise NetTrainError("classes", "needs at least one class name", received="[]")
            object.__setattr__(self, "classes", classes)

    @property
    def fitted(self) -> bool:
        return self.classes is not None

    @property
    def _index(self) -> dict[Any, int]:
        return {c: i for i, c in enumerate(self.classes or ())}

    def fit(self, values: Sequence[Any]) -> ClassEncoder:
        """Learn the class names from a training column (no-op when ``classes`` is set).

        Raises:
            NetTrainError: an empty column, a missing or unhashable label.
        """
        if self.fitted:
            return self
        column = as_column(values, argument="data", kind=self.kind)
        seen: dict[Any, None] = {}
        for i, value in enumerate(column):
            for label in self._labels(value, i, "data"):
                seen[label] = None
        if not seen:
            raise NetTrainError(
                "data",
                "the class encoder found no labels to learn class names from",
                hint="give the class names explicitly: encoder('class', classes=[...])",
            )
        try:
            classes = tuple(sorted(seen))
        except TypeError:  # labels of several types that do not compare: keep first-seen order
            classes = tuple(seen)
        return replace(self, classes=classes)

    def _labels(self, value: Any, index: int, argument: str) -> list[Any]:
        """The labels of one raw value (a list of one unless multilabel), checked."""
        if self.multilabel:
            if not isinstance(value, _COLLECTIONS):
                raise NetTrainError(
                    argument,
                    "a multilabel value must be a collection of labels",
                    index=index,
                    expected="a list, tuple or set of class names",
                    received=describe(value),
                    hint="write a single label as [label], or use multilabel=False",
                )
            labels = [plain(v) for v in value]
        else:
            labels = [plain(value)]
        for label in labels:
            if label is None:
                raise NetTrainError(
                    argument,
                    "missing class label (None)",
                    index=index,
                    expected="a class name",
                    hint="drop the examples without labels or give them a class of their own",
                )
            if not isinstance(label, Hashable) or isinstance(label, (list, set)):
                raise NetTrainError(
                    argument,
                    "a class label must be hashable (a string, number, tuple...)",
                    index=index,
                    received=describe(label),
                    hint="for several labels per example use encoder('class', multilabel=True)",
                )
        return labels

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        """Encode a column of labels.

        Returns:
            ``Encoded`` with int64 ``[n]`` (index), float32 ``[n, C]`` (indicator, multilabel);
            nothing is ever skipped.
        """
        if self.classes is None:
            raise self._not_fitted(argument)
        passed = self._passthrough(values, argument)
        if passed is not None:
            return Encoded(passed)
        column = as_column(values, argument=argument, kind=self.kind)
        index = self._index
        count = len(self.classes)
        if self.multilabel:
            out = torch.zeros(len(column), count)
            for i, value in enumerate(column):
                for label in self._labels(value, i, argument):
                    out[i, self._lookup(index, label, i, argument)] = 1.0
            return Encoded(out)
        positions = [
            self._lookup(index, self._labels(v, i, argument)[0], i, argument)
            for i, v in enumerate(column)
        ]
        indices = torch.tensor(positions, dtype=torch.int64)
        if self.output == "indicator":
            return Encoded(torch.nn.functional.one_hot(indices, count).to(torch.float32))
        return Encoded(indices)

    def _lookup(self, index: dict[Any, int], label: Any, i: int, argument: str) -> int:
        try:
            return index[label]
        except KeyError:
            names = [c for c in index if isinstance(c, str)]
            hint = "give all class names when creating the encoder: encoder('class', classes=[...])"
            if isinstance(label, str) and names:
                near = did_you_mean(label, names)
                if near.startswith("did you mean"):
                    hint = near
            raise NetTrainError(
                argument,
                f"unknown class {label!r}",
                index=i,
                expected="one of " + quote_list(index, limit=10),
                received=repr(label),
                hint=hint,
            ) from None

    def _passthrough(self, values: Any, argument: str) -> torch.Tensor | None:
        assert self.classes is not None
        count = len(self.classes)
        if isinstance(values, np.ndarray) and all(
            isinstance(c, (int, float)) for c in self.classes
        ):
            return None  # numeric class names: the array holds labels, not indices
        if self.multilabel or self.output == "indicator":
            return numeric_passthrough(
                values, lambda t: t.is_floating_point() and t.shape[1:] == (count,)
            )
        tensor = numeric_passthrough(
            values, lambda t: t.ndim == 1 and not t.is_floating_point() and t.dtype != torch.bool
        )
        if tensor is not None and len(tensor) and (tensor.min() < 0 or tensor.max() >= count):
            bad = int(((tensor < 0) | (tensor >= count)).nonzero()[0, 0])
            raise NetTrainError(
                argument,
                "class index out of range",
                index=bad,
                expected=f"an index from 0 to {count - 1}",
                received=str(int(tensor[bad])),
            )
        return None if tensor is None else tensor.to(torch.int64)

    def config(self) -> dict[str, Any]:
        """JSON-able dict; class names must be strings, numbers, booleans or tuples of them.

        Raises:
            NetTrainError: a class name that JSON cannot hold.
        """
        for c in self.classes or ():
            items = c if isinstance(c, tuple) else (c,)
            if not all(isinstance(x, _JSON_SCALARS) for x in items):
                raise NetTrainError(
                    "classes",
                    "class names must be strings, numbers or booleans to be saved",
                    received=describe(c),
                    hint="map the labels to strings before training",
                )
        return super().config()

    def describe(self) -> str:
        to = "multi-hot vector" if self.multilabel else self.output
        name = "Multilabel class encoder" if self.multilabel else "Class encoder"
        if self.classes is None:
            return f"{name}: classes learnt from the data -> {to}"
        n = len(self.classes)
        return f"{name}: {n} class{'es' if n != 1 else ''} {quote_list(self.classes, 6)} -> {to}"


@dataclass(frozen=True)
class BooleanEncoder(Encoder):
    """True/False (Python or numpy booleans) -> float32 ``[n]`` of 1/0, for binary cross-entropy.

    A bool tensor or array is converted; a float tensor of shape ``[n]`` passes through.

    Raises:
        NetTrainError: a value that is not a boolean (0/1 integers included: say what you mean).

    >>> BooleanEncoder().encode([True, False, True]).tensor
    tensor([1., 0., 1.])
    """

    kind: ClassVar[str] = "boolean"

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        tensor = numeric_passthrough(
            values, lambda t: t.ndim == 1 and (t.is_floating_point() or t.dtype == torch.bool)
        )
        if tensor is not None:
            return Encoded(tensor.to(torch.float32) if tensor.dtype == torch.bool else tensor)
        column = as_column(values, argument=argument, kind=self.kind)
        for i, value in enumerate(column):
            if not isinstance(value, (bool, np.bool_)):
                raise NetTrainError(
                    argument,
                    "the boolean encoder takes True or False",
                    index=i,
                    expected="True or False",
                    received=describe(value),
                    hint="convert the column to booleans, e.g. [v == 1 for v in column]",
                )
        return Encoded(torch.tensor([bool(v) for v in column], dtype=torch.float32))

    def describe(self) -> str:
        return "Boolean encoder: True/False -> 1.0/0.0"
