"""Keras 3 / TensorFlow.js metrics by name or object, mapped onto the engine's measurements.

``resolve_metrics(metrics, loss)`` reads ``compile(metrics=...)``: names ("accuracy",
"precision", "auc", "mae", TF.js's "binaryAccuracy", ...), metric objects
(``TopKCategoricalAccuracy(k=5)``) or callables ``(y_true, y_pred) -> value``. Each
:class:`KerasMetric` has its Keras log ``key``, a pure reference :meth:`~KerasMetric.compute`
(what ``evaluate`` and the tests use) and :meth:`~KerasMetric.measurement`, the value to give
``train``'s ``training_progress_measurements``: one of the engine's exact measurements where one
is the same quantity ("accuracy", "precision", "area_under_roc_curve", "mean_square", ...), else
a custom measurement of Keras' per-example values, averaged exactly over the round.

"accuracy" is resolved once, here, from the loss (Keras guesses it later from the shapes): a
sparse cross-entropy gives sparse_categorical_accuracy, a categorical loss
categorical_accuracy, a binary loss binary_accuracy; the choice is in ``chosen_by``.

Example:
    >>> from nettrain.keras.losses import resolve_loss
    >>> [m] = resolve_metrics(["accuracy"], resolve_loss("sparse_categorical_crossentropy"))
    >>> type(m).__name__, m.key, m.measurement()
    ('SparseCategoricalAccuracy', 'accuracy', {'measurement': 'accuracy', 'key': 'accuracy'})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch
from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean
from ..measure.classification import roc_curve
from . import formulas as kf
from .losses import KerasLoss, snake_case

__all__ = [
    "AUC",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "CustomMetric",
    "KerasMetric",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "resolve_metrics",
]


def _weighted_mean(values: Tensor, sample_weight: Tensor | None) -> float:
    """Keras' Mean metric: sum(w v) / sum(w) over examples (w = 1 when not given)."""
    v = values.reshape(values.shape[0], -1).mean(1).double() if values.ndim else values.double()
    if sample_weight is None:
        return float(v.mean())
    w = torch.as_tensor(sample_weight).reshape(-1).double()
    return float((v * w).sum() / w.sum())


