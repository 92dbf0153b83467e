"""Dropout masks drawn on several CPU processes as one process draws them for the whole batch.

On the CPU, torch draws a dropout mask element by element from the generator, in order: the
mask of a batch of 2b examples is the mask of its first b examples followed by the mask of the
next b, and the generator ends in the same state either way (checked by :func:`masks_in_order`
on the machine, before it is relied on). All ranks start a run with the same generator state
(rank 0's, :meth:`~nettrain.distributed.world.World.broadcast_rng`); before each dropout layer
rank r draws, and drops, the masks of the ranks before it, and after the layer those of the
ranks after it. Each rank then trains on exactly its rows of the single process's mask and all
ranks stay in step, so a net with dropout trains to the single process's weights.

On a GPU the generator hands out counter ranges per kernel launch, not per element, so there
each rank draws its own masks (equal in distribution, not in value).

Example:
    >>> masks_in_order()
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["DROPOUT_TYPES", "align_dropout", "masks_in_order"]

DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)  # fmt: skip


def masks_in_order() -> bool:
    """Whether this machine's CPU dropout draws masks in order (see the module docstring); the
    caller's random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        whole = nn.functional.dropout(torch.ones(4, 257), 0.5, True)
        after_whole = torch.rand(1)
        torch.manual_seed(0)
        halves = [nn.functional.dropout(torch.ones(2, 257), 0.5, True) for _ in range(2)]
        after_halves = torch.rand(1)
    return torch.equal(whole, torch.cat(halves)) and torch.equal(after_whole, after_halves)


def _draw(module: nn.Module, like: Tensor, examples: int) -> None:
    """Draw (and drop) the mask ``module`` would draw for ``examples`` rows shaped as ``like``."""
    if examples > 0:
        with torch.no_grad():
            module.forward(torch.empty((examples, *like.shape[1:]), dtype=like.dtype))


def align_dropout(
    net: nn.Module, rank: int, shares: Callable[[], list[int]]
) -> list[RemovableHandle]:
    """Hooks on every dropout layer of ``net`` that draw the other ranks' masks around this
    rank's (``shares()``: the sizes of every rank's part of the current batch). Returns the
    hooks' handles, to remove after the run."""
    handles: list[RemovableHandle] = []

    def before(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        if module.training and getattr(module, "p", 0.0) > 0:
            for examples in shares()[:rank]:
                _draw(module, args[0], examples)

    def after(module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:
        if module.training and getattr(module, "p", 0.0) > 0:
            for examples in shares()[rank + 1 :]:
                _draw(module, args[0], examples)

    for module in net.modules():
        if isinstance(module, DROPOUT_TYPES):
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
    return handles
