"""nettrain: train any PyTorch net on data in any natural form with one call.

Example:
    >>> import torch, torch.nn as nn, nettrain
    >>> x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    >>> y = (x[:, 0] > x[:, 1]).long()
    >>> net = nettrain.train(nn.Linear(2, 2), (x, y), max_training_rounds=50, learning_rate=0.01,
    ...                      training_progress_reporting=None)
    >>> bool((net(x).argmax(1) == y).float().mean() > 0.9)
    True
"""

from . import coders, datasets, functional, keras, nets
from .errors import NetTrainError, NetTrainWarning
from .keras import Model
from .lr_find import LearningRateFinderResult, find_learning_rate
from .net import Net
from .results import PROPERTIES, TrainResult
from .state import REASONS, TrainState
from .train import train

__all__ = [
    "PROPERTIES",
    "REASONS",
    "LearningRateFinderResult",
    "Model",
    "Net",
    "NetTrainError",
    "NetTrainWarning",
    "TrainResult",
    "TrainState",
    "__version__",
    "coders",
    "datasets",
    "find_learning_rate",
    "functional",
    "keras",
    "nets",
    "train",
]

__version__ = "0.1.0"
