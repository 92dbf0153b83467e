"""Optimizers for nettrain: the ``method`` option and the updater that applies it.

- :func:`parse_method` reads ``method`` / ``learning_rate`` into a frozen :class:`MethodSpec`;
- :func:`build_updater` (:mod:`.builder`) binds a spec to a net (multipliers, L2, clipping,
  schedule) and returns an :class:`Updater` (:mod:`.updater`) whose ``step()`` the training loop
  calls, or, with ``update_schedule``, a :class:`ScheduledUpdater` (:mod:`.scheduled`).

Example:
    >>> import torch
    >>> net = torch.nn.Linear(3, 1)
    >>> updater = build_updater(net, parse_method(("adam", {"gradient_clipping": 1.0})))
    >>> updater.describe()["gradient_clipping"], updater.implementation
    (1.0, 'foreach')
"""

from .builder import build_updater
from .carry import UpdaterState
from .methods import MethodSpec, parse_method
from .scheduled import ScheduledUpdater
from .signum import Signum
from .updater import Updater

__all__ = [
    "MethodSpec",
    "ScheduledUpdater",
    "Signum",
    "Updater",
    "UpdaterState",
    "build_updater",
    "parse_method",
]
