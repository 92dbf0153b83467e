"""Optimizers for nettrain: the ``method`` option and the updater that applies it.

- :func:`parse_method` reads ``method`` / ``learning_rate`` into a frozen :class:`MethodSpec`;
- :func:`build_updater` binds a spec to a net (multipliers, L2, clipping, schedule) and returns
  an :class:`Updater` whose ``step()`` the training loop calls.

Example:
    >>> import torch
    >>> net = torch.nn.Linear(3, 1)
    >>> updater = build_updater(net, parse_method(("adam", {"gradient_clipping": 1.0})))
    >>> updater.describe()["gradient_clipping"], updater.implementation
    (1.0, 'foreach')
"""

from .methods import MethodSpec, parse_method
from .signum import Signum
from .updater import Updater, build_updater

__all__ = ["MethodSpec", "Signum", "Updater", "build_updater", "parse_method"]
