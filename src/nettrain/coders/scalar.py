"""The scalar encoder: numbers -> float32 ``[n]``, optionally standardised.

With ``feature_axis`` each batch gets a trailing axis of size 1 (``[n] -> [n, 1]``): that is how
``train`` feeds a column of scalars to a net whose first layer takes one feature per example
(``nn.Linear(1, k)``), as Keras expands 1-D inputs.

Example:
    >>> ScalarEncoder().encode([1, 2.5]).tensor
    tensor([1.0000, 2.5000])
    >>> enc = ScalarEncoder(feature_axis=True)
    >>> enc.prepare(enc.encode([1, 2.5]).tensor).shape, enc.is_single(3.7), enc.is_single([3.7])
    (torch.Size([2, 1]), True, False)
    >>> enc = ScalarEncoder(normalize=True).fit([1.0, 3.0])
    >>> enc.mean, enc.std, enc.encode([1.0, 3.0]).tensor.tolist()
    (2.0, 1.0, [-1.0, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import NetTrainError, describe
from .base import Encoded, Encoder, as_column, numeric_passthrough, plain

__all__ = ["ScalarEncoder"]


@dataclass(frozen=True)
class ScalarEncoder(Encoder):
    """Numbers -> float32 ``[n]``.

    Args:
        normalize: standardise with the training column's mean and (population) standard
            deviation, learnt by :meth:`fit`; off by default, so values are used as given.
        mean, std: the learnt (or given) statistics; a std of 0 is taken as 1.
        feature_axis: add a trailing axis of size 1 to each batch (``prepare``).

    A floating tensor or array of shape ``[n]`` passes through untouched (already encoded).

    Raises:
        NetTrainError: a value that is not a finite real number (strings, None, NaN, booleans).
    """

    kind: ClassVar[str] = "scalar"
    normalize: bool = False
    mean: float | None = None
    std: float | None = None
    feature_axis: bool = False

    @property
    def fitted(self) -> bool:
        return not self.normalize or (self.mean is not None and self.std is not None)

    def _numbers(self, values: Sequence[Any], argument: str) -> list[float]:
        column = as_column(values, argument=argument, kind=self.kind)
        out = []
        for i, v in enumerate(column):
            v = plain(v)  # NumPy scalars and 0-d tensors are numbers too
            ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_)
            )
            if not ok or not math.isfinite(float(v)):
                raise NetTrainError(
                    argument,
                    "the scalar encoder takes finite real numbers",
                    index=i,
                    expected="an int or float",
                    received=describe(v),
                    hint="clean or drop this example",
                )
            out.append(float(v))
        return out

    def fit(self, values: Sequence[Any]) -> ScalarEncoder:
        """Learn mean and std when ``normalize`` is set and they are not given."""
        if self.fitted:
            return self
        numbers = torch.tensor(self._numbers(values, "data"), dtype=torch.float64)
        if len(numbers) == 0:
            raise NetTrainError("data", "no values to learn the mean and std from")
        std = float(numbers.std(correction=0))
        return replace(self, mean=float(numbers.mean()), std=std if std > 0 else 1.0)

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        if not self.fitted:
            raise self._not_fitted(argument)
        passed = numeric_passthrough(values, lambda t: t.ndim == 1 and t.is_floating_point())
        if passed is not None:
            return Encoded(passed)
        x = torch.tensor(self._numbers(values, argument), dtype=torch.float64)
        if self.normalize:
            assert self.mean is not None and self.std is not None
            x = (x - self.mean) / self.std
        return Encoded(x.to(torch.float32))

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """``[n] -> [n, 1]`` with ``feature_axis`` (a view, no copy); else the batch itself."""
        return batch[:, None] if self.feature_axis and batch.ndim == 1 else batch

    def is_single(self, value: Any) -> bool:
        """One number (Python, NumPy or a 0-d tensor) is one example; anything else a batch."""
        return bool(np.ndim(value) == 0) if not isinstance(value, torch.Tensor) else value.ndim == 0

    def describe(self) -> str:
        shape = " [1] (a feature axis for the net's first layer)" if self.feature_axis else ""
        if not self.normalize:
            return f"Scalar encoder: number -> float32{shape}"
        if self.mean is None or self.std is None:
            return f"Scalar encoder: number -> (x - mean) / std, learnt from the data{shape}"
        return f"Scalar encoder: number -> (x - {self.mean:.4g}) / {self.std:.4g}{shape}"
