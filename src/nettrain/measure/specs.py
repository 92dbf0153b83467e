"""Measurement specifications: names, synonyms, directions, keys, and parsing of user forms.

A :class:`Measurement` is a frozen description (its key in the results, its direction, which
round statistics it needs) plus ``result(stats)``, a pure function of a round's
:class:`~nettrain.measure.stats.RoundStats`.

Example:
    >>> [m.key for m in parse_measurements(["accuracy", ("error_rate", 5),
    ...                                     {"measurement": "f_score", "beta": 2}],
    ...                                    task="classification")]
    ['accuracy', 'error_rate@5', 'f_score(beta=2)']
    >>> parse_measurements("Sensitivity", task="binary")[0].key
    'recall'
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean
from ..scalars import as_int, as_real, is_bool
from . import classification as cls
from .compute import COMPUTE
from .stats import RoundStats

__all__ = [
    "MEASUREMENT_NAMES",
    "TASKS",
    "Measurement",
    "MeasurementValue",
    "direction_of",
    "parse_measurements",
]

Direction = Literal["increasing", "decreasing"]
RocCurve: TypeAlias = tuple[Tensor, Tensor, Tensor]
MeasurementValue: TypeAlias = float | Tensor | dict[int, RocCurve] | RocCurve
CustomFn = Callable[[Tensor, Tensor], Any]

TASKS = ("classification", "binary", "regression")
_CLASSIFICATION = frozenset({"classification", "binary"})
_REGRESSION = frozenset({"regression"})
_ANY = frozenset(TASKS)

# name -> (tasks it applies to, direction, statistics it needs). Direction None = not a scalar.
_TABLE: dict[str, tuple[frozenset[str], Direction | None, frozenset[str]]] = {
    "loss": (_ANY, "decreasing", frozenset({"loss"})),
    "accuracy": (_CLASSIFICATION, "increasing", frozenset()),  # needs correct@k, set per k
    "error_rate": (_CLASSIFICATION, "decreasing", frozenset()),
    "precision": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "recall": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "specificity": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "f1_score": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "f_score": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "false_positive_rate": (_CLASSIFICATION, "decreasing", frozenset({"confusion"})),
    "false_negative_rate": (_CLASSIFICATION, "decreasing", frozenset({"confusion"})),
    "matthews_correlation_coefficient": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "cohen_kappa": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "balanced_accuracy": (_CLASSIFICATION, "increasing", frozenset({"confusion"})),
    "confusion_matrix": (_CLASSIFICATION, None, frozenset({"confusion"})),
    "roc_curve": (_CLASSIFICATION, None, frozenset({"scores"})),
    "area_under_roc_curve": (_CLASSIFICATION, "increasing", frozenset({"scores"})),
    # Lower entropy = more confident predictions; the only sensible direction to stop on.
    "entropy": (_CLASSIFICATION, "decreasing", frozenset({"entropy"})),
    "perplexity": (_CLASSIFICATION, "decreasing", frozenset({"entropy"})),
    "r_squared": (_REGRESSION, "increasing", frozenset({"residual_square", "target_spread"})),
    "mean_square": (_REGRESSION, "decreasing", frozenset({"residual_square"})),
    "root_mean_square": (_REGRESSION, "decreasing", frozenset({"residual_square"})),
    "mean_deviation": (_REGRESSION, "decreasing", frozenset({"residual_absolute"})),
    "standard_deviation": (_REGRESSION, "decreasing", frozenset({"residual_spread"})),
    "fraction_variance_unexplained": (
        _REGRESSION,
        "decreasing",
        frozenset({"residual_square", "target_spread"}),
    ),
    "intersection_over_union": (_REGRESSION, "increasing", frozenset({"iou"})),
}
MEASUREMENT_NAMES: tuple[str, ...] = tuple(_TABLE)

# Wolfram's synonyms (mission anchors §1.10) in snake_case, plus a few common abbreviations.
_SYNONYMS = {
    "positive_predictive_value": "precision",
    "ppv": "precision",
    "sensitivity": "recall",
    "true_positive_rate": "recall",
    "tpr": "recall",
    "hit_rate": "recall",
    "class_accuracy": "recall",
    "true_negative_rate": "specificity",
    "tnr": "specificity",
    "selectivity": "specificity",
    "f1": "f1_score",
    "f_measure": "f_score",
    "fall_out": "false_positive_rate",
    "fallout": "false_positive_rate",
    "fpr": "false_positive_rate",
    "miss_rate": "false_negative_rate",
    "fnr": "false_negative_rate",
    "mcc": "matthews_correlation_coefficient",
    "kappa": "cohen_kappa",
    "roc": "roc_curve",
    "auc": "area_under_roc_curve",
    "roc_auc": "area_under_roc_curve",
    "r2": "r_squared",
    "coefficient_of_determination": "r_squared",
    "mse": "mean_square",
    "rmse": "root_mean_square",
    "root_mean_squared_error": "root_mean_square",
    "mae": "mean_deviation",
    "fvu": "fraction_variance_unexplained",
    "iou": "intersection_over_union",
    "jaccard_index": "intersection_over_union",
}
_PER_CLASS = frozenset(cls.CLASS_RATES) | {"area_under_roc_curve"}
_DICT_KEYS = ("measurement", "key", "class_averaging", "beta", "k", "direction")
_AVERAGING = (None, "macro", "micro")


@dataclass(frozen=True)
class Measurement:
    """One measurement: what it is called in results, which way is better, how to compute it.

    Attributes:
        key: its key in the results ("accuracy", "accuracy@5", "precision(macro)",
            "f_score(beta=2)", or the user's key).
        name: the canonical name ("accuracy", ...) or "custom".
        direction: "increasing" or "decreasing" (which way is better); None for
            confusion_matrix and roc_curve, which are not numbers.
        scalar: whether the value is one number, i.e. usable as a stopping criterion.
        class_averaging: None, "macro" or "micro" for per-class measurements, else None.
        k: top-k for accuracy/error_rate, else None.
        beta: the F-beta weight for f_score, else None.
        function: ``f(prediction, target)`` for a custom measurement, else None.
        needs: the round statistics the measurement is computed from (see
            :data:`~nettrain.measure.stats.STATISTICS`).
    """

    key: str
    name: str
    direction: Direction | None
    scalar: bool
    class_averaging: str | None = None
    k: int | None = None
    beta: float | None = None
    function: CustomFn | None = None
    needs: frozenset[str] = frozenset()

    def result(self, stats: RoundStats) -> MeasurementValue:
        """The measurement's value from a round's statistics.

        Args:
            stats: the round's :class:`RoundStats` (from ``Accumulator``).

        Returns:
            A float for scalars; a float64 [C] tensor for per-class values; a [C, C] int64
            tensor for confusion_matrix; ``{class: (fpr, tpr, thresholds)}`` (classification)
            or one such tuple (binary) for roc_curve. NaN when the round saw no examples.

        >>> m = parse_measurements("error_rate", task="classification")[0]
        >>> m.result(RoundStats("classification", positions=4, correct={1: 3}))
        0.25
        """
        return COMPUTE[self.name](self, stats)


# ------------------------------------------------------------------------------------ parsing


def _snake(name: str) -> str:
    # "AreaUnderROCCurve" -> "area_under_roc_curve", "F1Score" -> "f1_score", "r-squared" too.
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[\s\-]+", "_", text).lower()


def _canonical(name: str, argument: str) -> str:
    key = _snake(name)
    key = _SYNONYMS.get(key, key)
    if key not in _TABLE:
        raise NetTrainError(
            argument,
            f"unknown measurement {name!r}",
            hint=did_you_mean(_snake(name), list(_TABLE) + list(_SYNONYMS)),
        )
    return key


def _check_k(value: object, name: str, task: str, num_classes: int | None, argument: str) -> int:
    k = as_int(value)  # NumPy integers become ints; floats and bools are refused
    if k is None or k < 1:
        raise NetTrainError(
            argument,
            f"the sub-option 'k' (top-k) of {name!r} must be a positive integer",
            expected="an int >= 1",
            received=describe(value),
        )
    limit = 2 if task == "binary" else num_classes
    if task == "binary" and k != 1:
        raise NetTrainError(
            argument,
            f"the sub-option 'k' of {name!r} must be 1 for the binary task (one score)",
            received=str(k),
        )
    if limit is not None and k > limit:
        raise NetTrainError(
            argument,
            f"the sub-option 'k' of {name!r} cannot exceed the number of classes ({limit})",
            received=str(k),
        )
    return k


def _check_beta(value: object, argument: str) -> float:
    beta = as_real(value)
    if beta is None or not math.isfinite(beta) or beta <= 0:
        raise NetTrainError(
            argument,
            "the sub-option 'beta' of 'f_score' must be a positive finite number",
            expected="a number > 0 (1 = F1, 2 weighs recall more, 0.5 precision more)",
            received=describe(value),
        )
    return beta


def _check_averaging(value: object, name: str, argument: str) -> str | None:
    text = value.lower() if isinstance(value, str) else value
    if text not in _AVERAGING:
        raise NetTrainError(
            argument,
            f"the sub-option 'class_averaging' of {name!r} must be None, 'macro' or 'micro'",
            received=describe(value),
        )
    if text is not None and name not in _PER_CLASS:
        raise NetTrainError(
            argument,
            f"the sub-option 'class_averaging' applies only to per-class measurements, "
            f"not {name!r}",
            expected=", ".join(sorted(_PER_CLASS)),
        )
    return text


def _check_direction(value: object, argument: str) -> Direction:
    if value not in ("increasing", "decreasing"):
        raise NetTrainError(
            argument,
            "the sub-option 'direction' must be 'increasing' or 'decreasing'",
            received=describe(value),
            hint="say which way is better: 'increasing' for accuracies, 'decreasing' for errors",
        )
    return value


def _key(name: str, k: int | None, beta: float | None, averaging: str | None) -> str:
    key = name if k in (None, 1) else f"{name}@{k}"
    params = []
    if name == "f_score" and beta not in (None, 1.0):
        params.append(f"beta={beta:g}")
    if averaging is not None:
        params.append(averaging)
    return f"{key}({', '.join(params)})" if params else key


def _custom_measurement(
    function: Callable[..., Any], options: Mapping[str, Any], argument: str
) -> Measurement:
    key = options.get("key", getattr(function, "key", None))
    direction = options.get("direction", getattr(function, "direction", None))
    label = getattr(function, "__name__", type(function).__name__)
    if not isinstance(key, str) or not key:
        raise NetTrainError(
            argument,
            f"the custom measurement {label!r} needs a key to name it in the results",
            received=describe(key) if key is not None else "no key",
            hint='give it as {"measurement": f, "key": "my_name", "direction": "increasing"}',
        )
    if direction is None:
        raise NetTrainError(
            argument,
            f"the custom measurement {key!r} needs a direction",
            hint='add "direction": "increasing" (higher is better) or "decreasing"',
        )
    for sub in ("class_averaging", "beta", "k"):
        if options.get(sub) is not None:
            raise NetTrainError(
                argument, f"the sub-option {sub!r} does not apply to a custom measurement"
            )
    return Measurement(
        key=key,
        name="custom",
        direction=_check_direction(direction, argument),
        scalar=True,
        function=function,
        needs=frozenset({f"custom:{key}"}),
    )


def _as_options(item: object, argument: str) -> dict[str, Any]:
    """Any single measurement form -> the dict form."""
    if isinstance(item, str) or callable(item):
        return {"measurement": item}
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        name = _snake(item[0])
        name = _SYNONYMS.get(name, name)
        sub = "beta" if name == "f_score" else "k"
        if name not in ("accuracy", "error_rate", "f_score"):
            raise NetTrainError(
                argument,
                f"the pair form (name, value) is for ('accuracy', k), ('error_rate', k) and "
                f"('f_score', beta), not {item[0]!r}",
                hint='use the dict form {"measurement": name, ...} for other sub-options',
            )
        return {"measurement": item[0], sub: item[1]}
    if isinstance(item, Mapping):
        unknown = [k for k in item if k not in _DICT_KEYS]
        if unknown:
            raise NetTrainError(
                argument,
                f"unknown sub-option {unknown[0]!r}",
                hint=did_you_mean(str(unknown[0]), _DICT_KEYS),
            )
        if "measurement" not in item:
            raise NetTrainError(argument, "a measurement dict needs a 'measurement' entry")
        return dict(item)
    raise NetTrainError(
        argument,
        "cannot read this as a measurement",
        expected="a name, ('accuracy', k), ('f_score', beta), a dict or a callable",
        received=describe(item),
    )


def _parse_one(item: object, task: str, num_classes: int | None, argument: str) -> Measurement:
    if isinstance(item, Measurement):
        return item
    options = _as_options(item, argument)
    what = options["measurement"]
    if not isinstance(what, str):
        if not callable(what):
            raise NetTrainError(
                argument,
                "the 'measurement' entry must be a name or a callable",
                received=describe(what),
            )
        return _custom_measurement(what, options, argument)
    name = _canonical(what, argument)
    tasks, direction, needs = _TABLE[name]
    if task not in tasks:
        raise NetTrainError(
            argument,
            f"the measurement {name!r} does not apply to the {task!r} task",
            expected=f"a measurement for {' or '.join(sorted(tasks))}",
            hint="check the net's loss/task, or remove the measurement",
        )
    k = beta = None
    if options.get("k") is not None:
        if name not in ("accuracy", "error_rate"):
            raise NetTrainError(
                argument,
                f"the sub-option 'k' applies only to accuracy and error_rate, not {name!r}",
            )
        k = _check_k(options["k"], name, task, num_classes, argument)
    if name in ("accuracy", "error_rate"):
        k = k or 1
        needs = frozenset({f"correct@{k}"})
    if options.get("beta") is not None:
        if name != "f_score":
            raise NetTrainError(
                argument, f"the sub-option 'beta' applies only to f_score, not {name!r}"
            )
        beta = _check_beta(options["beta"], argument)
    if name == "f_score":
        beta = beta or 1.0
    averaging = _check_averaging(options.get("class_averaging"), name, argument)
    if "direction" in options:
        direction = _check_direction(options["direction"], argument)
    scalar = direction is not None and (
        name not in _PER_CLASS or averaging is not None or task == "binary"
    )
    key = options.get("key") or _key(name, k, beta, averaging)
    if not isinstance(key, str):
        raise NetTrainError(
            argument, "the sub-option 'key' must be a string", received=describe(key)
        )
    return Measurement(key, name, direction, scalar, averaging, k, beta, None, needs)


def parse_measurements(
    spec: object,
    *,
    task: str,
    num_classes: int | None = None,
    argument: str = "training_progress_measurements",
) -> list[Measurement]:
    """Read a ``training_progress_measurements`` value into a list of :class:`Measurement`.

    Args:
        spec: "auto" or None (the loss, plus error_rate for classification and binary tasks);
            a name (snake_case or Wolfram's CamelCase, synonyms accepted: "sensitivity",
            "mcc", "kappa", "auc", "roc", "r2", "fvu", "iou", ...); ``("accuracy", k)`` or
            ``("error_rate", k)`` for top-k; ``("f_score", beta)``; a dict
            ``{"measurement": name or callable, "key", "class_averaging", "beta", "k",
            "direction"}``; a callable ``f(prediction, target)`` with ``key`` and
            ``direction`` attributes; or a list of these. A custom callable's values may be
            one per example ([batch], averaged over the round's examples) or a batch mean
            (a scalar, weighted by the batch size).
        task: "classification" (class scores [..., C], integer targets [...]), "binary"
            (one score per element, 0/1 targets) or "regression".
        num_classes: C, if known, to check top-k against.
        argument: the option name used in error messages.

    Returns:
        The measurements in the order given.

    Raises:
        NetTrainError: for an unknown name (with close matches), a measurement that does not
            fit the task, a bad ``k``/``beta``/``class_averaging``/``direction``, a custom
            callable without a key or direction, or two measurements with the same key.

    >>> [m.key for m in parse_measurements("auto", task="regression")]
    ['loss']
    >>> m = parse_measurements({"measurement": "auc", "class_averaging": "macro"},
    ...                        task="classification")[0]
    >>> m.key, m.direction, m.scalar
    ('area_under_roc_curve(macro)', 'increasing', True)
    """
    if task not in TASKS:
        raise NetTrainError("task", f"unknown task {task!r}", hint=did_you_mean(str(task), TASKS))
    if spec is None or (isinstance(spec, str) and spec.lower() == "auto"):
        spec = ["loss"] if task == "regression" else ["loss", "error_rate"]
    single = (
        isinstance(spec, str | Mapping)
        or callable(spec)
        or (
            isinstance(spec, tuple)
            and len(spec) == 2
            and isinstance(spec[0], str)
            # ("accuracy", k): any number, and a bool too, so that _check_k refuses it by name
            and (isinstance(spec[1], numbers.Number) or is_bool(spec[1]))
        )
    )
    if single:
        items: Sequence[object] = [spec]
        where = [argument]
    elif isinstance(spec, list | tuple):
        items = spec
        where = [f"{argument}[{i}]" for i in range(len(spec))]
    else:
        raise NetTrainError(
            argument,
            "cannot read this as measurements",
            expected='"auto", a name, a dict, a callable or a list of these',
            received=describe(spec),
        )
    measurements: list[Measurement] = []
    seen: set[str] = set()
    for item, arg in zip(items, where, strict=True):
        m = _parse_one(item, task, num_classes, arg)
        if m.key in seen:
            raise NetTrainError(
                arg,
                f"two measurements have the key {m.key!r}",
                hint="remove the duplicate or give one a different 'key'",
            )
        seen.add(m.key)
        measurements.append(m)
    return measurements


def direction_of(key: str) -> Direction | None:
    """Which way is better for a built-in measurement, given its name, synonym or result key.

    Args:
        key: "accuracy", "accuracy@5", "precision(macro)", "Sensitivity", ...

    Returns:
        "increasing", "decreasing", or None for confusion_matrix and roc_curve.

    Raises:
        NetTrainError: when the name is not a built-in measurement (custom measurements carry
            their own ``direction``).

    >>> direction_of("error_rate@5"), direction_of("f_score(beta=2, macro)"), direction_of("r2")
    ('decreasing', 'increasing', 'increasing')
    """
    base = re.split(r"[@(]", key, maxsplit=1)[0]
    return _TABLE[_canonical(base, "measurement")][1]
