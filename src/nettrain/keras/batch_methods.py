"""``Model``'s methods outside ``fit``: ``predict``, ``evaluate`` and ``train_on_batch``.

They run the module directly (no training loop): ``predict`` in batches in eval mode without
gradients, ``evaluate`` on all the predictions at once (so its values are exact over uneven
batches), ``train_on_batch`` one step of the compiled optimizer's Core API. Sample weights scale
the loss as Keras' do (``sum(w * loss) / n``); the metrics are not weighted (Keras'
``metrics``, not ``weighted_metrics``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from nettrain.keras import Model
    >>> model = Model(nn.Linear(2, 1))
    >>> model.compile("sgd", "mse")
    >>> x, y = torch.ones(4, 2), torch.zeros(4, 1)
    >>> w = torch.tensor([1.0, 0.0, 0.0, 0.0])
    >>> full = evaluate(model, x, y, None, None, False)
    >>> abs(evaluate(model, x, y, None, w, False) - full / 4) < 1e-6
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..errors import NetTrainError
from .fit_data import as_tensor, length, sample_weights, take
from .weighting import check_weights, class_sample_weights

__all__ = ["evaluate", "predict", "train_on_batch"]


def forward(model: Any, inputs: Any) -> Tensor:
    if isinstance(inputs, Mapping):
        return model.module(**inputs)
    return model.module(inputs)


def predict(model: Any, x: Any, batch_size: int | None) -> Tensor:
    """The module's outputs for ``x``, in batches, without gradients, in eval mode."""
    inputs = as_tensor(x, "x") if not isinstance(x, Mapping) else x
    size = 32 if batch_size is None else batch_size
    module = model.module
    mode = module.training
    module.eval()
    try:
        with torch.no_grad():
            outputs = [
                forward(model, take(inputs, slice(i, i + size)))
                for i in range(0, length(inputs), size)
            ]
    finally:
        module.train(mode)
    return torch.cat(outputs)


def _same_length(inputs: Any, targets: Tensor) -> None:
    if length(inputs) != len(targets):
        raise NetTrainError(
            "y",
            "x and y hold different numbers of examples",
            expected=f"{length(inputs)} targets",
            received=f"{len(targets)}",
        )


def _listed(values: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return values
    listed = list(values.values())
    return listed[0] if len(listed) == 1 else listed


def train_on_batch(
    model: Any,
    x: Any,
    y: Any,
    sample_weight: Any,
    class_weight: Mapping[Any, Any] | None,
    return_dict: bool,
) -> Any:
    """One update on one batch (see ``Model.train_on_batch``)."""
    compiled = model._need_compiled("train_on_batch")
    check_weights(compiled.loss, class_weight, sample_weight)
    inputs = (
        {k: as_tensor(v, f"x[{k!r}]") for k, v in x.items()}
        if isinstance(x, Mapping)
        else as_tensor(x, "x")
    )
    targets = as_tensor(y, "y")
    _same_length(inputs, targets)
    weights = None
    if sample_weight is not None:
        weights = sample_weights(sample_weight, len(targets))
    elif class_weight is not None:
        weights = class_sample_weights(targets, class_weight)
    module = model.module
    params = [p for p in module.parameters() if p.requires_grad]
    module.train()
    with torch.enable_grad():
        outputs = forward(model, inputs)
        loss = compiled.loss(targets, outputs, weights)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    compiled.optimizer.apply_gradients(zip(grads, params, strict=True))
    values = {"loss": float(loss.detach())}
    for metric in compiled.metrics:
        values[metric.key] = float(metric.compute(targets, outputs.detach()))
    return _listed(values, return_dict)


def evaluate(
    model: Any,
    x: Any,
    y: Any,
    batch_size: int | None,
    sample_weight: Any,
    return_dict: bool,
) -> Any:
    """The loss and the metrics on ``(x, y)`` (see ``Model.evaluate``)."""
    compiled = model._need_compiled("evaluate")
    check_weights(compiled.loss, None, sample_weight)
    predictions = predict(model, x, batch_size)
    targets = as_tensor(y, "y")
    if len(targets) != len(predictions):
        raise NetTrainError(
            "y",
            "x and y hold different numbers of examples",
            expected=f"{len(predictions)} targets",
            received=f"{len(targets)}",
        )
    weights = None if sample_weight is None else sample_weights(sample_weight, len(targets))
    values = {"loss": float(compiled.loss(targets, predictions, weights))}  # Keras' order
    for metric in compiled.metrics:
        values[metric.key] = float(metric.compute(targets, predictions))
    return _listed(values, return_dict)
