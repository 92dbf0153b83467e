"""The function encoder: a user's callable turns each value into a tensor.

Example:
    >>> enc = FunctionEncoder(len)
    >>> enc.encode(["ab", "abc"]).tensor
    tensor([2, 3])
    >>> enc.config()
    {'kind': 'function', 'name': 'len'}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import NetTrainError, describe
from .base import Encoded, Encoder, as_column

__all__ = ["FunctionEncoder"]


@dataclass(frozen=True)
class FunctionEncoder(Encoder):
    """Apply ``function(value)`` to each value; the results (same shape each) are stacked.

    Args:
        function: value -> tensor, numpy array or number.
        name: recorded in :meth:`config` (default: the function's qualified name).

    Floating results become float32 (the data boundary's default), signed integers int64.

    Saving: :meth:`config` records only the name; :meth:`from_config` cannot rebuild the code
    and raises, asking for the function again (nettrain never pickles code).

    Raises:
        NetTrainError: the function raises or returns a different shape for some example
            (naming it), or is not callable.
    """

    kind: ClassVar[str] = "function"
    function: Callable[[Any], Any]
    name: str = field(default="")

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise NetTrainError("function", "must be callable", received=describe(self.function))
        if not self.name:
            name = getattr(self.function, "__qualname__", type(self.function).__name__)
            object.__setattr__(self, "name", name)

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        column = as_column(values, argument=argument, kind=self.kind)
        results: list[torch.Tensor] = []
        for i, value in enumerate(column):
            try:
                out = self.function(value)
            except Exception as error:
                raise NetTrainError(
                    argument,
                    f"the encoder function {self.name!r} failed: {error}",
                    index=i,
                    received=describe(value),
                ) from error
            tensor = torch.as_tensor(np.asarray(out) if not isinstance(out, torch.Tensor) else out)
            if results and tensor.shape != results[0].shape:
                raise NetTrainError(
                    argument,
                    f"the encoder function {self.name!r} returned different shapes",
                    index=i,
                    expected=f"shape {tuple(results[0].shape)} like example 0",
                    received=f"shape {tuple(tensor.shape)}",
                )
            results.append(tensor)
        if not results:
            return Encoded(torch.zeros(0))
        stacked = torch.stack(results)
        if stacked.is_floating_point():
            stacked = stacked.to(torch.float32)
        elif stacked.dtype in (torch.int8, torch.int16, torch.int32):
            stacked = stacked.to(torch.int64)  # uint8 stays: it may be pixels
        return Encoded(stacked)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FunctionEncoder:
        """Always raises: a function cannot be rebuilt from its name.

        Raises:
            NetTrainError: saying which function to pass again.
        """
        name = config.get("name", "?") if isinstance(config, Mapping) else "?"
        # the name comes from a file: quoted (cut short) as what was received, never as advice
        shown = repr(name)[:60]
        raise NetTrainError(
            "config",
            "a function encoder cannot be loaded from a file: code is not saved",
            received=f"a function encoder named {shown}",
            hint="pass your function again: encoder('function', function=your_function)",
        )

    def describe(self) -> str:
        return f"Function encoder: {self.name}(value) -> tensor"
