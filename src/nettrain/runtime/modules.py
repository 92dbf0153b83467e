"""What nettrain attaches to a user's module, and how it copies one safely.

nettrain puts two kinds of forward hooks on the net while ``train`` runs: the logit tap before a
final ``Softmax``/``Sigmoid`` (:class:`nettrain.losses.LogitTap`) and the per-batch work of
encoders (:meth:`nettrain.typed.Typed.install`). Both are registered through
:func:`attach_forward_hook` / :func:`attach_forward_pre_hook`, which wrap them in
:class:`LibraryHook`, so that they can be told apart from the user's own hooks. Two rules follow:

- nothing a library hook keeps holds a tensor between calls (a tensor that carries an autograd
  graph cannot be deep-copied, so it would break every ``copy.deepcopy`` of the net);
- :func:`copy_module` is the only way the library copies a net: the copy carries none of the
  library's hooks (a copy handed to the user, such as ``final_net``, must behave like a plain
  module), and tensors that the user's module keeps in plain attributes with an autograd graph
  (``self.last_activation = x`` in ``forward``) are copied detached instead of failing.

Example:
    >>> import torch, torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1))
    >>> seen = []
    >>> handle = attach_forward_hook(net[1], lambda m, i, o: seen.append(1))
    >>> copy = copy_module(net)
    >>> _ = copy(torch.zeros(1, 2)); len(seen)  # the copy has no library hook
    0
    >>> _ = net(torch.zeros(1, 2)); len(seen)
    1
    >>> library_hooks(net), library_hooks(copy)
    (1, 0)
    >>> handle.remove()
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = [
    "LibraryHook",
    "attach_forward_hook",
    "attach_forward_pre_hook",
    "copy_module",
    "library_hooks",
]

# the per-module hook dictionaries torch keeps (and the extra ones keyed by the same ids)
_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks")
_EXTRA_DICTS = (
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
)


class LibraryHook:
    """A hook that nettrain attached (a plain callable wrapper, so copies can recognise it)."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)


def attach_forward_hook(module: nn.Module, function: Callable[..., Any]) -> RemovableHandle:
    """``module.register_forward_hook(function)``, marked as nettrain's."""
    return module.register_forward_hook(LibraryHook(function))


def attach_forward_pre_hook(module: nn.Module, function: Callable[..., Any]) -> RemovableHandle:
    """``module.register_forward_pre_hook(function)``, marked as nettrain's."""
    return module.register_forward_pre_hook(LibraryHook(function))


def library_hooks(module: nn.Module) -> int:
    """How many of nettrain's hooks ``module`` and its submodules carry (0 after ``train``)."""
    return sum(
        isinstance(hook, LibraryHook)
        for m in module.modules()
        for name in _HOOK_DICTS
        for hook in getattr(m, name, {}).values()
    )


def _graph_tensors(module: nn.Module) -> dict[int, torch.Tensor]:
    """Detached copies of the tensors with an autograd graph that submodules keep in plain
    attributes (directly, or one level down in a list, tuple or dict), keyed by ``id``."""
    found: dict[int, torch.Tensor] = {}

    def visit(value: object) -> None:
        if isinstance(value, torch.Tensor) and value.grad_fn is not None:
            found[id(value)] = value.detach().clone()

    for m in module.modules():
        for value in vars(m).values():
            visit(value)
            if isinstance(value, list | tuple):
                for item in value:
                    visit(item)
            elif isinstance(value, dict) and not isinstance(value, nn.Module):
                for item in value.values():
                    visit(item)
    return found


def copy_module(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` without nettrain's hooks.

    The user's own hooks are copied with it (as ``copy.deepcopy`` does). Tensors that carry an
    autograd graph, which ``copy.deepcopy`` refuses, are copied detached.

    Returns:
        the copy: the same class, weights, buffers, training flag and hooks, minus the
        library's.
    """
    memo: dict[int, Any] = dict(_graph_tensors(module))
    for m in module.modules():
        for name in _HOOK_DICTS:
            for hook in getattr(m, name, {}).values():
                if isinstance(hook, LibraryHook):
                    memo[id(hook)] = hook  # not copied: removed from the copy below
    twin = copy.deepcopy(module, memo)
    for m in twin.modules():
        for name in _HOOK_DICTS:
            hooks = getattr(m, name, None)
            if not hooks:
                continue
            for key in [k for k, hook in hooks.items() if isinstance(hook, LibraryHook)]:
                del hooks[key]
                for extra in _EXTRA_DICTS:
                    getattr(m, extra, {}).pop(key, None)
    return twin
