"""Choosing encoders and decoders from the data, when the user gives none.

The rules (one look at every value of the column, so a mixed column is caught up front):

=====================================  ===================  ==================================
values                                 role                 encoder
=====================================  ===================  ==================================
numbers, arrays, tensors, nested lists any                  none (already numeric)
True / False                           any                  boolean
PIL images, paths to image files       any                  image
strings                                target               class
strings, > 1 word on average           input                tokens
strings, single words                  input                characters
other hashable labels (enums, ...)     target               class
lists / tuples / sets of labels        target               class, multilabel
=====================================  ===================  ==================================

Image paths are recognised by their extension (.png .jpg .jpeg .bmp .gif .tif .tiff .webp);
numeric arrays stay numeric even when they hold pixels (give ``encoder("image")`` to resize
them). A tuple of strings is read as a set of labels (multilabel), not as one label.

Example:
    >>> infer_encoder(["cat", "dog", "cat"], role="target").describe()
    'Class encoder: classes learnt from the data -> index'
    >>> infer_encoder([[0.1, 0.2], [0.3, 0.4]], role="input") is None
    True
    >>> decoder_for(infer_encoder([True, False], role="target")).describe()
    'Boolean decoder: sigmoid(score) >= 0.5 -> True'
"""

from __future__ import annotations

import pathlib
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import NetTrainError, describe
from .base import Encoder, as_column
from .decoders import BooleanDecoder, ClassDecoder, Decoder
from .image import ImageEncoder, is_image_path, is_pil_image
from .labels import BooleanEncoder, ClassEncoder
from .text import CharactersEncoder, TokensEncoder

__all__ = ["decoder_for", "infer_encoder"]

# category -> (group, words for messages). Values of one group may share a column.
_GROUPS = {
    "number": ("numeric", "numbers or arrays"),
    "array": ("numeric", "numbers or arrays"),
    "boolean": ("boolean", "booleans"),
    "image": ("image", "images or image file paths"),
    "image path": ("image", "images or image file paths"),
    "string": ("string", "strings"),
    "labels": ("labels", "collections of labels"),
    "label": ("label", "labels"),
    "path": ("path", "paths that are not image files"),
    "missing": ("missing", "missing values (None)"),
    "other": ("other", "values"),
}
_ENCODER_HINT = (
    "clean the column so every value has one type, or give an encoder for it, "
    "e.g. nettrain.coders.encoder('class')"
)


def _numeric_sequence(value: Any) -> bool:
    """Whether a list/tuple holds only numbers, numeric arrays or such lists (not empty)."""
    if not value:
        return False
    for v in value:
        if isinstance(v, (list, tuple)):
            if not _numeric_sequence(v):
                return False
        elif _category(v) not in ("number", "array", "boolean"):
            return False
    return True


def _category(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, float, complex, np.number)):
        return "number"
    if isinstance(value, torch.Tensor):
        return "array"
    if isinstance(value, np.ndarray):
        return "array" if value.dtype.kind in "biufc" else "other"
    if isinstance(value, str):
        return "image path" if is_image_path(value) else "string"
    if isinstance(value, pathlib.PurePath):
        return "image path" if is_image_path(value) else "path"
    if is_pil_image(value):
        return "image"
    if isinstance(value, (list, tuple)):
        if not value:
            return "empty"
        return "array" if _numeric_sequence(value) else "labels"
    if isinstance(value, (set, frozenset)):
        return "labels"
    if isinstance(value, bytes) or not isinstance(value, Hashable):
        return "other"
    return "label"


def _kind_name(category: str, value: Any) -> str:
    if category in ("label", "other"):
        return f"values of type {type(value).__name__}"
    return _GROUPS[category][1]


def _column_category(column: list[Any], argument: str, name: str) -> tuple[str, int]:
    """The column's category and the index of its first value (not an empty list) of it."""
    first = -1
    category = "empty"
    for i, value in enumerate(column):
        c = _category(value)
        if c == "empty":
            continue  # an empty list fits a multilabel column and a numeric one
        if first < 0:
            first, category = i, c
            continue
        same = _GROUPS[c][0] == _GROUPS[category][0]
        if same and c in ("label", "other"):
            same = type(value) is type(column[first])
        if not same:
            raise NetTrainError(
                argument,
                f"column {name!r} mixes {_kind_name(category, column[first])} (example {first}) "
                f"and {_kind_name(c, value)} (example {i})",
                index=i,
                expected=f"{_kind_name(category, column[first])} like example {first}",
                received=describe(value),
                hint=_ENCODER_HINT,
            )
    return category, first


