"""Keras 3 optimizers by name, TF.js's ``tf.train`` factories, and ``get``.

Each class takes Keras 3's arguments with Keras 3's defaults (from keras.io/api/optimizers and
Keras 3's source, ``keras/src/optimizers/*.py``) and runs on the engine: ``opt.method()`` is the
value of ``nettrain.train``'s ``method`` option; ``opt.minimize(f)`` and
``opt.apply_gradients(pairs)`` (the Core API, see :class:`Optimizer`) step the ``torch.optim``
optimizer the engine builds for that method.

Where Keras' formula and torch's differ, the mapping is exact where a torch option can express
Keras' formula (Adagrad, Adadelta, SGD's momentum and Nesterov at a constant rate, AdamW's and
Adam's decoupled weight decay, clipvalue, amsgrad, centered; ``use_ema`` and
``gradient_accumulation_steps`` on ``train``'s ``weights_averaging`` and ``gradient_accumulation``,
see :class:`Optimizer`), refused with an error that says what to do where nothing can
(clipnorm, global_clipnorm, loss scaling, an EMA overwrite frequency, coupled weight decay where
it would differ), and close but not equal in three
epsilons (Adam/AdamW, RMSprop, Adamax): each class's docstring says how, and docs/keras.md has
the table.

Example:
    >>> SGD(learning_rate=0.1).method()
    ('sgd', {'learning_rate': 0.1, 'momentum': 0.0})
    >>> get("rmsprop").method()  # doctest: +ELLIPSIS
    ('rmsprop', {'learning_rate': 0.001, 'beta': 0.9, 'momentum': 0.0, 'epsilon': 0.0003162...})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import NetTrainError, describe, did_you_mean
from ..optim.methods import suggest_name
from .base_optimizer import Optimizer, number_arg, switch_arg

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Optimizer",
    "RMSprop",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "get",
    "momentum",
    "rmsprop",
    "sgd",
]

# TF.js's default when epsilon is null: the float32 backend's epsilon.
_TFJS_EPSILON = 1e-7


class SGD(Optimizer):
    """Keras 3 ``SGD(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, ...)``.

    Engine: ``"sgd"`` (``torch.optim.SGD``) with ``momentum`` and ``nesterov`` as given. Keras'
    velocity accumulates ``-lr * g`` and torch's ``g`` (times the current ``lr``): the same steps
    while the rate is constant. ``weight_decay`` maps exactly (onto ``l2_regularization``) only
    without momentum; with momentum it is refused.

    Example:
        >>> SGD(0.1, momentum=0.9, nesterov=True).method()
        ('sgd', {'learning_rate': 0.1, 'momentum': 0.9, 'nesterov': True})
    """

    _ARGS = ("momentum", "nesterov")
    _DEFAULT_NAME = "SGD"

    def __init__(
        self,
        learning_rate: object = 0.01,
        momentum: object = 0.0,
        nesterov: object = False,
        weight_decay: object = None,
        **kwargs: Any,
    ) -> None:
        self.momentum = number_arg("SGD(momentum)", momentum, 0.0, 1.0)
        self.nesterov = switch_arg("SGD(nesterov)", nesterov)
        super().__init__(learning_rate, weight_decay, **kwargs)

    def _engine(self) -> tuple[str, dict[str, Any]]:
        options: dict[str, Any] = {"momentum": self.momentum}
        if self.nesterov:
            options["nesterov"] = True
        if self.weight_decay:
            if self.momentum:
                raise NetTrainError(
                    "SGD(weight_decay)",
                    "with momentum, Keras' decoupled weight decay differs from the engine's "
                    "(which adds it to the gradient, so the momentum carries it)",
                    received=f"weight_decay={self.weight_decay!r}, momentum={self.momentum!r}",
                    hint="use momentum=0.0, or AdamW",
                )
            options["l2_regularization"] = self.weight_decay  # lr*wd*w either way: exact
        return "sgd", options


class Adam(Optimizer):
    """Keras 3 ``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)``.

    Engine: ``"adam"`` (``torch.optim.Adam``); with ``weight_decay``, ``"adamw"`` (both decay
    decoupled, so that part is exact). Keras folds the bias corrections into the rate and adds
    ``epsilon`` to the raw ``sqrt(v)``; torch adds it to the corrected one: Keras' epsilon is
    torch's times ``sqrt(1 - beta_2**t)``. The steps agree whenever ``sqrt(v)`` is well above
    ``epsilon`` (TF.js's ``tf.train.adam`` computes exactly what torch does).

    Example:
        >>> Adam(weight_decay=0.01, amsgrad=True).method()[0]
        'adamw'
    """

    _ARGS = ("beta_1", "beta_2", "epsilon", "amsgrad")
    _DEFAULT_NAME = "adam"

    def __init__(
        self,
        learning_rate: object = 0.001,
        beta_1: object = 0.9,
        beta_2: object = 0.999,
        epsilon: object = 1e-7,
        amsgrad: object = False,
        weight_decay: object = None,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        self.beta_1 = number_arg(f"{cls}(beta_1)", beta_1, 0.0, 1.0)
        self.beta_2 = number_arg(f"{cls}(beta_2)", beta_2, 0.0, 1.0)
        self.epsilon = number_arg(f"{cls}(epsilon)", epsilon, 0.0, low_in=False)
        self.amsgrad = switch_arg(f"{cls}(amsgrad)", amsgrad)
        super().__init__(learning_rate, weight_decay, **kwargs)

    def _engine(self) -> tuple[str, dict[str, Any]]:
        options: dict[str, Any] = {
            "beta1": self.beta_1,
            "beta2": self.beta_2,
            "epsilon": self.epsilon,
        }
        if self.weight_decay is not None:
            options["weight_decay"] = self.weight_decay
        if self.amsgrad:
            options["amsgrad"] = True  # Keras and torch both take the max of the raw v
        return ("adamw" if self.weight_decay is not None else "adam"), options


class AdamW(Adam):
    """Keras 3 ``AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
    epsilon=1e-7, amsgrad=False)``.

    Engine: ``"adamw"`` (``torch.optim.AdamW``: ``w -= lr * weight_decay * w`` before the Adam
    step, as Keras does); epsilon as for :class:`Adam`.

    Example:
        >>> AdamW().method()  # doctest: +NORMALIZE_WHITESPACE
        ('adamw', {'learning_rate': 0.001, 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-07,
                   'weight_decay': 0.004})
    """

    _DEFAULT_NAME = "adamw"

    def __init__(
        self,
        learning_rate: object = 0.001,
        weight_decay: object = 0.004,
        beta_1: object = 0.9,
        beta_2: object = 0.999,
        epsilon: object = 1e-7,
        amsgrad: object = False,
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            weight_decay = 0.0  # Keras 3 AdamW requires one; None reads as "no decay"
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, **kwargs)


class RMSprop(Optimizer):
    """Keras 3 ``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
    centered=False)``.

    Engine: ``"rmsprop"`` (``torch.optim.RMSprop``, ``beta = rho``, ``centered`` as given).
    Keras divides by ``sqrt(v + epsilon)``, torch by ``sqrt(v) + epsilon``; the engine gets
    ``sqrt(epsilon)``, which gives Keras' denominator at ``v = 0`` and for ``v >> epsilon`` and
    stays within a factor sqrt(2) of it in between. Momentum as for :class:`SGD`.

    Example:
        >>> RMSprop(epsilon=1e-6).method()
        ('rmsprop', {'learning_rate': 0.001, 'beta': 0.9, 'momentum': 0.0, 'epsilon': 0.001})
    """

    _ARGS = ("rho", "momentum", "epsilon", "centered")
    _DEFAULT_NAME = "rmsprop"

    def __init__(
        self,
        learning_rate: object = 0.001,
        rho: object = 0.9,
        momentum: object = 0.0,
        epsilon: object = 1e-7,
        centered: object = False,
        weight_decay: object = None,
        **kwargs: Any,
    ) -> None:
        self.rho = number_arg("RMSprop(rho)", rho, 0.0, 1.0)
        self.momentum = number_arg("RMSprop(momentum)", momentum, 0.0, 1.0)
        self.epsilon = number_arg("RMSprop(epsilon)", epsilon, 0.0, low_in=False)
        self.centered = switch_arg("RMSprop(centered)", centered)
        super().__init__(learning_rate, weight_decay, **kwargs)

    def _engine(self) -> tuple[str, dict[str, Any]]:
        self._refuse_weight_decay()
        options: dict[str, Any] = {
            "beta": self.rho,
            "momentum": self.momentum,
            "epsilon": math.sqrt(self.epsilon),
        }
        if self.centered:
            options["centered"] = True
        return "rmsprop", options


class Adagrad(Optimizer):
    """Keras 3 ``Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)``.

    Engine: ``"adagrad"`` (``torch.optim.Adagrad``), exactly: Keras divides by
    ``sqrt(accumulator + epsilon)``, so the engine starts its accumulator at
    ``initial_accumulator_value + epsilon`` and adds an epsilon of 0.

    Example:
        >>> Adagrad(initial_accumulator_value=0.5, epsilon=0.25).method()
        ('adagrad', {'learning_rate': 0.001, 'initial_accumulator_value': 0.75, 'epsilon': 0.0})
    """

    _ARGS = ("initial_accumulator_value", "epsilon")
    _DEFAULT_NAME = "adagrad"

    def __init__(
        self,
        learning_rate: object = 0.001,
        initial_accumulator_value: object = 0.1,
        epsilon: object = 1e-7,
        weight_decay: object = None,
        **kwargs: Any,
    ) -> None:
        self.initial_accumulator_value = number_arg(
            "Adagrad(initial_accumulator_value)", initial_accumulator_value, 0.0
        )
        self.epsilon = number_arg("Adagrad(epsilon)", epsilon, 0.0, low_in=False)
        super().__init__(learning_rate, weight_decay, **kwargs)

    def _engine(self) -> tuple[str, dict[str, Any]]:
        self._refuse_weight_decay()
        start = self.initial_accumulator_value + self.epsilon
        return "adagrad", {"initial_accumulator_value": start, "epsilon": 0.0}


class Adadelta(Optimizer):
    """Keras 3 ``Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)``.

    Engine: ``"adadelta"`` (``torch.optim.Adadelta``), exactly: both put epsilon inside both
    square roots.

    Example:
        >>> Adadelta().method()
        ('adadelta', {'learning_rate': 0.001, 'rho': 0.95, 'epsilon': 1e-07})
    """

    _ARGS = ("rho", "epsilon")
    _DEFAULT_NAME = "adadelta"

    def __init__(
        self,
        learning_rate: object = 0.001,
        rho: object = 0.95,
        epsilon: object = 1e-7,
        weight_decay: object = None,
        **kwargs: Any,
    ) -> None:
        self.rho = number_arg("Adadelta(rho)", rho, 0.0, 1.0)
        self.epsilon = number_arg("Adadelta(epsilon)", epsilon, 0.0, low_in=False)
        super().__init__(learning_rate, weight_decay, **kwargs)

    def _engine(self) -> tuple[str, dict[str, Any]]:
        self._refuse_weight_decay()
        return "adadelta", {"rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Keras 3 ``Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``.

    Engine: ``"adamax"`` (``torch.optim.Adamax``). Keras divides by ``max(beta_2 * u, |g|) +
    epsilon``, torch by ``max(beta_2 * u, |g| + epsilon)``: the two differ by at most
    ``epsilon`` (and not at all while ``|g|`` sets the max).

    Example:
        >>> Adamax(beta_1=0.8).method()
        ('adamax', {'learning_rate': 0.001, 'beta1': 0.8, 'beta2': 0.999, 'epsilon': 1e-07})
    """

    _ARGS = ("beta_1", "beta_2", "epsilon")
    _DEFAULT_NAME = "adamax"

    def __init__(
        self,
        learning_rate: object = 0.001,
        beta_1: object = 0.9,
        beta_2: object = 0.999,
        epsilon: object = 1e-7,
        weight_decay: object = None,
        **kwargs: Any,
    ) -> None:
        self.beta_1 = number_arg("Adamax(beta_1)", beta_1, 0.0, 1.0)
        self.beta_2 = number_arg("Adamax(beta_2)", beta_2, 0.0, 1.0)
        self.epsilon = number_arg("Adamax(epsilon)", epsilon, 0.0, low_in=False)
        super().__init__(learning_rate, weight_decay, **kwargs)

    def _engine(self) -> tuple[str, dict[str, Any]]:
        self._refuse_weight_decay()
        return "adamax", {"beta1": self.beta_1, "beta2": self.beta_2, "epsilon": self.epsilon}


