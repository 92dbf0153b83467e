"""Checkpoint files that a killed training run resumes from.

:mod:`.files` writes one checkpoint crash-safely (temporary file, ``fsync``, read back and
checked, previous generation kept as ``<name>.prev``) and reads one back, checking its format,
its JSON metadata and its SHA-256 checksum; :mod:`.latest` finds the checkpoint to resume from in
a file (falling back to ``.prev``) or a directory, names checkpoint files, and removes the
temporary files of killed writers.

Example:
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> name = checkpoint_name(0.0, 1, 1, 10, 0.5, None)
    >>> _ = write_checkpoint(f"{folder}/{name}", {"w": torch.ones(2)}, {"counter": 1})
    >>> read_latest(folder).meta
    {'counter': 1}
"""

from .files import (
    FORMAT,
    MAX_DEPTH,
    Checkpoint,
    previous_path,
    read_checkpoint,
    write_checkpoint,
)
from .latest import checkpoint_name, clean_temporaries, read_latest

__all__ = [
    "FORMAT",
    "MAX_DEPTH",
    "Checkpoint",
    "checkpoint_name",
    "clean_temporaries",
    "previous_path",
    "read_checkpoint",
    "read_latest",
    "write_checkpoint",
]
