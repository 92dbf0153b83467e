"""Plain data with tensors, as JSON and a dict of tensors: what the library's files hold.

:class:`PlainEncoder` turns numbers (NaN and infinities tagged), strings, None, bools, lists,
tuples (tagged), dicts (string keys, or other scalar keys tagged) and tensors (references to
tensors collected as ``values/N``, or another prefix) into JSON-able data; :class:`PlainDecoder`
reads it back, checking every tag, never calling or importing anything. ``TrainResult.save`` and the
checkpoints of a run use them.

Example:
    >>> import torch
    >>> enc = PlainEncoder()
    >>> data = enc.encode({"loss": float("nan"), "w": torch.ones(2), 3: (1, 2)})
    >>> back = PlainDecoder("x", enc.tensors, lambda where, problem: ValueError(problem))
    >>> value = back.decode(data, "values")
    >>> value[3], value["w"].tolist()
    ((1, 2), [1.0, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .errors import describe

__all__ = ["DTYPES", "MAX_DEPTH", "NotPlain", "PlainDecoder", "PlainEncoder"]

MAX_DEPTH = 64
DTYPES = {
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool,
}  # fmt: skip


class NotPlain(Exception):
    """A value the file cannot hold faithfully; the message says what it is."""


class PlainEncoder:
    """Values to JSON-able data, their tensors collected as ``values/N``."""

    def __init__(self, prefix: str = "values/") -> None:
        self.prefix = prefix  # the tensors' names: prefix + a number
        self.tensors: dict[str, Tensor] = {}
        self._names: dict[int, tuple[str, Tensor]] = {}  # id -> (name, the tensor kept alive)

    def tensor(self, value: Tensor) -> dict[str, str]:
        if value.layout != torch.strided or value.is_meta or value.dtype not in DTYPES:
            raise NotPlain(f"holds {describe(value)} of layout {value.layout}, on {value.device}")
        if id(value) not in self._names:
            name = f"{self.prefix}{len(self._names)}"
            self._names[id(value)] = (name, value)
            # a copy of its own: safetensors refuses tensors that share memory
            self.tensors[name] = value.detach().cpu().contiguous().clone()
        return {"$tensor": self._names[id(value)][0]}

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise NotPlain(f"is nested more than {MAX_DEPTH} levels deep")
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, Tensor):
            return self.tensor(value)
        if kind is list:
            return [self.encode(v, depth + 1) for v in value]
        if kind is tuple:
            return {"$tuple": [self.encode(v, depth + 1) for v in value]}
        if kind is dict:
            if all(type(k) is str for k in value):
                return {"$dict": {k: self.encode(v, depth + 1) for k, v in value.items()}}
            items = []
            for k, v in value.items():
                if not (k is None or type(k) in (bool, int, float, str)):
                    raise NotPlain(f"has a dict key that is {describe(k)}")
                items.append([self.encode(k, depth + 1), self.encode(v, depth + 1)])
            return {"$items": items}
        raise NotPlain(
            f"holds {describe(value)}, which is not plain data (numbers, strings, lists, "
            "tuples, dicts, tensors)"
        )


class PlainDecoder:
    """The file's JSON values back to Python values, the tensors from the file."""

    def __init__(
        self,
        name: str,
        tensors: Mapping[str, Tensor],
        damaged: Callable[[str, str], Exception],
        prefix: str = "values/",
    ) -> None:
        self.name, self.tensors, self._damaged = name, tensors, damaged
        self.prefix = prefix  # the encoder's: only such names are tensors of the value

    def fail(self, where: str, problem: str) -> Exception:
        return self._damaged(where if len(where) < 120 else where[:117] + "...", problem)

    def decode(self, data: Any, where: str, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(where, f"is nested more than {MAX_DEPTH} levels deep")
        if data is None or type(data) in (bool, int, float, str):
            return data
        if type(data) is list:
            return [self.decode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(data)]
        if type(data) is not dict or len(data) != 1:
            raise self.fail(where, "must be a value or one tagged object")
        ((tag, body),) = data.items()
        inner = f"{where}.{tag}"
        if tag == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "$tensor" and type(body) is str and body.startswith(self.prefix):
            if body not in self.tensors:
                raise self.fail(inner, f"names the tensor {body[:40]!r}, not in the file")
            return self.tensors[body]
        if tag == "$tuple" and type(body) is list:
            return tuple(self.decode(body, inner, depth + 1))
        if tag == "$dict" and type(body) is dict:
            return {k: self.decode(v, f"{inner}[{k[:40]!r}]", depth + 1) for k, v in body.items()}
        if tag == "$items" and type(body) is list:
            out = {}
            for i, item in enumerate(body):
                if type(item) is not list or len(item) != 2:
                    raise self.fail(f"{inner}[{i}]", "must be a [key, value] pair")
                key = self.decode(item[0], f"{inner}[{i}][0]", depth + 1)
                if not (key is None or type(key) in (bool, int, float, str)):
                    raise self.fail(f"{inner}[{i}][0]", "must be a number, string or null")
                out[key] = self.decode(item[1], f"{inner}[{i}][1]", depth + 1)
            return out
        raise self.fail(where, f"has an unknown tag or a body of the wrong type ({tag[:40]!r})")