_CLASSES: dict[str, type[Optimizer]] = {
    c.__name__.lower(): c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax)
}


def get(identifier: object) -> Optimizer:
    """Keras' ``keras.optimizers.get``: an optimizer from a name, a config or an object.

    Args:
        identifier: an :class:`Optimizer` (returned as is); a name, case-insensitive
            (``"sgd"``, ``"Adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, ``"adadelta"``,
            ``"adamax"``), giving that optimizer with Keras' defaults; or Keras' serialised form
            ``{"class_name": "Adam", "config": {...}}``.

    Returns:
        An :class:`Optimizer`.

    Raises:
        NetTrainError: an unknown name (with a suggestion) or anything else.

    Example:
        >>> get("Adam")
        Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
        >>> get("adma")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nettrain.errors.NetTrainError: optimizer: unknown optimizer 'adma' (did you mean 'adam'...
    """
    if isinstance(identifier, Optimizer):
        return identifier
    config: Mapping[str, Any] = {}
    if isinstance(identifier, Mapping) and isinstance(identifier.get("class_name"), str):
        config = identifier.get("config") or {}
        identifier = identifier["class_name"]
    if isinstance(identifier, str):
        key = identifier.strip().lower()
        if key not in _CLASSES:
            raise NetTrainError(
                "optimizer",
                f"unknown optimizer {identifier!r} ({suggest_name(key, list(_CLASSES))})",
                expected="one of " + ", ".join(map(repr, _CLASSES)),
                received=repr(identifier),
            )
        return _CLASSES[key].from_config(config)
    raise NetTrainError(
        "optimizer",
        "cannot read this optimizer",
        expected="a name such as 'adam' or an object from nettrain.keras.optimizers",
        received=describe(identifier),
        hint="torch.optim optimizers are not taken here: pass the name and its arguments",
    )


