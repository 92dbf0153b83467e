"""Keras 3 / TensorFlow.js losses by name or object, computing exactly Keras' formulas.

``resolve_loss`` reads what ``model.compile(loss=...)`` takes: a Keras name
("sparse_categorical_crossentropy", "mse", ...), a TF.js camelCase name
("categoricalCrossentropy"), a loss object (``SparseCategoricalCrossentropy(from_logits=True)``)
or a callable ``(y_true, y_pred) -> loss``. A :class:`KerasLoss` is called in Keras' order,
``loss(y_true, y_pred, sample_weight=None)``, and can be given as is to ``nettrain.train``'s
``loss_function``: it builds its own engine term (:meth:`KerasLoss.nettrain_loss_term`), so the
engine knows its per-example form, its target dtype and whether the outputs are probabilities
or logits (which the measurements read).

Keras' conventions hold: a loss named by string takes *probabilities* for the cross-entropies
(clipped to [1e-7, 1 - 1e-7]); ``from_logits=True`` objects take logits; categorical = one-hot
(or soft) targets, sparse = class indices. The reduction is Keras' default
"sum_over_batch_size": ``sum(w * l) / l.numel()`` over the per-position losses ``l`` (the last
axis already reduced) and sample weights ``w`` (1 when not given), as
``keras/src/losses/loss.py`` (``reduce_weighted_values``) does.

Example:
    >>> import torch
    >>> loss = resolve_loss("sparseCategoricalCrossentropy")
    >>> p = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> round(float(loss(torch.tensor([0, 1]), p)), 4)  # -(log 0.9 + log 0.8) / 2
    0.1643
    >>> loss.per_example(torch.tensor([0, 1]), p).shape
    torch.Size([2])
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from ..errors import NetTrainError, NetTrainWarning, describe, did_you_mean
from ..losses import LossTerm
from . import formulas as kf

__all__ = [
    "LOSS_NAMES",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "CustomLoss",
    "Hinge",
    "Huber",
    "KLDivergence",
    "KerasLoss",
    "LogCosh",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "resolve_loss",
    "snake_case",
]

_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight")


def snake_case(name: str) -> str:
    """A Keras class name or TF.js camelCase name in Keras' snake_case.

    >>> snake_case("meanSquaredError"), snake_case("KLDivergence"), snake_case("MSE")
    ('mean_squared_error', 'kl_divergence', 'mse')
    """
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[\s\-]+", "_", text).lower()


def _reduce(values: Tensor, sample_weight: Tensor | None, reduction: str) -> Tensor:
    """Keras' reduce_weighted_values: weights broadcast over the positions of each example."""
    if sample_weight is not None:
        w = torch.as_tensor(sample_weight, dtype=values.dtype, device=values.device)
        if w.ndim == values.ndim + 1 and w.shape[-1] == 1:
            w = w.squeeze(-1)
        values = values * w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
    if values.ndim == 0:
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return total / torch.as_tensor(sample_weight, dtype=values.dtype).sum()
    return total / values.numel()


