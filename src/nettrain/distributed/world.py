"""The processes of a data-parallel run, on PyTorch's own engine (``torch.distributed``).

A run is distributed when it is one of several processes of a process group: one the user made
(``torch.distributed.init_process_group``), one ``torchrun`` describes in the environment
(``WORLD_SIZE`` > 1; :func:`joined` creates it, gloo on the CPU, nccl on CUDA), or one
:mod:`nettrain.distributed.launch` starts for ``target_device=("cpu", n)``. :class:`World` is
what the engine needs from it: the rank, the size, and the few collectives it calls (every rank
calls each of them at the same point of the run, or none does).

Example:
    >>> world = World(rank=0, size=1, backend="gloo", device=torch.device("cpu"))
    >>> world.is_main, world.sum([1.0, 2.0]), world.broadcast({"batch_size": 64})
    (True, [1.0, 2.0], {'batch_size': 64})
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..errors import NetTrainError

__all__ = ["DEFAULT_TIMEOUT", "World", "is_main_process", "joined", "world_from_environment"]

DEFAULT_TIMEOUT = 60.0  # seconds a collective waits for a rank that has stopped answering


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank ``rank`` of ``size`` processes.

    Every collective here must be called by every rank at the same point of the run.
    """

    rank: int
    size: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that reports, writes files and checkpoints."""
        return self.rank == 0

    @property
    def _tensor_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def sum(self, values: list[float]) -> list[float]:
        """The sums over the ranks of each value (float64: counts stay exact)."""
        if self.size == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._tensor_device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def sum_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the ranks (a new tensor on the same device)."""
        if self.size == 1:
            return tensor
        out = tensor.detach().to(self._tensor_device, copy=True)
        dist.all_reduce(out)
        return out.to(tensor.device)

    def all_have(self, mine: bool) -> bool:
        """Whether every rank has what this one says it has (a next batch)."""
        return self.sum([1.0 if mine else 0.0])[0] == self.size

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), on every rank."""
        if self.size == 1:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=self._tensor_device)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if self.size == 1:
            return [value]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def broadcast_rng(self) -> None:
        """Rank 0's CPU random state on every rank: the ranks draw what one process would."""
        if self.size == 1:
            return
        state = self.broadcast(torch.get_rng_state())
        torch.set_rng_state(state)


def is_main_process() -> bool:
    """Whether this process is rank 0 of its run, or alone (what prints and writes files)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def _backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def world_from_environment(device: torch.device) -> World | None:
    """The world of an existing process group of more than one process, else None."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    backend = str(dist.get_backend())
    return World(dist.get_rank(), dist.get_world_size(), backend, device)


def _torchrun_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise NetTrainError(
            "WORLD_SIZE",
            "is not a whole number",
            received=repr(os.environ.get("WORLD_SIZE")),
            hint="start several processes with torchrun, which sets it",
        ) from None


def torchrun_device(device: torch.device) -> torch.device:
    """Under torchrun on GPUs, each process takes the GPU of its local rank."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


@contextlib.contextmanager
def joined(device: torch.device, timeout: float = DEFAULT_TIMEOUT) -> Iterator[World | None]:
    """The run's world: an existing group's, or one made from torchrun's environment (and
    closed again at the end), or None for a run of one process."""
    world = world_from_environment(device)
    if world is not None or _torchrun_size() < 2:
        yield world
        return
    device = torchrun_device(device)
    backend = _backend_for(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(
            backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout)
        )
    except (RuntimeError, ValueError) as error:
        raise NetTrainError(
            "WORLD_SIZE",
            f"could not join the other {_torchrun_size() - 1} processes ({error})",
            hint="start the script with torchrun, which sets RANK, WORLD_SIZE, MASTER_ADDR "
            "and MASTER_PORT for every process",
        ) from None
    try:
        yield World(dist.get_rank(), dist.get_world_size(), backend, device)
    finally:
        dist.destroy_process_group()