# --- TF.js's tf.train factories --------------------------------------------------------------

_CAMEL = {
    "learningRate": "learning_rate",
    "initialAccumulatorValue": "initial_accumulator_value",
    "useNesterov": "use_nesterov",
}


def _tfjs(factory: str, given: dict[str, Any], camel: dict[str, Any]) -> dict[str, Any]:
    """Merge TF.js's camelCase keywords into ``given``; check the learning rate is there."""
    for key, value in camel.items():
        if _CAMEL.get(key) not in given:
            raise NetTrainError(
                f"tf.train.{factory}",
                f"unknown argument {key!r} "
                f"({did_you_mean(key, [*given, *(c for c, s in _CAMEL.items() if s in given)])})",
                received=repr(key),
            )
        given[_CAMEL[key]] = value
    if given["learning_rate"] is None:
        raise NetTrainError(
            f"tf.train.{factory}",
            "needs a learning rate",
            expected="learning_rate (learningRate), a number > 0",
        )
    if given.get("epsilon", 0.0) is None:
        given["epsilon"] = _TFJS_EPSILON
    return given


def sgd(learning_rate: float | None = None, **camel_case: Any) -> SGD:
    """TF.js ``tf.train.sgd(learningRate)``: plain gradient descent (an :class:`SGD`).

    >>> sgd(learningRate=0.1)
    SGD(learning_rate=0.1, momentum=0.0, nesterov=False)
    """
    return SGD(**_tfjs("sgd", {"learning_rate": learning_rate}, camel_case))


