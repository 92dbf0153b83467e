"""``target_device=("cpu", n)`` / ``("gpu", "all")``: the library starts the processes itself.

The calling process is rank 0: it trains the user's own net in place and returns the usual
result, so nothing has to come back from the other processes. Ranks 1 ... n-1 are started here
(forked on the CPU, which needs nothing to be picklable; spawned for GPUs, since CUDA does not
survive a fork) and join a process group through a file store in a temporary folder (no port to
find). Each trains its share of every batch and ends.

A failure never leaves a process waiting: a worker that raises reports its error on a queue
and exits, which closes its connections; a worker that is killed closes them too; rank 0's
collective then fails at once (or after ``distributed_timeout`` seconds at worst), the other
workers are stopped, and a :class:`~nettrain.errors.NetTrainError` names the process and its
error. An error on rank 0 stops the workers the same way and is raised as it is.

Example (it starts a process, so tests/test_distributed.py runs it rather than a doctest)::

    x = torch.randn(256, 4); y = x.sum(1, keepdim=True)
    nettrain.train(torch.nn.Linear(4, 1), (x, y), target_device=("cpu", 2),
                   max_training_rounds=5, batch_size=32)

    >>> threads_per_process(1) >= threads_per_process(2) >= 1
    True
"""

from __future__ import annotations

import contextlib
import datetime
import multiprocessing
import os
import pickle
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist

from ..errors import NetTrainError

__all__ = ["run_processes", "threads_per_process"]

JOIN_SECONDS = 30.0  # how long a finished worker may take to exit before it is stopped


def threads_per_process(count: int) -> int:
    """The intra-op threads of each of ``count`` processes sharing this machine's cores.

    >>> threads_per_process(1) >= 1 and threads_per_process(10_000) == 1
    True
    """
    return max(1, (os.cpu_count() or 1) // count)


def _device_of(rank: int, gpus: tuple[int, ...]) -> object:
    return ("gpu", gpus[rank]) if gpus else "cpu"


def _join(store: str, rank: int, count: int, gpus: tuple[int, ...], timeout: float) -> None:
    if gpus:
        torch.cuda.set_device(gpus[rank])
    dist.init_process_group(
        "nccl" if gpus else "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=count,
        timeout=datetime.timedelta(seconds=timeout),
    )


def _worker(
    rank: int,
    count: int,
    store: str,
    gpus: tuple[int, ...],
    timeout: float,
    work: bytes | tuple[Any, ...],
    errors: Any,
) -> None:
    """One worker process: join the group, train, leave. An error goes on ``errors`` and the
    process exits with status 1 (its connections closing tell the others at once).

    ``work``: ``(target, args, options)``; for a spawned process pickled to bytes by the plain
    pickler. Handed to it as objects, torch's multiprocessing pickler would move the net's
    tensors into shared memory, and every process would then update the same weights (each
    update made n times); pickled to bytes, each process gets its own copy. A forked process
    has its own copy of everything already, and nothing needs to pickle."""
    try:
        target, args, options = pickle.loads(work) if isinstance(work, bytes) else work
        torch.set_num_threads(threads_per_process(count))
        _join(store, rank, count, gpus, timeout)
        target(*args, {**options, "target_device": _device_of(rank, gpus)})
    except BaseException as error:  # whatever it is, rank 0 must hear of it
        errors.put((rank, f"{type(error).__name__}: {error}", traceback.format_exc()))
        os._exit(1)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _failure(workers: list[Any], errors: Any, count: int) -> NetTrainError | None:
    """What went wrong on the workers, once they have had a moment to say so."""
    for worker in workers:
        worker.join(timeout=2.0)
    reported = {}
    while not errors.empty():
        rank, message, trace = errors.get()
        reported[rank] = (message, trace)
    for number, worker in enumerate(workers, start=1):
        if number in reported:
            message, trace = reported[number]
            return NetTrainError(
                "target_device",
                f"process {number} of {count} failed: {message}",
                hint="its traceback is below; the error is in the code that process ran "
                "(the same net and data as this one)\n" + trace.rstrip(),
            )
        code = worker.exitcode
        if code is not None and code < 0:
            return NetTrainError(
                "target_device",
                f"process {number} of {count} was killed (signal {-code}) while training",
                hint="the run has stopped; if the machine ran out of memory, try fewer "
                "processes or a smaller batch_size",
            )
        if code not in (None, 0):
            return NetTrainError(
                "target_device", f"process {number} of {count} exited with status {code}"
            )
    return None


def _peer_failure(error: BaseException) -> bool:
    """Whether ``error`` is a collective's failure (a process stopped answering), not an error
    of this process's own."""
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    words = ("Connection closed", "Connection reset", "Broken pipe", "Timed out", "timed out")
    return isinstance(error, RuntimeError) and any(w in str(error) for w in words)


@contextlib.contextmanager
def _stopping(workers: list[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.join(timeout=JOIN_SECONDS if worker.exitcode is None else 0)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5.0)


def run_processes(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    options: Mapping[str, Any],
    count: int,
    gpus: tuple[int, ...],
    timeout: float,
    start_method: str | None = None,
) -> Any:
    """Run ``target(*args, options_of_rank)`` on ``count`` processes, this one rank 0, and
    return rank 0's answer (see the module docstring). ``gpus``: one per process, or () for
    the CPU. ``start_method``: "fork" or "spawn" (default: spawn for GPUs, fork on the CPU;
    the tests spawn CPU processes to check the GPU path's pickling and start-up)."""
    if (dist.is_available() and dist.is_initialized()) or os.environ.get("WORLD_SIZE", "1") != "1":
        raise NetTrainError(
            "target_device",
            "this process is already part of a process group (torchrun or your own)",
            received=repr(options.get("target_device")),
            hint='under torchrun, give target_device "cpu" or "gpu": the processes are there',
        )
    context = multiprocessing.get_context(start_method or ("spawn" if gpus else "fork"))
    errors = context.SimpleQueue()
    spawned = context.get_start_method() == "spawn"
    work = pickle.dumps((target, args, options)) if spawned else (target, args, options)
    with tempfile.TemporaryDirectory(prefix="nettrain-group-") as folder:
        store = os.path.join(folder, "store")
        workers = [
            context.Process(  # type: ignore[attr-defined]  # fork and spawn contexts have it
                target=_worker,
                args=(rank, count, store, gpus, timeout, work, errors),
                daemon=True,
            )
            for rank in range(1, count)
        ]
        for worker in workers:
            worker.start()
        with _stopping(workers):
            try:
                _join(store, 0, count, gpus, timeout)
                previous = torch.get_num_threads()
                torch.set_num_threads(threads_per_process(count))
                try:
                    answer = target(*args, {**options, "target_device": _device_of(0, gpus)})
                finally:
                    torch.set_num_threads(previous)
            except BaseException as error:
                # a collective that failed means another process has: say which, and why
                failure = _failure(workers, errors, count) if _peer_failure(error) else None
                if failure is not None:
                    raise failure from error
                raise
            finally:
                if dist.is_initialized():
                    dist.destroy_process_group()
            for worker in workers:
                worker.join(timeout=JOIN_SECONDS)
            failure = _failure(workers, errors, count)
            if failure is not None:
                raise failure
            return answer
