"""The ``method`` option: which optimizer, its learning rate and its sub-options.

:func:`parse_method` reads what the user gave (``"auto"``, a name, or ``(name, {sub-options})``)
into a frozen :class:`MethodSpec` with every default filled in, checking every value once, when
the call starts. Defaults (NetTrain's, from its MXNet-era source, see SPEC S1.3):

=========  ===============  ====================================================================
method     learning_rate    sub-options
=========  ===============  ====================================================================
adam       1e-3             beta1 0.9, beta2 0.999, epsilon 1e-5; amsgrad False
adamw      1e-3             beta1 0.9, beta2 0.999, epsilon 1e-5, weight_decay 0.01 (decoupled);
                            amsgrad False
rmsprop    1e-3             beta 0.95, epsilon 1e-6, momentum 0.9; centered False
sgd        0.01             momentum 0.93; nesterov False
signsgd    1e-3             momentum 0.93
lbfgs      1.0              history_size 10, line_search "strong_wolfe", max_iterations 1
adagrad    0.01             initial_accumulator_value 0, epsilon 1e-10
adadelta   1.0              rho 0.9, epsilon 1e-6
adamax     2e-3             beta1 0.9, beta2 0.999, epsilon 1e-8
=========  ===============  ====================================================================

NetTrain has no adagrad, adadelta or adamax, so their defaults are ``torch.optim``'s own
(``Adagrad``, ``Adadelta``, ``Adamax`` in torch 2.x), and they run on those classes with the
same meaning: adagrad divides by ``sqrt(sum of g^2 + initial_accumulator_value) + epsilon``
(``epsilon`` may be 0 there when ``initial_accumulator_value > 0``), adadelta by
``sqrt(mean of g^2 + epsilon)``, adamax by ``max(beta2 * u, |g| + epsilon)``.

The switches after ``;`` (``amsgrad``, ``centered``, ``nesterov``) are torch's options of the
same name, off by default; ``MethodSpec.hyper`` holds them only when they are on, so a spec
without them equals one that never mentioned them. ``nesterov`` needs a momentum > 0.

Every method also takes ``learning_rate`` (instead of the ``learning_rate`` option, not as well),
``gradient_accumulation`` (k >= 1, default 1: one update per k batches, their gradients combined
as one batch of all their examples would give, see :mod:`nettrain.optim.accumulation`; not for
lbfgs), ``learning_rate_schedule`` (see :mod:`nettrain.schedules`), and ``l2_regularization``,
``gradient_clipping``, ``weight_clipping``: each ``None``, a number, or a part spec
``{part: value}`` (see :mod:`nettrain.options.parts`), kept raw here because parts can only be
matched once the net is known (:func:`nettrain.optim.build_updater` does that).

Sub-option names are snake_case; Wolfram's CamelCase (``"Beta1"``, ``"L2Regularization"``,
``"LearningRateSchedule"``, ``"InitialLearningRate"``) is accepted too.

Example:
    >>> spec = parse_method(("sgd", {"momentum": 0.5}), learning_rate=0.1)
    >>> spec.name, spec.learning_rate, dict(spec.hyper)
    ('sgd', 0.1, {'momentum': 0.5})
    >>> parse_method().describe()
    {'method': 'adam', 'learning_rate': 0.001, 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-05}
    >>> dict(parse_method(("sgd", {"nesterov": True})).hyper)
    {'momentum': 0.93, 'nesterov': True}
    >>> parse_method("adagrad").describe()
    {'method': 'adagrad', 'learning_rate': 0.01, 'initial_accumulator_value': 0.0, 'epsilon': 1e-10}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import NetTrainError, close_matches, describe, did_you_mean
from ..options.parts import plain_part
from ..scalars import as_int, as_real, is_bool
from ..schedules import resolve_schedule, schedule_name
from .carry import UpdaterState

__all__ = [
    "DEFAULT_LEARNING_RATES",
    "METHODS",
    "METHOD_DEFAULTS",
    "METHOD_SWITCHES",
    "MethodSpec",
    "learning_rate_sub_option",
    "parse_method",
    "suggest_name",
]

METHODS: tuple[str, ...] = (
    "adam",
    "adamw",
    "rmsprop",
    "sgd",
    "signsgd",
    "lbfgs",
    "adagrad",
    "adadelta",
    "adamax",
)
"""The method names, in the order they are documented."""

DEFAULT_LEARNING_RATES: Mapping[str, float] = MappingProxyType(
    {
        "adam": 1e-3,
        "adamw": 1e-3,
        "rmsprop": 1e-3,
        "sgd": 0.01,
        "signsgd": 1e-3,
        "lbfgs": 1.0,
        # torch.optim's defaults: NetTrain has none for these.
        "adagrad": 1e-2,
        "adadelta": 1.0,
        "adamax": 2e-3,
    }
)
"""The learning rate each method uses when ``learning_rate`` is ``"auto"``."""

METHOD_DEFAULTS: Mapping[str, Mapping[str, object]] = MappingProxyType(
    {
        "adam": MappingProxyType({"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-5}),
        "adamw": MappingProxyType(
            {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-5, "weight_decay": 0.01}
        ),
        "rmsprop": MappingProxyType({"beta": 0.95, "epsilon": 1e-6, "momentum": 0.9}),
        "sgd": MappingProxyType({"momentum": 0.93}),
        "signsgd": MappingProxyType({"momentum": 0.93}),
        "lbfgs": MappingProxyType(
            {"history_size": 10, "line_search": "strong_wolfe", "max_iterations": 1}
        ),
        "adagrad": MappingProxyType({"initial_accumulator_value": 0.0, "epsilon": 1e-10}),
        "adadelta": MappingProxyType({"rho": 0.9, "epsilon": 1e-6}),
        "adamax": MappingProxyType({"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    }
)
"""Each method's own sub-options and their defaults."""

