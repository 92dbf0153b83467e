"""Exporting a net to ONNX: :func:`export_onnx`, also ``Net.export`` and ``nettrain export``.

What is exported is the tensor-in, tensor-out part: the ``nn.Module`` itself, or for a
:class:`nettrain.Net` its ``module``. A ``Net``'s encoders and decoders (image files to tensors,
class indices to names, ...) are Python and stay in Python: the ONNX file takes the tensors the
module takes (for an image net, float images already scaled by the encoder's ``prepare``) and
gives the module's raw outputs (logits or probabilities, not class names).

The export goes through torch's own exporter (``torch.onnx.export(..., dynamo=True)``, the
``torch.export``-based one), in evaluation mode, with the batch dimension dynamic by default.
It needs the optional packages ``onnx`` and ``onnxscript`` (``pip install "nettrain[onnx]"``,
which also brings ``onnxruntime`` to run the file).

Example (not run here: it needs the optional packages)::

    >>> import torch, torch.nn as nn
    >>> from nettrain.export import export_onnx
    >>> export_onnx(nn.Linear(4, 2), "linear.onnx", sample=(1, 4))  # doctest: +SKIP
    PosixPath('linear.onnx')
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .errors import NetTrainError, describe

__all__ = ["export_onnx", "sample_inputs"]

_INSTALL = 'pip install "nettrain[onnx]"'
_TEXT_KINDS = ("tokens", "characters")


def _require_exporter() -> None:
    """Check that the optional packages torch's ONNX exporter needs are importable.

    Raises:
        NetTrainError: argument "onnx" naming the missing packages and how to install them.
    """
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise NetTrainError(
            "onnx",
            "exporting to ONNX needs the optional package"
            + ("s " if len(missing) > 1 else " ")
            + " and ".join(missing)
            + ", which "
            + ("are" if len(missing) > 1 else "is")
            + " not installed",
            hint=_INSTALL,
        )


def _target(path: Any) -> Path:
    """The file to write, checked: a path, not a directory, in a folder that exists."""
    try:
        target = Path(os.fspath(path))
    except TypeError:
        raise NetTrainError(
            "path",
            "must be a file path",
            expected="a str or os.PathLike, e.g. 'model.onnx'",
            received=describe(path),
        ) from None
    if not str(path) or target.is_dir():
        raise NetTrainError(
            "path",
            "is a directory; the export writes a file",
            expected="the path of a file, e.g. " + repr(str(target / "model.onnx")),
            received=repr(str(path)),
            hint="add a file name to the path",
        )
    if not target.parent.is_dir():
        raise NetTrainError(
            "path",
            f"the folder {str(target.parent)!r} does not exist (or is not a folder)",
            expected="a file path in an existing folder",
            received=repr(str(path)),
            hint="create the folder first, or choose another path",
        )
    return target


def _first_leaf(module: nn.Module) -> nn.Module | None:
    """The layer that reads the input of an ``nn.Sequential`` (None for other modules)."""
    while isinstance(module, nn.Sequential) and len(module):
        module = module[0]
    return None if isinstance(module, nn.Sequential) else module


def _float_dtype(module: nn.Module) -> torch.dtype:
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def _device(module: nn.Module) -> torch.device:
    tensors = [*module.parameters(), *module.buffers()]
    return tensors[0].device if tensors else torch.device("cpu")


def _zeros(module: nn.Module, encoder: Any, shape: tuple[int, ...]) -> Tensor:
    """A tensor of ``shape`` (batch first) of what the module reads at an input port: what the
    port's encoder makes and prepares (float images, integer token ids), else floats of the
    module's dtype (integer ids for a net starting with an ``nn.Embedding``)."""
    kind = getattr(encoder, "kind", None)
    device = _device(module)
    if kind in _TEXT_KINDS or (encoder is None and isinstance(_first_leaf(module), nn.Embedding)):
        # ones, not zeros: id 0 is padding, which the text encoders' prepare trims
        return torch.ones(shape, dtype=torch.int64, device=device)
    if kind == "image":
        raw = torch.zeros(shape, dtype=torch.uint8, device=device)
    else:
        raw = torch.zeros(shape, dtype=_float_dtype(module), device=device)
    if encoder is None:
        return raw
    try:
        prepared = encoder.prepare(raw)
    except Exception:  # an encoder whose prepare needs real data: the raw block is the guess
        return raw
    if isinstance(prepared, Tensor) and prepared.is_floating_point():
        prepared = prepared.to(_float_dtype(module))
    return prepared if isinstance(prepared, Tensor) else raw


