"""Text encoders: strings -> int64 ``[n, L]`` of character codes or token ids.

Both learn a vocabulary from the training column with :meth:`~CharactersEncoder.fit`. Index 0 is
padding and index 1 stands for anything not in the vocabulary; the vocabulary proper starts at 2.
Each encoded column is padded with 0 to its longest string (at least 1), so two columns encoded
separately may have different lengths; give ``max_length`` to fix L (longer texts are cut).

Example:
    >>> enc = CharactersEncoder().fit(["ab", "b"])
    >>> enc.vocabulary, enc.encode(["ba", "c"]).tensor.tolist()
    (('a', 'b'), [[3, 2], [1, 0]])
    >>> tok = TokensEncoder().fit(["the cat", "the dog!"])
    >>> tok.vocabulary
    ('the', '!', 'cat', 'dog')
    >>> tok.encode(["The bird"]).tensor.tolist()
    [[2, 1]]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import NetTrainError, describe
from .base import Encoded, Encoder, as_column, numeric_passthrough, quote_list

__all__ = ["PAD", "UNKNOWN", "CharactersEncoder", "TokensEncoder", "trim_padding"]

PAD = 0
UNKNOWN = 1
_FIRST = 2  # where the learnt vocabulary starts


def trim_padding(ids: torch.Tensor) -> torch.Tensor:
    """Cut a batch of padded ids ``[n, L]`` to its longest member (padding id 0).

    Text is stored padded to the longest example of the whole column; each batch is trimmed
    to its own longest (the text encoders' per-batch :meth:`~Encoder.prepare`), at the price of
    one small read of the device per text batch.

    >>> trim_padding(torch.tensor([[5, 2, 0, 0], [3, 0, 0, 0]])).tolist()
    [[5, 2], [3, 0]]
    """
    used = (ids != PAD).any(0).nonzero()
    return ids[:, : int(used.max()) + 1] if len(used) else ids[:, :1]


def _strings(values: Sequence[Any], argument: str, kind: str) -> list[str]:
    column = as_column(values, argument=argument, kind=kind)
    for i, v in enumerate(column):
        if not isinstance(v, str):  # np.str_ is a str subclass
            raise NetTrainError(
                argument,
                f"the {kind} encoder takes strings",
                index=i,
                expected="a str",
                received=describe(v),
                hint="convert the column to strings, or drop missing values",
            )
    return [str(v) for v in column]


def _check_max_length(max_length: int | None) -> None:
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise NetTrainError(
            "max_length", "must be a positive integer or None", received=repr(max_length)
        )


def _pad(rows: list[list[int]], max_length: int | None) -> torch.Tensor:
    length = max_length or max([len(r) for r in rows] + [1])
    out = np.zeros((len(rows), length), dtype=np.int64)  # PAD == 0
    for i, row in enumerate(rows):
        row = row[:length]
        out[i, : len(row)] = row
    return torch.from_numpy(out)


def _is_encoded(t: torch.Tensor) -> bool:
    return t.ndim == 2 and not t.is_floating_point() and t.dtype != torch.bool


def _encode_units(
    encoder: CharactersEncoder | TokensEncoder,
    values: Sequence[Any],
    argument: str,
    split: Callable[[str], Iterable[str]],
) -> Encoded:
    """``encoder.encode``: each string ``split`` into units (characters or tokens), each unit
    looked up in the vocabulary (``UNKNOWN`` when absent), the rows padded with ``PAD``. An
    integer matrix passes through (already encoded).

    Raises:
        NetTrainError: an unfitted encoder, a value that is not a string.
    """
    if encoder.vocabulary is None:
        raise encoder._not_fitted(argument)
    passed = numeric_passthrough(values, _is_encoded)
    if passed is not None:
        return Encoded(passed.to(torch.int64))
    index = {unit: i + _FIRST for i, unit in enumerate(encoder.vocabulary)}
    strings = _strings(values, argument, encoder.kind)
    rows = [[index.get(unit, UNKNOWN) for unit in split(s)] for s in strings]
    return Encoded(_pad(rows, encoder.max_length))


def _describe_units(encoder: CharactersEncoder | TokensEncoder, head: str, units: str) -> str:
    """``encoder.describe``: ``head``, then the vocabulary (counted in ``units``), the length
    and the reason."""
    size = (
        "learnt from the data"
        if encoder.vocabulary is None
        else (f"{len(encoder.vocabulary)} {units} {quote_list(encoder.vocabulary, 6)}")
    )
    length = f"length {encoder.max_length}" if encoder.max_length else "padded to the longest"
    why = f" ({encoder.reason})" if encoder.reason else ""
    return f"{head}, {size}, {length}{why}"


@dataclass(frozen=True)
class CharactersEncoder(Encoder):
    """Strings -> int64 ``[n, L]`` of character codes (0 = padding, 1 = unknown character).

    Args:
        vocabulary: the characters, code 2 onwards; ``None`` = learnt by :meth:`fit`
            (every character of the training column, in sorted order).
        max_length: L; ``None`` = the longest string of each encoded column.
        reason: why this encoder was chosen automatically (shown by :meth:`describe`).

    An integer tensor of rank 2 passes through (already encoded).

    Raises:
        NetTrainError: a value that is not a string, an unfitted encoder.
    """

    kind: ClassVar[str] = "characters"
    vocabulary: tuple[str, ...] | None = None
    max_length: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        _check_max_length(self.max_length)
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))

    @property
    def fitted(self) -> bool:
        return self.vocabulary is not None

    def fit(self, values: Sequence[Any]) -> CharactersEncoder:
        if self.fitted:
            return self
        chars = set().union(*(set(s) for s in _strings(values, "data", self.kind)))
        return replace(self, vocabulary=tuple(sorted(chars)))

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        return _encode_units(self, values, argument, list)

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """Trim the batch's padding to its longest string (:func:`trim_padding`)."""
        return trim_padding(batch)

    def describe(self) -> str:
        return _describe_units(self, "Characters encoder: string -> codes", "characters")


@dataclass(frozen=True)
class TokensEncoder(Encoder):
    """Strings -> int64 ``[n, L]`` of token ids (0 = padding, 1 = unknown token).

    Tokenisation: optionally lower-case, then ``re.findall(pattern, text)``; the default
    pattern takes runs of word characters and single punctuation marks.

    Args:
        vocabulary: the tokens, id 2 onwards; ``None`` = learnt by :meth:`fit` (by descending
            frequency, ties alphabetical, at most ``max_tokens``).
        lowercase: lower-case the text before splitting.
        pattern: the token regular expression.
        max_tokens: the largest vocabulary to learn (``None`` = every token seen).
        max_length: L; ``None`` = the most tokens of any string in each encoded column.
        reason: why this encoder was chosen automatically (shown by :meth:`describe`).

    Raises:
        NetTrainError: a bad pattern, a value that is not a string, an unfitted encoder.
    """

    kind: ClassVar[str] = "tokens"
    vocabulary: tuple[str, ...] | None = None
    lowercase: bool = True
    pattern: str = r"\w+|[^\w\s]"
    max_tokens: int | None = None
    max_length: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        _check_max_length(self.max_length)
        try:
            re.compile(self.pattern)
        except (re.error, TypeError) as error:
            raise NetTrainError(
                "pattern", f"not a valid regular expression: {error}", received=repr(self.pattern)
            ) from None
        if self.max_tokens is not None and (
            not isinstance(self.max_tokens, int) or self.max_tokens < 1
        ):
            raise NetTrainError(
                "max_tokens", "must be a positive integer or None", received=repr(self.max_tokens)
            )
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))

    @property
    def fitted(self) -> bool:
        return self.vocabulary is not None

    def tokenize(self, text: str) -> list[str]:
        """Split one string into tokens.

        >>> TokensEncoder().tokenize("Hello, World")
        ['hello', ',', 'world']
        """
        return re.findall(self.pattern, text.lower() if self.lowercase else text)

    def fit(self, values: Sequence[Any]) -> TokensEncoder:
        if self.fitted:
            return self
        counts: Counter[str] = Counter()
        for s in _strings(values, "data", self.kind):
            counts.update(self.tokenize(s))
        ordered = sorted(counts, key=lambda t: (-counts[t], t))
        return replace(self, vocabulary=tuple(ordered[: self.max_tokens]))

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        return _encode_units(self, values, argument, self.tokenize)

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """Trim the batch's padding to its longest text (:func:`trim_padding`)."""
        return trim_padding(batch)

    def describe(self) -> str:
        return _describe_units(self, "Tokens encoder: string -> token ids", "tokens")
