"""What every encoder shares: the :class:`Encoded` result, the :class:`Encoder` base and helpers.

An encoder is a frozen dataclass. Its fields are its parameters plus whatever :meth:`Encoder.fit`
learns from the training column (class names, a vocabulary, an image size), so a fitted encoder
is a plain value: compare it, print it, save it as JSON with :meth:`Encoder.config` and load it
back with ``from_config``. Nothing is pickled.

The life of a column:

1. ``encoder.fit(column)`` learns what the encoder needs (once, on the training data);
2. ``encoder.encode(column)`` turns the n raw values into one tensor (once, in memory);
3. ``encoder.prepare(batch)`` does the cheap per-batch work on the device (image scaling).

Example:
    >>> from nettrain.coders import ClassEncoder
    >>> enc = ClassEncoder().fit(["b", "a", "b"])
    >>> enc.encode(["a", "b"]).tensor.tolist()
    [0, 1]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from ..errors import NetTrainError, describe, did_you_mean

__all__ = ["Encoded", "Encoder", "as_column", "plain", "quote_list"]

E = TypeVar("E", bound="Encoder")


@dataclass(frozen=True)
class Encoded:
    """The result of :meth:`Encoder.encode`.

    Attributes:
        tensor: the encoded column; its first dimension is ``n - len(skipped)``.
        skipped: indices (into the raw column) of values that could not be read and were left
            out, in increasing order. Only the image encoder skips (unreadable files); the caller
            must drop the same examples from the other columns.
    """

    tensor: torch.Tensor
    skipped: list[int] = field(default_factory=list)


class Encoder:
    """Base of every encoder: a frozen dataclass turning raw values into tensors.

    Subclasses set ``kind`` and implement :meth:`encode`, :meth:`describe`, and, when they learn
    from data, :meth:`fit` and :attr:`fitted`.
    """

    kind: ClassVar[str] = "encoder"

    @property
    def fitted(self) -> bool:
        """Whether the encoder has everything it needs to encode (True for most kinds)."""
        return True

    def fit(self: E, values: Sequence[Any]) -> E:
        """Return a copy that has learnt what it needs from ``values``; ``self`` if fitted."""
        return self

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        """Encode a column of raw values; see the subclass."""
        raise NotImplementedError

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """Per-batch work after batching, on the batch's device (identity for most kinds)."""
        return batch

    def is_single(self, value: Any) -> bool:
        """Whether ``value`` given to a ``Net`` is one raw example rather than a list of them
        (most kinds: anything but a list is one example)."""
        return not isinstance(value, list)

    def config(self) -> dict[str, Any]:
        """The encoder as a JSON-able dict (``kind`` plus every field)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_config(cls: type[E], config: Mapping[str, Any]) -> E:
        """Rebuild an encoder from :meth:`config`'s dict.

        Raises:
            NetTrainError: the config is for another kind, or has unknown or bad fields.
        """
        return build(cls, config, what="encoder")

    def describe(self) -> str:
        """A one-line summary for users."""
        raise NotImplementedError

    def _not_fitted(self, argument: str) -> NetTrainError:
        return NetTrainError(
            argument,
            f"the {self.kind} encoder has not learnt its parameters yet",
            hint="call encoder.fit(training_values) first and encode with the fitted copy",
        )


def build(cls: type[Any], config: Mapping[str, Any], *, what: str) -> Any:
    """Construct ``cls`` from a config dict, turning JSON lists back into tuples."""
    if not isinstance(config, Mapping):
        raise NetTrainError("config", f"a {what} config must be a dict", received=describe(config))
    kind = config.get("kind", cls.kind)
    if kind != cls.kind:
        raise NetTrainError(
            "config",
            f"this config is for a {kind!r} {what}, not a {cls.kind!r} one",
            hint=f"load it with nettrain.coders.{what}_from_config(config)",
        )
    names = {f.name for f in dataclasses.fields(cls)}
    params = {k: _tuples(v) for k, v in config.items() if k != "kind"}
    for key in params:
        if key not in names:
            raise NetTrainError(
                "config",
                f"unknown field {key!r} for a {cls.kind!r} {what}",
                hint=did_you_mean(key, names),
            )
    return cls(**params)


def _tuples(value: Any) -> Any:
    # JSON has no tuples; fields that were tuples (class names, sizes) must be hashable again.
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def plain(value: Any) -> Any:
    """A numpy scalar or 0-d tensor as the Python value it holds; anything else unchanged.

    >>> import numpy as np
    >>> plain(np.str_("cat")), plain(np.int64(3)), type(plain(np.int64(3))).__name__
    ('cat', 3, 'int')
    """
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        return value.item()
    return value


def as_column(values: Any, *, argument: str, kind: str) -> list[Any]:
    """A column (list, tuple, array, tensor, pandas Series, any iterable) as a list of values.

    Raises:
        NetTrainError: ``values`` is a single string, mapping or non-iterable value.
    """
    if isinstance(values, list):
        return values
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise NetTrainError(
            argument,
            f"the {kind} encoder encodes a column of values, not a single value",
            expected="a list (or array) with one value per example",
            received=describe(values),
            hint="wrap a single value in a list: [value]",
        )
    return list(values)


def quote_list(items: Iterable[Any], limit: int = 8) -> str:
    """``'a', 'b', 'c'`` for messages, shortened after ``limit`` items.

    >>> quote_list(["a", "b"]), quote_list(range(10), limit=3)
    ("'a', 'b'", '0, 1, 2, ... (10 in all)')
    """
    items = list(items)
    text = ", ".join(repr(i) for i in items[:limit])
    if len(items) > limit:
        text += f", ... ({len(items)} in all)"
    return text


def check_choice(argument: str, value: Any, choices: Sequence[str]) -> None:
    """Raise a NetTrainError when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise NetTrainError(
            argument,
            f"unknown value {value!r}",
            expected="one of " + quote_list(choices),
            hint=did_you_mean(str(value), choices),
        )


def numeric_passthrough(values: Any, accept: Callable[[torch.Tensor], bool]) -> torch.Tensor | None:
    """``values`` as a tensor when it is a tensor or numeric array that ``accept`` calls encoded.

    NetTrain bypasses an encoder when its input is already in encoded form; this is the check.
    """
    if isinstance(values, torch.Tensor):
        tensor = values
    elif isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        tensor = array_to_tensor(values)
    else:
        return None
    return tensor if accept(tensor) else None


def array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """A numeric numpy array as a tensor, sharing memory when torch can (no warning otherwise)."""
    if not (array.flags.writeable and array.dtype.isnative):
        # torch.from_numpy warns on read-only arrays and rejects non-native byte order.
        array = np.array(array, dtype=array.dtype.newbyteorder("="))
    return torch.from_numpy(array)
