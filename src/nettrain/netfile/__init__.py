"""The net file: how :meth:`nettrain.Net.save` writes it and :meth:`nettrain.Net.load` reads it.

One safetensors file: an 8-byte header length, a JSON header naming each tensor's dtype, shape and
byte range with nettrain's description of the net (``Net.config()``) as metadata, then the raw
tensor bytes. Nothing is pickled, and reading never runs code from the file.

Writing is atomic (a temporary file in the same folder, flushed, renamed over the target); the
temporary files of saves that were killed are recognisable and removed by the next save of the
same target once older than :data:`STALE_TEMP_SECONDS`.

Reading checks everything before building anything: the file is a regular file, the metadata is a
JSON object with the expected keys and types, every layer and coder field is valid
(:func:`nettrain.architecture.check_architecture`), and the tensors match the architecture's names
and shapes (compared on the "meta" device, so no layer memory is allocated first). Each problem is
a :class:`~nettrain.errors.NetTrainError` with argument "path" naming the field at fault
(``architecture.layers[2].type``); values from the file are quoted as *received*, cut short, and
never turned into advice.

Modules: :mod:`.write` (the atomic writer) and :mod:`.read` (reading and checking).

Example:
    >>> import os, tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> path = write(os.path.join(folder, "t.safetensors"), {"w": torch.ones(2)}, {"k": "v"})
    >>> from safetensors.torch import load_file
    >>> load_file(path)["w"]
    tensor([1., 1.])
"""

from .read import FORMAT, module_for, read_coders, read_config, read_tensors, readable_file
from .write import STALE_TEMP_SECONDS, write

__all__ = [
    "FORMAT",
    "STALE_TEMP_SECONDS",
    "module_for",
    "read_coders",
    "read_config",
    "read_tensors",
    "readable_file",
    "write",
]