@dataclass(frozen=True)
class KerasMetric:
    """A Keras metric: its log key, its reference formula, and the engine's measurement.

    Attributes:
        name: the History key ("accuracy", "precision", ...); ``key`` is the same.
        task: what the run's outputs are ("classification", "binary", "regression"), set by
            :func:`resolve_metrics` from the loss.
        from_logits: the loss takes logits (set from the loss): thresholds apply to
            ``sigmoid(y_pred)``.
        chosen_by: for "accuracy", why this accuracy was chosen.
    """

    name: str = field(default="", kw_only=True)
    task: str | None = field(default=None, kw_only=True)
    from_logits: bool = field(default=False, kw_only=True)
    chosen_by: str | None = field(default=None, kw_only=True)
    direction: ClassVar[str] = "decreasing"
    needs_classes: ClassVar[bool] = False
    engine: ClassVar[dict[str, str] | None] = None  # task -> the engine measurement it equals

    @property
    def key(self) -> str:
        """The metric's key in History and evaluate's dict (Keras' ``metric.name``)."""
        return self.name

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Keras' per-example values (the last axis reduced) for mean metrics."""
        raise NotImplementedError

    def compute(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> float:
        """The metric over the given examples, as Keras computes it (weighted mean for mean
        metrics: ``sum(w v) / sum(w)``)."""
        with torch.no_grad():
            return _weighted_mean(self.values(y_true, y_pred), sample_weight)

    def measurement(self) -> object:
        """What to give ``train``'s ``training_progress_measurements`` for this metric."""
        name = (self.engine or {}).get(self.task or "")
        if name is not None:
            return {"measurement": name, "key": self.key}

        def each(prediction: Tensor, target: Tensor) -> Tensor:
            v = self.values(target, prediction)
            return v.reshape(v.shape[0], -1).mean(1) if v.ndim else v

        return {"measurement": each, "key": self.key, "direction": self.direction}


def _mean_metric(
    class_name: str,
    keras_name: str,
    formula: Callable[[Tensor, Tensor], Tensor],
    direction: str = "decreasing",
    engine: dict[str, str] | None = None,
) -> type[KerasMetric]:
    def values(self: KerasMetric, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return formula(y_true, y_pred)

    namespace = {
        "__annotations__": {"name": "str"},
        "name": field(default=keras_name, kw_only=True),
        "direction": direction,
        "engine": engine,
        "values": values,
        "__doc__": f"Keras' ``{class_name}`` metric: the mean of {formula.__doc__}",
        "__module__": __name__,
        "__qualname__": class_name,
    }
    return dataclass(frozen=True)(type(class_name, (KerasMetric,), namespace))


MeanSquaredError = _mean_metric(
    "MeanSquaredError", "mean_squared_error", kf.mse, engine={"regression": "mean_square"}
)
MeanAbsoluteError = _mean_metric(
    "MeanAbsoluteError", "mean_absolute_error", kf.mae, engine={"regression": "mean_deviation"}
)
MeanAbsolutePercentageError = _mean_metric(
    "MeanAbsolutePercentageError", "mean_absolute_percentage_error", kf.mape
)
MeanSquaredLogarithmicError = _mean_metric(
    "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", kf.msle
)
CosineSimilarity = _mean_metric(
    "CosineSimilarity", "cosine_similarity", kf.cosine_similarity, "increasing"
)
KLDivergence = _mean_metric("KLDivergence", "kl_divergence", kf.kl_divergence)
Poisson = _mean_metric("Poisson", "poisson", kf.poisson)
LogCoshError = _mean_metric("LogCoshError", "logcosh", kf.log_cosh)
Hinge = _mean_metric("Hinge", "hinge", kf.hinge)
SquaredHinge = _mean_metric("SquaredHinge", "squared_hinge", kf.squared_hinge)
CategoricalHinge = _mean_metric("CategoricalHinge", "categorical_hinge", kf.categorical_hinge)


@dataclass(frozen=True)
class _Crossentropy(KerasMetric):
    """Keras' cross-entropy metrics: the loss's per-example values (their own from_logits)."""

    logits: bool = False
    label_smoothing: float = 0.0

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if self.name_of == "sparse":
            return kf.sparse_categorical_crossentropy(y_true, y_pred, self.logits)
        if self.name_of == "binary":
            return kf.binary_crossentropy(y_true, y_pred, self.logits, self.label_smoothing)
        return kf.categorical_crossentropy(y_true, y_pred, self.logits, self.label_smoothing)

    name_of: ClassVar[str] = "categorical"


@dataclass(frozen=True)
class CategoricalCrossentropy(_Crossentropy):
    """Keras' ``CategoricalCrossentropy`` metric (see the loss of that name)."""

    name: str = field(default="categorical_crossentropy", kw_only=True)


@dataclass(frozen=True)
class SparseCategoricalCrossentropy(_Crossentropy):
    """Keras' ``SparseCategoricalCrossentropy`` metric (see the loss of that name)."""

    name: str = field(default="sparse_categorical_crossentropy", kw_only=True)
    name_of: ClassVar[str] = "sparse"


@dataclass(frozen=True)
class BinaryCrossentropy(_Crossentropy):
    """Keras' ``BinaryCrossentropy`` metric (see the loss of that name)."""

    name: str = field(default="binary_crossentropy", kw_only=True)
    name_of: ClassVar[str] = "binary"


@dataclass(frozen=True)
class BinaryAccuracy(KerasMetric):
    """Keras' ``BinaryAccuracy(threshold=0.5)``: mean(y_true == (y_pred > threshold)).

    >>> import torch
    >>> BinaryAccuracy().compute(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.7], [0.6]]))
    0.5
    """

    threshold: float = 0.5
    name: str = field(default="binary_accuracy", kw_only=True)
    direction: ClassVar[str] = "increasing"
    needs_classes: ClassVar[bool] = True

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        p = torch.sigmoid(y_pred) if self.from_logits else y_pred
        t = y_true.reshape(p.shape) if y_true.numel() == p.numel() else y_true
        return (t.to(p.dtype) == (p > self.threshold).to(p.dtype)).to(p.dtype).mean(-1)

    def measurement(self) -> object:
        if self.task == "binary" and self.threshold == 0.5:
            return {"measurement": "accuracy", "key": self.key}
        return super().measurement()


@dataclass(frozen=True)
class CategoricalAccuracy(KerasMetric):
    """Keras' ``CategoricalAccuracy``: argmax(y_true) == argmax(y_pred) (one-hot targets)."""

    name: str = field(default="categorical_accuracy", kw_only=True)
    direction: ClassVar[str] = "increasing"
    needs_classes: ClassVar[bool] = True
    engine: ClassVar[dict[str, str] | None] = {"classification": "accuracy"}

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return (y_true.argmax(-1) == y_pred.argmax(-1)).to(y_pred.dtype)


@dataclass(frozen=True)
class SparseCategoricalAccuracy(KerasMetric):
    """Keras' ``SparseCategoricalAccuracy``: y_true == argmax(y_pred) (class indices)."""

    name: str = field(default="sparse_categorical_accuracy", kw_only=True)
    direction: ClassVar[str] = "increasing"
    needs_classes: ClassVar[bool] = True
    engine: ClassVar[dict[str, str] | None] = {"classification": "accuracy"}

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        index = y_true.reshape(y_pred.shape[:-1]).long()
        return (index == y_pred.argmax(-1)).to(y_pred.dtype)


@dataclass(frozen=True)
class TopKCategoricalAccuracy(KerasMetric):
    """Keras' ``TopKCategoricalAccuracy(k=5)``: argmax(y_true) among the k top y_pred."""

    k: int = 5
    name: str = field(default="top_k_categorical_accuracy", kw_only=True)
    direction: ClassVar[str] = "increasing"
    needs_classes: ClassVar[bool] = True

    def _truth(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return y_true.argmax(-1)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        truth = self._truth(y_true, y_pred)
        top = y_pred.topk(min(self.k, y_pred.shape[-1]), -1).indices
        return (top == truth.unsqueeze(-1)).any(-1).to(y_pred.dtype)

    def measurement(self) -> object:
        if self.task == "classification":
            return {"measurement": "accuracy", "k": self.k, "key": self.key}
        return super().measurement()


@dataclass(frozen=True)
class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """Keras' ``SparseTopKCategoricalAccuracy(k=5)``: the class index among the k top."""

    name: str = field(default="sparse_top_k_categorical_accuracy", kw_only=True)

    def _truth(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return y_true.reshape(y_pred.shape[:-1]).long()


@dataclass(frozen=True)
class RootMeanSquaredError(KerasMetric):
    """Keras' ``RootMeanSquaredError``: sqrt of the (weighted) mean squared error."""

    name: str = field(default="root_mean_squared_error", kw_only=True)
    engine: ClassVar[dict[str, str] | None] = {"regression": "root_mean_square"}

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return kf.mse(y_true, y_pred)

    def compute(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> float:
        return super().compute(y_true, y_pred, sample_weight) ** 0.5

    def measurement(self) -> object:
        return {"measurement": "root_mean_square", "key": self.key}


def _binary_scores(metric: KerasMetric, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    """Every element as one binary decision (Keras' confusion metrics flatten): (p, truth)."""
    p = torch.sigmoid(y_pred) if metric.from_logits else y_pred
    if y_true.shape != p.shape and y_true.numel() != p.numel():  # class indices vs [n, C]
        y_true = torch.nn.functional.one_hot(y_true.reshape(-1).long(), p.shape[-1])
    return p.reshape(-1).double(), y_true.reshape(-1) > 0.5


def _weights(sample_weight: Tensor | None, y_pred: Tensor) -> Tensor:
    if sample_weight is None:
        return torch.ones(y_pred.numel(), dtype=torch.float64)
    w = torch.as_tensor(sample_weight).double().reshape(-1, *([1] * (y_pred.ndim - 1)))
    return w.expand(y_pred.shape).reshape(-1)


@dataclass(frozen=True)
class _Confusion(KerasMetric):
    thresholds: float | None = None
    top_k: int | None = None
    class_id: int | None = None
    direction: ClassVar[str] = "increasing"
    needs_classes: ClassVar[bool] = True
    engine: ClassVar[dict[str, str] | None] = {"binary": "precision"}

    def __post_init__(self) -> None:
        unsupported = {"thresholds": self.thresholds not in (None, 0.5)}
        unsupported.update(top_k=self.top_k is not None, class_id=self.class_id is not None)
        for argument, bad in unsupported.items():
            if bad:
                raise NetTrainError(
                    argument,
                    f"{type(self).__name__}({argument}=...) is not supported",
                    expected="the default: one threshold of 0.5" if argument == "thresholds"
                    else "None",
                    received=repr(getattr(self, argument)),
                    hint="leave it out, or write a callable metric (y_true, y_pred) -> value",
                )  # fmt: skip

    def compute(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> float:
        with torch.no_grad():
            p, truth = _binary_scores(self, y_true, y_pred)
            w = _weights(sample_weight, y_pred)
            predicted = p > 0.5
            tp = float((w * (predicted & truth)).sum())
            other = truth if isinstance(self, Recall) else predicted
            total = float((w * other).sum())
            return tp / total if total else 0.0


@dataclass(frozen=True)
class Precision(_Confusion):
    """Keras' ``Precision(thresholds=None)``: TP / (TP + FP) with y_pred > 0.5, every element a
    binary decision; 0 when nothing is predicted positive.

    >>> import torch
    >>> Precision().compute(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.9, 0.8, 0.2]))
    0.5
    """

    name: str = field(default="precision", kw_only=True)


@dataclass(frozen=True)
class Recall(_Confusion):
    """Keras' ``Recall(thresholds=None)``: TP / (TP + FN) with y_pred > 0.5."""

    name: str = field(default="recall", kw_only=True)
    engine: ClassVar[dict[str, str] | None] = {"binary": "recall"}


@dataclass(frozen=True)
class AUC(KerasMetric):
    """Keras' ``AUC(num_thresholds=200, curve="ROC")``: the area under the ROC curve, every
    element a binary decision (Keras' multi_label=False). Computed exactly over all distinct
    scores (the trapezoid rule), which Keras' ``num_thresholds`` buckets approximate.

    >>> import torch
    >>> AUC().compute(torch.tensor([0.0, 1.0, 0.0, 1.0]), torch.tensor([0.1, 0.9, 0.6, 0.4]))
    0.75
    """

    num_thresholds: int = 200
    curve: str = "ROC"
    name: str = field(default="auc", kw_only=True)
    direction: ClassVar[str] = "increasing"
    needs_classes: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.curve != "ROC":
            raise NetTrainError(
                "curve", "only AUC(curve='ROC') is supported", received=repr(self.curve)
            )

    def compute(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> float:
        if sample_weight is not None:
            raise NetTrainError("sample_weight", "AUC does not take sample weights here")
        with torch.no_grad():
            p, truth = _binary_scores(self, y_true, y_pred)
            fpr, tpr, _ = roc_curve(p, truth)
            return float(torch.trapezoid(tpr, fpr))

    def measurement(self) -> object:
        if self.task == "binary":
            return {"measurement": "area_under_roc_curve", "key": self.key}
        # the pooled one-vs-rest pairs are Keras' flattened elements
        return {"measurement": "area_under_roc_curve", "class_averaging": "micro", "key": self.key}


@dataclass(frozen=True)
class CustomMetric(KerasMetric):
    """A callable ``fn(y_true, y_pred)`` returning one value per example (or a batch mean)."""

    fn: Callable[[Tensor, Tensor], Tensor] | None = field(default=None, compare=False)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        assert self.fn is not None
        return torch.as_tensor(self.fn(y_true, y_pred))


_CLASSES: dict[str, type[KerasMetric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision,
    "recall": Recall,
    "auc": AUC,
    "mean_squared_error": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "root_mean_squared_error": RootMeanSquaredError,
    "cosine_similarity": CosineSimilarity,
    "kl_divergence": KLDivergence,
    "poisson": Poisson,
    "logcosh": LogCoshError,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "rmse": "root_mean_squared_error",
    "log_cosh": "logcosh",
    "log_cosh_error": "logcosh",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine_proximity": "cosine_similarity",  # TF.js cosineProximity
    "bce": "binary_crossentropy",
}
_ACCURACY = ("accuracy", "acc")


def _accuracy(identifier: str, loss: KerasLoss, task: str | None) -> KerasMetric:
    """Resolve "accuracy" once, from the loss (recorded in ``chosen_by``)."""
    if getattr(loss, "sparse", False):
        cls: type[KerasMetric] = SparseCategoricalAccuracy
    elif task == "binary":
        cls = BinaryAccuracy
    elif task == "classification":
        cls = CategoricalAccuracy
    else:
        raise _needs_classes(identifier, loss)
    why = f"{cls().name}, because the loss is {loss.name} ({task})"
    return cls(name=identifier, chosen_by=why)


def _needs_classes(key: str, loss: KerasLoss) -> NetTrainError:
    return NetTrainError(
        "metrics",
        f"the metric {key!r} needs classes, and the loss {loss.name!r} is a regression loss",
        expected="a regression metric (mae, mse, rmse, mape, ...) with this loss",
        received=repr(key),
        hint="remove the metric, or train with a classification loss such as "
        "sparse_categorical_crossentropy or binary_crossentropy",
    )


def _one(identifier: object, loss: KerasLoss, task: str | None, where: str) -> KerasMetric:
    if isinstance(identifier, str):
        if identifier.lower() in _ACCURACY:
            return _accuracy(identifier, loss, task)
        key = snake_case(identifier)
        key = _ALIASES.get(key, key)
        if key not in _CLASSES:
            raise NetTrainError(
                where,
                f"unknown metric {identifier!r}",
                expected="a Keras metric name (accuracy, " + ", ".join(sorted(_CLASSES)) + ")",
                received=repr(identifier),
                hint=did_you_mean(key, [*_CLASSES, *_ALIASES, *_ACCURACY]),
            )
        return _CLASSES[key](name=identifier)  # Keras 3: a string's key is the string
    if isinstance(identifier, KerasMetric):
        return identifier
    if callable(identifier):
        return CustomMetric(fn=identifier, name=getattr(identifier, "__name__", "metric"))
    raise NetTrainError(
        where,
        "cannot use this as a metric",
        expected="a metric name, a metric object or a callable (y_true, y_pred) -> value",
        received=describe(identifier),
    )


def resolve_metrics(metrics: object, loss: KerasLoss) -> list[KerasMetric]:
    """The metrics ``compile(metrics=...)`` means, bound to what the loss says the outputs are.

    Args:
        metrics: None, or a list of names (Keras snake_case, TF.js camelCase, "accuracy"/"acc"
            chosen from the loss), metric objects or callables ``(y_true, y_pred) -> value``
            (one value per example, or a batch mean). A single one is taken as a list.
        loss: the resolved loss (:func:`nettrain.keras.losses.resolve_loss`).

    Returns:
        The metrics in order; Keras 3's keys (a repeated key gets "_1", "_2", ...).

    Raises:
        NetTrainError: an unknown name (with close matches), a metric that needs classes with
            a regression loss, or metrics with a custom loss that does not say its task.

    >>> from nettrain.keras.losses import resolve_loss
    >>> ms = resolve_metrics(["acc", "auc"], resolve_loss("binary_crossentropy"))
    >>> [(m.key, m.chosen_by) for m in ms]
    [('acc', 'binary_accuracy, because the loss is binary_crossentropy (binary)'), ('auc', None)]
    """
    if metrics is None:
        return []
    items: Sequence[object] = list(metrics) if isinstance(metrics, list | tuple) else [metrics]
    task = loss.task if loss.task is not None else getattr(loss, "custom_task", None)
    if items and task is None:
        raise NetTrainError(
            "metrics",
            f"the custom loss {loss.name!r} does not say what the outputs are, so no metric "
            "can be measured",
            hint="give the loss as nettrain.keras.losses.CustomLoss(fn, custom_task="
            "'classification' | 'binary' | 'regression')",
        )
    resolved: list[KerasMetric] = []
    counters: dict[str, int] = {}
    for i, item in enumerate(items):
        metric = _one(item, loss, task, f"metrics[{i}]")
        if metric.needs_classes and task == "regression":
            raise _needs_classes(metric.key, loss)
        only = {_Confusion: "binary", RootMeanSquaredError: "regression"}
        for kind, needed in only.items():
            if isinstance(metric, kind) and task != needed:
                raise NetTrainError(
                    f"metrics[{i}]",
                    f"the metric {metric.key!r} is measured for {needed} outputs here, and the "
                    f"loss {loss.name!r} gives {task} outputs",
                    hint="use a loss for that task, or another metric (for per-class precision "
                    "of a softmax net pass nettrain's {'measurement': 'precision', "
                    "'class_averaging': 'macro'} to train)",
                )
        name = base = metric.key
        if base in counters:  # Keras 3's CompileMetrics.result: "auc", "auc_1", "auc_2"
            name = f"{base}_{counters[base]}"
            counters[base] += 1
        else:
            counters[base] = 1
        resolved.append(replace(metric, name=name, task=task, from_logits=not loss.probabilities))
    return resolved