def _ports(net: nn.Module) -> tuple[nn.Module, dict[str, Any], list[str] | None]:
    """(the module to export, ``{input port: encoder}``, the output port names or None)."""
    from .net import Net
    from .ports import forward_parameters

    if isinstance(net, Net):
        return net.module, dict(net.inputs), list(net.outputs)
    names = forward_parameters(net)[1] or ["input"]
    return net, dict.fromkeys(names), None


def _is_shape(value: Any) -> bool:
    return isinstance(value, torch.Size) or (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    )


def _samples(net: nn.Module, sample: Any) -> list[Tensor]:
    """The example inputs to trace with, one per input port, each with a batch dimension.

    Raises:
        NetTrainError: argument "sample" for a sample that is no tensor or shape, or when it is
            not given and nothing about the net tells the input's shape.
    """
    module, inputs, _ = _ports(net)
    encoders = list(inputs.values())
    if isinstance(sample, Tensor):
        return [sample]
    if sample is not None and _is_shape(sample):
        shape = tuple(sample)
        if not shape or any(d < 1 for d in shape):
            raise NetTrainError(
                "sample",
                "a shape must have a batch dimension and positive sizes",
                expected="e.g. (1, 3, 32, 32): batch, then one example's shape",
                received=repr(sample),
            )
        if len(encoders) != 1:
            raise NetTrainError(
                "sample",
                f"the net has {len(encoders)} inputs, so one shape cannot describe them",
                expected="a tuple of tensors, one per input: " + ", ".join(map(repr, inputs)),
                received=repr(sample),
            )
        return [_zeros(module, encoders[0], shape)]
    if (
        isinstance(sample, Sequence)
        and not isinstance(sample, str)
        and sample
        and all(isinstance(s, Tensor) for s in sample)
    ):
        return list(sample)
    if sample is not None:
        raise NetTrainError(
            "sample",
            "must be a tensor, a shape, or a tuple of tensors (one per input)",
            expected="e.g. torch.zeros(1, 3, 32, 32) or (1, 3, 32, 32)",
            received=describe(sample),
        )
    return [_known_sample(net, module, port, encoder) for port, encoder in inputs.items()]


def _known_sample(net: nn.Module, module: nn.Module, port: str, encoder: Any) -> Tensor:
    """A batch of one for ``port`` from what the net knows of it: the example shape a ``Net``
    recorded in training, an image encoder's size, a text encoder's ``max_length``, or the
    input size of a first ``nn.Linear``.

    Raises:
        NetTrainError: argument "sample" when none of these tells the shape.
    """
    shape: tuple[int, ...] | None = None
    first = _first_leaf(module)
    recorded = getattr(net, "example_shapes", {}) or {}
    kind = getattr(encoder, "kind", None)
    if port in recorded:
        shape = tuple(recorded[port])
    elif kind == "image" and getattr(encoder, "size", None) and encoder.channels:
        shape = (int(encoder.channels), *encoder.size)
    elif kind in _TEXT_KINDS and getattr(encoder, "max_length", None):
        shape = (int(encoder.max_length),)
    elif encoder is None and isinstance(first, nn.Linear):
        shape = (first.in_features,)
    if shape is None:
        raise NetTrainError(
            "sample",
            f"the shape of the input {port!r} is not known, so the net cannot be traced",
            expected="sample=: a tensor the module takes, or its shape with a batch "
            "dimension, e.g. sample=(1, 3, 32, 32)",
            hint="pass sample= (on the command line: --shape)",
        )
    return _zeros(module, encoder, (1, *shape))


