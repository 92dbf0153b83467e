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
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .architecture import build_module, describe_module
from .errors import NetTrainError, describe
from .ports import forward_parameters, output_ports

__all__ = ["FORMAT", "Net"]

FORMAT = "nettrain.net/1"
PREDICT_BATCH = 256


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
            return not isinstance(value, list)
        tensor = value if isinstance(value, Tensor) else torch.as_tensor(value)
        shape = self.example_shapes.get(port)
        if shape is not None:
            return tensor.dim() == len(shape)
        return tensor.dim() <= 1  # vectors: one example; matrices: a batch of them

    def _encode(self, port: str, values: Any) -> Tensor:
        encoder = self.inputs.get(port)
        device = next((p.device for p in self.module.parameters()), torch.device("cpu"))
        if encoder is None:
            tensor = values if isinstance(values, Tensor) else torch.as_tensor(values)
            dtype = next(
                (p.dtype for p in self.module.parameters() if p.is_floating_point()), torch.float32
            )
            if tensor.is_floating_point():
                tensor = tensor.to(dtype)
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
        return encoder.prepare(encoded.tensor.to(device))

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
                p: [v] if self.inputs.get(p) is not None else torch.as_tensor(v)[None]
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

    # ---- saving and loading ------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Everything but the tensors, as JSON-able data."""
        return {
            "format": FORMAT,
            "architecture": describe_module(self.module),
            "inputs": {p: _coder_config(e) for p, e in self.inputs.items()},
            "outputs": {p: _coder_config(d) for p, d in self.outputs.items()},
            "example_shapes": {p: list(s) for p, s in self.example_shapes.items()},
            "targets": {p: _coder_config(e) for p, e in self.targets.items()},
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the net to ``path`` (a ``.safetensors`` file), atomically: a temporary file
        in the same folder, flushed to disk, then renamed over the target."""
        from safetensors.torch import save_file

        target = Path(path)
        tensors = {
            k: v.detach().cpu().contiguous().clone() for k, v in self.module.state_dict().items()
        }
        metadata = {"nettrain": json.dumps(self.config())}
        fd, temp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        os.close(fd)
        try:
            save_file(tensors, temp, metadata=metadata)
            with open(temp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], module: nn.Module | None = None) -> Net:
        """Read a net written by :meth:`save`. Only safetensors and JSON are read: a file in any
        other format (a pickle, say) is refused before anything in it is interpreted.

        Args:
            path: the file.
            module: a fresh instance of the net's class, needed when the architecture is not a
                standard ``nn.Sequential`` and the class cannot be built without arguments.

        Raises:
            NetTrainError: for a file that is not a nettrain net, or a module that does not fit.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        from .coders import decoder_from_config, encoder_from_config

        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise NetTrainError(
                "path",
                "is not a nettrain net file (safetensors)",
                expected="a file written by Net.save",
                received=str(path),
                hint="nettrain never unpickles files",
            ) from exc
        if "nettrain" not in metadata:
            raise NetTrainError(
                "path",
                "is a safetensors file without nettrain's description",
                expected="a file written by Net.save",
                received=str(path),
            )
        config = json.loads(metadata["nettrain"])
        if config.get("format") != FORMAT:
            raise NetTrainError(
                "path",
                "unknown nettrain file format",
                expected=FORMAT,
                received=repr(config.get("format")),
            )
        built = build_module(config["architecture"], module)
        try:
            built.load_state_dict(tensors)
        except RuntimeError as exc:
            raise NetTrainError(
                "module",
                "the weights in the file do not fit this module",
                expected=f"a module like {config['architecture'].get('repr', 'the saved one')}",
                received=type(built).__name__,
                hint=str(exc).splitlines()[0],
            ) from exc
        inputs = {
            p: None if c is None else encoder_from_config(c) for p, c in config["inputs"].items()
        }
        outputs = {
            p: None if c is None else decoder_from_config(c) for p, c in config["outputs"].items()
        }
        targets = {p: encoder_from_config(c) for p, c in config.get("targets", {}).items()}
        net = cls(built, inputs, outputs, config.get("example_shapes"), targets)
        net.eval()
        return net
