"""Parameters as plain data: a (possibly nested) dict of tensors, or an ``nn.Module``.

A custom loop's parameters are either a module (MATLAB's ``dlnetwork``) or a *tree*: a dict
whose values are tensors, dicts, lists or tuples of such (MATLAB's ``parameters`` struct). Every
function of :mod:`nettrain.functional` sees a tree through its *leaves*, named by their dotted
path (``"layer1.W"``, ``"blocks.0.bias"``) as ``nn.Module.named_parameters()`` names a module's
parameters, so gradients, optimizer state and checkpoints of both kinds are keyed the same way.

Example:
    >>> import torch
    >>> params = {"fc": {"W": torch.ones(2, 3), "b": torch.zeros(2)}, "scale": torch.tensor(1.0)}
    >>> [name for name, _ in named_leaves(params)]
    ['fc.W', 'fc.b', 'scale']
    >>> doubled = rebuild(params, {n: 2 * t for n, t in named_leaves(params)})
    >>> doubled["fc"]["W"][0, 0].item(), params["fc"]["W"][0, 0].item()
    (2.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch  # noqa: F401  (the doctests use it)
from torch import Tensor, nn

from ..errors import NetTrainError, describe

__all__ = ["check_leaf", "is_trainable", "leaf_map", "named_leaves", "rebuild"]

_EXPECTED = (
    "an nn.Module, or a dict of tensors (values may be dicts, lists or tuples of tensors, nested)"
)


def is_trainable(tensor: Tensor) -> bool:
    """Whether a leaf can have a gradient: floating point or complex (not int or bool)."""
    return tensor.is_floating_point() or tensor.is_complex()


def _walk(tree: object, prefix: str, argument: str) -> Iterator[tuple[str, Tensor]]:
    if isinstance(tree, Tensor):
        yield prefix, tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise NetTrainError(
                    argument,
                    f"a parameter dict key must be a string (at {prefix or 'the top'})",
                    expected="string keys such as 'W1'",
                    received=describe(key),
                )
            yield from _walk(value, f"{prefix}.{key}" if prefix else key, argument)
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _walk(value, f"{prefix}.{i}" if prefix else str(i), argument)
    else:
        where = f"the value at {prefix!r}" if prefix else "the parameters"
        raise NetTrainError(
            argument,
            f"{where} is not a tensor",
            expected=_EXPECTED,
            received=describe(tree),
            hint="make every parameter a torch.Tensor, e.g. torch.as_tensor(value, "
            "dtype=torch.float32)",
        )


def named_leaves(params: object, argument: str = "params") -> list[tuple[str, Tensor]]:
    """Every tensor in ``params`` with its dotted name, in order.

    Args:
        params: an ``nn.Module`` (its ``named_parameters()``: the learnables; buffers such as
            batch-norm statistics are state, not parameters) or a tree of tensors.
        argument: the argument name for error messages.

    Returns:
        ``[(name, tensor), ...]``: the module's parameters themselves, or the tree's tensors.

    Raises:
        NetTrainError: for anything that is not a tensor at a leaf, a non-string dict key, or
            an empty tree.

    >>> named_leaves({"layers": [{"W": torch.zeros(1)}, {"W": torch.zeros(2)}]})[1][0]
    'layers.1.W'
    """
    leaves: list[tuple[str, Tensor]]
    if isinstance(params, nn.Module):
        leaves = list(params.named_parameters())
    elif isinstance(params, (Mapping, list, tuple)):
        leaves = list(_walk(params, "", argument))
    else:
        raise NetTrainError(
            argument,
            "is not a set of parameters",
            expected=_EXPECTED,
            received=describe(params),
        )
    if not leaves:
        raise NetTrainError(
            argument,
            "holds no tensors",
            expected=_EXPECTED + " with at least one tensor",
            received=describe(params),
            hint="materialise lazy modules with one forward pass first"
            if isinstance(params, nn.Module)
            else None,
        )
    return leaves


def _rebuild(tree: object, values: Mapping[str, Any], prefix: str) -> Any:
    if isinstance(tree, Tensor):
        return values[prefix]
    if isinstance(tree, Mapping):
        return {
            key: _rebuild(value, values, f"{prefix}.{key}" if prefix else key)
            for key, value in tree.items()
        }
    assert isinstance(tree, (list, tuple))  # named_leaves accepted nothing else
    items = [_rebuild(v, values, f"{prefix}.{i}" if prefix else str(i)) for i, v in enumerate(tree)]
    return tuple(items) if isinstance(tree, tuple) else items


def rebuild(template: object, values: Mapping[str, Any]) -> Any:
    """A new tree shaped like ``template`` whose leaves are ``values[name]``.

    Args:
        template: a tree of tensors (not a module: a module's leaves are changed in place).
        values: ``{dotted name: new leaf}`` for every leaf of ``template``.

    Returns:
        Dicts, lists and tuples as in ``template``, new containers throughout.

    >>> rebuild({"a": torch.zeros(1), "b": [torch.zeros(1)]}, {"a": 1, "b.0": 2})
    {'a': 1, 'b': [2]}
    """
    return _rebuild(template, values, "")


def leaf_map(
    other: object, names: Sequence[str], argument: str, *, allow_missing: bool = False
) -> dict[str, Any]:
    """``{name: leaf}`` of a structure that matches parameters named ``names``.

    ``other`` may be shaped like the parameters (a tree), or flat, keyed by the parameters'
    dotted names (as gradients of a module are), or None (every leaf None).

    Raises:
        NetTrainError: when a parameter has no matching leaf (unless ``allow_missing``), or a
            leaf that no parameter has, naming both.

    >>> leaf_map({"fc": {"W": torch.ones(1)}}, ["fc.W"], "grads")
    {'fc.W': tensor([1.])}
    >>> leaf_map({"fc.W": torch.ones(1)}, ["fc.W"], "grads")
    {'fc.W': tensor([1.])}
    """
    if other is None:
        return dict.fromkeys(names)
    if isinstance(other, nn.Module):
        found: dict[str, Any] = dict(other.named_parameters())
    elif isinstance(other, Mapping) and all(
        isinstance(v, Tensor) or v is None for v in other.values()
    ):
        found = dict(other)  # flat {name: tensor}, or a one-level tree: the same thing
    else:
        found = dict(_walk_with_none(other, "", argument))
    missing = [n for n in names if n not in found]
    extra = [n for n in found if n not in set(names)]
    if (missing and not allow_missing) or extra:
        raise NetTrainError(
            argument,
            "does not match the parameters",
            expected=f"one entry per parameter ({', '.join(names[:6])}"
            f"{' ...' if len(names) > 6 else ''})",
            received=(f"no entry for {missing[:3]}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"entries no parameter has: {extra[:3]}" if extra else ""),
            hint="pass the structure returned for these parameters (same names or same shape)",
        )
    return {n: found.get(n) for n in names}


def _walk_with_none(tree: object, prefix: str, argument: str) -> Iterator[tuple[str, Any]]:
    if tree is None:
        yield prefix, None
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from _walk_with_none(value, f"{prefix}.{key}" if prefix else str(key), argument)
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _walk_with_none(value, f"{prefix}.{i}" if prefix else str(i), argument)
    else:
        yield from _walk(tree, prefix, argument)


def check_leaf(name: str, value: object, like: Tensor, argument: str) -> Tensor:
    """``value`` as the tensor for parameter ``name``, shaped like ``like``; else raise."""
    if not isinstance(value, Tensor):
        raise NetTrainError(
            argument,
            f"the entry for {name!r} is not a tensor",
            expected=f"a tensor of shape {list(like.shape)}",
            received=describe(value),
        )
    if value.shape != like.shape:
        raise NetTrainError(
            argument,
            f"the entry for {name!r} has the wrong shape",
            expected=f"shape {list(like.shape)} (the parameter's)",
            received=f"shape {list(value.shape)}",
        )
    return value
