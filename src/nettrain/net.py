"""``nettrain.Net``: a trained module with named ports, their encoders and decoders.

Call it on raw inputs (one example or a list) and it answers in the data's own terms:
``net(image) -> "square"``, ``net(image, "probabilities") -> {"circle": 0.1, ...}``,
``net(image, None)`` -> the raw output tensor. It saves to one ``.safetensors`` file (tensors)
whose metadata holds JSON (ports, coders, class names, architecture); nothing is pickled, and
loading never runs code from the file.

Example:
    >>> import torch, torch.nn as nn
    >>> net = Net(nn.Linear(2, 1))
    >>> net(torch.tensor([1.0, 2.0]), None).shape  # one example in, one answer out
    torch.Size([1])
    >>> len(net([[1.0, 2.0], [3.0, 4.0]], None))  # a list of examples: a list of answers
    2
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import netfile
from .architecture import describe_module
from .errors import NetTrainError, describe
from .netfile import FORMAT
from .ports import forward_parameters, output_ports

__all__ = ["FORMAT", "Net"]

PREDICT_BATCH = 256


def _as_tensor(value: Any) -> Tensor:
    """One example or a batch as a tensor: a list of tensors (or arrays) is stacked."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, list | tuple) and value and isinstance(value[0], Tensor):
        return torch.stack(list(value))
    return torch.as_tensor(np.asarray(value) if isinstance(value, list | tuple) else value)


def _coder_config(coder: Any) -> dict[str, Any] | None:
    return None if coder is None else coder.config()


