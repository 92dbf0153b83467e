"""Optimizer state that carries over from one run to the next (the ``method`` sub-option
``"state"``).

Each ``train`` call builds a new optimizer, so Adam's moments and step counts start from zero
again, as NetTrain's do. Give the method an :class:`UpdaterState` and the run starts from the
state it holds (for the same parameters: the same net) and leaves its final state in it, so that
a second call goes on as if the two were one run: what Keras does when ``fit`` is called again on
a compiled model, and what the Keras face's optimizers use, their Core API updates included.

Only the optimizer's own state is carried (moments, step counts, momentum buffers). The learning
rate, the method's settings and the learning-rate schedule are the new run's: a schedule starts
again at its beginning. The state is held by reference, not copied: it is the live state of the
last run, and it belongs to the parameters it was made for.

Example:
    >>> import torch, torch.nn as nn
    >>> import nettrain
    >>> net, x = nn.Linear(2, 1), torch.randn(16, 2)
    >>> state = UpdaterState()
    >>> y = x.sum(1, keepdim=True)
    >>> for _ in range(2):
    ...     _ = nettrain.train(net, (x, y), method=("adam", {"state": state}), batch_size=8,
    ...                        max_training_rounds=1, training_progress_reporting=None)
    >>> state.updates  # both runs' updates, on one Adam state
    4
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import NetTrainError

__all__ = ["UpdaterState"]


class UpdaterState:
    """The optimizer state of the last run (or update) on a set of parameters.

    Attributes:
        updates: how many updates have been made on the state, over all runs.
        version: bumped at every :meth:`keep`, so that a holder of a live optimizer can tell that
            someone else has moved the state on since (the Keras face's Core API).
    """

    def __init__(self) -> None:
        # the parameters (kept alive with their state), the torch optimizer state, the method
        self._held: dict[tuple[int, ...], tuple[list[torch.Tensor], dict[str, Any], str]] = {}
        self.updates = 0
        self.version = 0

    @staticmethod
    def _key(updater: Any) -> tuple[int, ...]:
        return tuple(id(p) for p in updater.parameters)

    def holds(self, updater: Any) -> bool:
        """Whether there is a state for ``updater``'s parameters."""
        return self._key(updater) in self._held

    def restore(self, updater: Any) -> None:
        """Put the state held for ``updater``'s parameters into its optimizer (nothing when none
        is held); the updater keeps its own learning rate and settings.

        Raises:
            NetTrainError: a state made by another method, or one that does not fit.
        """
        held = self._held.get(self._key(updater))
        if held is None:
            return
        _, state, method = held
        if method != updater.spec.name:
            raise NetTrainError(
                "method['state']",
                f"holds the state of a {method} optimizer, and this run uses {updater.spec.name}",
                hint="use a new UpdaterState for another method",
            )
        optimizer = updater.optimizer
        settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        try:
            optimizer.load_state_dict(state)
        except (ValueError, KeyError, TypeError) as error:
            raise NetTrainError(
                "method['state']",
                f"the optimizer state does not fit this run ({error})",
                hint="carry a state over only between runs on the same net and parameters",
            ) from None
        for group, own in zip(optimizer.param_groups, settings, strict=True):
            group.update(own)  # this run's rate and settings, the carried moments
        updater.rebind_groups()

    def keep(self, updater: Any, steps: int) -> None:
        """Hold ``updater``'s state (by reference) after ``steps`` more updates."""
        params = list(updater.parameters)
        self._held[self._key(updater)] = (params, updater.optimizer.state_dict(), updater.spec.name)
        self.updates += steps
        self.version += 1

    def state_for(self, parameters: list[torch.Tensor]) -> tuple[dict[str, Any], str] | None:
        """The ``torch.optim`` state held for ``parameters`` (in their order) and its method's
        name, or None: what a model file saves."""
        held = self._held.get(tuple(id(p) for p in parameters))
        return None if held is None else (held[1], held[2])

    def put(self, parameters: list[torch.Tensor], state: dict[str, Any], method: str) -> None:
        """Hold ``state`` (a ``torch.optim`` ``state_dict`` for ``parameters``, from a model
        file) as if a run of ``method`` had left it."""
        self._held[tuple(id(p) for p in parameters)] = (list(parameters), state, method)
        self.version += 1

    def __repr__(self) -> str:
        return f"UpdaterState(updates={self.updates}, parameter sets={len(self._held)})"
