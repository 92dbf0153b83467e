"""nettrain.keras.optimizers: Keras 3's names and defaults, the engine mapping, the Core API.

References: Keras 3's documented signatures (keras.io/api/optimizers) and update rules
(keras/src/optimizers/*.py, ``update_step``), written out below as plain tensor arithmetic;
TF.js's ``tf.train`` factories (tfjs-core/src/optimizers); ``torch.optim`` trajectories; the
least-squares line for the Core API's linear regression.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

import nettrain
from nettrain.errors import NetTrainError
from nettrain.keras import optimizers as ko

STEPS = 10
KERAS_DEFAULTS = {  # keras.io/api/optimizers, Keras 3
    "SGD": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": None},
    "Adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
             "amsgrad": False, "weight_decay": None},
    "AdamW": {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
              "epsilon": 1e-7, "amsgrad": False},
    "RMSprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                "centered": False, "weight_decay": None},
    "Adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
                "weight_decay": None},
    "Adadelta": {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7, "weight_decay": None},
    "Adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
               "weight_decay": None},
}  # fmt: skip


@pytest.mark.parametrize("name", list(KERAS_DEFAULTS))
def test_signatures_have_keras_names_order_and_defaults(name: str) -> None:
    params = inspect.signature(getattr(ko, name)).parameters
    given = {k: p.default for k, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD}
    assert given == KERAS_DEFAULTS[name]
    assert list(given) == list(KERAS_DEFAULTS[name])  # Keras' positional order
    assert any(p.kind is p.VAR_KEYWORD for p in params.values())  # clipvalue, name, ...


METHODS = [
    (ko.SGD(), ("sgd", {"learning_rate": 0.01, "momentum": 0.0})),
    (ko.SGD(0.1, 0.9, True), ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True})),
    (
        ko.SGD(0.1, weight_decay=0.01, clipvalue=0.5),
        ("sgd", {"learning_rate": 0.1, "momentum": 0.0, "l2_regularization": 0.01,
                 "gradient_clipping": 0.5}),
    ),
    (ko.Adam(), ("adam", {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7})),
    (
        ko.Adam(amsgrad=True, weight_decay=0.1),
        ("adamw", {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7,
                   "weight_decay": 0.1, "amsgrad": True}),
    ),
    (
        ko.AdamW(),
        ("adamw", {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7,
                   "weight_decay": 0.004}),
    ),
    (
        ko.RMSprop(centered=True, epsilon=1e-4),
        ("rmsprop", {"learning_rate": 0.001, "beta": 0.9, "momentum": 0.0, "epsilon": 0.01,
                     "centered": True}),
    ),
    (
        ko.Adagrad(),
        ("adagrad", {"learning_rate": 0.001, "initial_accumulator_value": 0.1 + 1e-7,
                     "epsilon": 0.0}),
    ),
    (ko.Adadelta(), ("adadelta", {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7})),
    (
        ko.Adamax(),
        ("adamax", {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("opt", "method"), METHODS, ids=[repr(m[0]) for m in METHODS])
def test_method_is_the_engine_option(opt: ko.Optimizer, method: tuple) -> None:
    assert opt.method() == method
    nettrain.optim.parse_method(opt.method())  # the engine takes it as it is


# --- Keras 3's update rules, written out (keras/src/optimizers/*.py update_step) ------------

KerasRule = Callable[[torch.Tensor, torch.Tensor, dict, int], None]


def keras_sgd(lr: float, momentum: float = 0.0, nesterov: bool = False) -> KerasRule:
    def step(w: torch.Tensor, g: torch.Tensor, s: dict, t: int) -> None:
        if momentum == 0:
            w -= lr * g
            return
        m = s.setdefault("m", torch.zeros_like(w))
        m.copy_(m * momentum - g * lr)
        w += (m * momentum - g * lr) if nesterov else m

    return step


def keras_adam(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7,
               wd: float = 0.0) -> KerasRule:  # fmt: skip
    def step(w: torch.Tensor, g: torch.Tensor, s: dict, t: int) -> None:
        w -= w * wd * lr  # base_optimizer._apply_weight_decay, before the update
        m, v = s.setdefault("m", torch.zeros_like(w)), s.setdefault("v", torch.zeros_like(w))
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        w -= m * alpha / (v.sqrt() + eps)

    return step


def keras_rmsprop(lr: float, rho: float = 0.9, eps: float = 1e-7) -> KerasRule:
    def step(w: torch.Tensor, g: torch.Tensor, s: dict, t: int) -> None:
        v = s.setdefault("v", torch.zeros_like(w))
        v.copy_(rho * v + (1 - rho) * g * g)
        w -= lr * g / (v + eps).sqrt()

    return step


def keras_adagrad(lr: float, init: float = 0.1, eps: float = 1e-7) -> KerasRule:
    def step(w: torch.Tensor, g: torch.Tensor, s: dict, t: int) -> None:
        a = s.setdefault("a", torch.full_like(w, init))
        a += g * g
        w -= lr * g / (a + eps).sqrt()

    return step


def keras_adadelta(lr: float, rho: float = 0.95, eps: float = 1e-7) -> KerasRule:
    def step(w: torch.Tensor, g: torch.Tensor, s: dict, t: int) -> None:
        ag, ad = s.setdefault("g", torch.zeros_like(w)), s.setdefault("d", torch.zeros_like(w))
        ag.copy_(rho * ag + (1 - rho) * g * g)
        delta = -((ad + eps).sqrt() * g) / (ag + eps).sqrt()
        ad.copy_(rho * ad + (1 - rho) * delta * delta)
        w += lr * delta

    return step


def keras_adamax(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> KerasRule:
    def step(w: torch.Tensor, g: torch.Tensor, s: dict, t: int) -> None:
        m, u = s.setdefault("m", torch.zeros_like(w)), s.setdefault("u", torch.zeros_like(w))
        m += (g - m) * (1 - b1)
        u.copy_(torch.maximum(b2 * u, g.abs()))
        w -= lr * m / ((1 - b1**t) * (u + eps))

    return step


def quadratic_target() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(6, generator=g) * 3, torch.randn(6, generator=g)


def run_minimize(opt: ko.Optimizer, scale: float = 1.0) -> list[torch.Tensor]:
    target, start = quadratic_target()
    w = start.clone().requires_grad_(True)
    out = []
    for _ in range(STEPS):
        opt.minimize(lambda: (scale * (w - target) ** 2).sum())
        out.append(w.detach().clone())
    return out


def run_keras(rule: KerasRule, scale: float = 1.0) -> list[torch.Tensor]:
    target, start = quadratic_target()
    w, state, out = start.clone(), {}, []
    for t in range(1, STEPS + 1):
        rule(w, 2 * scale * (w - target), state, t)
        out.append(w.clone())
    return out


KERAS_CASES = [  # (optimizer, Keras' rule, loss scale, rtol): rtol 1e-5 is float32 rounding
    (ko.SGD(0.1), keras_sgd(0.1), 1.0, 1e-5),
    (ko.SGD(0.05, momentum=0.9), keras_sgd(0.05, 0.9), 1.0, 1e-5),
    (ko.SGD(0.05, momentum=0.9, nesterov=True), keras_sgd(0.05, 0.9, True), 1.0, 1e-5),
    (ko.Adagrad(0.5, 0.0, 1e-3), keras_adagrad(0.5, 0.0, 1e-3), 1.0, 1e-5),  # exact mapping
    (ko.Adagrad(0.5), keras_adagrad(0.5), 1e-3, 1e-5),
    (ko.Adadelta(1.0, 0.9, 1e-3), keras_adadelta(1.0, 0.9, 1e-3), 1.0, 1e-5),
    (ko.Adamax(0.1), keras_adamax(0.1), 1.0, 1e-5),  # differ by <= epsilon in the denominator
    # Adam, AdamW: the epsilons differ by sqrt(1 - beta_2**t): 1e-4 relative where a gradient
    # element has fallen to ~1e-3 (index 4 here), invisible where sqrt(v) >> epsilon.
    (ko.Adam(0.1), keras_adam(0.1), 1.0, 1e-4),
    (ko.AdamW(0.1, weight_decay=0.5), keras_adam(0.1, wd=0.5), 1.0, 1e-4),
    (ko.RMSprop(0.01), keras_rmsprop(0.01), 1.0, 1e-3),  # mostly sqrt(v) >> sqrt(epsilon)
]  # fmt: skip


@pytest.mark.parametrize(("opt", "rule", "scale", "rtol"), KERAS_CASES, ids=repr)
def test_follows_keras_update_rules(opt: ko.Optimizer, rule: KerasRule, scale: float,
                                    rtol: float) -> None:  # fmt: skip
    for got, want in zip(run_minimize(opt, scale), run_keras(rule, scale), strict=True):
        torch.testing.assert_close(got, want, rtol=rtol, atol=1e-7)


def test_rmsprop_epsilon_stays_within_sqrt2_of_keras_where_gradients_are_tiny() -> None:
    # Gradients ~1e-4: sqrt(v) is comparable to sqrt(eps) = 3e-4, the worst case for the mapping.
    got, want = run_minimize(ko.RMSprop(0.01), 1e-4), run_keras(keras_rmsprop(0.01), 1e-4)
    start = quadratic_target()[1]
    for a, b in zip(got, want, strict=True):
        ratio = (a - start) / (b - start)  # distance moved by ours / by Keras
        assert bool(((ratio > 1 / math.sqrt(2) - 1e-3) & (ratio <= 1 + 1e-4)).all()), ratio


def test_tfjs_adam_is_torch_adam_exactly() -> None:
    target, start = quadratic_target()
    w = start.clone().requires_grad_(True)
    ours = run_minimize(ko.adam(0.1))
    optimizer = torch.optim.Adam([w], lr=0.1, eps=1e-7, foreach=True)
    for k in range(STEPS):
        optimizer.zero_grad()
        ((w - target) ** 2).sum().backward()
        optimizer.step()
        assert torch.equal(w.detach(), ours[k])


# --- the Core API against torch.optim --------------------------------------------------------

TORCH = [  # the torch.optim optimizer each must be, from the mapping table
    (ko.SGD(0.1, 0.9, True), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    (ko.Adam(0.05, amsgrad=True), lambda p: torch.optim.Adam(p, lr=0.05, eps=1e-7, amsgrad=True)),
    (ko.AdamW(0.05), lambda p: torch.optim.AdamW(p, lr=0.05, eps=1e-7, weight_decay=0.004)),
    (
        ko.RMSprop(0.01, momentum=0.5, centered=True),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7**0.5, momentum=0.5,
                                      centered=True),
    ),
    (ko.Adagrad(0.3), lambda p: torch.optim.Adagrad(p, lr=0.3, initial_accumulator_value=0.1 + 1e-7,
                                                    eps=0.0)),
    (ko.Adadelta(1.0), lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7)),
    (ko.Adamax(0.1), lambda p: torch.optim.Adamax(p, lr=0.1, eps=1e-7)),
]  # fmt: skip


def regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    xs = torch.rand(50, generator=g) * 4 - 2
    return xs, 1.7 * xs - 0.4 + 0.1 * torch.randn(50, generator=g)


@pytest.mark.parametrize(("opt", "factory"), TORCH, ids=[repr(c[0]) for c in TORCH])
def test_minimize_steps_equal_torch_optim(opt: ko.Optimizer, factory: Callable) -> None:
    xs, ys = regression_data()
    a, b = torch.tensor(0.3, requires_grad=True), torch.tensor(-0.2, requires_grad=True)
    ra, rb = a.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
    reference = factory([ra, rb])
    for k in range(STEPS):
        cost = opt.minimize(lambda: ((a * xs + b - ys) ** 2).mean(), return_cost=True)
        reference.zero_grad()
        loss = ((ra * xs + rb - ys) ** 2).mean()
        loss.backward()
        reference.step()
        assert cost is not None and torch.equal(cost, loss.detach())
        torch.testing.assert_close((a, b), (ra, rb), rtol=1e-6, atol=1e-7, msg=f"step {k}")
    assert opt.iterations == STEPS and a.grad is None and b.grad is None


def test_seed_linear_regression_converges_to_least_squares() -> None:
    # The seed's Core API example: y = a x + b fitted with SGD(0.1).minimize.
    xs, ys = regression_data()
    a, b = torch.tensor(0.0, requires_grad=True), torch.tensor(0.0, requires_grad=True)
    opt = ko.SGD(0.1)
    for _ in range(300):
        opt.minimize(lambda: ((a * xs + b - ys) ** 2).mean())
    design = torch.stack([xs, torch.ones_like(xs)], 1)
    want = torch.linalg.lstsq(design, ys.unsqueeze(1)).solution.squeeze(1)
    torch.testing.assert_close(torch.stack([a, b]).detach(), want, rtol=1e-5, atol=1e-5)


def test_apply_gradients_equals_minimize_and_leaves_inputs_alone() -> None:
    xs, ys = regression_data()
    a1, b1 = torch.tensor(0.5, requires_grad=True), torch.tensor(0.5, requires_grad=True)
    a2, b2 = torch.tensor(0.5, requires_grad=True), torch.tensor(0.5, requires_grad=True)
    b2.grad = torch.tensor(9.0)  # the user's own .grad survives
    o1, o2 = ko.Adam(0.1, clipvalue=0.3), ko.Adam(0.1, clipvalue=0.3)
    for _ in range(STEPS):
        o1.minimize(lambda: ((a1 * xs + b1 - ys) ** 2).mean(), var_list=[a1, b1])
        grads = torch.autograd.grad(((a2 * xs + b2 - ys) ** 2).mean(), [a2, b2])
        kept = [g.clone() for g in grads]
        assert o2.apply_gradients(zip(grads, [a2, b2], strict=True)) == o2.iterations
        assert all(torch.equal(g, k) for g, k in zip(grads, kept, strict=True))  # clipped a copy
    assert torch.equal(a1, a2) and torch.equal(b1, b2) and torch.equal(b2.grad, torch.tensor(9.0))


def test_state_is_per_set_of_variables_and_a_none_gradient_skips() -> None:
    w, v = torch.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    opt = ko.SGD(0.1, momentum=0.5)
    opt.apply_gradients([(torch.tensor([1.0]), w), (None, v)])
    assert torch.equal(v.detach(), torch.tensor([1.0]))
    opt.apply_gradients([(torch.tensor([1.0]), w), (None, v)])
    # momentum: 0.1 * 1, then 0.1 * (0.5 * 1 + 1)
    torch.testing.assert_close(w.detach(), torch.tensor([1.0 - 0.1 - 0.15]))
    opt.minimize(lambda: (w * 0 + v).sum())  # v alone: a fresh set with its own state
    torch.testing.assert_close(v.detach(), torch.tensor([0.9]))


def test_learning_rate_is_assignable_and_reaches_live_state() -> None:
    w = torch.tensor([2.0], requires_grad=True)
    r = w.detach().clone().requires_grad_(True)
    opt, reference = ko.SGD(0.1, momentum=0.9), None
    reference = torch.optim.SGD([r], lr=0.1, momentum=0.9)
    for k in range(6):
        if k == 3:
            opt.learning_rate = 0.01
            reference.param_groups[0]["lr"] = 0.01
        opt.minimize(lambda: (w**2).sum())
        reference.zero_grad()
        (r**2).sum().backward()
        reference.step()
    assert torch.equal(w, r) and opt.learning_rate == 0.01
    assert opt.method()[1]["learning_rate"] == 0.01
    with pytest.raises(NetTrainError, match="learning_rate"):
        opt.learning_rate = -1
    with pytest.raises(NetTrainError, match="only learning_rate"):
        opt.momentum = 0.5


@pytest.mark.parametrize("opt", [m[0] for m in METHODS], ids=repr)
def test_config_round_trip(opt: ko.Optimizer) -> None:
    config = opt.get_config()
    assert {"name", "learning_rate", "weight_decay", "clipvalue", "clipnorm"} <= set(config)
    again = type(opt).from_config(config)
    assert again.method() == opt.method() and again.get_config() == config
    assert ko.get({"class_name": type(opt).__name__, "config": config}).method() == opt.method()


def test_get_by_name_and_object() -> None:
    for name in ("sgd", "Adam", "ADAMW", "rmsprop", "adagrad", "adadelta", "Adamax"):
        opt = ko.get(name)
        assert type(opt).__name__.lower() == name.lower()
        assert (
            opt.get_config()["learning_rate"] == KERAS_DEFAULTS[type(opt).__name__]["learning_rate"]
        )
    opt = ko.SGD(0.3)
    assert ko.get(opt) is opt
    with pytest.raises(NetTrainError, match="did you mean 'rmsprop'") as info:
        ko.get("rmsporp")
    assert info.value.argument == "optimizer"
    with pytest.raises(NetTrainError, match=r"torch\.optim optimizers are not taken"):
        ko.get(torch.optim.SGD)


def test_train_with_method_equals_a_hand_loop() -> None:
    torch.manual_seed(5)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def net() -> nn.Module:
        torch.manual_seed(1)
        return nn.Linear(3, 1)

    trained, reference = net(), net()
    nettrain.train(trained, (x, y), method=ko.Adagrad(0.1).method(), batch_size=32,
                   max_training_rounds=STEPS, validation_set=None,
                   training_progress_reporting=None, loss_function="mean_squared")  # fmt: skip
    opt = ko.Adagrad(0.1)
    for _ in range(STEPS):
        opt.minimize(lambda: ((reference(x) - y) ** 2).mean())
    for a, b in zip(trained.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)


# --- refusals and bad inputs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "argument", "fragment"),
    [
        (lambda: ko.SGD(clipnorm=1.0), "SGD(clipnorm)", "no per-variable norm clipping"),
        (lambda: ko.Adam(global_clipnorm=1.0), "Adam(global_clipnorm)", "global norm"),
        (
            lambda: ko.Adam(use_ema=True, ema_overwrite_frequency=10),
            "Adam(ema_overwrite_frequency)",
            "only at the end of fit",
        ),
        (lambda: ko.Adam(use_ema=True, ema_momentum=1.0), "Adam(ema_momentum)", "in (0, 1)"),
        (lambda: ko.Adam(use_ema="yes"), "Adam(use_ema)", "True or False"),
        (
            lambda: ko.Adam(gradient_accumulation_steps=1),
            "Adam(gradient_accumulation_steps)",
            ">= 2",
        ),
        (lambda: ko.RMSprop(weight_decay=0.1), "RMSprop(weight_decay)", "no exact counterpart"),
        (lambda: ko.SGD(0.1, 0.9, weight_decay=0.1), "SGD(weight_decay)", "momentum"),
        (lambda: ko.SGD(lr=0.1), "SGD", "Keras 3 calls it learning_rate"),
        (lambda: ko.Adam(beta1=0.9), "Adam", "did you mean 'beta_1'"),
        (lambda: ko.Adam(learning_rate=lambda: 0.1), "learning_rate", "schedules"),
        (lambda: ko.SGD(momentum=1.5), "SGD(momentum)", "in [0, 1)"),
        (lambda: ko.SGD(nesterov="yes"), "SGD(nesterov)", "True or False"),
        (lambda: ko.Adagrad(epsilon=0), "Adagrad(epsilon)", "> 0"),
        (lambda: ko.sgd(), "tf.train.sgd", "needs a learning rate"),
        (lambda: ko.adamax(decay=0.1), "tf.train.adamax(decay)", "decaying"),
        (lambda: ko.adam(learningRat=0.1), "tf.train.adam", "or 'learningRate'?"),
    ],
)
def test_refusals_name_the_argument(make: Callable, argument: str, fragment: str) -> None:
    with pytest.raises(NetTrainError) as info:
        make()
    assert info.value.argument == argument
    assert fragment in str(info.value)


def test_core_api_bad_inputs() -> None:
    w = torch.ones(3, requires_grad=True)
    opt = ko.SGD(0.1)
    cases: list[tuple[Callable[[], object], str, str]] = [
        (lambda: opt.minimize(w * 2), "f", "must be a function"),  # type: ignore[arg-type]
        (lambda: opt.minimize(lambda: w * 2), "f", "scalar"),
        (lambda: opt.minimize(lambda: 3.0), "f", "scalar"),  # type: ignore[arg-type,return-value]
        (lambda: opt.minimize(lambda: torch.ones(()).sum()), "f", "requires_grad=True"),
        (lambda: opt.minimize(lambda: w.sum(), var_list=[]), "var_list", "no variables"),
        (lambda: opt.minimize(lambda: w.sum(), var_list=w), "var_list", "list of tensors"),
        (lambda: opt.minimize(lambda: w.sum(), var_list=[w * 1]), "var_list[0]", "trainable"),
        (lambda: opt.minimize(lambda: w.sum(), var_list=[w, w]), "var_list", "twice"),
        (lambda: opt.apply_gradients([(None, w)]), "var_list", "none of these"),
        (lambda: opt.apply_gradients([(torch.ones(2), w)]), "grads_and_vars[0]", "shape (3,)"),
        (lambda: opt.apply_gradients([w]), "grads_and_vars[0]", "pair"),
    ]
    for call, argument, fragment in cases:
        with pytest.raises(NetTrainError) as info:
            call()
        assert info.value.argument == argument, str(info.value)
        assert fragment in str(info.value), str(info.value)
    assert torch.equal(w, torch.ones(3)) and opt.iterations == 0


def test_tfjs_factories_take_camel_case_and_tfjs_defaults() -> None:
    assert ko.sgd(learningRate=0.2).method() == ("sgd", {"learning_rate": 0.2, "momentum": 0.0})
    assert ko.momentum(0.1, 0.9, useNesterov=True).nesterov is True
    assert ko.adam().get_config()["epsilon"] == 1e-7  # TF.js: the backend's epsilon
    assert ko.adamax().learning_rate == 0.002  # TF.js's default, not Keras' 0.001
    assert ko.adagrad(0.1, initialAccumulatorValue=0.5).initial_accumulator_value == 0.5
    assert (
        ko.rmsprop(0.01, 0.8, 0.5, 1e-6, True).get_config()
        == ko.RMSprop(0.01, 0.8, 0.5, 1e-6, True).get_config()
    )
    assert (ko.adadelta().rho, ko.adadelta().learning_rate) == (0.95, 0.001)


def test_adam_epsilon_difference_is_real_where_gradients_are_tiny() -> None:
    # The documented difference: with gradients near epsilon, Keras' first step is smaller
    # (its epsilon acts like torch's divided by sqrt(1 - beta_2) ~ 0.03 at t = 1).
    start = quadratic_target()[1]
    ours = run_minimize(ko.Adam(0.1), 1e-7)[0] - start
    keras = run_keras(keras_adam(0.1), 1e-7)[0] - start
    assert bool((ours.abs() > 2 * keras.abs()).all())