@dataclass(frozen=True)
class KerasLoss:
    """A Keras loss: ``loss(y_true, y_pred, sample_weight=None) -> scalar`` (Keras' order).

    Attributes:
        name: Keras' name, as in its History and config ("categorical_crossentropy", ...).
        reduction: "sum_over_batch_size" (default, = "mean"), "sum" or
            "mean_with_sample_weight" (Keras 3's reductions; "none" is refused: training needs
            a scalar).

    Subclasses set ``task`` (what the measurements see: "classification", "binary",
    "regression", or None when unknown) and ``probabilities`` (the loss takes probabilities,
    not logits). Use :meth:`per_example` for one loss per example, :meth:`check_outputs` to
    warn about logits fed to a probability loss.
    """

    name: str = field(default="", kw_only=True)
    reduction: str = field(default="sum_over_batch_size", kw_only=True)
    task: ClassVar[str | None] = None
    sparse: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.reduction not in _REDUCTIONS:
            raise NetTrainError(
                "reduction",
                f"unknown reduction {self.reduction!r} for {type(self).__name__}",
                expected=", ".join(map(repr, _REDUCTIONS)),
                received=repr(self.reduction),
                hint=did_you_mean(str(self.reduction), _REDUCTIONS),
            )

    @property
    def probabilities(self) -> bool:
        """Whether ``y_pred`` must be probabilities (False: logits or values)."""
        return False

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Keras' ``Loss.call``: the loss of every position, the last axis reduced."""
        raise NotImplementedError

    def __call__(
        self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None
    ) -> Tensor:
        """The reduced loss: ``sum(w * l) / l.numel()`` for "sum_over_batch_size"."""
        return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction)

    def per_example(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """One loss per example, ``[batch]``: the positions of each example reduced like the
        batch, so that ``sum(w * per_example) / batch`` equals the weighted loss for
        per-example weights ``w`` (Keras' ``sample_weight`` and ``class_weight``)."""
        values = self.call(y_true, y_pred)
        if values.ndim == 0:
            raise NetTrainError(
                "loss",
                f"the loss {self.name!r} returns one value for the whole batch",
                expected="a loss with one value per example",
                hint="return the loss per example (do not reduce over the batch)",
            )
        rows = values.reshape(values.shape[0], -1)
        return rows.sum(1) if self.reduction == "sum" else rows.mean(1)

    def check_outputs(self, y_pred: Tensor) -> None:
        """Warn (:class:`~nettrain.errors.NetTrainWarning`) when a loss that takes
        probabilities is fed outputs that are plainly logits: negative values, values above 1,
        or (categorical) rows that do not sum to 1. Nothing for other losses.

        >>> import torch, warnings
        >>> with warnings.catch_warnings(record=True) as seen:
        ...     warnings.simplefilter("always")
        ...     CategoricalCrossentropy().check_outputs(torch.tensor([[2.0, -1.0]]))
        >>> "from_logits=True" in str(seen[0].message)
        True
        """
        if not self.probabilities or not y_pred.is_floating_point():
            return
        with torch.no_grad():
            p = y_pred.detach()
            problem = None
            if bool((p < 0).any()):
                problem = f"negative values (min {float(p.min()):.3g})"
            elif bool((p > 1).any()):
                problem = f"values above 1 (max {float(p.max()):.3g})"
            elif self.task != "binary" and p.ndim >= 1 and p.shape[-1] > 1:
                sums = p.sum(-1)
                if not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
                    problem = "rows that do not sum to 1"
        if problem is not None:
            activation = "a sigmoid" if self.task == "binary" else "a softmax"
            warnings.warn(
                f"the loss {self.name!r} takes probabilities, and the net's outputs have "
                f"{problem}: they look like logits. Use {type(self).__name__}"
                f"(from_logits=True), or end the net with {activation}",
                NetTrainWarning,
                stacklevel=2,
            )

    def with_task(self, task: str | None) -> KerasLoss:
        """A :class:`CustomLoss` told what its outputs are; other losses know it already."""
        return self

    def _target_dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        return torch.int64 if self.sparse else float_dtype

    def nettrain_loss_term(
        self,
        port: str,
        target: str | None,
        output: Tensor,
        sample_target: Tensor | None,
        float_dtype: torch.dtype,
    ) -> LossTerm:
        """The engine's term for this loss (``train`` calls it for ``loss_function=self``).

        Raises:
            NetTrainError: no target for the output, targets that do not fit it, or the
                "none" reduction.
        """
        if target is None or sample_target is None:
            raise NetTrainError(
                "loss_function",
                f"the loss {self.name!r} needs a target for output port {port!r}",
                expected=f"a target column for {port!r}",
                received="no target column",
            )
        self._check_shapes(output, sample_target)
        squeeze = self.sparse and sample_target.shape == (*output.shape[:-1], 1)

        def fn(out: Tensor, t: Tensor) -> Tensor:
            return self(t, out)

        if self.sparse and not self.probabilities and self.reduction == "sum_over_batch_size":

            def fn(out: Tensor, t: Tensor) -> Tensor:
                # Keras' mean of -log_softmax(out)[t] is F.cross_entropy's value, in one fused
                # kernel instead of six autograd steps (about 56 µs a step on a 64x10 batch)
                return F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1).long())

        def each(out: Tensor, t: Tensor) -> Tensor:
            return self.per_example(t, out)

        scores = "probabilities" if self.probabilities else "logits"
        classes = output.shape[-1] if self.sparse else None
        dtype = self._target_dtype(float_dtype)
        return LossTerm(
            port, target, self.name, 1.0, fn, each, None, dtype, classes, scores, squeeze,
            self.task,
        )  # fmt: skip

    def _check_shapes(self, output: Tensor, t: Tensor) -> None:
        if self.sparse:
            fits = t.shape == output.shape[:-1] or t.shape == (*output.shape[:-1], 1)
            expected = f"class indices of shape {tuple(output.shape[1:-1])} per example"
            hint = "give class indices, or use categorical_crossentropy for one-hot targets"
        else:
            fits = t.numel() == output.numel()
            expected = f"targets of the output's shape {tuple(output.shape[1:])} per example"
            hint = (
                "use sparse_categorical_crossentropy for class-index targets"
                if self.task == "classification"
                else "check the targets or the net's last layer"
            )
        if not fits:
            raise NetTrainError(
                "loss_function",
                f"the loss {self.name!r} cannot compare outputs of shape "
                f"{tuple(output.shape[1:])} per example with these targets",
                expected=expected,
                received=f"targets of shape {tuple(t.shape[1:])} per example",
                hint=hint,
            )