def momentum(
    learning_rate: float | None = None,
    momentum: float = 0.0,
    use_nesterov: bool = False,
    **camel_case: Any,
) -> SGD:
    """TF.js ``tf.train.momentum(learningRate, momentum, useNesterov=false)``: an :class:`SGD`.

    TF.js accumulates the gradient and multiplies by the rate, exactly as torch does.

    >>> momentum(0.1, 0.9, useNesterov=True).method()
    ('sgd', {'learning_rate': 0.1, 'momentum': 0.9, 'nesterov': True})
    """
    args = _tfjs(
        "momentum",
        {"learning_rate": learning_rate, "momentum": momentum, "use_nesterov": use_nesterov},
        camel_case,
    )
    return SGD(args["learning_rate"], args["momentum"], nesterov=args["use_nesterov"])


def rmsprop(
    learning_rate: float | None = None,
    decay: float = 0.9,
    momentum: float = 0.0,
    epsilon: float | None = None,
    centered: bool = False,
    **camel_case: Any,
) -> RMSprop:
    """TF.js ``tf.train.rmsprop(learningRate, decay=0.9, momentum=0, epsilon, centered)``.

    TF.js's formula is Keras' (``decay`` is Keras' ``rho``); epsilon defaults to 1e-7.

    >>> rmsprop(0.01, decay=0.8).rho
    0.8
    """
    args = _tfjs(
        "rmsprop",
        {
            "learning_rate": learning_rate,
            "decay": decay,
            "momentum": momentum,
            "epsilon": epsilon,
            "centered": centered,
        },
        camel_case,
    )
    return RMSprop(
        args["learning_rate"], args["decay"], args["momentum"], args["epsilon"], args["centered"]
    )


