"""Training on a named dataset: ``train(net, "FashionMNIST")``, or on a split already loaded:
``train(net, nettrain.datasets.load("FashionMNIST", "train", data_dir=...))``.

The name's training split becomes the data (images stay uint8 and get an image encoder with the
dataset's size and colour space; labels are class indices with the dataset's class names), and
``validation_set="auto"`` (the default when training on a name) becomes its test split; a name
given as ``validation_set`` means that dataset's test split. A loaded
:class:`~nettrain.datasets.DatasetSplit` works wherever a name does and is used as it is (so
where the files came from is decided by the caller's ``load``).

Example:
    >>> data, encoders = named_data("Digits", "train")
    >>> tuple(data["input"].shape), encoders["target"].classes[:3]
    ((1438, 8, 8), ('0', '1', '2'))
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import NetTrainError

__all__ = ["dataset_name", "named_data", "resolve_named_validation"]


def dataset_name(data: object, argument: str = "data") -> str | None:
    """The canonical dataset name when ``data`` is a name or a loaded split, else None.

    Raises:
        NetTrainError: a string that names no dataset (with close matches), naming
            ``argument`` (the data, or the validation set).
    """
    from .datasets import DatasetSplit, canonical_name

    if isinstance(data, DatasetSplit):
        return data.name
    if not isinstance(data, str):
        return None
    try:
        return canonical_name(data)
    except NetTrainError as error:
        raise NetTrainError(
            argument,
            error.problem,
            expected=f"a dataset name, {error.expected}" if error.expected else None,
            received=error.received,
            hint=error.hint,
        ) from None


def named_data(source: object, split: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dataset split as columns ``{"input", "target"}`` and the encoders that fit it.

    ``source`` is a dataset name (its ``split`` is loaded) or a loaded ``DatasetSplit`` (used
    as it is; ``split`` is then ignored).
    """
    from .coders import ClassEncoder, ImageEncoder
    from .datasets import DatasetSplit, load

    part = source if isinstance(source, DatasetSplit) else load(str(source), split)
    encoders: dict[str, Any] = {"target": ClassEncoder(classes=tuple(part.class_names))}
    inputs: Any = part.inputs
    if part.kind == "image":
        height, width = inputs.shape[1:3]
        space = "grayscale" if inputs.ndim == 3 else "rgb"
        encoders["input"] = ImageEncoder(size=(int(height), int(width)), color_space=space)
    labels = torch.from_numpy(part.labels).to(torch.int64)
    return {"input": inputs, "target": labels}, encoders


def resolve_named_validation(spec: object, training_name: str | None) -> object:
    """Turn "auto", a dataset name or a loaded split (also inside ``(spec, {"interval": ...})``)
    into data."""
    options = None
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict):
        spec, options = spec
    if isinstance(spec, str) and spec == "auto":
        if training_name is None:
            return spec if options is None else (spec, options)  # train() explains "auto"
        spec = named_data(training_name, "test")[0]
    elif (name := dataset_name(spec, "validation_set")) is not None:
        spec = named_data(name if isinstance(spec, str) else spec, "test")[0]
        if training_name is None and not isinstance(spec["input"], list):
            # the training data are tensors without an image encoder: give the net what its
            # own data look like, floats in [0, 1] as [n, channels, height, width]
            images = torch.from_numpy(spec["input"]).float().div(255)
            images = images[:, None] if images.dim() == 3 else images.permute(0, 3, 1, 2)
            spec = {"input": images, "target": spec["target"]}
    return spec if options is None else (spec, options)
