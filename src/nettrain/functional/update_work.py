"""What one stateless update works on: the parameters, their gradients and the state.

A module's parameters and state are updated in place; a tree's are copied first, so the tree
and the state the caller passed in stay as they were (see :mod:`nettrain.functional.updates`).

Example:
    >>> import torch
    >>> work = prepare_work({"w": torch.ones(2)}, {"w": torch.zeros(2)}, "adam_update")
    >>> work.names, work.result()["w"] is not work.template["w"]
    (['w'], True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import NetTrainError, describe
from .tree import check_leaf, is_trainable, leaf_map, named_leaves, rebuild

__all__ = ["Work", "buffers", "fused_kernels", "prepare_work", "start_state", "step_tensors"]

# Devices torch has fused optimizer kernels for; the engine asks torch.optim for fused kernels
# (nettrain.optim.builder) and gets them exactly where the parameters are floating point on one
# of these, so the functional updates choose the same way and run the same kernels.
_FUSED_DEVICES = ("cpu", "cuda", "mps", "xpu")


@dataclass
class Work:
    """The tensors one update works on: parameters, gradients and their names."""

    module: nn.Module | None
    template: Any
    names: list[str]  # the leaves being updated, in order
    params: list[Tensor]  # the tensors updated in place (the module's, or copies of a tree's)
    grads: list[Tensor]
    untouched: dict[str, Tensor]  # a tree's other leaves (no gradient, or not floating point)

    def result(self) -> Any:
        """The updated parameters: the module itself, or a new tree."""
        if self.module is not None:
            return self.module
        values = dict(self.untouched)
        values.update(zip(self.names, self.params, strict=True))
        return rebuild(self.template, values)


def prepare_work(params: Any, grads: Any, method: str) -> Work:
    """Match ``grads`` to ``params``; copy a tree's parameters (its caller keeps the originals)."""
    leaves = named_leaves(params)
    module = params if isinstance(params, nn.Module) else None
    names = [n for n, _ in leaves]
    matched = leaf_map(grads, names, f"{method}: grads", allow_missing=module is not None)
    work = Work(module, params, [], [], [], {})
    for name, leaf in leaves:
        grad = matched[name]
        trainable = is_trainable(leaf) and (module is None or leaf.requires_grad)
        if grad is None or not trainable:
            work.untouched[name] = leaf
            continue
        grad = check_leaf(name, grad, leaf, f"{method}: grads")
        work.names.append(name)
        work.params.append(leaf if module is not None else leaf.detach().clone())
        work.grads.append(grad.detach().to(dtype=leaf.dtype, device=leaf.device))
    return work


def start_state(state: object, method: str, buffers: tuple[str, ...], work: Work) -> dict[str, Any]:
    """The state to update: ``state``'s buffers (copied for a tree), or a new state."""
    if state is None:
        return {"method": method, "iteration": 0, **{b: {} for b in buffers}}
    if not isinstance(state, Mapping) or state.get("method") != method:
        raise NetTrainError(
            f"{method}: state",
            "is not the state of this update",
            expected=f"None (a new run) or the state a previous {method} call returned",
            received=f"the state of {state.get('method')!r}"
            if isinstance(state, Mapping) and "method" in state
            else describe(state),
            hint="keep one state per update function (and per set of parameters)",
        )
    iteration = state.get("iteration")
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 0:
        raise NetTrainError(
            f"{method}: state",
            "has no valid iteration count",
            expected="state['iteration'], an int >= 0",
            received=describe(iteration),
        )
    copy = work.module is None
    out: dict[str, Any] = {"method": method, "iteration": iteration}
    for buffer in buffers:
        saved = state.get(buffer)
        if not isinstance(saved, Mapping):
            raise NetTrainError(
                f"{method}: state",
                f"has no {buffer!r} buffers",
                expected=f"state[{buffer!r}], a dict of tensors by parameter name",
                received=describe(saved),
            )
        out[buffer] = {
            name: (value.clone() if copy else value) if isinstance(value, Tensor) else value
            for name, value in saved.items()
        }
        for name, like in zip(work.names, work.params, strict=True):
            if name in out[buffer]:
                check_leaf(name, out[buffer][name], like, f"{method}: state[{buffer!r}]")
    return out


def buffers(state: dict[str, Any], key: str, work: Work, create: bool) -> list[Tensor | None]:
    """State ``key``'s tensor for each updated parameter: zeros when new (or None, for the torch
    functions that create their own)."""
    store = state[key]
    found = []
    for name, p in zip(work.names, work.params, strict=True):
        if name not in store and create:
            store[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
        found.append(store.get(name))
    return found


def fused_kernels(work: Work) -> bool:
    return all(p.device.type in _FUSED_DEVICES and p.is_floating_point() for p in work.params)


def step_tensors(state: dict[str, Any], work: Work, fused: bool) -> list[Tensor]:
    """The iteration count as the per-parameter step tensors torch's functional updates read.

    Their dtype and device are the ones ``torch.optim`` gives its own step counters (float32 on
    the parameter's device for fused kernels, the default float dtype on the CPU otherwise), so
    the bias corrections are computed from the same numbers.
    """
    iteration = float(state["iteration"])
    n = len(work.params)
    # One allocation per device, unbound into one 0-d counter per parameter (each its own
    # element, so torch's in-place increment of every counter is right), not n tensors.
    if fused:
        by_device: dict[torch.device, list[Tensor]] = {}
        for p in work.params:
            by_device.setdefault(p.device, [])
        for device in by_device:
            count = sum(p.device == device for p in work.params)
            counters = torch.full((count,), iteration, dtype=torch.float32, device=device)
            by_device[device] = list(counters.unbind())
        return [by_device[p.device].pop() for p in work.params]
    return list(torch.full((n,), iteration, dtype=torch.get_default_dtype()).unbind())