def sample_inputs(net: nn.Module, batch: int = 1) -> list[Tensor]:
    """The inputs :func:`export_onnx` traces with when no ``sample`` is given: one tensor per
    input port, of ``batch`` examples (zeros, or ones for token ids) of the shape the net
    knows for it, on the module's device.

    Raises:
        NetTrainError: argument "sample" when nothing about the net tells an input's shape.
    """
    return [torch.cat([s] * batch) for s in _samples(net, None)]


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """The module in evaluation mode, every submodule's own mode restored afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's own warnings and log lines (deprecations inside torch, optional
    operator sets it skips); errors still come through."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _traced(
    module: nn.Module, samples: list[Tensor], dynamic_batch: bool
) -> tuple[list[Tensor], list[str]]:
    """Run the module once on ``samples``, widened to a batch of two for a dynamic batch
    (``torch.export`` fixes a dimension of size 1): (the samples to trace with, the names of
    its outputs: a dict's keys, "output" for a tensor)."""
    from .ports import output_ports

    if dynamic_batch:
        batches = {s.shape[0] if s.dim() else None for s in samples}
        if None in batches or len(batches) != 1:
            raise NetTrainError(
                "sample",
                "every input needs the same batch (first) dimension for a dynamic batch",
                received="shapes " + ", ".join(str(tuple(s.shape)) for s in samples),
                hint="give batched samples, or dynamic_batch=False",
            )
        if batches == {1}:
            samples = [torch.cat([s, s]) for s in samples]
    try:
        with torch.no_grad():
            names = list(output_ports(module(*samples)))
    except NetTrainError:
        raise
    except Exception as exc:
        raise NetTrainError(
            "sample",
            f"the module cannot run on it ({_first_line(exc)})",
            received="shapes " + ", ".join(str(tuple(s.shape)) for s in samples),
            hint="give sample= a tensor (or shape, batch first) the module takes",
        ) from exc
    return samples, names


def export_onnx(
    net: nn.Module,
    path: str | os.PathLike[str],
    *,
    sample: Any = None,
    opset: int | None = None,
    dynamic_batch: bool = True,
) -> Path:
    """Write ``net`` as an ONNX model to ``path``.

    Only the tensor-in, tensor-out part is exported: the ``nn.Module``, or for a
    :class:`nettrain.Net` its ``module``. Its encoders and decoders stay in Python, so the ONNX
    file takes what the module takes (float images already scaled, token ids) and gives the
    module's raw outputs. The model is traced with torch's exporter
    (``torch.onnx.export(..., dynamo=True)``) in evaluation mode; the net is left as it was
    (each submodule's training mode, device, dtype and weights). The file's inputs are named
    after the net's input ports (``"input"`` for a plain module), its outputs after a ``Net``'s
    output ports.

    Args:
        net: a ``nettrain.Net`` or any ``nn.Module``.
        path: the ``.onnx`` file to write; its folder must exist. The write is atomic (a
            temporary file in the same folder, renamed over ``path``); weights are inside the
            file (no external data, so models under 2 GB).
        sample: what to trace with: a tensor the module takes (batch first), its shape (batch
            first, e.g. ``(1, 3, 32, 32)``), or a tuple of tensors for several inputs. Default:
            the shape a ``Net`` recorded in training (or its image encoder's size, a text
            encoder's ``max_length``, the input size of a first ``nn.Linear``).
        opset: the ONNX opset version (default: the exporter's).
        dynamic_batch: make the first dimension of every input and output dynamic (default);
            False fixes it to the sample's batch size.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        NetTrainError: argument "onnx" when the optional packages are missing
            (``pip install "nettrain[onnx]"``); "path" for a directory, a missing folder or a
            failed write; "sample" when the input shape is unknown or the module cannot run on
            the sample; "net" when the exporter cannot export the module.
    """
    if not isinstance(net, nn.Module):
        raise NetTrainError("net", "must be an nn.Module or a nettrain.Net", received=describe(net))
    target = _target(path)
    _require_exporter()
    module, inputs, outputs = _ports(net)
    with _evaluating(module):
        samples, output_names = _traced(module, _samples(net, sample), dynamic_batch)
        input_names = list(inputs) if len(inputs) == len(samples) else None
        if outputs and len(outputs) == 1 == len(output_names):
            output_names = outputs  # a Net's one output port
        program = _export(module, samples, input_names, output_names, opset, dynamic_batch)
    _save(program, target)
    return target


def _export(
    module: nn.Module,
    samples: list[Tensor],
    input_names: list[str] | None,
    output_names: list[str] | None,
    opset: int | None,
    dynamic_batch: bool,
) -> Any:
    """The ``ONNXProgram`` torch's exporter makes of ``module``.

    Raises:
        NetTrainError: argument "net" when the exporter fails.
    """
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch")
        dynamic_shapes = tuple({0: batch} for _ in samples)
    try:
        with _quiet_exporter():
            return torch.onnx.export(
                module,
                tuple(samples),
                None,
                dynamo=True,
                input_names=input_names,
                output_names=output_names,
                opset_version=opset,
                dynamic_shapes=dynamic_shapes,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        hint = "simplify the forward (no data-dependent Python control flow)"
        if dynamic_batch:
            hint = "try dynamic_batch=False (a fixed batch size), or " + hint
        raise NetTrainError(
            "net",
            f"torch's ONNX exporter could not export the module ({_first_line(exc)})",
            hint=hint,
        ) from exc


def _save(program: Any, target: Path) -> None:
    """Write the program to ``target`` through a temporary file in the same folder.

    Raises:
        NetTrainError: argument "path" when the file cannot be written.
    """
    temp = target.with_name(f".{target.name[:200]}.nettrain-tmp-{secrets.token_hex(6)}")
    try:
        with _quiet_exporter():
            program.save(temp, external_data=False)
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise NetTrainError(
            "path",
            f"writing the ONNX file failed ({exc.strerror or exc})",
            received=repr(str(target)),
            hint="choose a folder you may write in, with room on its disk",
        ) from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
