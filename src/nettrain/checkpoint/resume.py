"""``train(..., resume=path)``: the checkpoint a run resumes from, and the run's fingerprint.

Example:
    >>> from nettrain.errors import NetTrainError
    >>> try:
    ...     read_resume(3)
    ... except NetTrainError as error:
    ...     print(error.argument)
    resume
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..data.batching import InMemorySource, orders_examples
from ..data.generator import GeneratorSource
from ..errors import NetTrainError, describe
from ..prepare import Choices
from .latest import read_latest
from .run import fingerprint

__all__ = ["check_resumable", "read_resume", "resumed_choices", "run_fingerprint"]


def read_resume(path: object) -> Any:
    """The latest good checkpoint at ``path``: a file (falling back to its previous generation,
    with a warning) or a folder (the newest good file in it).

    Raises:
        NetTrainError: not a path; no good checkpoint there.
    """
    if not isinstance(path, str | os.PathLike):
        raise NetTrainError("resume", "needs a checkpoint file or folder", received=describe(path))
    return read_latest(path)


def resumed_choices(checkpoint: Any) -> Choices:
    """The batch size, length and threads the checkpoint's run chose (a resumed run keeps them:
    timed again, they would differ, and so would a schedule's length and the sums' bits)."""
    try:
        return Choices.from_plain(checkpoint.meta["choices"])
    except (KeyError, TypeError) as error:
        raise NetTrainError(
            "resume",
            f"the checkpoint {str(checkpoint.path)!r} does not say what its run chose "
            f"(its metadata has no valid 'choices': {error!r})",
            expected="a checkpoint written by training_progress_checkpointing",
            hint="resume from a checkpoint of this version of nettrain, or start a new run",
        ) from None


def check_resumable(source: Any) -> None:
    """Refuse data whose position cannot be found again.

    A run resumes exactly on data nettrain orders itself (in memory, a map-style Dataset: the
    order of round r is a function of (seed, r)) and on a batch function ``f(batch_size,
    round)``, whose skipped calls are not made: it must depend only on its arguments and on the
    random streams the checkpoint restores (torch, ``random``, NumPy).

    Raises:
        NetTrainError: for a DataLoader, an iterable or a generator object.
    """
    if orders_examples(source) or isinstance(source, GeneratorSource):
        return
    raise NetTrainError(
        "resume",
        "a run can be resumed only on data whose position nettrain can find again",
        expected="data held in memory (tensors, pairs, columns), a map-style Dataset, or a batch "
        "function f(batch_size, round)",
        received=f"a {source.form.replace('_', ' ')} stream",
        hint="pass the data as tensors or a Dataset, or as a function that makes each batch; a "
        "DataLoader's or generator's position is not known to nettrain",
    )


def run_fingerprint(session: Any, given: Mapping[str, object]) -> dict[str, Any]:
    """The fingerprint of this run: the options given and the training and validation data
    held in memory (the validation columns as ``validation:<name>``)."""
    columns: dict[str, Any] = {}
    source = session.source
    if isinstance(source, InMemorySource):
        columns.update(source.table.columns)
    validation = getattr(session.validation, "source", None)
    if isinstance(validation, InMemorySource):
        columns.update({f"validation:{k}": v for k, v in validation.table.columns.items()})
    return fingerprint(given, columns or None)
