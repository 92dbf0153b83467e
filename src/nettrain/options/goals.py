"""``performance_goal``: what the run favours when it chooses how to train (SPEC S1.3).

- ``"training_speed"``: the fastest step this net has on this device. The precision
  (``working_precision="auto"`` may become bfloat16 "mixed" where the device computes it
  natively) and the memory layout (channels_last for convolutional nets) are timed on a few
  steps even when nothing else is timed, and kept where they are faster and, for the precision,
  where the loss stays close to float32's.
- ``"training_memory"``: the least memory per step. The net's longest chain of layers is
  checkpointed (:mod:`nettrain.runtime.activations`: activations recomputed in the backward
  pass) and an automatic batch size is halved.
- a list of both; ``"auto"`` or None (the default): neither, the ordinary automatic choices.

NetTrain's CamelCase names ("TrainingSpeed", "TrainingMemory") are accepted too.

Example:
    >>> parse_performance_goal(["TrainingSpeed", "training_memory"])
    ('training_speed', 'training_memory')
    >>> parse_performance_goal("auto")
    ()
"""

from __future__ import annotations

import re

from ..errors import NetTrainError, describe, did_you_mean

__all__ = ["GOALS", "MEMORY", "SPEED", "parse_performance_goal"]

SPEED = "training_speed"
MEMORY = "training_memory"
GOALS = (SPEED, MEMORY)


def _goal(value: object) -> str:
    if isinstance(value, str):
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", value.strip()).lower().replace("__", "_")
        if name in GOALS:
            return name
        raise NetTrainError(
            "performance_goal",
            "unknown goal",
            expected='"training_speed", "training_memory", a list of them, or "auto"',
            received=repr(value),
            hint=did_you_mean(name, GOALS),
        )
    raise NetTrainError(
        "performance_goal",
        "a goal is a name",
        expected='"training_speed", "training_memory", a list of them, or "auto"',
        received=describe(value),
    )


def parse_performance_goal(value: object) -> tuple[str, ...]:
    """The goals asked for, in the given order without repeats (empty for "auto" or None).

    Raises:
        NetTrainError: an unknown goal (with the close names) or a value that is no name.
    """
    if value is None or (isinstance(value, str) and value.lower() in ("auto", "automatic")):
        return ()
    values = list(value) if isinstance(value, list | tuple) else [value]
    goals: list[str] = []
    for item in values:
        goal = _goal(item)
        if goal not in goals:
            goals.append(goal)
    return tuple(goals)
