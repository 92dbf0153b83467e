"""``train(..., resume=path)``: the checkpoint a run resumes from, and the run's fingerprint.

Example:
    >>> from nettrain.errors import NetTrainError
    >>> try:
    ...     resume_checkpoint(3, None)
    ... except NetTrainError as error:
    ...     print(error.argument)
    resume
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..data.batching import InMemorySource, orders_examples
from ..errors import NetTrainError, describe
from .latest import read_latest
from .run import fingerprint

__all__ = ["resume_checkpoint", "run_fingerprint"]


def resume_checkpoint(path: object, session: Any) -> Any:
    """The latest good checkpoint at ``path`` (a file, falling back to its previous
    generation, or a folder), for a run whose data nettrain orders itself.

    Raises:
        NetTrainError: not a path; a stream (its position cannot be found again); no good
            checkpoint there.
    """
    if not isinstance(path, str | os.PathLike):
        raise NetTrainError("resume", "needs a checkpoint file or folder", received=describe(path))
    source = session.source
    if not orders_examples(source):
        raise NetTrainError(
            "resume",
            "a run can be resumed only on data whose order nettrain makes itself",
            expected="data held in memory (tensors, pairs, columns) or a map-style Dataset",
            received=f"a {source.form.replace('_', ' ')} stream",
            hint="resuming a stream is planned; pass the data as tensors or a Dataset",
        )
    return read_latest(path)


def run_fingerprint(session: Any, given: Mapping[str, object]) -> dict[str, Any]:
    """The fingerprint of this run: the options given and the training data held in memory."""
    source = session.source
    columns = source.table.columns if isinstance(source, InMemorySource) else None
    return fingerprint(given, columns)
