"""One-hot encoding and decoding of class labels (MATLAB's ``onehotencode``/``onehotdecode``).

The class axis is ``dim`` (default 1, torch's channel axis, MATLAB's ``"C"``); the batch axis
stays first. Labels are class *names* looked up in ``classes`` when ``classes`` is a list, and
class *indices* 0..K-1 when ``classes`` is a count or left out, so the same call never reads a
label one way for one batch and another way for the next.

Example:
    >>> onehot_encode(["cat", "dog", "cat"], ["cat", "dog"])
    tensor([[1., 0.],
            [0., 1.],
            [1., 0.]])
    >>> onehot_decode(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), ["cat", "dog"])
    ['cat', 'dog']
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import NetTrainError, describe

__all__ = ["onehot_decode", "onehot_encode"]

_MAX_LISTED = 10


def _listing(classes: Sequence[Any]) -> str:
    shown = ", ".join(repr(c) for c in list(classes)[:_MAX_LISTED])
    more = len(classes) - _MAX_LISTED
    return f"[{shown}{f', ... ({more} more)' if more > 0 else ''}]"


def _nested_shape(value: object, argument: str) -> tuple[list[object], list[int]]:
    """Flatten a (possibly nested) rectangular list into its elements and its shape."""
    if not isinstance(value, (list, tuple)):
        return [value], []
    if len(value) == 0:
        return [], [0]
    parts = [_nested_shape(v, argument) for v in value]
    inner = parts[0][1]
    if any(p[1] != inner for p in parts):
        raise NetTrainError(
            argument,
            "nested label lists must be rectangular (every inner list the same length)",
            received=describe(value),
        )
    return [x for p in parts for x in p[0]], [len(value), *inner]


def _check_classes(classes: object) -> list[Hashable] | int | None:
    if classes is None:
        return None
    if hasattr(classes, "tolist") and getattr(classes, "ndim", 0) == 1:  # NumPy or a tensor
        classes = classes.tolist()
    if (
        isinstance(classes, bool)
        or not isinstance(classes, (int, Sequence))
        or isinstance(classes, str)
    ):
        raise NetTrainError(
            "classes",
            "must be a list of class names or a number of classes",
            expected="e.g. ['cat', 'dog'] or 10",
            received=describe(classes),
        )
    if isinstance(classes, int):
        if classes < 1:
            raise NetTrainError(
                "classes", "must be at least 1", expected="an int >= 1", received=repr(classes)
            )
        return classes
    names = list(classes)
    if not names:
        raise NetTrainError("classes", "is empty", expected="at least one class name")
    try:
        unique = len(set(names))
    except TypeError:
        raise NetTrainError(
            "classes", "class names must be hashable", received=describe(classes)
        ) from None
    if unique != len(names):
        duplicates = sorted({repr(c) for c in names if names.count(c) > 1})
        raise NetTrainError(
            "classes", "has repeated names", received=", ".join(duplicates), hint="list each once"
        )
    return names


def _indices_from_names(labels: object, names: list[Hashable]) -> Tensor:
    if isinstance(labels, Tensor):
        flat, shape = labels.reshape(-1).tolist(), list(labels.shape)
    else:
        flat, shape = _nested_shape(
            labels.tolist() if hasattr(labels, "tolist") else labels, "labels"
        )
    position = {name: i for i, name in enumerate(names)}
    out = []
    for i, label in enumerate(flat):
        try:
            out.append(position[label])
        except (KeyError, TypeError):
            index_like = isinstance(label, int) and not any(isinstance(n, int) for n in names)
            raise NetTrainError(
                "labels",
                f"label {label!r} is not one of the classes",
                index=i,
                expected=f"one of {_listing(names)}",
                received=describe(label),
                hint=f"labels that are class indices need classes={len(names)} (a count)"
                if index_like
                else "add it to classes, or fix the label",
            ) from None
    device = labels.device if isinstance(labels, Tensor) else None
    return torch.tensor(out, dtype=torch.int64, device=device).reshape(shape)


def _indices_from_ints(labels: object, count: int | None) -> Tensor:
    if isinstance(labels, Tensor):
        index = labels
    else:
        flat, shape = _nested_shape(
            labels.tolist() if hasattr(labels, "tolist") else labels, "labels"
        )
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in flat):
            bad = next(x for x in flat if not isinstance(x, int) or isinstance(x, bool))
            raise NetTrainError(
                "labels",
                "without a list of class names, labels must be class indices (ints)",
                expected="ints 0..K-1, or pass classes=[...names...] to look labels up",
                received=describe(bad),
            )
        index = torch.tensor(flat, dtype=torch.int64).reshape(shape)
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise NetTrainError(
            "labels",
            "class indices must be an integer tensor",
            expected="an int64 (or other integer) tensor",
            received=describe(index),
            hint="use labels.long() if the values are whole numbers",
        )
    index = index.long()
    if index.numel() == 0 and count is None:
        raise NetTrainError(
            "labels", "is empty, so the number of classes is unknown", hint="pass classes=K"
        )
    low = int(index.min()) if index.numel() else 0
    if low < 0:
        raise NetTrainError("labels", f"class index {low} is negative", expected="indices >= 0")
    if count is not None and index.numel() and int(index.max()) >= count:
        high = int(index.max())
        raise NetTrainError(
            "labels",
            f"class index {high} is out of range for {count} classes",
            expected=f"indices 0..{count - 1}",
            received=str(high),
            hint="pass the right number of classes",
        )
    return index


def _class_dim(dim: int, ndim: int, argument: str = "dim") -> int:
    if not isinstance(dim, int) or isinstance(dim, bool) or not -ndim <= dim < ndim:
        raise NetTrainError(
            argument,
            f"is out of range for a {ndim}-dimensional result",
            expected=f"an int in [{-ndim}, {ndim - 1}]",
            received=repr(dim),
        )
    return dim % ndim


def onehot_encode(
    labels: object,
    classes: Sequence[Hashable] | int | None = None,
    *,
    dim: int = 1,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """One-hot encode class labels, with the class axis at ``dim`` (MATLAB's ``onehotencode``).

    Args:
        labels: class names (a list, nested lists, or a NumPy array of strings or any hashable
            values) when ``classes`` is a list; class indices 0..K-1 (an integer tensor or a
            list of ints) when ``classes`` is a count or ``None``. Shape ``[N]`` or ``[N, ...]``.
        classes: the list of class names (their order gives the one-hot positions), or the
            number of classes K. ``None`` (only for index labels) takes K = max(labels) + 1,
            like ``F.one_hot``; pass K explicitly so that a batch missing the last class still
            has K columns.
        dim: where the class axis goes in the result (default 1: ``[N] -> [N, K]``,
            ``[N, H, W] -> [N, K, H, W]``); negative values count from the end.
        dtype: the result's dtype (default float32).

    Returns:
        A tensor of shape ``labels.shape`` with a class axis of length K inserted at ``dim``.

    Raises:
        NetTrainError: a label not among ``classes`` (naming it and listing the classes), an
        index out of range or negative, float labels without class names, a bad ``dim``.

    Example:
        >>> onehot_encode(torch.tensor([2, 0]), 3)
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
        >>> onehot_encode(torch.tensor([[0, 1]]), 2).shape  # [N, W] -> [N, K, W]
        torch.Size([1, 2, 2])
    """
    names = _check_classes(classes)
    if isinstance(names, list):
        index = _indices_from_names(labels, names)
        count = len(names)
    else:
        index = _indices_from_ints(labels, names)
        count = names if names is not None else int(index.max()) + 1
    if not isinstance(dtype, torch.dtype):
        raise NetTrainError("dtype", "must be a torch dtype", received=describe(dtype))
    where = _class_dim(dim, index.dim() + 1)
    encoded = torch.nn.functional.one_hot(index, count).to(dtype)
    return encoded.movedim(-1, where)


def _names_of(index: object, names: list[Hashable]) -> object:
    if isinstance(index, list):
        return [_names_of(i, names) for i in index]
    assert isinstance(index, int)
    return names[index]


def onehot_decode(
    scores: Tensor,
    classes: Sequence[Hashable] | int | None = None,
    *,
    dim: int = 1,
) -> Tensor | list[Any]:
    """The class with the highest score along ``dim`` (MATLAB's ``onehotdecode``).

    Ties go to the first (lowest-index) class, as ``torch.argmax`` and MATLAB's ``max`` do.

    Args:
        scores: probabilities, one-hot vectors or any scores, shape ``[N, K, ...]`` with the
            class axis at ``dim``.
        classes: ``None`` or the count K to get class indices; a list of K class names to get
            names.
        dim: the class axis of ``scores`` (default 1).

    Returns:
        With ``classes`` ``None`` or a count: an int64 tensor of the indices, shape
        ``scores.shape`` without ``dim``. With a list: the class names as a list, nested like
        ``Tensor.tolist()`` when ``scores`` has more than two dimensions (a single name for
        1-D ``scores``).

    Raises:
        NetTrainError: ``scores`` not a floating tensor, a bad ``dim``, or a class axis whose
        length differs from the number of classes.

    Example:
        >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
        >>> onehot_decode(scores)
        tensor([1, 0])
        >>> onehot_decode(scores, ["a", "b", "c"])
        ['b', 'a']
    """
    if not isinstance(scores, Tensor) or not scores.is_floating_point():
        raise NetTrainError(
            "scores",
            "must be a floating-point tensor of class scores",
            expected="e.g. a float32 tensor of shape [N, K]",
            received=describe(scores),
        )
    if scores.dim() == 0:
        raise NetTrainError("scores", "has no class axis", received=describe(scores))
    axis = _class_dim(dim, scores.dim())
    names = _check_classes(classes)
    count = len(names) if isinstance(names, list) else names
    if count is not None and scores.shape[axis] != count:
        raise NetTrainError(
            "scores",
            f"the class axis (dim {dim}) has length {scores.shape[axis]}, "
            "not the number of classes",
            expected=f"{count} scores per position",
            received=describe(scores),
            hint="check dim, or the classes list",
        )
    index = scores.detach().argmax(axis)
    if isinstance(names, list):
        return _names_of(index.tolist(), names)  # type: ignore[return-value]
    return index
