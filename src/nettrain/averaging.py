"""The ``weights_averaging`` option: an exponential moving average of the weights.

After every update of the weights, each floating parameter's average moves towards it:
``avg <- decay * avg + (1 - decay) * w``, computed as ``torch._foreach_lerp_(avg, w, 1 - decay)``
(the very op of ``torch.optim.swa_utils.get_ema_multi_avg_fn``), one foreach call for all
parameters, on their device, with no host sync. The first update copies the weights instead, as
``AveragedModel`` does (at ``n_averaged == 0``) and as Keras 3's ``use_ema`` does (its momentum
is 0 at the first iteration): so the average never remembers the untrained weights, and a run
equals ``AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay))`` updated after each
step. With gradient accumulation an update is one per group of batches, and so is an average.

Buffers (BatchNorm's running statistics) are not averaged: the averaged net has the buffers of
the net when training stopped, which is what ``AveragedModel(use_buffers=False)`` holds (it
copies them at every update, and they change only in training forward passes) and what Keras
does (it averages trainable variables only).

Forms of the option: ``None`` (off), a decay in (0, 1) such as ``0.999``, or
``{"decay": 0.999, "trained_net": "averaged" | "last"}``. ``"averaged"`` (the default, as Keras
3, which overwrites the weights with their average at the end of ``fit``): the trained net (the
module passed to ``train``) ends with the averaged weights. ``"last"``: it ends as it would
without averaging, and the averaged weights are only the ``averaged_net`` property.

Example:
    >>> import torch, torch.nn as nn
    >>> net = nn.Linear(1, 1, bias=False)
    >>> average = WeightAverage(net, parse_weights_averaging(0.5))
    >>> for value in (2.0, 4.0, 8.0):  # three updates of the weight
    ...     with torch.no_grad():
    ...         _ = net.weight.fill_(value)
    ...     average.update()
    >>> average.averages[0].item()  # 2, then (2 + 4) / 2, then (3 + 8) / 2
    5.5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .errors import NetTrainError, describe, did_you_mean
from .runtime.modules import copy_module
from .scalars import as_real

__all__ = ["TRAINED_NETS", "AveragingSpec", "WeightAverage", "parse_weights_averaging"]

TRAINED_NETS = ("averaged", "last")
"""What the trained net holds at the end: the averaged weights, or the last ones."""

_FORMS = 'None, a decay in (0, 1) such as 0.999, or {"decay": 0.999, "trained_net": "averaged"}'


@dataclass(frozen=True)
class AveragingSpec:
    """A resolved ``weights_averaging`` option.

    Attributes:
        decay: the weight the average keeps at each update, in (0, 1).
        trained_net: "averaged" (the trained net ends with the averaged weights) or "last".
    """

    decay: float
    trained_net: str = "averaged"

    def describe(self) -> dict[str, Any]:
        """The option as the results record it (the ``weights_averaging`` property).

        >>> AveragingSpec(0.99).describe()
        {'decay': 0.99, 'trained_net': 'averaged'}
        """
        return {"decay": self.decay, "trained_net": self.trained_net}


def _decay(value: object, where: str) -> float:
    number = as_real(value)
    if number is None or not 0.0 < number < 1.0:
        raise NetTrainError(
            where,
            "the decay must be a number between 0 and 1",
            expected="a number in (0, 1), such as 0.999 (about the last 1000 updates)",
            received=describe(value),
            hint="near 1 averages over more updates: 1 / (1 - decay) of them, roughly",
        )
    return number


def parse_weights_averaging(value: object) -> AveragingSpec | None:
    """Read the ``weights_averaging`` option (see the module docstring for its forms).

    Raises:
        NetTrainError: naming ``weights_averaging`` (or the key at fault), what was expected
            and what came.

    >>> parse_weights_averaging(None) is None, parse_weights_averaging(0.9)
    (True, AveragingSpec(decay=0.9, trained_net='averaged'))
    >>> parse_weights_averaging({"decay": 0.99, "trained_net": "last"}).trained_net
    'last'
    >>> parse_weights_averaging(1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nettrain.errors.NetTrainError: weights_averaging: the decay must be a number between 0 and 1...
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        if as_real(value) is None:
            raise NetTrainError(
                "weights_averaging",
                "cannot read this averaging",
                expected=_FORMS,
                received=describe(value),
                hint="give the decay, e.g. weights_averaging=0.999",
            )
        return AveragingSpec(_decay(value, "weights_averaging"))
    unknown = [k for k in value if k not in ("decay", "trained_net")]
    if unknown:
        raise NetTrainError(
            "weights_averaging",
            f"unknown key {unknown[0]!r}",
            expected='the keys "decay" and "trained_net"',
            received=repr(unknown[0]),
            hint=did_you_mean(str(unknown[0]), ["decay", "trained_net"]),
        )
    if "decay" not in value:
        raise NetTrainError(
            "weights_averaging",
            "the decay is missing",
            expected=_FORMS,
            received=describe(value),
            hint='add "decay": 0.999',
        )
    trained = value.get("trained_net", "averaged")
    if trained not in TRAINED_NETS:
        raise NetTrainError(
            "weights_averaging['trained_net']",
            "unknown choice of trained net",
            expected='"averaged" (the trained net ends with the averaged weights) or "last"',
            received=describe(trained),
        )
    return AveragingSpec(_decay(value["decay"], "weights_averaging['decay']"), str(trained))


class WeightAverage:
    """The averaged weights of one run (see the module docstring).

    The loop calls :meth:`update` after every update of the weights; a checkpoint holds
    :meth:`state_dict`; :meth:`finish` makes the averaged net at the end of the run.

    Attributes:
        spec: the resolved option.
        averages: one tensor per floating parameter of the net, in ``net.parameters()`` order,
            on the parameter's device and in its dtype.
        updates: the updates averaged so far (0: none yet, and the next one is copied).
    """

    def __init__(self, net: nn.Module, spec: AveragingSpec) -> None:
        self.spec = spec
        self._weight = 1.0 - spec.decay
        self._parameters: list[Tensor] = [p for p in net.parameters() if p.is_floating_point()]
        # the storage, made now so that a checkpoint can be restored into it before any update
        self.averages: list[Tensor] = [p.detach().clone() for p in self._parameters]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """Average the weights the net has now (right after an update)."""
        if self._parameters:
            if self.updates == 0:
                torch._foreach_copy_(self.averages, self._parameters)
            else:
                torch._foreach_lerp_(self.averages, self._parameters, self._weight)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """The averages (live tensors, not copies: a checkpoint copies them) and the count."""
        return {"updates": self.updates, "averages": list(self.averages)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Put back what :meth:`state_dict` gave (for the same net), bit for bit.

        Raises:
            NetTrainError: a state for another net (argument ``resume``).
        """
        averages = list(state["averages"])
        shapes = [tuple(a.shape) for a in averages]
        if shapes != [tuple(a.shape) for a in self.averages]:
            raise NetTrainError(
                "resume",
                "the checkpoint's averaged weights do not fit this net",
                expected=f"{len(self.averages)} averaged tensors of the net's shapes",
                received=f"{len(averages)} of shapes {shapes[:3]}...",
            )
        with torch.no_grad():
            for mine, saved in zip(self.averages, averages, strict=True):
                mine.copy_(saved)
        self.updates = int(state["updates"])

    def write_to(self, module: nn.Module) -> None:
        """Give ``module`` (the net, or a copy of it) the averaged parameters; its buffers stay.
        Before any update there is nothing averaged, and the module keeps its weights."""
        if self.updates == 0:
            return
        with torch.no_grad():
            params: list[Tensor] = [p for p in module.parameters() if p.is_floating_point()]
            torch._foreach_copy_(params, self.averages)

    def finish(
        self, net: nn.Module, final_net: nn.Module, reason: str | None
    ) -> tuple[nn.Module, nn.Module]:
        """The end of the run: ``(final_net, averaged_net)``.

        ``net`` is the trained net, already given the best-validation or divergence rule's
        weights; ``final_net`` the net when training stopped (``net`` itself, or a copy).

        With ``trained_net="averaged"``, ``net`` gets the averaged parameters and the final
        net's buffers, replacing the best validation's weights: validation measured the
        weights being trained, never the averages (as Keras' ``fit``, whose average overwrites
        the weights at the end, ``EarlyStopping``'s restored best ones included), so it cannot
        choose among averages, and the averages are what the run was asked for. The final
        net then stays the last weights (a copy), and the averaged net is ``net``. After a
        divergence (the averages are then likely not finite) or an abort (the net keeps its
        current weights, by that rule), and with ``"last"``, ``net`` is left as it is and the
        averaged net is a copy of the final net with the averaged parameters.
        """
        if self.spec.trained_net == "averaged" and reason not in ("weights_diverged", "aborted"):
            if final_net is net:
                final_net = copy_module(net)
            else:
                net.load_state_dict(final_net.state_dict())  # the final buffers, not the best's
            self.write_to(net)
            return final_net, net
        averaged = copy_module(final_net)
        self.write_to(averaged)
        return final_net, averaged

    def describe(self) -> dict[str, Any]:
        return self.spec.describe()
