"""The engine's data-parallel parts: the session on one rank, the net under DDP.

:func:`distribute` makes a prepared session one rank's (its share of each batch, the random
state of rank 0); :func:`data_parallel` wraps the net in torch's
``DistributedDataParallel`` for the run and hands the user's module back plain after it.

Example:
    >>> check_distributable({"trained_net"})  # what several processes can answer
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..data.batching import InMemorySource
from ..errors import NetTrainError
from .dropout import align_dropout, masks_in_order
from .sharding import ShardedSource, ShardedStream
from .world import World

__all__ = ["UNAVAILABLE", "check_distributable", "data_parallel", "distribute"]

# properties that several processes cannot answer yet, and why
UNAVAILABLE = {
    "example_losses": "each process sees only its share of the examples",
    "batch_measurements_lists": "each process measures only its share of each batch",
}


def check_distributable(names: set[str]) -> None:
    """Refuse, before any training, the properties several processes cannot answer."""
    for name in sorted(names & set(UNAVAILABLE)):
        raise NetTrainError(
            "prop",
            f"{name!r} is not available when training on several processes ({UNAVAILABLE[name]})",
            received=repr(name),
            hint="ask for it from a run on one process (target_device a single device)",
        )


def distribute(session: Any, world: World) -> None:
    """Make the prepared ``session`` rank ``world.rank``'s: its share of every batch (of the
    data in memory, or of a stream every rank reads), and the random state of rank 0 (the ranks
    then draw alike).

    Raises:
        NetTrainError: a method that cannot run on several processes.
    """
    source = session.source
    if getattr(session.updater, "needs_closure", False):
        raise NetTrainError(
            "method",
            "L-BFGS cannot train on several processes (its line search would differ on each)",
            received=repr(session.options.method.name),
            hint='use "adam" or "sgd", or train on one process',
        )
    if isinstance(source, InMemorySource):
        session.source = ShardedSource(source, world.rank, world.size)
    else:  # every rank reads the stream and takes its part of each batch
        session.source = ShardedStream(source, world.rank, world.size, world.all_have)
    session.world = world
    world.broadcast_rng()


@contextlib.contextmanager
def data_parallel(
    net: nn.Module, world: World | None, source: Any
) -> Iterator[tuple[nn.Module, Callable[[], float] | None]]:
    """``(the module the step calls, the loss weight of this rank's share)`` for the run:
    ``net`` itself on one process; on several, ``net`` under DistributedDataParallel (which
    makes every rank start from rank 0's weights and averages the gradients in backward),
    with the dropout masks of the whole batch on the CPU (:mod:`.dropout`)."""
    if world is None:
        yield net, None
        return
    cuda = world.device.type == "cuda"
    wrapped = DistributedDataParallel(net, device_ids=[world.device.index] if cuda else None)
    handles = []
    if not cuda and masks_in_order():
        handles = align_dropout(net, world.rank, lambda: source.shares)
    try:
        yield wrapped, source.loss_weight
    finally:
        for handle in handles:
            handle.remove()
        del wrapped  # its reducer's hooks go with it: the module is plain again
