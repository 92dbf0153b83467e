"""Losses, and the automatic choice of loss (SPEC S1.4).

The package: :mod:`.functions` (the loss functions), :mod:`.plan` (the terms and plan a run
trains on), :mod:`.choice` (the automatic choice, and the losses an option names).

Automatic rule, per output port:

1. a net that returns a scalar, or a dict with a "loss" entry, is trained on that value;
2. a net whose final layer is ``nn.Softmax`` (or whose output rows are probabilities), or integer
   class targets: cross-entropy (index targets; probability targets when the targets are
   probability vectors and the net ends in Softmax);
3. a final ``nn.Sigmoid``, or boolean targets: binary cross-entropy;
4. anything else: mean squared error.

Numerically stable forms are used: when the net ends in ``nn.Softmax`` or ``nn.Sigmoid`` the
loss is computed from the layer's *input* (the logits, captured by a forward hook), never as
``log(softmax(x))``. The class dimension is the last one. Named losses ("cross_entropy",
"binary_cross_entropy") likewise take logits unless the net ends in Softmax/Sigmoid.

Example:
    >>> import torch, torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=-1))
    >>> batch = {"input": torch.randn(5, 4), "target": torch.tensor([0, 2, 1, 1, 0])}
    >>> plan = resolve_loss("auto", net, ("input",), ("target",), batch)
    >>> plan.describe()["output"]["computed_from"]
    'logits before the final Softmax'
    >>> loss = plan(plan.forward(net, ("input",), batch), batch)
    >>> logits = net[0](batch["input"])
    >>> torch.allclose(loss, nn.functional.cross_entropy(logits, batch["target"]))
    True
    >>> plan.close()
"""

from __future__ import annotations

from .choice import LOSS_NAMES, resolve_loss
from .plan import LogitTap, LossPlan, LossTerm, TrainingNet, logits_key

__all__ = [
    "LOSS_NAMES",
    "LogitTap",
    "LossPlan",
    "LossTerm",
    "TrainingNet",
    "logits_key",
    "resolve_loss",
]
