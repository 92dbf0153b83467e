"""The base of the Keras face's optimizers: Keras' common arguments, ``method()``, the Core API.

The classes themselves (``SGD``, ``Adam``, ...) are in :mod:`nettrain.keras.optimizers`. An
:class:`Optimizer` is a description of an engine method plus, for the Core API
(:meth:`Optimizer.minimize`, :meth:`Optimizer.apply_gradients`), a
:class:`~nettrain.optim.tensors.TensorSteps`: one ``torch.optim`` optimizer per set of variables,
built by the engine's own builder, whose state carries over from call to call as in TF.js.

Example:
    >>> import torch
    >>> from nettrain.keras.optimizers import SGD
    >>> opt = SGD(learning_rate=0.1)
    >>> w = torch.tensor(3.0, requires_grad=True)
    >>> for _ in range(50):
    ...     opt.minimize(lambda: (w - 1.0) ** 2)
    >>> round(w.item(), 4), opt.iterations
    (1.0, 50)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch

from ..errors import NetTrainError, describe, did_you_mean
from ..optim.carry import UpdaterState
from ..optim.methods import parse_method
from ..optim.tensors import TensorSteps, check_variables, loss_and_gradients
from ..scalars import as_int, as_real, is_bool

__all__ = ["Optimizer"]

# Keras 3's keyword arguments common to every optimizer, with their defaults; those the engine
# has no counterpart for must stay at the default (see Optimizer.__init__).
_COMMON: dict[str, object] = {
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
_UNSUPPORTED = {
    "clipnorm": "per-variable norm clipping",
    "global_clipnorm": "global norm clipping",
    "loss_scale_factor": "loss scaling",
}


def number_arg(
    where: str,
    value: object,
    low: float,
    high: float = math.inf,
    *,
    low_in: bool = True,
    high_in: bool = False,
) -> float:
    """``value`` as a float in the interval, or a NetTrainError naming ``where``."""
    number = as_real(value)
    above = number is not None and (number >= low if low_in else number > low)
    below = number is not None and (number <= high if high_in else number < high)
    if number is None or not (math.isfinite(number) and above and below):
        interval = (
            (">= " if low_in else "> ") + f"{low:g}"
            if math.isinf(high)
            else f"in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
        )
        raise NetTrainError(
            where,
            "value out of range" if number is not None else "wrong type",
            expected="a number " + interval,
            received=describe(value),
        )
    return number


def switch_arg(where: str, value: object) -> bool:
    """``value`` as a bool (Python or NumPy), or a NetTrainError naming ``where``."""
    if not is_bool(value):
        raise NetTrainError(where, "wrong type", expected="True or False", received=describe(value))
    return bool(value)


class Optimizer:
    """What every optimizer here shares: Keras' common arguments, ``method()``, the Core API.

    Keras' common keyword arguments (each subclass takes them as ``**kwargs``):
    ``weight_decay`` (None; decoupled, ``w -= lr * weight_decay * w`` before each step: see
    each class for how it maps), ``clipvalue`` (None; clamps each gradient element, exactly the
    engine's ``gradient_clipping``), ``name``; ``use_ema`` (False) with ``ema_momentum`` (0.99,
    in (0, 1)): ``fit`` runs with ``train``'s ``weights_averaging={"decay": ema_momentum}``
    and ends with the averaged weights, as Keras' ``fit`` (``ema_overwrite_frequency`` must
    stay None: the average reaches the weights only at the end); ``gradient_accumulation_steps``
    (None, or an int >= 2 as Keras requires): ``fit`` runs with the method's
    ``gradient_accumulation``, which weighs each batch by its examples and starts its groups
    with each epoch (Keras weighs batches equally and counts its groups over the whole run);
    the Core API and ``train_on_batch`` refuse it (each call is one update). ``clipnorm``,
    ``global_clipnorm`` and ``loss_scale_factor`` have no counterpart in the engine: they must
    stay at Keras' defaults.

    Attributes:
        learning_rate: the learning rate (readable and assignable; a number > 0).
        iterations: how many updates :meth:`minimize` and :meth:`apply_gradients` have made.
        name: Keras' ``name``.

    Raises:
        NetTrainError: at construction, for a bad value, an unknown keyword (with a
            suggestion), or a setting the engine cannot reproduce (naming it, with what to do).
    """

    _ARGS: ClassVar[tuple[str, ...]] = ()  # the class's own arguments, in Keras' order
    _DEFAULT_NAME: ClassVar[str] = "optimizer"

    def __init__(self, learning_rate: object, weight_decay: object = None, **kwargs: Any) -> None:
        cls = type(self).__name__
        self._steps = TensorSteps()  # the Core API's optimizers, one per set of variables
        # the optimizer state shared by fit, train_on_batch and the Core API, as Keras keeps
        # one optimizer state across calls
        self._carry = UpdaterState()
        self._learning_rate = self._check_rate(learning_rate)
        self.weight_decay = (
            None if weight_decay is None else number_arg(f"{cls}(weight_decay)", weight_decay, 0.0)
        )
        self.name = str(kwargs.pop("name", None) or self._DEFAULT_NAME)
        unknown = [k for k in kwargs if k not in _COMMON]
        if unknown:
            hint = "Keras 3 calls it learning_rate" if unknown[0] == "lr" else None
            raise NetTrainError(
                cls,
                f"unknown argument {unknown[0]!r} "
                f"({did_you_mean(unknown[0], (*self._ARGS, 'learning_rate', *_COMMON))})",
                received=repr(unknown[0]),
                hint=hint,
            )
        self._common = {key: kwargs.get(key, default) for key, default in _COMMON.items()}
        for key, what in _UNSUPPORTED.items():
            if self._common[key] != _COMMON[key]:
                raise NetTrainError(
                    f"{cls}({key})",
                    f"the engine has no {what}",
                    expected=f"{key}={_COMMON[key]!r} (Keras' default)",
                    received=repr(self._common[key]),
                    hint="clipvalue clips each gradient element exactly as Keras does"
                    if "clip" in key
                    else None,
                )
        if self._common["clipvalue"] is not None:
            self._common["clipvalue"] = number_arg(
                f"{cls}(clipvalue)", self._common["clipvalue"], 0.0, low_in=False
            )
        self._check_averaging_and_accumulation(cls)
        parse_method(self.method())  # every refusal and range check now, not at the first step
        self._ready = True

    def _check_averaging_and_accumulation(self, cls: str) -> None:
        """Keras' ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency`` and
        ``gradient_accumulation_steps``, read into what the engine runs."""
        common = self._common
        common["use_ema"] = switch_arg(f"{cls}(use_ema)", common["use_ema"])
        if common["use_ema"]:  # as Keras, the momentum is checked only when it is used
            common["ema_momentum"] = number_arg(
                f"{cls}(ema_momentum)", common["ema_momentum"], 0.0, 1.0, low_in=False
            )
        if common["ema_overwrite_frequency"] is not None:
            raise NetTrainError(
                f"{cls}(ema_overwrite_frequency)",
                "the engine puts the averaged weights into the model only at the end of fit",
                expected="None (Keras' default: the average overwrites the weights at the end)",
                received=repr(common["ema_overwrite_frequency"]),
                hint="leave it None; nettrain.train(..., weights_averaging={'decay': d, "
                "'trained_net': 'last'}) keeps the last weights and gives the average as the "
                "averaged_net property",
            )
        steps = common["gradient_accumulation_steps"]
        if steps is not None:
            number = as_int(steps)
            if number is None or number < 2:
                raise NetTrainError(
                    f"{cls}(gradient_accumulation_steps)",
                    "must be a whole number of batches >= 2, as in Keras",
                    expected="None or an int >= 2",
                    received=describe(steps),
                )
            common["gradient_accumulation_steps"] = number

    def weights_averaging(self) -> dict[str, Any] | None:
        """The engine's ``weights_averaging`` option for ``use_ema``: what ``fit`` passes to
        ``nettrain.train`` (None without ``use_ema``).

        Example:
            >>> from nettrain.keras.optimizers import Adam
            >>> Adam(use_ema=True).weights_averaging()
            {'decay': 0.99, 'trained_net': 'averaged'}
        """
        if not self._common["use_ema"]:
            return None
        return {"decay": self._common["ema_momentum"], "trained_net": "averaged"}

    def _refuse_accumulation(self, where: str) -> None:
        """The Core API makes one update per call: gradient accumulation is ``fit``'s."""
        steps = self._common["gradient_accumulation_steps"]
        if steps is not None:
            raise NetTrainError(
                f"{type(self).__name__}(gradient_accumulation_steps)",
                f"{where} updates at every call; gradient accumulation groups fit's batches",
                expected="None for the Core API and train_on_batch",
                received=repr(steps),
                hint="use fit, or make an optimizer without gradient_accumulation_steps and "
                "call apply_gradients once per group with the summed gradients",
            )

    def __setattr__(self, name: str, value: object) -> None:
        # The Core API's live torch optimizers were built from these settings: changing one
        # afterwards would silently not reach them. The learning rate is the one that may change.
        if getattr(self, "_ready", False) and name in (*self._ARGS, "weight_decay", "name"):
            raise NetTrainError(
                f"{type(self).__name__}.{name}",
                "fixed once the optimizer is made (only learning_rate can be assigned)",
                received=repr(value),
                hint=f"make a new optimizer: {type(self).__name__}(..., {name}={value!r})",
            )
        super().__setattr__(name, value)

    # --- Keras' attributes ------------------------------------------------------------------

    @staticmethod
    def _check_rate(value: object) -> float:
        if callable(value):
            raise NetTrainError(
                "learning_rate",
                "schedules and callables are not taken here",
                expected="a number > 0",
                received=describe(value),
                hint="use the LearningRateScheduler callback, or train's learning_rate_schedule",
            )
        return number_arg("learning_rate", value, 0.0, low_in=False)

    @property
    def learning_rate(self) -> float:
        """The learning rate the next update uses."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: object) -> None:
        rate = self._check_rate(value)
        self._learning_rate = rate
        self._steps.set_learning_rate(rate)  # live Core API state goes on at the new rate

    @property
    def iterations(self) -> int:
        """The number of updates made: by ``fit`` (every epoch of every call), ``train_on_batch``,
        :meth:`minimize` and :meth:`apply_gradients`."""
        return self._carry.updates

    def get_config(self) -> dict[str, Any]:
        """Keras' config: every constructor argument, so ``from_config`` rebuilds the object."""
        config: dict[str, Any] = {
            "name": self.name,
            "learning_rate": self._learning_rate,
            "weight_decay": self.weight_decay,
            **self._common,
        }
        config.update({key: getattr(self, key) for key in self._ARGS})
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optimizer:
        """The optimizer :meth:`get_config` described (a new object, with fresh state)."""
        return cls(**dict(config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("learning_rate", *self._ARGS))
        return f"{type(self).__name__}({args})"

    # --- the engine's method ----------------------------------------------------------------

    def _engine(self) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _refuse_weight_decay(self) -> None:
        if self.weight_decay:
            raise NetTrainError(
                f"{type(self).__name__}(weight_decay)",
                "Keras' decoupled weight decay has no exact counterpart in the engine's "
                f"{self._engine_name()} (its weight decay is added to the gradient)",
                received=repr(self.weight_decay),
                hint="use AdamW (decoupled, exact), or SGD without momentum",
            )

    def _engine_name(self) -> str:
        return type(self).__name__.lower()

    def method(self) -> tuple[str, dict[str, Any]]:
        """The engine's ``method`` option for this optimizer, every value explicit.

        Returns:
            ``(name, {sub-option: value})`` for ``nettrain.train(..., method=...)``.

        Example:
            >>> from nettrain.keras.optimizers import Adam
            >>> Adam().method()
            ('adam', {'learning_rate': 0.001, 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-07})
        """
        name, options = self._engine()
        out: dict[str, Any] = {"learning_rate": self._learning_rate, **options}
        if self._common["clipvalue"] is not None:
            out["gradient_clipping"] = self._common["clipvalue"]
        if self._common["gradient_accumulation_steps"] is not None:
            out["gradient_accumulation"] = self._common["gradient_accumulation_steps"]
        return name, out

    def carried_method(self) -> tuple[str, dict[str, Any]]:
        """:meth:`method` with this optimizer's state (``{"state": ...}``, an
        :class:`~nettrain.optim.UpdaterState`): a run or an update given it goes on from the
        moments and step counts that the last one left, as a Keras optimizer does across
        ``fit`` calls. ``fit`` and the Core API use it; :meth:`method` alone starts afresh."""
        name, options = self.method()
        return name, {**options, "state": self._carry}

    # --- the Core API -----------------------------------------------------------------------

    def minimize(
        self,
        f: Callable[[], torch.Tensor],
        return_cost: bool = False,
        var_list: Iterable[torch.Tensor] | None = None,
    ) -> torch.Tensor | None:
        """One update that lowers ``f()``: TF.js's ``optimizer.minimize(f, returnCost, varList)``.

        Args:
            f: a function of no arguments returning the loss: a tensor with one element built
                from tensors with ``requires_grad=True``.
            return_cost: whether to return the loss (detached) as well.
            var_list: the tensors to update (floating-point leaves with ``requires_grad``);
                default: every such tensor the loss depends on, found by walking the loss's
                autograd graph. Give it to train only some of them, or when the graph hides
                them (reentrant checkpointing). A variable the loss does not depend on is
                left alone. Each set of variables has its own optimizer state.

        Returns:
            The loss before the update when ``return_cost``, else None.

        Raises:
            NetTrainError: ``f`` not callable, a loss that is not a one-element floating-point
                tensor depending on a tensor that requires grad, no variables, a bad variable.

        Example:
            >>> from nettrain.keras.optimizers import Adam
            >>> x = torch.tensor(2.0, requires_grad=True)
            >>> Adam(0.1).minimize(lambda: x**2, return_cost=True)
            tensor(4.)
        """
        self._refuse_accumulation("minimize")
        loss, variables, grads = loss_and_gradients(f, var_list)
        self._steps.step(self.carried_method(), variables, grads)
        return loss.detach() if return_cost else None

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[torch.Tensor | None, torch.Tensor]]
    ) -> int:
        """One update from given gradients: Keras' ``optimizer.apply_gradients``.

        Args:
            grads_and_vars: ``(gradient, variable)`` pairs, e.g. ``zip(grads, variables)``; a
                gradient of None leaves its variable alone (its state does not advance).
                Gradients are copied (cast to the variable's dtype), never changed.

        Returns:
            :attr:`iterations` after the update.

        Raises:
            NetTrainError: not pairs, a gradient whose shape differs from its variable's, every
                gradient None, or a bad variable.

        Example:
            >>> from nettrain.keras.optimizers import SGD
            >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
            >>> SGD(0.5).apply_gradients([(torch.tensor([1.0, -1.0]), w)])
            1
            >>> w.detach()
            tensor([0.5000, 2.5000])
        """
        self._refuse_accumulation("apply_gradients")
        pairs = list(grads_and_vars)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise NetTrainError(
                    f"grads_and_vars[{i}]",
                    "not a (gradient, variable) pair",
                    received=describe(pair),
                )
        variables = check_variables([v for _, v in pairs], "grads_and_vars")
        grads: list[torch.Tensor | None] = []
        for i, (g, v) in enumerate(pairs):
            if g is not None and (not isinstance(g, torch.Tensor) or g.shape != v.shape):
                raise NetTrainError(
                    f"grads_and_vars[{i}]",
                    "the gradient does not fit its variable",
                    expected=f"a tensor of shape {tuple(v.shape)}",
                    received=describe(g),
                )
            # A copy: the engine clips gradients in place (clipvalue).
            grads.append(None if g is None else g.detach().to(v.dtype, copy=True))
        self._steps.step(self.carried_method(), variables, grads)
        return self.iterations