METHOD_SWITCHES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "adam": ("amsgrad",),
        "adamw": ("amsgrad",),
        "rmsprop": ("centered",),
        "sgd": ("nesterov",),
    }
)
"""Each method's on/off sub-options (torch's options of the same name), all off by default."""

# Sub-options every method takes; kept out of ``hyper`` because they are not the optimizer's.
_COMMON = (
    "state",
    "learning_rate",
    "learning_rate_schedule",
    "l2_regularization",
    "gradient_clipping",
    "weight_clipping",
    "gradient_accumulation",
)
# Wolfram spellings that do not map to ours by CamelCase -> snake_case alone.
_ALIASES = {"initial_learning_rate": "learning_rate"}

# How each method-specific value is checked: (kind, low, high, low inclusive, high inclusive).
_UNIT = ("real", 0.0, 1.0, True, False)  # [0, 1): betas and momenta
_POSITIVE = ("real", 0.0, math.inf, False, False)
_CHECKS: dict[str, tuple[str, float, float, bool, bool]] = {
    "beta1": _UNIT,
    "beta2": _UNIT,
    "beta": _UNIT,
    "momentum": _UNIT,
    "rho": _UNIT,
    "epsilon": _POSITIVE,
    "initial_accumulator_value": ("real", 0.0, math.inf, True, False),
    "weight_decay": ("real", 0.0, math.inf, True, False),
    "history_size": ("int", 1, math.inf, True, False),
    "max_iterations": ("int", 1, math.inf, True, False),
}
# Adagrad's epsilon may be 0: the accumulator's start value then keeps the denominator > 0 (the
# Keras face folds Keras' epsilon, which Keras adds inside the square root, into that value).
_METHOD_CHECKS: dict[tuple[str, str], tuple[str, float, float, bool, bool]] = {
    ("adagrad", "epsilon"): ("real", 0.0, math.inf, True, False),
}


def _snake(name: str) -> str:
    # "Beta1" -> "beta1", "L2Regularization" -> "l2_regularization", "line-search" ->
    # "line_search".
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[\s\-]+", "_", snake).lower()


