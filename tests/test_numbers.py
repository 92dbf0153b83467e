"""NumPy scalars are numbers in every option: read as Python ints/floats at once, bools refused.

Each option that takes an int is given ``np.int64``, ``np.int32`` and ``np.uint8`` values and
must give exactly what the Python int gives, with a Python ``int`` (not a NumPy type) inside;
each option that takes a float is given NumPy floats likewise. ``np.bool_`` and whole floats
(``np.float64(8.0)``) stay refused where an int is wanted, by the option's own message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import nettrain
from conftest import QUIET, make_classification
from nettrain.errors import NetTrainError
from nettrain.measure import parse_measurements
from nettrain.optim import build_updater, parse_method
from nettrain.optim.schedule_groups import parse_update_schedule
from nettrain.options.durations import Interval, parse_interval, parse_seconds
from nettrain.options.parts import resolve_parts
from nettrain.options.resolved import resolve_options
from nettrain.runtime.device import resolve_device
from nettrain.runtime.seed import resolve_seed
from nettrain.scalars import as_int, as_real, is_bool
from nettrain.schedules import Polynomial, resolve_schedule
from nettrain.stopping import parse_criterion

NP_INTS = [np.int64, np.int32, np.uint8]
NP_FLOATS = [np.float64, np.float32, np.float16]


def make_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def five_input_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


def same(got: object, want: object) -> None:
    """Equal, and of exactly the same type (so a NumPy scalar never passes for an int)."""
    assert got == want
    assert type(got) is type(want), f"{type(got).__name__} is not {type(want).__name__}"


# --- the helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
)
def test_as_int_reads_every_numpy_integer_as_int(kind: Any) -> None:
    same(as_int(kind(7)), 7)
    same(as_real(kind(7)), 7.0)


@pytest.mark.parametrize(
    "value", [True, False, np.bool_(True), np.bool_(False), 8.0, np.float64(8.0), "8", None]
)
def test_as_int_refuses_bools_floats_and_strings(value: object) -> None:
    assert as_int(value) is None


@pytest.mark.parametrize("kind", NP_FLOATS)
def test_as_real_reads_numpy_floats_as_float(kind: Any) -> None:
    same(as_real(kind(0.5)), 0.5)
    assert as_int(kind(0.5)) is None


@pytest.mark.parametrize("value", [True, np.bool_(False), "0.5", complex(1, 0), np.array([1.0])])
def test_as_real_refuses_bools_strings_complex_and_arrays(value: object) -> None:
    assert as_real(value) is None


def test_is_bool() -> None:
    assert is_bool(True) and is_bool(np.bool_(True))
    assert not is_bool(1) and not is_bool(np.int64(1))


# --- resolve_options -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", NP_INTS)
@pytest.mark.parametrize(
    ("option", "field"),
    [
        ("batch_size", "batch_size"),
        ("max_training_rounds", "max_training_rounds"),
        ("random_seeding", "seed"),
    ],
)
def test_int_options_accept_numpy_integers(kind: Any, option: str, field: str) -> None:
    want = getattr(resolve_options({option: 8}), field)
    same(getattr(resolve_options({option: kind(8)}), field), want)


@pytest.mark.parametrize("kind", [*NP_INTS, np.float32, np.float64])
def test_time_goal_and_reporting_interval_accept_numpy_numbers(kind: Any) -> None:
    opts = resolve_options(
        {"time_goal": kind(30), "training_progress_reporting": ("print", {"interval": kind(5)})}
    )
    same(opts.time_goal, 30.0)
    same(opts.reporting[0].every.amount, 5.0)


@pytest.mark.parametrize("kind", NP_FLOATS)
def test_learning_rate_accepts_numpy_floats(kind: Any) -> None:
    rate = resolve_options({"learning_rate": kind(0.25)}).method.learning_rate
    same(rate, 0.25)
    inside = parse_method(("sgd", {"learning_rate": kind(0.25)})).learning_rate
    same(inside, 0.25)
    # float32(0.01) is not 0.01: the rate is the float32 value, as a Python float.
    rate32 = resolve_options({"learning_rate": np.float32(0.01)}).method.learning_rate
    same(rate32, float(np.float32(0.01)))


INT_OPTIONS = ["batch_size", "max_training_rounds"]


@pytest.mark.parametrize("option", INT_OPTIONS)
@pytest.mark.parametrize("value", [np.bool_(True), True, np.float64(8.0), 8.0])
def test_int_options_refuse_bools_and_whole_floats(option: str, value: object) -> None:
    with pytest.raises(NetTrainError) as info:
        resolve_options({option: value})
    error = info.value
    assert error.argument == option
    assert str(error).startswith(f"{option}: must be a positive whole number of ")
    assert error.expected == 'an int >= 1, or "auto"'


@pytest.mark.parametrize("value", [np.bool_(True), np.float64(8.0), -1, np.int64(-1)])
def test_random_seeding_refuses_bools_floats_and_negatives(value: object) -> None:
    with pytest.raises(NetTrainError) as info:
        resolve_options({"random_seeding": value})
    assert info.value.argument == "random_seeding"
    assert "cannot use this as a seed" in str(info.value)


@pytest.mark.parametrize("value", [np.bool_(True), np.bool_(False)])
def test_time_goal_and_learning_rate_refuse_numpy_bools(value: object) -> None:
    with pytest.raises(NetTrainError, match=r"^time_goal: is not a duration"):
        resolve_options({"time_goal": value})
    with pytest.raises(NetTrainError, match=r"^learning_rate: must be a number or 'auto'"):
        resolve_options({"learning_rate": value})


def test_seed_and_durations_directly() -> None:
    same(resolve_seed(np.uint8(7)), 7)
    same(resolve_seed(np.uint64(2**64 - 1)), 2**64 - 1)  # the largest seed torch takes
    with pytest.raises(NetTrainError, match="non-negative int below 2\\*\\*64"):
        resolve_seed(2**64)
    same(parse_seconds(np.int64(30), argument="time_goal"), 30.0)
    assert parse_interval(np.int32(2), argument="validation_set") == Interval(2.0, "rounds")
    same(parse_interval(np.int32(2), argument="validation_set").amount, 2.0)
    with pytest.raises(NetTrainError, match=r"^validation_set: is not an interval"):
        parse_interval(np.bool_(True), argument="validation_set")


def test_gpu_index_may_be_a_numpy_integer() -> None:
    if torch.cuda.is_available():
        assert resolve_device(("gpu", np.int64(0))) == torch.device("cuda", 0)
    else:  # the index was read: the refusal is about the missing GPU, not the form
        with pytest.raises(NetTrainError, match="no GPU is available"):
            resolve_device(("gpu", np.int64(0)))
    with pytest.raises(NetTrainError, match="unknown device"):
        resolve_device(("gpu", np.bool_(False)))


# --- method sub-options --------------------------------------------------------------------


@pytest.mark.parametrize("kind", NP_INTS)
def test_int_sub_options_accept_numpy_integers(kind: Any) -> None:
    spec = parse_method(("lbfgs", {"history_size": kind(5), "max_iterations": kind(2)}))
    same(spec.hyper["history_size"], 5)
    same(spec.hyper["max_iterations"], 2)
    assert spec == parse_method(("lbfgs", {"history_size": 5, "max_iterations": 2}))


@pytest.mark.parametrize("kind", NP_FLOATS)
def test_real_sub_options_accept_numpy_floats(kind: Any) -> None:
    spec = parse_method(
        (
            "adam",
            {
                "beta1": kind(0.5),
                "epsilon": kind(0.25),
                "gradient_clipping": kind(2.0),
                "weight_clipping": kind(4.0),
                "l2_regularization": kind(0.5),
            },
        )
    )
    same(spec.hyper["beta1"], 0.5)
    same(spec.hyper["epsilon"], 0.25)
    same(spec.gradient_clipping, 2.0)
    same(spec.weight_clipping, 4.0)
    same(spec.l2_regularization, 0.5)


@pytest.mark.parametrize(
    ("key", "value"),
    [("history_size", np.bool_(True)), ("history_size", np.float64(8.0)), ("max_iterations", 2.0)],
)
def test_int_sub_options_refuse_bools_and_whole_floats(key: str, value: object) -> None:
    with pytest.raises(NetTrainError) as info:
        parse_method(("lbfgs", {key: value}))
    assert info.value.argument == f"method[{key!r}]"
    assert info.value.problem == "wrong type"
    assert info.value.expected == "an integer >= 1"


def test_clipping_part_specs_with_numpy_values_and_parts() -> None:
    spec = parse_method(("sgd", {"gradient_clipping": {np.int64(0): np.float32(0.5)}}))
    updater = build_updater(make_net(), spec)
    clip = dict(updater._gradient_clipping)
    assert list(clip) == [0.5] and type(next(iter(clip))) is float
    assert spec.describe()["gradient_clipping"] == {"0": 0.5}


def test_schedule_sub_options_accept_numpy_numbers() -> None:
    f = resolve_schedule(("polynomial", {"power": np.int64(3), "warmup": np.float32(0.5)}))
    assert f == Polynomial(power=3.0, warmup=0.5)
    assert isinstance(f, Polynomial)
    same(f.power, 3.0)
    same(f.warmup, 0.5)


# --- parts, multipliers, update schedule, total_steps --------------------------------------


@pytest.mark.parametrize("kind", NP_INTS)
def test_learning_rate_multipliers_with_numpy_parts_and_values(kind: Any) -> None:
    net = make_net()
    for spec, python in [
        (kind(2), 2),
        ({kind(0): kind(0)}, {0: 0}),
        ({range(kind(0), kind(1)): np.float32(0.5)}, {range(0, 1): 0.5}),
        ([(slice(kind(2), kind(3)), kind(3))], [(slice(2, 3), 3)]),
        ([((kind(0), "2.bias"), np.float64(0.25))], [((0, "2.bias"), 0.25)]),
    ]:
        got = resolve_parts(net, spec, default=1.0, argument="learning_rate_multipliers")
        want = resolve_parts(net, python, default=1.0, argument="learning_rate_multipliers")
        assert got == want
        assert all(type(v) is float for v in got.values())
    updater = build_updater(net, "sgd", multipliers={kind(0): kind(2)})
    same(updater.multipliers["0.weight"], 2.0)
    negative = build_updater(make_net(), "sgd", multipliers={"2.*": np.int8(-1)})
    same(negative.multipliers["2.bias"], -1.0)


def test_part_specs_refuse_numpy_bools_and_name_the_option() -> None:
    with pytest.raises(NetTrainError, match=r"^learning_rate_multipliers: a part cannot be a bool"):
        resolve_parts(
            make_net(), {np.bool_(True): 1.0}, default=1.0, argument="learning_rate_multipliers"
        )
    with pytest.raises(NetTrainError, match=r"^learning_rate_multipliers: values must be numbers"):
        resolve_parts(
            make_net(), {"0.*": np.bool_(True)}, default=1.0, argument="learning_rate_multipliers"
        )
    with pytest.raises(NetTrainError, match=r"part index 5 is out of range.*received 5\."):
        resolve_parts(make_net(), {np.int64(5): 1.0}, default=1.0, argument="multipliers")


@pytest.mark.parametrize("kind", NP_INTS)
def test_update_schedule_hold_counts_and_parts_may_be_numpy_integers(kind: Any) -> None:
    net = make_net()
    groups = parse_update_schedule(net, [kind(0), (kind(2), kind(3))])
    assert groups == parse_update_schedule(net, [0, (2, 3)])
    same(groups[1].steps, 3)
    same(groups[1].part, 2)
    assert groups[1].describe() == {"group": "2", "steps": 3, "parameters": ["2.weight", "2.bias"]}


@pytest.mark.parametrize("count", [np.bool_(True), 0, np.int64(0)])
def test_update_schedule_refuses_bad_hold_counts(count: object) -> None:
    with pytest.raises(NetTrainError, match=r"^training_update_schedule: group 0 is held for"):
        parse_update_schedule(make_net(), [(0, count)])


@pytest.mark.parametrize("kind", NP_INTS)
def test_total_steps_may_be_a_numpy_integer(kind: Any) -> None:
    method = ("sgd", {"learning_rate_schedule": "linear"})
    updater = build_updater(make_net(), method, total_steps=kind(10))
    same(updater.total_steps, 10)
    same(updater.describe()["total_steps"], 10)


@pytest.mark.parametrize("value", [np.bool_(True), np.float64(10.0), 10.0])
def test_total_steps_refuses_bools_and_floats(value: object) -> None:
    with pytest.raises(NetTrainError, match=r"^total_steps: must be a positive integer"):
        build_updater(make_net(), "sgd", total_steps=value)


# --- measurements and stopping -------------------------------------------------------------


@pytest.mark.parametrize("kind", NP_INTS)
def test_measurement_k_and_beta_may_be_numpy_numbers(kind: Any) -> None:
    pair, form = parse_measurements(
        [("accuracy", kind(3)), {"measurement": "error_rate", "k": kind(2)}],
        task="classification",
        num_classes=5,
    )
    assert (pair.key, form.key) == ("accuracy@3", "error_rate@2")
    same(pair.k, 3)
    same(form.k, 2)
    (f,) = parse_measurements(("f_score", np.float32(2.0)), task="classification")
    assert f.key == "f_score(beta=2)"
    same(f.beta, 2.0)


@pytest.mark.parametrize("k", [np.bool_(True), np.float64(3.0)])
def test_measurement_k_refuses_bools_and_floats(k: object) -> None:
    with pytest.raises(NetTrainError) as info:
        parse_measurements(("accuracy", k), task="classification")
    assert info.value.argument == "training_progress_measurements"
    assert "the sub-option 'k' (top-k) of 'accuracy' must be a positive integer" in str(info.value)


@pytest.mark.parametrize("kind", NP_INTS)
def test_stopping_counts_and_changes_may_be_numpy_numbers(kind: Any) -> None:
    directions: dict[str, str | None] = {"loss": "decreasing"}
    given = {
        "criterion": "loss",
        "patience": kind(2),
        "initial_patience": kind(1),
        "absolute_change": np.float32(0.5),
    }
    got = parse_criterion(given, directions=directions)
    want = parse_criterion(
        {"criterion": "loss", "patience": 2, "initial_patience": 1, "absolute_change": 0.5},
        directions=directions,
    )
    assert got == want
    same(got.patience, 2)
    same(got.initial_patience, 1)
    same(got.absolute_change, 0.5)
    relative = parse_criterion(
        {"criterion": "loss", "relative_change": np.float64(0.1)}, directions=directions
    )
    same(relative.relative_change, 0.1)


@pytest.mark.parametrize("name", ["patience", "initial_patience"])
@pytest.mark.parametrize("value", [np.bool_(True), np.float64(2.0)])
def test_stopping_counts_refuse_bools_and_floats(name: str, value: object) -> None:
    with pytest.raises(NetTrainError) as info:
        parse_criterion({"criterion": "loss", name: value}, directions={"loss": "decreasing"})
    assert info.value.argument == f"training_stopping_criterion[{name!r}]"
    assert info.value.problem == "must be a whole number of checks >= 0"


# --- through train: nothing downstream sees a NumPy type -----------------------------------


def test_train_with_numpy_options_equals_train_with_python_numbers() -> None:
    x, y = make_classification(32)
    python: dict[str, Any] = {
        "batch_size": 8,
        "max_training_rounds": 2,
        "random_seeding": 5,
        "learning_rate": 0.5,
        "method": ("sgd", {"momentum": 0.5}),
        **QUIET,
    }
    numpy: dict[str, Any] = {
        **python,
        "batch_size": np.int64(8),
        "max_training_rounds": np.int32(2),
        "random_seeding": np.uint8(5),
        "learning_rate": np.float64(0.5),
        "method": ("sgd", {"momentum": np.float32(0.5)}),
    }
    nets = [five_input_net(), five_input_net()]
    results = [
        nettrain.train(net, (x, y), "all", **opts)
        for net, opts in zip(nets, [python, numpy], strict=True)
    ]
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b)
    same(results[1].batch_size, 8)
    same(results[1].random_seed, 5)
    same(results[1].initial_learning_rate, 0.5)
