"""The Keras / TensorFlow.js face: ``Model(module)`` with ``compile``, ``fit``, ``evaluate``,
``predict``; callbacks; optimizers, losses and metrics by Keras' and TF.js's names.

See docs/keras.md. Everything here runs on the one engine: ``fit`` is one ``nettrain.train``
call.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from nettrain.keras import Model
    >>> model = Model(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)))
    >>> model
    Model(Sequential, not compiled)
"""

from . import backup, callbacks, file_callbacks, losses, metrics, optimizers
from .backup import BackupAndRestore
from .callbacks import Callback, EarlyStopping, History, LambdaCallback, TerminateOnNaN
from .file_callbacks import CSVLogger, ModelCheckpoint, ProgbarLogger
from .loading import load_model
from .model import Model
from .schedule_callbacks import LearningRateScheduler, ReduceLROnPlateau

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "Model",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "backup",
    "callbacks",
    "file_callbacks",
    "load_model",
    "losses",
    "metrics",
    "optimizers",
]
