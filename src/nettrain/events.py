"""The few events of a training run, in the order they happen.

``TRAINING_STARTED`` once; then per batch ``BATCH_COMPLETE``; at each round's end
``ROUND_COMPLETE``; at report times ``REPORT``; finally one of ``WEIGHTS_DIVERGED`` /
``TRAINING_STOPPED`` (user, time goal) and always ``TRAINING_COMPLETE`` last.

Example:
    >>> ORDER[0], ORDER[-1]
    ('training_started', 'training_complete')
"""

from __future__ import annotations

__all__ = [
    "BATCH_COMPLETE",
    "ORDER",
    "REPORT",
    "ROUND_COMPLETE",
    "TRAINING_COMPLETE",
    "TRAINING_STARTED",
    "TRAINING_STOPPED",
    "WEIGHTS_DIVERGED",
]

TRAINING_STARTED = "training_started"
BATCH_COMPLETE = "batch_complete"
REPORT = "report"
ROUND_COMPLETE = "round_complete"
WEIGHTS_DIVERGED = "weights_diverged"
TRAINING_STOPPED = "training_stopped"
TRAINING_COMPLETE = "training_complete"

ORDER = (
    TRAINING_STARTED,
    BATCH_COMPLETE,
    REPORT,
    ROUND_COMPLETE,
    WEIGHTS_DIVERGED,
    TRAINING_STOPPED,
    TRAINING_COMPLETE,
)