def _typos(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one typo (optimal string alignment)."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def suggest_name(name: str, candidates: Sequence[str]) -> str:
    """:func:`~nettrain.errors.did_you_mean`, with the closest spelling first.

    difflib ranks "adamax" above "adam" for "adma"; a swapped pair is one typo, so the
    suggestions are ordered by typos, difflib's similarity breaking ties.

    >>> suggest_name("adma", ["adam", "adamax", "sgd"])
    "did you mean 'adam' or 'adamax'?"
    """
    matches = close_matches(name, sorted(candidates))
    if not matches:
        return did_you_mean(name, candidates)
    ranked = sorted(matches, key=lambda m: _typos(name, m))
    return "did you mean " + " or ".join(map(repr, ranked)) + "?"


def _interval(low: float, high: float, low_in: bool, high_in: bool) -> str:
    if math.isinf(high):
        return (">= " if low_in else "> ") + f"{low:g}"
    return f"in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def _check_number(key: str, value: object, where: str, method: str = "") -> float | int:
    kind, low, high, low_in, high_in = _METHOD_CHECKS.get((method, key), _CHECKS[key])
    expected = ("an integer " if kind == "int" else "a number ") + _interval(
        low, high, low_in, high_in
    )
    # NumPy scalars become Python numbers here; a float (even 2.0) is not an integer.
    number: float | int | None = as_int(value) if kind == "int" else as_real(value)
    if number is None:
        raise NetTrainError(where, "wrong type", expected=expected, received=describe(value))
    above = number >= low if low_in else number > low
    below = number <= high if high_in else number < high
    if not (math.isfinite(number) and above and below):
        raise NetTrainError(where, "value out of range", expected=expected, received=repr(value))
    return number


def _check_switch(value: object, where: str) -> bool:
    # NumPy booleans are fine; 0 and 1 are not (a number here is more likely a misplaced value).
    if is_bool(value):
        return bool(value)
    raise NetTrainError(where, "wrong type", expected="True or False", received=describe(value))


def _check_line_search(value: object, where: str) -> str | None:
    if value is None or (isinstance(value, str) and _snake(value) in ("none", "no")):
        return None
    if isinstance(value, str) and _snake(value) == "strong_wolfe":
        return "strong_wolfe"
    raise NetTrainError(
        where,
        "unknown line search",
        expected="'strong_wolfe' or None",
        received=describe(value),
    )


def _check_learning_rate(value: object, where: str) -> float:
    number = as_real(value)
    if number is None:
        raise NetTrainError(
            where,
            "must be a number or 'auto'",
            expected="a finite number > 0 or 'auto'",
            received=describe(value),
        )
    if not math.isfinite(number) or number <= 0:
        hint = None
        if number <= 0:
            # The usual reason for a rate <= 0 is to ascend the loss for some parameters (a
            # GAN's adversary); nettrain does that per parameter, never with the rate itself.
            hint = (
                "give a learning rate > 0 (or 'auto'); to reverse the gradient of some "
                "parameters, keep the rate positive and give those parameters a negative "
                'learning_rate_multipliers entry, e.g. learning_rate_multipliers={"critic": -1}'
            )
        raise NetTrainError(
            where,
            "value out of range",
            expected="a finite number > 0 or 'auto'",
            received=repr(value),
            hint=hint,
        )
    return number


def _is_auto(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.lower() in ("auto", "automatic"))


def _check_part_option(key: str, value: object, where: str) -> object:
    """Check a per-part option's shape now; its parts are matched once the net is known."""
    if value is None:
        return None
    # Clipping to 0 would zero every gradient or weight: surely not what was meant.
    positive = key != "l2_regularization"
    expected = "a finite number " + ("> 0" if positive else ">= 0")
    if isinstance(value, str):
        if _snake(value) == "none":
            return None
        raise NetTrainError(
            where,
            "cannot read this value",
            expected=expected + ", None, or rules {part: value}",
            received=repr(value),
        )
    if isinstance(value, Mapping):
        values: list[object] = list(value.values())
    elif isinstance(value, Sequence):
        values = [
            r[1]
            for r in value
            if isinstance(r, Sequence) and not isinstance(r, str) and len(r) == 2
        ]
        if len(values) != len(value):
            raise NetTrainError(
                where,
                "cannot read these rules",
                expected="a dict {part: value} or a list of (part, value) pairs",
                received=describe(value),
            )
    else:
        values = [value]
    for v in values:
        number = as_real(v)
        if number is None:
            raise NetTrainError(
                where, "values must be numbers", expected=expected, received=describe(v)
            )
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            raise NetTrainError(where, "value out of range", expected=expected, received=repr(v))
    scalar = as_real(value)
    return value if scalar is None else scalar


def _jsonable_part_spec(value: object) -> object:
    if value is None or isinstance(value, int | float):
        return value
    rules: Any = value.items() if isinstance(value, Mapping) else value
    return {(k if isinstance(k, str) else repr(plain_part(k))): float(v) for k, v in rules}


@dataclass(frozen=True)
class MethodSpec:
    """A fully resolved ``method`` option (immutable, every default filled in).

    Attributes:
        name: one of :data:`METHODS` ("adam", "adamw", "rmsprop", "sgd", "signsgd", "lbfgs",
            "adagrad", "adadelta", "adamax").
        learning_rate: the base learning rate (the method's default when not given).
        hyper: read-only mapping of the method's own sub-options (``beta1``, ``momentum``, ...).
        schedule: the user's ``learning_rate_schedule`` spec as given (already checked), or None.
        l2_regularization: None, a number, or a part spec (raw until the net is known).
        gradient_clipping: None, a number, or a part spec: elementwise clamp of gradients.
        weight_clipping: None, a number, or a part spec: clamp of weights after each update.
        state: an :class:`~nettrain.optim.carry.UpdaterState` the run starts from and leaves
            its optimizer state in, or None (a fresh optimizer, as NetTrain's).
        gradient_accumulation: batches per update (1: every batch). The training loop groups
            the batches (:mod:`nettrain.optim.accumulation`); an updater itself updates at
            every ``step()``.
    """

    name: str
    learning_rate: float
    hyper: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    schedule: object = None
    l2_regularization: object = None
    gradient_clipping: object = None
    weight_clipping: object = None
    state: Any = field(default=None, compare=False, repr=False)
    gradient_accumulation: int = 1

    def describe(self) -> dict[str, Any]:
        """A plain JSON-able dict for the results: method, learning rate and sub-options.

        Sub-options left at ``None`` are omitted; a schedule is shown by name (a function by
        its ``__name__``); part specs become ``{str(part): value}``.

        >>> parse_method(("rmsprop", {"learning_rate_schedule": "cosine"})).describe()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'method': 'rmsprop', 'learning_rate': 0.001, 'beta': 0.95, 'epsilon': 1e-06,
         'momentum': 0.9, 'learning_rate_schedule': {'name': 'cosine', 'warmup': 0.0}}
        """
        out: dict[str, Any] = {"method": self.name, "learning_rate": self.learning_rate}
        out.update(self.hyper)
        if self.schedule is not None:
            out["learning_rate_schedule"] = schedule_name(self.schedule)
        for key in ("l2_regularization", "gradient_clipping", "weight_clipping"):
            value = getattr(self, key)
            if value is not None:
                out[key] = _jsonable_part_spec(value)
        if self.gradient_accumulation > 1:
            out["gradient_accumulation"] = self.gradient_accumulation
        return out


def _check_combinations(name: str, hyper: Mapping[str, Any]) -> None:
    """Refuse sub-options that are fine alone but not together (torch would fail later)."""
    if hyper.get("nesterov") and hyper["momentum"] == 0:
        raise NetTrainError(
            "method['nesterov']",
            "Nesterov momentum needs a momentum > 0",
            expected="momentum > 0 with nesterov=True",
            received="momentum=0",
            hint="give a momentum such as 0.9, or drop nesterov",
        )
    if name == "adagrad" and hyper["epsilon"] == 0 and hyper["initial_accumulator_value"] == 0:
        raise NetTrainError(
            "method['epsilon']",
            "adagrad with epsilon 0 and initial_accumulator_value 0 divides 0 by 0 wherever a "
            "gradient element is 0",
            expected="epsilon > 0 or initial_accumulator_value > 0",
            received="epsilon=0, initial_accumulator_value=0",
        )


def _split_method(method: object) -> tuple[str, Mapping[Any, Any]]:
    if _is_auto(method):
        return "adam", {}
    if isinstance(method, str):
        return method, {}
    if (
        isinstance(method, Sequence)
        and len(method) == 2
        and isinstance(method[0], str)
        and isinstance(method[1], Mapping)
    ):
        return method[0], method[1]
    raise NetTrainError(
        "method",
        "cannot read this method specification",
        expected="'auto', a method name such as 'adam', or (name, {sub-options})",
        received=describe(method),
    )


def _check_state(value: object, where: str) -> object:
    if value is not None and not isinstance(value, UpdaterState):
        raise NetTrainError(
            where,
            "wrong type",
            expected="a nettrain.optim.UpdaterState (or None)",
            received=describe(value),
            hint="make one with nettrain.optim.UpdaterState() and pass it to every run",
        )
    return value


def _check_accumulation(name: str, value: object, where: str) -> int:
    """Batches per update: an int >= 1 (lbfgs, full batch with a line search, takes only 1)."""
    number = as_int(value)
    if number is None or number < 1:
        raise NetTrainError(
            where,
            "must be a whole number of batches per update",
            expected="an int >= 1 (1: an update every batch)",
            received=describe(value),
            hint="e.g. 4 updates once per 4 batches, as one batch 4 times as large would",
        )
    if name == "lbfgs" and number > 1:
        raise NetTrainError(
            where,
            "lbfgs re-evaluates the loss in its line search, so it cannot update from gradients "
            "gathered over several batches",
            expected="1 with lbfgs",
            received=repr(value),
            hint="use a larger batch_size (lbfgs trains full-batch by default), or another method",
        )
    return number


def _read_sub_option(
    name: str,
    key: str,
    value: object,
    switches: Sequence[str],
    hyper: dict[str, Any],
    common: dict[str, object],
) -> None:
    """Check one sub-option of method ``name`` into ``hyper`` (the method's own) or
    ``common`` (those every method has)."""
    where = f"method[{key!r}]"
    if key == "line_search":
        hyper[key] = _check_line_search(value, where)
    elif key in switches:
        if _check_switch(value, where):
            hyper[key] = True
    elif key in _CHECKS:
        hyper[key] = _check_number(key, value, where, name)
    elif key == "state":
        common[key] = _check_state(value, where)
    elif key == "learning_rate_schedule":
        resolve_schedule(value, argument=where)  # fail now, not at the first step
        common[key] = value
    elif key == "learning_rate":
        common[key] = None if _is_auto(value) else _check_learning_rate(value, where)
    elif key == "gradient_accumulation":
        common[key] = _check_accumulation(name, value, where)
    else:
        common[key] = _check_part_option(key, value, where)


def learning_rate_sub_option(method: object) -> object:
    """The learning rate given as a sub-option of ``method`` (as given), or None when it has
    none (or gives "auto"); for options that must know whether the rate was given there.

    >>> learning_rate_sub_option(("sgd", {"InitialLearningRate": 0.1}))
    0.1
    >>> learning_rate_sub_option("sgd") is None
    True
    """
    _, options = _split_method(method)
    for key, value in options.items():
        if isinstance(key, str) and _ALIASES.get(_snake(key), _snake(key)) == "learning_rate":
            return None if _is_auto(value) else value
    return None


def parse_method(method: object = "auto", learning_rate: object = "auto") -> MethodSpec:
    """Read the ``method`` and ``learning_rate`` options into a :class:`MethodSpec`.

    Args:
        method: ``"auto"`` (= ``"adam"``), a method name (case-insensitive: ``"ADAM"``,
            ``"RMSProp"``), or ``(name, {sub-option: value})``. See the module docstring for the
            sub-options of each method and their defaults.
        learning_rate: ``"auto"`` (the method's default, also ``None``) or a number > 0.

    Returns:
        A frozen :class:`MethodSpec` with every default filled in.

    Raises:
        NetTrainError: for an unknown method or sub-option (with a close-match suggestion), a
            learning rate given both as option and as sub-option, or a value of the wrong type
            or out of range; the message names the option (``method``, ``method['beta1']``,
            ``learning_rate``), what was expected and what was received.

    Example:
        >>> spec = parse_method("ADAM")
        >>> spec.name, spec.learning_rate, spec.hyper["epsilon"]
        ('adam', 0.001, 1e-05)
        >>> parse_method(("adam", {"beta1": 1.5}))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nettrain.errors.NetTrainError: method['beta1']: value out of range; expected ... [0, 1)...
        >>> parse_method("adma")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nettrain.errors.NetTrainError: method: unknown method 'adma' (did you mean 'adam' or ...
    """
    raw_name, options = _split_method(method)
    name = _snake(raw_name).replace("_", "")
    if name not in METHODS:
        raise NetTrainError(
            "method",
            f"unknown method {raw_name!r} ({suggest_name(name, METHODS)})",
            expected="one of " + ", ".join(map(repr, METHODS)),
            received=repr(raw_name),
        )
    defaults = METHOD_DEFAULTS[name]
    switches = METHOD_SWITCHES.get(name, ())
    allowed = (*defaults, *switches, *_COMMON)
    hyper: dict[str, Any] = dict(defaults)
    common: dict[str, object] = {}
    seen: set[str] = set()
    for raw_key, value in options.items():
        if not isinstance(raw_key, str):
            raise NetTrainError(
                "method",
                "sub-option names must be strings",
                expected="one of " + ", ".join(map(repr, allowed)),
                received=describe(raw_key),
            )
        key = _ALIASES.get(_snake(raw_key), _snake(raw_key))
        if key not in allowed:
            raise NetTrainError(
                "method",
                f"unknown sub-option {raw_key!r} of method {name!r} ({did_you_mean(key, allowed)})",
                expected="one of " + ", ".join(map(repr, allowed)),
                received=repr(raw_key),
            )
        if key in seen:  # e.g. "beta1" and "Beta1", or "learning_rate" and its Wolfram alias
            raise NetTrainError(
                "method", f"sub-option {key!r} is given twice", received=repr(raw_key)
            )
        seen.add(key)
        _read_sub_option(name, key, value, switches, hyper, common)

    _check_combinations(name, hyper)
    rate = DEFAULT_LEARNING_RATES[name]
    sub_rate = common.get("learning_rate")
    if not _is_auto(learning_rate):
        if sub_rate is not None:
            raise NetTrainError(
                "learning_rate",
                "the learning rate is given twice: as the learning_rate option and as a "
                "method sub-option",
                received=f"learning_rate={learning_rate!r} and method['learning_rate']="
                f"{sub_rate!r}",
                hint="give it in one place only",
            )
        rate = _check_learning_rate(learning_rate, "learning_rate")
    elif sub_rate is not None:
        rate = float(sub_rate)  # type: ignore[arg-type]
    accumulation = common.get("gradient_accumulation")
    return MethodSpec(
        name=name,
        learning_rate=rate,
        hyper=MappingProxyType(hyper),
        schedule=common.get("learning_rate_schedule"),
        l2_regularization=common.get("l2_regularization"),
        gradient_clipping=common.get("gradient_clipping"),
        weight_clipping=common.get("weight_clipping"),
        state=common.get("state"),
        gradient_accumulation=accumulation if isinstance(accumulation, int) else 1,
    )