@dataclass(frozen=True)
class _ProbabilityLoss(KerasLoss):
    from_logits: bool = False

    @property
    def probabilities(self) -> bool:
        return not self.from_logits


@dataclass(frozen=True)
class CategoricalCrossentropy(_ProbabilityLoss):
    """Keras' ``CategoricalCrossentropy(from_logits=False, label_smoothing=0.0)``: one-hot or
    soft targets ``t``, ``-sum(t log p)`` with ``p = y_pred / sum(y_pred)`` clipped to
    [1e-7, 1 - 1e-7] (or ``log_softmax(y_pred)`` from logits); smoothing
    ``t (1 - s) + s / C``.

    >>> import torch
    >>> loss = CategoricalCrossentropy(from_logits=True)
    >>> float(loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 0.0]])))  # log 2
    0.6931471824645996
    """

    name: str = field(default="categorical_crossentropy", kw_only=True)
    label_smoothing: float = 0.0
    task: ClassVar[str | None] = "classification"

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return kf.categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)


@dataclass(frozen=True)
class SparseCategoricalCrossentropy(_ProbabilityLoss):
    """Keras' ``SparseCategoricalCrossentropy(from_logits=False)``: class-index targets
    ``[batch]`` or ``[batch, 1]``, ``-log p[target]`` (p normalised and clipped as in
    :class:`CategoricalCrossentropy`); with ``from_logits=True`` it equals
    ``F.cross_entropy``.

    >>> import torch
    >>> float(SparseCategoricalCrossentropy()(torch.tensor([1]), torch.tensor([[0.5, 0.5]])))
    0.6931471824645996
    """

    name: str = field(default="sparse_categorical_crossentropy", kw_only=True)
    task: ClassVar[str | None] = "classification"
    sparse: ClassVar[bool] = True

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return kf.sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)


@dataclass(frozen=True)
class BinaryCrossentropy(_ProbabilityLoss):
    """Keras' ``BinaryCrossentropy(from_logits=False, label_smoothing=0.0)``: 0/1 (or soft)
    targets, ``mean(-(t log p + (1 - t) log(1 - p)))`` over the last axis, p clipped to
    [1e-7, 1 - 1e-7]; smoothing ``t (1 - s) + s / 2``.

    >>> import torch
    >>> float(BinaryCrossentropy()(torch.tensor([[1.0]]), torch.tensor([[0.5]])))
    0.6931471824645996
    """

    name: str = field(default="binary_crossentropy", kw_only=True)
    label_smoothing: float = 0.0
    task: ClassVar[str | None] = "binary"

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return kf.binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)


@dataclass(frozen=True)
class KLDivergence(KerasLoss):
    """Keras' ``KLDivergence()``: ``sum(t log(t / p))``, t and p clipped to [1e-7, 1]."""

    name: str = field(default="kl_divergence", kw_only=True)
    task: ClassVar[str | None] = "classification"

    @property
    def probabilities(self) -> bool:
        return True

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return kf.kl_divergence(y_true, y_pred)