def adam(
    learning_rate: float | None = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float | None = None,
    **camel_case: Any,
) -> Adam:
    """TF.js ``tf.train.adam(learningRate=0.001, beta1=0.9, beta2=0.999, epsilon)``.

    TF.js's Adam is torch's exactly (epsilon after the bias corrections); epsilon defaults to
    1e-7.

    >>> adam(learningRate=0.01).method()[1]["learning_rate"]
    0.01
    """
    args = _tfjs(
        "adam",
        {"learning_rate": learning_rate, "beta1": beta1, "beta2": beta2, "epsilon": epsilon},
        camel_case,
    )
    return Adam(args["learning_rate"], args["beta1"], args["beta2"], args["epsilon"])


def adamax(
    learning_rate: float | None = 0.002,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float | None = None,
    decay: float = 0.0,
    **camel_case: Any,
) -> Adamax:
    """TF.js ``tf.train.adamax(learningRate=0.002, beta1, beta2, epsilon, decay=0)``.

    ``decay`` (a learning rate falling as ``1 / (1 + decay * t)``) must be 0: use a schedule.

    >>> adamax().learning_rate
    0.002
    """
    args = _tfjs(
        "adamax",
        {
            "learning_rate": learning_rate,
            "beta1": beta1,
            "beta2": beta2,
            "epsilon": epsilon,
            "decay": decay,
        },
        camel_case,
    )
    if args["decay"]:
        raise NetTrainError(
            "tf.train.adamax(decay)",
            "a decaying learning rate is not taken here",
            expected="0",
            received=repr(args["decay"]),
            hint="set opt.learning_rate between steps, or use a schedule",
        )
    return Adamax(args["learning_rate"], args["beta1"], args["beta2"], args["epsilon"])


def adagrad(
    learning_rate: float | None = None, initial_accumulator_value: float = 0.1, **camel_case: Any
) -> Adagrad:
    """TF.js ``tf.train.adagrad(learningRate, initialAccumulatorValue=0.1)`` (epsilon 1e-7).

    >>> adagrad(0.5, initialAccumulatorValue=1.0).initial_accumulator_value
    1.0
    """
    args = _tfjs(
        "adagrad",
        {"learning_rate": learning_rate, "initial_accumulator_value": initial_accumulator_value},
        camel_case,
    )
    return Adagrad(args["learning_rate"], args["initial_accumulator_value"], _TFJS_EPSILON)


def adadelta(
    learning_rate: float | None = 0.001,
    rho: float = 0.95,
    epsilon: float | None = None,
    **camel_case: Any,
) -> Adadelta:
    """TF.js ``tf.train.adadelta(learningRate=0.001, rho=0.95, epsilon)`` (epsilon 1e-7).

    >>> adadelta().rho
    0.95
    """
    args = _tfjs(
        "adadelta", {"learning_rate": learning_rate, "rho": rho, "epsilon": epsilon}, camel_case
    )
    return Adadelta(args["learning_rate"], args["rho"], args["epsilon"])