def infer_encoder(
    values: Sequence[Any], *, role: str, argument: str = "data", name: str | None = None
) -> Encoder | None:
    """Choose an encoder for a column from its values (unfitted: call ``.fit(values)`` next).

    Args:
        values: the column (list, tuple, array, tensor, pandas Series).
        role: ``"input"`` or ``"target"``; strings are classes as targets, text as inputs.
        argument: the argument name for errors ("data", "validation_set", ...).
        name: the column (port) name for errors; default: the role.

    Returns:
        An encoder, or None when the column is numeric already (or empty).

    Raises:
        NetTrainError: a column mixing kinds of values (naming the first index that differs and
            both kinds), missing values (None), values no encoder can read.

    >>> infer_encoder(["a few words here", "and more"], role="input").describe()
    'Tokens encoder: string -> token ids, learnt from the data, padded to the longest (input strings have 3.0 words on average, so they are split into tokens)'
    >>> infer_encoder([["a"], ["a", "b"]], role="target").multilabel
    True
    """  # noqa: E501
    if role not in ("input", "target"):
        raise NetTrainError("role", "must be 'input' or 'target'", received=repr(role))
    name = name or role
    if isinstance(values, torch.Tensor) or (
        isinstance(values, np.ndarray) and values.dtype.kind in "biufc"
    ):
        return None  # fast path: a numeric block never needs an encoder
    column = as_column(values, argument=argument, kind="automatic")
    category, first = _column_category(column, argument, name)
    if category in ("empty", "number", "array"):
        return None
    if category == "boolean":
        return BooleanEncoder()
    if category in ("image", "image path"):
        return ImageEncoder()
    if category == "string":
        if role == "target":
            return ClassEncoder()
        return _text_encoder(column)
    if role == "target" and category in ("label", "labels"):
        return ClassEncoder(multilabel=category == "labels")
    problem = {
        "missing": "has a missing value (None)",
        "path": "holds paths that are not image files",
        "labels": "holds collections of labels, which are not inputs",
        "label": f"holds values of type {type(column[first]).__name__} as inputs",
    }.get(category, f"holds values of type {type(column[first]).__name__}")
    hint = {
        "missing": "drop or fill the examples with missing values",
        "path": "for images with another extension give encoder('image')",
    }.get(category, "give an encoder for this column, e.g. encoder('function', function=f)")
    raise NetTrainError(
        argument,
        f"column {name!r} {problem}, and no encoder can be chosen for it",
        index=first,
        received=describe(column[first]),
        hint=hint,
    )


def _text_encoder(column: list[Any]) -> Encoder:
    """Tokens for text of several words, characters for single words (codes, names...)."""
    words = sum(len(str(s).split()) for s in column) / max(len(column), 1)
    if words > 1:
        why = f"input strings have {words:.1f} words on average, so they are split into tokens"
        return TokensEncoder(reason=why)
    why = f"input strings have {words:.1f} words on average, so they are read as characters"
    return CharactersEncoder(reason=why)


def decoder_for(encoder: Encoder | None, *, scores: str = "logits") -> Decoder | None:
    """The decoder that inverts an (output) encoder, or None when there is none.

    Args:
        encoder: the target's encoder.
        scores: what the net outputs: "logits" (default), "probabilities" (it ends in
            Softmax/Sigmoid) or "log_probabilities" (it ends in LogSoftmax).

    Raises:
        NetTrainError: a class encoder that has not learnt its classes yet.

    >>> decoder_for(ClassEncoder(classes=("a", "b"))).describe()
    "Class decoder: softmax over 2 classes 'a', 'b'"
    >>> decoder_for(BooleanEncoder(), scores="probabilities").describe()
    'Boolean decoder: probability >= 0.5 -> True'
    """
    if isinstance(encoder, ClassEncoder):
        if encoder.classes is None:
            raise NetTrainError(
                "encoder",
                "the class encoder has not learnt its classes, so no decoder can be made",
                hint="fit the encoder on the training column first",
            )
        return ClassDecoder(classes=encoder.classes, multilabel=encoder.multilabel, scores=scores)
    if isinstance(encoder, BooleanEncoder):
        return BooleanDecoder(scores=scores)
    return None
