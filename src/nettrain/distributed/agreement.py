"""What the ranks of a data-parallel run agree on, so that every rank decides alike.

Each rank runs THE loop (:mod:`nettrain.loop`) on its share of each batch. Whatever decides
what happens next must be the same on every rank, or one rank waits for ever in a collective
the others never call. So after each batch one all-reduce of a few float64 numbers gives every
rank:

* the batch's loss over the whole batch (each rank's mean loss times its examples, summed, over
  the examples summed): the losses, the round loss and the divergence check are one process's;
* rank 0's clock (the time goal, reporting, time-based validation and histories read it);
* every stop asked on any rank (Ctrl-C, a progress function's "stop" or "abort").

At the end of each round the same is done once more (rank 0's clock and any stop asked since
the last batch), and the round's training measurements are merged over the ranks
(:func:`~nettrain.measure.accumulator.merge_states`). Validation too: each rank evaluates its
part of every validation batch (:meth:`Agreement.share`), and the sums are merged.

Example:
    >>> import torch
    >>> from nettrain.distributed.world import World
    >>> agree = Agreement(World(0, 1, "gloo", torch.device("cpu")))
    >>> loss, examples, elapsed, stop = agree.after_batch(torch.tensor(0.5), 8, 1.25, None)
    >>> float(loss), examples, elapsed, stop
    (0.5, 8, 1.25, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..measure.accumulator import Accumulator, merge_states
from .sharding import share_sizes
from .world import World

__all__ = ["STOPS", "Agreement"]

# the reasons a rank can ask the run to stop, the first asked by any rank winning
STOPS = ("aborted", "stopped_by_user", "progress_function")


def _flags(stop: str | None) -> list[float]:
    return [1.0 if stop == reason else 0.0 for reason in STOPS]


def _stop(flags: list[float]) -> str | None:
    return next((reason for reason, flag in zip(STOPS, flags, strict=True) if flag > 0), None)


def _to_cpu(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


class Agreement:
    """The loop's agreements for one run on ``world`` (see the module docstring)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def after_batch(
        self, loss: Tensor, examples: int, elapsed: float, stop: str | None
    ) -> tuple[Tensor, int, float, str | None]:
        """The whole batch's mean loss and examples, rank 0's elapsed seconds, and the stop
        asked on any rank, from this rank's loss (its share's mean), examples, clock, stop."""
        share = float(loss) * examples if examples else 0.0
        clock = elapsed if self.world.is_main else 0.0
        total, count, clock, *flags = self.world.sum([share, examples, clock, *_flags(stop)])
        whole = torch.tensor(total / count if count else float("nan"), dtype=loss.dtype)
        return whole.to(loss.device), int(count), clock, _stop(flags)

    def at_round_end(self, elapsed: float, stop: str | None) -> tuple[float, str | None]:
        """Rank 0's elapsed seconds and any stop asked on any rank, at a round's end."""
        clock = elapsed if self.world.is_main else 0.0
        clock, *flags = self.world.sum([clock, *_flags(stop)])
        return clock, _stop(flags)

    def share(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor] | None:
        """This rank's contiguous part of ``batch`` (None when it is empty)."""
        examples = len(next(iter(batch.values())))
        shares = share_sizes(examples, self.world.size)
        offset, mine = sum(shares[: self.world.rank]), shares[self.world.rank]
        if mine == 0:
            return None
        return {name: column[offset : offset + mine] for name, column in batch.items()}

    def merge_round(self, stats: Accumulator) -> None:
        """Make ``stats`` (this rank's round measurements) hold what all ranks saw."""
        states = self.world.gather(_to_cpu(stats.state_dict()))
        stats.load_state_dict(merge_states(states))

    def merge_sums(self, sums: dict[str, Tensor], count: int) -> tuple[dict[str, Tensor], int]:
        """Per-port loss sums and their example count, summed over the ranks."""
        names = sorted(sums)
        values = self.world.sum([float(sums[n]) for n in names] + [float(count)])
        merged = {
            n: torch.tensor(v, dtype=torch.float64) for n, v in zip(names, values, strict=False)
        }
        return merged, int(values[-1])