def _simple(
    class_name: str,
    keras_name: str,
    formula: Callable[[Tensor, Tensor], Tensor],
    task: str,
    doc: str,
) -> type[KerasLoss]:
    """A loss class without arguments of its own (Keras' ``name`` and ``reduction`` only)."""

    def call(self: KerasLoss, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return formula(y_true, y_pred)

    namespace = {
        "__annotations__": {"name": "str"},
        "name": field(default=keras_name, kw_only=True),
        "task": task,
        "call": call,
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": class_name,
    }
    return dataclass(frozen=True)(type(class_name, (KerasLoss,), namespace))


MeanSquaredError = _simple(
    "MeanSquaredError", "mean_squared_error", kf.mse, "regression",
    "Keras' ``MeanSquaredError()``: ``mean((y_pred - y_true)^2)`` over the last axis.",
)  # fmt: skip
MeanAbsoluteError = _simple(
    "MeanAbsoluteError", "mean_absolute_error", kf.mae, "regression",
    "Keras' ``MeanAbsoluteError()``: ``mean(|y_pred - y_true|)`` over the last axis.",
)  # fmt: skip
MeanAbsolutePercentageError = _simple(
    "MeanAbsolutePercentageError", "mean_absolute_percentage_error", kf.mape, "regression",
    "Keras' ``MeanAbsolutePercentageError()``: "
    "``100 mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|)``.",
)  # fmt: skip
MeanSquaredLogarithmicError = _simple(
    "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", kf.msle, "regression",
    "Keras' ``MeanSquaredLogarithmicError()``: "
    "``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2)``.",
)  # fmt: skip
LogCosh = _simple(
    "LogCosh", "log_cosh", kf.log_cosh, "regression",
    "Keras' ``LogCosh()``: ``mean(log(cosh(y_pred - y_true)))``.",
)  # fmt: skip
Poisson = _simple(
    "Poisson", "poisson", kf.poisson, "regression",
    "Keras' ``Poisson()``: ``mean(y_pred - y_true log(y_pred + 1e-7))``.",
)  # fmt: skip
Hinge = _simple(
    "Hinge", "hinge", kf.hinge, "binary",
    "Keras' ``Hinge()``: ``mean(max(1 - t y_pred, 0))``, 0/1 targets read as -1/1.",
)  # fmt: skip
SquaredHinge = _simple(
    "SquaredHinge", "squared_hinge", kf.squared_hinge, "binary",
    "Keras' ``SquaredHinge()``: ``mean(max(1 - t y_pred, 0)^2)``, 0/1 targets read as -1/1.",
)  # fmt: skip
CategoricalHinge = _simple(
    "CategoricalHinge", "categorical_hinge", kf.categorical_hinge, "classification",
    "Keras' ``CategoricalHinge()``: ``max(max((1 - t) y_pred) - sum(t y_pred) + 1, 0)``.",
)  # fmt: skip


@dataclass(frozen=True)
class Huber(KerasLoss):
    """Keras' ``Huber(delta=1.0)``: ``0.5 x^2`` for ``|x| <= delta``, else
    ``delta |x| - 0.5 delta^2``, averaged over the last axis (``x = y_pred - y_true``).

    >>> import torch
    >>> float(Huber(delta=1.0)(torch.tensor([[0.0]]), torch.tensor([[3.0]])))
    2.5
    """

    name: str = field(default="huber_loss", kw_only=True)
    delta: float = 1.0
    task: ClassVar[str | None] = "regression"

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return kf.huber(y_true, y_pred, self.delta)


@dataclass(frozen=True)
class CosineSimilarity(KerasLoss):
    """Keras' ``CosineSimilarity(axis=-1)`` loss: ``-sum(normalize(t) * normalize(y_pred))``
    (-1 when the directions agree)."""

    name: str = field(default="cosine_similarity", kw_only=True)
    task: ClassVar[str | None] = "regression"

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return -kf.cosine_similarity(y_true, y_pred)


@dataclass(frozen=True)
class CustomLoss(KerasLoss):
    """A callable ``fn(y_true, y_pred)`` (Keras' order) as a loss.

    ``fn`` may return one loss per example (``[batch]`` or ``[batch, ...]``: reduced as Keras
    does, ``sum(w * l) / l.numel()``) or a scalar (taken as the batch's loss, as Keras does;
    then :meth:`per_example` runs ``fn`` once per example). ``custom_task`` says what the
    outputs are for the measurements (None: only the loss is measured).
    """

    fn: Callable[[Tensor, Tensor], Tensor] | None = field(default=None, compare=False)
    custom_task: str | None = None

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        assert self.fn is not None
        value = self.fn(y_true, y_pred)
        if not isinstance(value, Tensor):
            raise NetTrainError(
                "loss",
                f"the loss function {self.name!r} did not return a tensor",
                expected="a tensor computed with torch operations from y_pred",
                received=describe(value),
            )
        return value

    def per_example(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        values = self.call(y_true, y_pred)
        if values.ndim > 0:
            rows = values.reshape(values.shape[0], -1)
            return rows.sum(1) if self.reduction == "sum" else rows.mean(1)
        # one value per batch: one call per example gives the per-example losses
        each = [self.call(y_true[i : i + 1], y_pred[i : i + 1]) for i in range(len(y_pred))]
        return torch.stack([r.reshape(-1).mean() for r in each])

    def with_task(self, task: str | None) -> KerasLoss:
        return replace(self, custom_task=task)

    def nettrain_loss_term(
        self,
        port: str,
        target: str | None,
        output: Tensor,
        sample_target: Tensor | None,
        float_dtype: torch.dtype,
    ) -> LossTerm:
        term = super().nettrain_loss_term(port, target, output, sample_target, float_dtype)
        term.task, term.target_dtype = self.custom_task, None  # targets as the user gave them
        return term

    def _check_shapes(self, output: Tensor, t: Tensor) -> None:
        pass  # the user's function decides what fits


_CLASSES: dict[str, Callable[[], KerasLoss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "huber": Huber,
    "log_cosh": LogCosh,
    "kl_divergence": KLDivergence,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "poisson": Poisson,
    "cosine_similarity": CosineSimilarity,
}
# Keras 3's aliases (keras.losses.get) and TF.js's names, in snake_case.
_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "bce": "binary_crossentropy",
    "huber_loss": "huber",
    "logcosh": "log_cosh",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine_proximity": "cosine_similarity",  # TF.js cosineProximity
}
LOSS_NAMES: tuple[str, ...] = tuple(sorted(_CLASSES))


def resolve_loss(identifier: object) -> KerasLoss:
    """The :class:`KerasLoss` that ``compile(loss=identifier)`` means.

    Args:
        identifier: a Keras name ("categorical_crossentropy", "mse", "huber", ...), a TF.js
            camelCase name ("meanSquaredError") or Keras class name ("MeanSquaredError"); a
            loss object from this module; or a callable ``(y_true, y_pred) -> loss`` (one
            value per example, reduced by the batch mean; or a scalar, taken as is).

    Returns:
        The loss. String names use Keras' defaults (probabilities for the cross-entropies).

    Raises:
        NetTrainError: an unknown name (with close matches) or something that is not a loss.

    >>> resolve_loss("categoricalCrossentropy")  # doctest: +NORMALIZE_WHITESPACE
    CategoricalCrossentropy(name='categorical_crossentropy', reduction='sum_over_batch_size',
                            from_logits=False, label_smoothing=0.0)
    >>> resolve_loss("mse").name
    'mean_squared_error'
    """
    if isinstance(identifier, KerasLoss):
        return identifier
    if isinstance(identifier, str):
        key = snake_case(identifier)
        key = _ALIASES.get(key, key)
        if key in _CLASSES:
            return _CLASSES[key]()
        raise NetTrainError(
            "loss",
            f"unknown loss {identifier!r}",
            expected="a Keras loss name (" + ", ".join(LOSS_NAMES) + "), a loss object or a "
            "callable (y_true, y_pred) -> loss",
            received=repr(identifier),
            hint=did_you_mean(key, [*_CLASSES, *_ALIASES]),
        )
    if callable(identifier):
        name = getattr(identifier, "__name__", type(identifier).__name__)
        return CustomLoss(name=name, fn=identifier)
    raise NetTrainError(
        "loss",
        "cannot use this as a loss",
        expected="a Keras loss name, a loss object or a callable (y_true, y_pred) -> loss",
        received=describe(identifier),
    )
