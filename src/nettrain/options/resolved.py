"""The options of ``train``, read and checked once when the call starts, then frozen.

Every user form (numbers, strings like "5 min", ``("adam", {...})``) is parsed here into typed
values; an unknown option name or a value of the wrong type or range is a
:class:`~nettrain.errors.NetTrainError` before any training starts.

Example:
    >>> opts = resolve_options({"batch_size": 32, "time_goal": "2 min", "method": "sgd"})
    >>> opts.batch_size, opts.time_goal, opts.method.name
    (32, 120.0, 'sgd')
    >>> resolve_options({"batch_sise": 32})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nettrain.errors.NetTrainError: batch_sise: unknown option; received 'batch_sise'. ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..averaging import AveragingSpec, parse_weights_averaging
from ..checkpoint.spec import CheckpointSpec, parse_checkpointing
from ..errors import NetTrainError, describe, did_you_mean
from ..losses.weights import parse_example_weights
from ..lr_find import FinderSpec, check_finder_method, parse_learning_rate_finder
from ..optim import MethodSpec, parse_method
from ..optim.methods import learning_rate_sub_option
from ..progress.forms import ReportSpec, parse_reporting
from ..runtime.device import device_processes, resolve_device
from ..runtime.layout import parse_memory_format
from ..runtime.precision import is_mixed, resolve_precision
from ..runtime.seed import DEFAULT_SEED, resolve_seed
from ..scalars import as_int
from .durations import parse_seconds
from .goals import parse_performance_goal

__all__ = ["KNOWN_OPTIONS", "PLANNED_OPTIONS", "Options", "resolve_options"]

KNOWN_OPTIONS = (
    "batch_size",
    "learning_rate",
    "learning_rate_multipliers",
    "loss_function",
    "max_training_rounds",
    "method",
    "random_seeding",
    "target_device",
    "distributed_timeout",
    "time_goal",
    "training_progress_reporting",
    "working_precision",
    "validation_set",
    "training_progress_measurements",
    "training_stopping_criterion",
    "training_progress_function",
    "training_update_schedule",
    "example_weights",
    "training_progress_checkpointing",
    "resume",
    "memory_format",
    "weights_averaging",
    "performance_goal",
)

# Options of SPEC S1.3 that later versions add; naming one says so instead of "unknown".
# Each value says what the option will do, for the error message.
PLANNED_OPTIONS: dict[str, str] = {}


@dataclass(frozen=True)
class Options:
    """Resolved options. ``None`` means "choose automatically" where the option allows it."""

    batch_size: int | None
    method: MethodSpec
    learning_rate_multipliers: Any
    loss_function: Any
    max_training_rounds: int | None
    time_goal: float | None
    seed: int
    device: torch.device
    dtype: torch.dtype | None  # None: keep the net's own floating dtype
    reporting: tuple[ReportSpec, ...]  # the reporting forms (none: silent)
    validation_set: Any = None
    measurements: Any = "auto"
    stopping_criterion: Any = None
    progress_function: Any = None
    update_schedule: Any = None
    example_weights: Any = None  # checked form; see nettrain.losses.weights
    checkpointing: tuple[CheckpointSpec, ...] = ()  # nettrain.checkpoint.spec
    resume: Any = None  # a checkpoint file or folder to resume from
    mixed: bool = False  # working_precision="mixed": the forward pass under bfloat16 autocast
    memory_format: str = "auto"  # "auto", "channels_last", "contiguous" (runtime.layout)
    performance_goal: tuple[str, ...] = ()  # "training_speed", "training_memory" (goals)
    automatic_learning_rate: bool = False  # no rate given anywhere (options.default_schedule)
    weights_averaging: AveragingSpec | None = None  # the weights' moving average (averaging)
    learning_rate_finder: FinderSpec | None = None  # learning_rate="find" (nettrain.lr_find)
    # target_device=("cpu", n), ("gpu", "all"), ("gpu", [i, j]): processes started by the
    # library (nettrain.distributed.launch), and the GPU of each
    processes: int = 1
    gpus: tuple[int, ...] = ()
    distributed_timeout: float = 60.0  # seconds a collective waits for a silent rank


def _is_auto(value: object) -> bool:
    # Not ``value in ("auto", None)``: that compares a NumPy value with a string.
    return value is None or (isinstance(value, str) and value == "auto")


def _positive_int(name: str, value: object, what: str) -> int | None:
    if _is_auto(value):
        return None
    number = as_int(value)  # NumPy integers become ints here; floats and bools are refused
    if number is None or number < 1:
        raise NetTrainError(
            name,
            f"must be a positive whole number of {what}",
            expected='an int >= 1, or "auto"',
            received=describe(value),
            hint='leave it out (or pass "auto") to let nettrain choose',
        )
    return number


def resolve_options(options: Mapping[str, object]) -> Options:
    """Check and freeze the keyword options given to ``train``.

    Args:
        options: ``{option name: value}`` as given to ``train`` (see SPEC S1.3). Numbers may be
            Python or NumPy scalars (``batch_size=np.int64(8)``); they come out as Python
            ``int``/``float``.

    Returns:
        The frozen :class:`Options`, ``None`` where the option is chosen automatically later.

    Raises:
        NetTrainError: for unknown or not-yet-available option names and bad values.

    >>> import numpy as np
    >>> opts = resolve_options({"batch_size": np.int64(8), "learning_rate": np.float32(0.5)})
    >>> opts.batch_size, type(opts.batch_size).__name__, opts.method.learning_rate
    (8, 'int', 0.5)
    """
    for name in options:
        if name in PLANNED_OPTIONS:
            raise NetTrainError(
                name,
                f"{name} is not available in this version of nettrain; it is planned "
                f"(SPEC S1.3: {PLANNED_OPTIONS[name]})",
                received=f"{name}={describe(options[name])}",
                hint=f"remove {name} from the call",
            )
        if name not in KNOWN_OPTIONS:
            raise NetTrainError(
                name,
                "unknown option",
                received=repr(name),
                hint=did_you_mean(name, [*KNOWN_OPTIONS, *PLANNED_OPTIONS]),
            )
    get = options.get
    time_goal = get("time_goal")
    precision = get("working_precision", "auto")
    # "find": the method's default rate until the range test replaces it (nettrain.lr_find)
    finder = parse_learning_rate_finder(get("learning_rate", "auto"))
    method = parse_method(get("method", "auto"), "auto" if finder else get("learning_rate", "auto"))
    if finder is not None:
        check_finder_method(method, learning_rate_sub_option(get("method", "auto")))
    return Options(
        batch_size=_positive_int("batch_size", get("batch_size"), "examples"),
        method=method,
        learning_rate_multipliers=get("learning_rate_multipliers"),
        loss_function=get("loss_function", "auto"),
        max_training_rounds=_positive_int(
            "max_training_rounds", get("max_training_rounds"), "rounds"
        ),
        time_goal=None if _is_auto(time_goal) else parse_seconds(time_goal, argument="time_goal"),
        seed=resolve_seed(get("random_seeding", DEFAULT_SEED)),
        device=resolve_device(get("target_device", "auto")),
        dtype=None if precision == "auto" else resolve_precision(precision),
        reporting=parse_reporting(get("training_progress_reporting", "auto")),
        validation_set=get("validation_set"),
        measurements=get("training_progress_measurements", "auto"),
        stopping_criterion=get("training_stopping_criterion"),
        progress_function=get("training_progress_function"),
        update_schedule=get("training_update_schedule"),
        example_weights=parse_example_weights(get("example_weights")),
        checkpointing=parse_checkpointing(get("training_progress_checkpointing")),
        resume=get("resume"),
        mixed=is_mixed(precision),
        memory_format=parse_memory_format(get("memory_format", "auto")),
        performance_goal=parse_performance_goal(get("performance_goal")),
        automatic_learning_rate=_is_auto(get("learning_rate", "auto"))
        and learning_rate_sub_option(get("method", "auto")) is None,
        weights_averaging=parse_weights_averaging(get("weights_averaging")),
        learning_rate_finder=finder,
        processes=device_processes(get("target_device", "auto"))[0],
        gpus=device_processes(get("target_device", "auto"))[1],
        distributed_timeout=parse_seconds(
            get("distributed_timeout", 60.0), argument="distributed_timeout"
        ),
    )
