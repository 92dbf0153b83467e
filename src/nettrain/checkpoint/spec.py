"""``training_progress_checkpointing``: where a run's checkpoints go, and how often.

One spec is ``{"file": path}`` (one file, replaced; its previous generation kept as
``path.prev``) or ``{"directory": folder}`` (one file per checkpoint, every one kept, named as
NetTrain names them), with ``"interval"`` in rounds (a bare number, default 1), batches
(``"500 batches"``) or time (``"30 s"``, ``"10 min"``), and ``"minimum_interval"``: at least that
many seconds between two checkpoints of the spec (a due checkpoint that comes sooner is
skipped). A list gives several specs.

Example:
    >>> spec = parse_checkpointing({"directory": "ckpt", "interval": "2 rounds"})[0]
    >>> spec.target, spec.directory, spec.every, spec.minimum
    ('ckpt', True, Interval(amount=2.0, unit='rounds'), None)
    >>> parse_checkpointing([{"file": "a"}, {"file": "b", "interval": "5 min"}])[1].every.unit
    'seconds'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import NetTrainError, describe, did_you_mean
from ..options.durations import Interval, parse_interval, parse_seconds

__all__ = ["ARGUMENT", "CheckpointSpec", "parse_checkpointing"]

ARGUMENT = "training_progress_checkpointing"
_KEYS = ("file", "directory", "interval", "minimum_interval")
EXPECTED = (
    '{"file": path} or {"directory": folder}, with "interval": N rounds (default 1), '
    '"N batches" or a time ("30 s", "10 min"), and "minimum_interval": seconds; or a list of '
    "such specs"
)


ROUND = Interval(1.0, "rounds")


@dataclass(frozen=True)
class CheckpointSpec:
    """Where checkpoints go (``directory``: ``target`` is a folder of files, else one file),
    every how long (``every``), and at least how many seconds apart (``minimum``)."""

    target: str
    directory: bool
    every: Interval = ROUND  # a frozen Interval: one shared default is safe
    minimum: float | None = None


def _every(value: object) -> Interval:
    argument = f"{ARGUMENT}['interval']"
    every = parse_interval(value, argument=argument)
    if every.unit in ("rounds", "batches") and not every.amount.is_integer():
        raise NetTrainError(
            argument,
            f"a checkpoint interval in {every.unit} must be a whole number",
            expected=f'an int >= 1, "N {every.unit}", or a time such as "30 s"',
            received=repr(value),
            hint=f"round it, e.g. {max(round(every.amount), 1)}",
        )
    return every


def _one(spec: object) -> CheckpointSpec:
    if not isinstance(spec, Mapping):
        raise NetTrainError(ARGUMENT, "cannot use this", expected=EXPECTED, received=describe(spec))
    unknown = [k for k in spec if k not in _KEYS]
    if unknown:
        raise NetTrainError(
            ARGUMENT,
            f"unknown key {unknown[0]!r}",
            expected=EXPECTED,
            received=repr(unknown[0]),
            hint=did_you_mean(str(unknown[0]), _KEYS),
        )
    if ("file" in spec) == ("directory" in spec):
        raise NetTrainError(
            ARGUMENT,
            'needs exactly one of "file" and "directory"',
            expected=EXPECTED,
            received=repr(dict(spec)),
        )
    directory = "directory" in spec
    target = spec["directory" if directory else "file"]
    if not isinstance(target, str | os.PathLike):
        raise NetTrainError(ARGUMENT, "needs a path", received=describe(target))
    every = _every(spec["interval"]) if "interval" in spec else ROUND
    minimum = None
    if spec.get("minimum_interval") is not None:
        minimum = parse_seconds(
            spec["minimum_interval"], argument=f"{ARGUMENT}['minimum_interval']"
        )
    return CheckpointSpec(os.fspath(target), directory, every, minimum)


def parse_checkpointing(value: object) -> tuple[CheckpointSpec, ...]:
    """Read ``training_progress_checkpointing`` (None: no checkpoints).

    Raises:
        NetTrainError: naming the option (or its sub-option), for a value that is not a spec
            or a list of specs, an unknown key, both or neither of "file" and "directory", or
            an interval that cannot be used.
    """
    if value is None:
        return ()
    specs = value if isinstance(value, list) else [value]
    return tuple(_one(spec) for spec in specs)
