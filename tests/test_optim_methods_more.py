"""adagrad, adadelta, adamax and the switches (nesterov, amsgrad, centered) against torch.optim.

Each trajectory is compared with the ``torch.optim`` class of the same name over 10 steps: the
updater's (foreach) against torch's foreach implementation exactly, and against torch's default
implementation to rounding; end to end through ``nettrain.train`` against a hand-written loop.
Also the loose-tensor updater of the Core API against the same optimizer on a net.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError
from nettrain.optim import build_updater, parse_method
from nettrain.optim.methods import DEFAULT_LEARNING_RATES, METHOD_DEFAULTS, METHODS
from nettrain.optim.tensors import TensorSteps, build_tensor_updater, loss_and_gradients

Factory = Callable[..., torch.optim.Optimizer]
STEPS = 10


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + k)
    return torch.randn(8, 3, generator=g), torch.randn(8, 2, generator=g)


def loss_of(net: nn.Module, k: int) -> torch.Tensor:
    x, y = batch(k)
    return ((net(x) - y) ** 2).mean()


def snapshot(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def updater_trajectory(method: object, rate: object = "auto", **kw: object) -> list:
    net = make_net()
    updater = build_updater(net, parse_method(method, rate), **kw)  # type: ignore[arg-type]
    out = []
    for k in range(STEPS):
        updater.zero_grad()
        loss_of(net, k).backward()
        updater.step()
        out.append(snapshot(net))
    return out


def torch_trajectory(factory: Factory, **impl: object) -> list:
    net = make_net()
    optimizer = factory(list(net.parameters()), **impl)
    out = []
    for k in range(STEPS):
        optimizer.zero_grad()
        loss_of(net, k).backward()
        optimizer.step()
        out.append(snapshot(net))
    return out


def assert_equal_trajectories(got: list, want: list, exact: bool) -> None:
    assert len(got) == len(want) == STEPS
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if exact:
                assert torch.equal(x, y), f"step {step}, parameter {i}"
            else:
                torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)


# (method option, learning_rate option, the torch.optim optimizer it must equal)
CASES: list[tuple[str, object, object, Factory]] = [
    ("adagrad default", "adagrad", "auto", lambda p, **i: torch.optim.Adagrad(p, lr=0.01, **i)),
    (
        "adagrad set",
        ("adagrad", {"initial_accumulator_value": 0.1, "epsilon": 0.0}),
        0.3,
        lambda p, **i: torch.optim.Adagrad(p, lr=0.3, initial_accumulator_value=0.1, eps=0, **i),
    ),
    ("adadelta default", "adadelta", "auto", lambda p, **i: torch.optim.Adadelta(p, lr=1.0, **i)),
    (
        "adadelta set",
        ("adadelta", {"rho": 0.5, "epsilon": 1e-3}),
        0.2,
        lambda p, **i: torch.optim.Adadelta(p, lr=0.2, rho=0.5, eps=1e-3, **i),
    ),
    ("adamax default", "adamax", "auto", lambda p, **i: torch.optim.Adamax(p, lr=2e-3, **i)),
    (
        "adamax set",
        ("adamax", {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-4}),
        0.05,
        lambda p, **i: torch.optim.Adamax(p, lr=0.05, betas=(0.5, 0.9), eps=1e-4, **i),
    ),
    (
        "sgd nesterov",
        ("sgd", {"momentum": 0.8, "nesterov": True}),
        0.1,
        lambda p, **i: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True, **i),
    ),
    (
        "adam amsgrad",
        ("adam", {"amsgrad": True}),
        0.01,
        lambda p, **i: torch.optim.Adam(p, lr=0.01, eps=1e-5, amsgrad=True, **i),
    ),
    (
        "adamw amsgrad",
        ("adamw", {"amsgrad": True, "weight_decay": 0.1}),
        0.01,
        lambda p, **i: torch.optim.AdamW(p, lr=0.01, eps=1e-5, weight_decay=0.1, amsgrad=True, **i),
    ),
    (
        "rmsprop centered",
        ("rmsprop", {"centered": True, "momentum": 0.5}),
        0.01,
        lambda p, **i: torch.optim.RMSprop(
            p, lr=0.01, alpha=0.95, eps=1e-6, momentum=0.5, centered=True, **i
        ),
    ),
]


@pytest.mark.parametrize(("label", "method", "rate", "factory"), CASES, ids=[c[0] for c in CASES])
def test_trajectory_equals_torch_optim(
    label: str, method: object, rate: object, factory: Factory
) -> None:
    got = updater_trajectory(method, rate)
    assert_equal_trajectories(got, torch_trajectory(factory, foreach=True), exact=True)
    assert_equal_trajectories(got, torch_trajectory(factory), exact=False)


def test_comparison_detects_a_wrong_setting() -> None:
    # Control: adadelta's rho 0.9 (torch's default) against 0.95 must not compare equal.
    got = updater_trajectory("adadelta")
    want = torch_trajectory(lambda p, **i: torch.optim.Adadelta(p, lr=1.0, rho=0.95, **i))
    with pytest.raises(AssertionError):
        assert_equal_trajectories(got, want, exact=False)


def test_fused_adagrad_is_torchs_fused_kernel() -> None:
    net = make_net()
    updater = build_updater(net, parse_method("adagrad", 0.1), fused=True)
    assert updater.implementation == "fused"
    got = updater_trajectory("adagrad", 0.1, fused=True)
    want = torch_trajectory(lambda p, **i: torch.optim.Adagrad(p, lr=0.1, **i), fused=True)
    assert_equal_trajectories(got, want, exact=True)
    # Methods without a fused torch kernel fall back to foreach.
    assert build_updater(make_net(), "adamax", fused=True).implementation == "foreach"


@pytest.mark.parametrize(
    ("method", "factory"),
    [
        ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.1)),
        ("adadelta", lambda p: torch.optim.Adadelta(p, lr=0.1)),
        ("adamax", lambda p: torch.optim.Adamax(p, lr=0.1)),
    ],
)
def test_train_end_to_end_equals_a_hand_loop(method: str, factory: Factory) -> None:
    torch.manual_seed(5)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3

    def net() -> nn.Module:
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))

    trained = net()
    nettrain.train(
        trained,
        (x, y),
        method=(method, {"learning_rate": 0.1}),
        batch_size=32,  # the whole set each step: the example order cannot matter
        max_training_rounds=STEPS,
        validation_set=None,
        training_progress_reporting=None,
        loss_function="mean_squared",
    )
    reference = net()
    optimizer = factory(list(reference.parameters()))
    for _ in range(STEPS):
        optimizer.zero_grad()
        ((reference(x) - y) ** 2).mean().backward()
        optimizer.step()
    start = net()
    for a, b, s in zip(
        trained.parameters(), reference.parameters(), start.parameters(), strict=True
    ):
        assert not torch.allclose(a, s)  # it trained
        # Up to the order in which the batch's losses are summed.
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)


def test_defaults_are_torchs() -> None:
    assert METHODS[-3:] == ("adagrad", "adadelta", "adamax")
    for name, cls in (
        ("adagrad", torch.optim.Adagrad),
        ("adadelta", torch.optim.Adadelta),
        ("adamax", torch.optim.Adamax),
    ):
        w = torch.zeros(1, requires_grad=True)
        torch_defaults = cls([w]).defaults
        assert DEFAULT_LEARNING_RATES[name] == torch_defaults["lr"]
        assert METHOD_DEFAULTS[name]["epsilon"] == torch_defaults["eps"]
    assert METHOD_DEFAULTS["adagrad"]["initial_accumulator_value"] == 0.0
    assert METHOD_DEFAULTS["adadelta"]["rho"] == 0.9
    assert (METHOD_DEFAULTS["adamax"]["beta1"], METHOD_DEFAULTS["adamax"]["beta2"]) == (0.9, 0.999)


def test_switches_are_kept_only_when_on() -> None:
    assert parse_method(("sgd", {"nesterov": False})) == parse_method("sgd")
    assert dict(parse_method(("adam", {"AMSGrad": True})).hyper)["amsgrad"] is True
    on = parse_method(("rmsprop", {"centered": True})).describe()
    assert on["centered"] is True and "centered" not in parse_method("rmsprop").describe()


@pytest.mark.parametrize(
    ("method", "argument", "fragments"),
    [
        ("adagard", "method", ["unknown method 'adagard'", "did you mean 'adagrad'"]),
        (("adagrad", {"beta1": 0.9}), "method", ["unknown sub-option 'beta1' of method 'adagrad'"]),
        (("adadelta", {"rho": 1.0}), "method['rho']", ["in [0, 1)", "received 1.0"]),
        (("adadelta", {"roh": 0.9}), "method", ["did you mean 'rho'"]),
        (("adamax", {"epsilon": 0}), "method['epsilon']", ["> 0", "received 0"]),
        (("adagrad", {"epsilon": -1e-3}), "method['epsilon']", [">= 0"]),
        (("adagrad", {"initial_accumulator_value": -1}), "method['initial_accumulator_value']", []),
        (
            ("adagrad", {"epsilon": 0, "initial_accumulator_value": 0}),
            "method['epsilon']",
            ["divides 0 by 0"],
        ),
        (("sgd", {"nesterov": 1}), "method['nesterov']", ["True or False", "int"]),
        (("sgd", {"nesterov": True, "momentum": 0}), "method['nesterov']", ["momentum > 0"]),
        (("adam", {"centered": True}), "method", ["unknown sub-option 'centered'"]),
        (("adamax", {"amsgrad": True}), "method", ["unknown sub-option 'amsgrad'"]),
    ],
)
def test_bad_sub_options_name_them(method: object, argument: str, fragments: list[str]) -> None:
    with pytest.raises(NetTrainError) as info:
        parse_method(method)
    assert info.value.argument == argument
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


# --- loose tensors (the Core API's updater) ---------------------------------------------------


@pytest.mark.parametrize("method", ["adagrad", ("sgd", {"nesterov": True}), "adamw", "rmsprop"])
def test_tensor_updater_equals_the_net_updater(method: object) -> None:
    net = make_net()
    tensors = [p.detach().clone().requires_grad_(True) for p in net.parameters()]
    steps = TensorSteps()
    want = updater_trajectory(method)
    for k in range(STEPS):
        x, y = batch(k)

        def loss(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
            hidden = torch.tanh(x @ tensors[0].T + tensors[1])
            return ((hidden @ tensors[2].T + tensors[3] - y) ** 2).mean()

        _, variables, grads = loss_and_gradients(loss, tensors)
        steps.step(method, variables, grads)
        for i, (t, w) in enumerate(zip(tensors, want[k], strict=True)):
            assert torch.equal(t.detach(), w), f"step {k}, tensor {i}"
    assert steps.steps == STEPS and all(t.grad is None for t in tensors)


def test_tensor_updater_refuses_what_needs_a_net() -> None:
    w = torch.zeros(2, requires_grad=True)
    cases = [
        (("sgd", {"l2_regularization": {"weight": 0.1}}), "method['l2_regularization']"),
        (("sgd", {"learning_rate_schedule": "cosine"}), "method"),
        ("lbfgs", "method"),
    ]
    for method, argument in cases:
        with pytest.raises(NetTrainError) as info:
            build_tensor_updater([w], method)
        assert info.value.argument == argument
    with pytest.raises(NetTrainError, match="given twice"):
        build_tensor_updater([w, w], "sgd")
    with pytest.raises(NetTrainError, match="not a trainable tensor"):
        build_tensor_updater([torch.zeros(2)], "sgd")