class Net(nn.Module):
    """A module plus named input and output ports with their encoders and decoders.

    Args:
        module: the network (any ``nn.Module``); ``net.module`` is it, trained in place.
        inputs: ``{input port: encoder or None}`` in the order ``module.forward`` takes them
            (default: the forward's parameter names, no encoders).
        outputs: ``{output port: decoder or None}`` ("output" for a module returning a tensor).
        example_shapes: ``{input port: shape of one encoded example}``, used to tell one
            example from a batch when an input has no encoder.
        targets: ``{target column: encoder}`` of the training targets (class names, ...).
    """

    def __init__(
        self,
        module: nn.Module,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        example_shapes: Mapping[str, Sequence[int]] | None = None,
        targets: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        names = forward_parameters(module)[0] or ["input"]
        self.inputs: dict[str, Any] = dict(inputs) if inputs else dict.fromkeys(names[:1])
        self.outputs: dict[str, Any] = dict(outputs) if outputs else {"output": None}
        self.example_shapes = {k: tuple(v) for k, v in (example_shapes or {}).items()}
        # the encoders of the training targets: continuing training reuses them
        self.targets: dict[str, Any] = dict(targets or {})

    # ---- answering -----------------------------------------------------------------------------

    def _is_single(self, value: Any, port: str) -> bool:
        encoder = self.inputs.get(port)
        if encoder is not None:
            return bool(encoder.is_single(value))
        tensor = _as_tensor(value)
        shape = self.example_shapes.get(port)
        if shape is not None:
            return tensor.dim() == len(shape)
        return tensor.dim() <= 1  # vectors: one example; matrices: a batch of them

    def _encode(self, port: str, values: Any) -> Tensor:
        encoder = self.inputs.get(port)
        device = next((p.device for p in self.module.parameters()), torch.device("cpu"))
        if encoder is None:
            tensor = _as_tensor(values)
            if tensor.is_floating_point():
                tensor = tensor.to(self._float_dtype())
            return tensor.to(device)
        encoded = encoder.encode(list(values), argument="input")
        if encoded.skipped:
            raise NetTrainError(
                "input",
                f"the {port!r} encoder could not read this value",
                index=encoded.skipped[0],
                expected=encoder.describe(),
                received=describe(values[encoded.skipped[0]]),
            )
        tensor = encoder.prepare(encoded.tensor.to(device))
        if tensor.is_floating_point():  # encoders make float32; the module may be float64
            tensor = tensor.to(self._float_dtype())
        return tensor

    def _float_dtype(self) -> torch.dtype:
        return next(
            (p.dtype for p in self.module.parameters() if p.is_floating_point()), torch.float32
        )

    def _decode(self, port: str, output: Tensor, prop: Any, options: dict[str, Any]) -> list[Any]:
        decoder = self.outputs.get(port)
        if prop is None or decoder is None:
            return list(output.cpu())
        return decoder.decode(output, prop, **options)

    def forward(self, x: Any, prop: Any = "decision", **options: Any) -> Any:
        """Answer for one raw example or a list of them.

        Args:
            x: one example, a list of examples, or for several input ports a dict
                ``{port: value or list}``.
            prop: the decoder property: "decision" (default), "probabilities",
                ``("top_probabilities", k)``, ... or None for the raw output tensor.
            **options: passed to the decoder (e.g. ``generator=`` for random samples).

        Returns:
            one answer for one example, a list for a list; a dict per example for nets with
            several output ports.
        """
        ports = list(self.inputs)
        columns = x if isinstance(x, Mapping) and set(x) == set(ports) else {ports[0]: x}
        if set(columns) != set(ports):
            raise NetTrainError(
                "input",
                "the inputs do not match the net's input ports",
                expected="ports " + ", ".join(map(repr, ports)),
                received="ports " + ", ".join(map(repr, columns)),
            )
        single = self._is_single(columns[ports[0]], ports[0])
        if single:
            columns = {
                p: [v] if self.inputs.get(p) is not None else _as_tensor(v)[None]
                for p, v in columns.items()
            }
        n = len(columns[ports[0]])
        answers: list[Any] = []
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                for begin in range(0, n, PREDICT_BATCH):
                    chunk = {p: v[begin : begin + PREDICT_BATCH] for p, v in columns.items()}
                    encoded = [self._encode(p, chunk[p]) for p in ports]
                    outputs = output_ports(self.module(*encoded))
                    decoded = {p: self._decode(p, o, prop, options) for p, o in outputs.items()}
                    if len(decoded) == 1:
                        answers.extend(next(iter(decoded.values())))
                    else:
                        answers.extend(
                            dict(zip(decoded, row, strict=True))
                            for row in zip(*decoded.values(), strict=True)
                        )
        finally:
            self.module.train(was_training)
        if prop is None and not single and answers and isinstance(answers[0], Tensor):
            return torch.stack(answers)
        return answers[0] if single else answers

    def extra_repr(self) -> str:
        ins = ", ".join(
            f"{p}: {e.describe() if e is not None else 'tensor'}" for p, e in self.inputs.items()
        )
        outs = ", ".join(
            f"{p}: {d.describe() if d is not None else 'tensor'}" for p, d in self.outputs.items()
        )
        return f"inputs=({ins}), outputs=({outs})"

    def _repr_html_(self) -> str:
        """The net in a notebook: its ports with their coders, the module and its size."""
        from .net_html import net_html

        return net_html(self)

    # ---- saving and loading ------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Everything but the tensors, as JSON-able data (what :meth:`save` writes as metadata).

        Raises:
            NetTrainError: an encoder whose parameters JSON cannot hold (class names of other
                types, say).
        """
        return {
            "format": FORMAT,
            "architecture": describe_module(self.module),
            "inputs": {p: _coder_config(e) for p, e in self.inputs.items()},
            "outputs": {p: _coder_config(d) for p, d in self.outputs.items()},
            "example_shapes": {p: list(s) for p, s in self.example_shapes.items()},
            "targets": {p: _coder_config(e) for p, e in self.targets.items()},
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the net to ``path``: one safetensors file (tensors, and the :meth:`config` as
        JSON metadata); nothing is pickled.

        The write is atomic: the bytes go to a temporary file ``.NAME.nettrain-tmp-XXXXXXXXXXXX``
        in the same folder, flushed to disk, then renamed over ``path``, so a reader sees the
        old file or the new one, never half of one. A temporary file of the same target older
        than :data:`nettrain.netfile.STALE_TEMP_SECONDS` (an hour) was left by a save that was
        killed, and is removed.

        Args:
            path: the file to write (``.safetensors`` by convention); its folder must exist.

        Returns:
            ``path`` as a ``Path``.

        Raises:
            NetTrainError: ``path`` is a directory, its folder does not exist or cannot be
                written, the write failed (a full disk), or the net holds a tensor type or an
                encoder parameter the file format cannot hold.
        """
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        return netfile.write(path, tensors, {"nettrain": json.dumps(self.config())})

    def export(self, path: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Write the net's module as an ONNX model to ``path`` (needs ``nettrain[onnx]``).

        Only the module (tensors in, tensors out) is exported; the encoders and decoders stay
        in Python. The input shape comes from what the net recorded in training unless
        ``sample=`` is given. See :func:`nettrain.export.export_onnx` for ``sample``, ``opset``
        and ``dynamic_batch``.

        Returns:
            ``path`` as a ``Path``.

        Raises:
            NetTrainError: see :func:`nettrain.export.export_onnx`.
        """
        from .export import export_onnx

        return export_onnx(self, path, **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike[str], module: nn.Module | None = None) -> Net:
        """Read a net written by :meth:`save`.

        Only safetensors and JSON are read: a file in any other format (a pickle, say) is
        refused before anything in it is interpreted, nothing is unpickled, and no module that
        the file names is imported. The whole description is checked (every key, type, layer
        and coder field) before anything is built, and the file's tensors must match the
        architecture's names and shapes before any memory is allocated for the layers.

        Args:
            path: the file.
            module: a fresh instance of the net's class, needed when the architecture is not a
                standard ``nn.Sequential`` and the class cannot be built without arguments.

        Returns:
            the net, in evaluation mode. A net rebuilt from its described architecture holds the
            file's tensors as they were saved (dtypes included); a given ``module`` keeps its
            own dtypes and gets the values copied in.

        Raises:
            NetTrainError: argument "path" for a missing file, a directory, a file that is not a
                nettrain net, or one whose description is damaged (naming the field, e.g.
                ``architecture.layers[2].type``); argument "module" for a class that cannot be
                rebuilt without ``module``, or a ``module`` the weights do not fit.
        """
        name = netfile.readable_file(path)
        config = netfile.read_config(name)

        inputs, outputs, targets = netfile.read_coders(config, name)
        tensors = netfile.read_tensors(name)
        built = netfile.module_for(config["architecture"], module, tensors, name)
        net = cls(built, inputs, outputs, config.get("example_shapes"), targets)
        net.eval()
        return net
