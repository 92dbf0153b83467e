"""``load_model``: a compiled :class:`~nettrain.keras.Model` from a file ``Model.save`` wrote.

Example:
    >>> import tempfile, os, torch
    >>> from torch import nn
    >>> from nettrain.keras import Model
    >>> model = Model(nn.Sequential(nn.Linear(2, 1)))
    >>> model.compile("adam", "mse")
    >>> path = model.save(os.path.join(tempfile.mkdtemp(), "m.safetensors"))
    >>> loaded = load_model(path)
    >>> same = torch.equal(loaded.module[0].weight, model.module[0].weight)
    >>> type(loaded.optimizer).__name__, same
    ('Adam', True)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .model import Model

__all__ = ["load_model"]


def load_model(path: Any, module: nn.Module | None = None, *, builders: Any = None) -> Model:
    """A :class:`Model` from a file :meth:`Model.save` wrote (Keras' ``load_model``).

    Args:
        path: the file.
        module: a freshly built module to load into, for modules nettrain cannot rebuild
            (a class of your own); ``nn.Sequential`` of standard layers and nettrain's built-in
            nets are rebuilt from the file.
        builders: the functions that build your nets, for a file saved with
            ``architecture=(build, {...})`` (never looked up by name from the file).

    Returns:
        The model, compiled again when its optimizer and loss were saved by name (a loss
        function of your own is not saved: compile it again).

    Raises:
        NetTrainError: a file that is not such a model, or that needs ``module``/``builders``.
    """
    from .losses import resolve_loss
    from .optimizers import get as get_optimizer
    from .saving import load_model as load_file

    loaded = load_file(path, module, builders=builders)
    extra = loaded.extra or {}
    shape = extra.get("input_shape")
    model = Model(loaded.module)
    model.input_shape = tuple(shape) if shape else None
    config = loaded.compile_config
    if config and config.get("loss"):
        from . import losses as loss_classes
        from . import optimizers as optimizer_classes

        optimizer_class = getattr(optimizer_classes, config["optimizer"]["class_name"])
        loss_class = getattr(loss_classes, config["loss"]["class_name"])
        model.compile(
            optimizer=get_optimizer(optimizer_class.from_config(config["optimizer"]["config"])),
            loss=resolve_loss(loss_class(**config["loss"]["config"])),
            metrics=config.get("metrics") or None,
        )
        carry = model.compiled.optimizer._carry  # type: ignore[union-attr]
        if loaded.optimizer_state is not None and extra.get("optimizer_method"):
            # the optimizer goes on from the saved moments and step counts, as Keras' does
            carry.put(model._trainable(), loaded.optimizer_state, extra["optimizer_method"])
        carry.updates = int(extra.get("iterations") or 0)
    return model
