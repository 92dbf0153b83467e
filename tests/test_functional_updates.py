"""The custom-loop face's gradients and stateless updates, against torch and the engine.

Every update is compared with ``torch.optim`` (or a hand-written reference) over 10 steps on a
small float64 MLP with a learning rate that changes at every step, and with the engine's own
optimizer for every ``method`` (built by :func:`nettrain.optim.build_updater`, fused where the
engine uses fused kernels), and once end to end with ``nettrain.train``.
"""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import nettrain
from nettrain import NetTrainError
from nettrain.functional import (
    adam_update,
    adamw_update,
    dl_update,
    rmsprop_update,
    sgdm_update,
    signsgd_update,
    value_and_grad,
)
from nettrain.optim import build_updater, parse_method

STEPS = 10
RATES = [0.05 / (1 + 0.3 * k) for k in range(STEPS)]  # MATLAB's time-based decay


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 4, generator=g, dtype=torch.float64)
    t = torch.randn(32, 2, generator=g, dtype=torch.float64)
    return x, t


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()


def _tree(net: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    return {
        "fc1": {"W": net[0].weight.detach().clone(), "b": net[0].bias.detach().clone()},
        "fc2": {"W": net[2].weight.detach().clone(), "b": net[2].bias.detach().clone()},
    }


def _model(p, x):
    return torch.tanh(x @ p["fc1"]["W"].T + p["fc1"]["b"]) @ p["fc2"]["W"].T + p["fc2"]["b"]


def _tree_loss(p, x, t):
    return F.mse_loss(_model(p, x), t)


def _module_loss(net, x, t):
    return F.mse_loss(net(x), t)


def _as_module_names(tree):
    return {
        "0.weight": tree["fc1"]["W"],
        "0.bias": tree["fc1"]["b"],
        "2.weight": tree["fc2"]["W"],
        "2.bias": tree["fc2"]["b"],
    }


def _signum_reference(params, grads, buffers, lr, momentum):
    for name in params:
        buffers[name] = (
            momentum * buffers.get(name, torch.zeros_like(params[name]))
            + (1 - momentum) * grads[name]
        )
        params[name] = params[name] - lr * torch.sign(buffers[name])


# (functional update, its hyperparameters, a torch optimizer with the same settings)
TORCH_CASES = {
    "adam": (adam_update, {}, lambda ps: torch.optim.Adam(ps, lr=1.0, eps=1e-8)),
    "adamw": (adamw_update, {}, lambda ps: torch.optim.AdamW(ps, lr=1.0, eps=1e-8)),
    "rmsprop": (rmsprop_update, {}, lambda ps: torch.optim.RMSprop(ps, lr=1.0, alpha=0.9)),
    "sgdm": (sgdm_update, {}, lambda ps: torch.optim.SGD(ps, lr=1.0, momentum=0.9)),
    "adam_l2": (
        adam_update,
        {"weight_decay": 0.1, "gradient_decay": 0.8},
        lambda ps: torch.optim.Adam(ps, lr=1.0, betas=(0.8, 0.999), eps=1e-8, weight_decay=0.1),
    ),
    "rmsprop_momentum": (
        rmsprop_update,
        {"momentum": 0.5, "squared_gradient_decay": 0.95},
        lambda ps: torch.optim.RMSprop(ps, lr=1.0, alpha=0.95, eps=1e-8, momentum=0.5),
    ),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
@pytest.mark.parametrize("form", ["tree", "module"])
def test_update_matches_torch_optim_over_ten_steps(case, form):
    update, hyper, make_optimizer = TORCH_CASES[case]
    x, t = _data()
    reference = _mlp()
    optimizer = make_optimizer(reference.parameters())
    params = _tree(reference) if form == "tree" else _mlp()
    loss_fn = _tree_loss if form == "tree" else _module_loss
    state = None
    for k in range(STEPS):
        _loss, grads, *_ = value_and_grad(loss_fn, params, x, t)
        params, state = update(params, grads, state, learning_rate=RATES[k], **hyper)
        optimizer.zero_grad()
        _module_loss(reference, x, t).backward()
        for group in optimizer.param_groups:
            group["lr"] = RATES[k]
        optimizer.step()
        mine = _as_module_names(params) if form == "tree" else dict(params.named_parameters())
        for name, p in reference.named_parameters():
            assert torch.allclose(mine[name], p, rtol=0, atol=1e-10), (case, k, name)
    assert state["iteration"] == STEPS


def test_signsgd_and_dl_update_match_hand_written_references():
    x, t = _data()
    net = _mlp()
    params, ref, buffers = _tree(net), _as_module_names(_tree(net)), {}
    plain, plain_ref = _tree(net), _as_module_names(_tree(net))
    state = None
    for k in range(STEPS):
        _, grads = value_and_grad(_tree_loss, params, x, t)
        params, state = signsgd_update(params, grads, state, learning_rate=RATES[k], momentum=0.6)
        ref_grads = _as_module_names(value_and_grad(_tree_loss, _unflat(ref), x, t)[1])
        _signum_reference(ref, ref_grads, buffers, RATES[k], 0.6)
        _, g = value_and_grad(_tree_loss, plain, x, t)
        rate = RATES[k]
        plain = dl_update(lambda w, dw, rate=rate: w - rate * dw, plain, g)
        g_ref = _as_module_names(value_and_grad(_tree_loss, _unflat(plain_ref), x, t)[1])
        plain_ref = {n: plain_ref[n] - rate * g_ref[n] for n in plain_ref}
        for name, value in _as_module_names(params).items():
            assert torch.allclose(value, ref[name], rtol=0, atol=1e-10), (k, name)
        for name, value in _as_module_names(plain).items():
            assert torch.allclose(value, plain_ref[name], rtol=0, atol=1e-10), (k, name)


def _unflat(flat):
    return {
        "fc1": {"W": flat["0.weight"], "b": flat["0.bias"]},
        "fc2": {"W": flat["2.weight"], "b": flat["2.bias"]},
    }


# (method, its sub-options for the engine, the functional update and its hyperparameters)
ENGINE_CASES = {
    "adam": ({"beta1": 0.8, "epsilon": 1e-7}, adam_update, {"beta1": 0.8, "epsilon": 1e-7}),
    "adamw": (
        {"epsilon": 1e-8, "weight_decay": 0.05},
        adamw_update,
        {"epsilon": 1e-8, "weight_decay": 0.05},
    ),
    "rmsprop": (
        {"beta": 0.95, "epsilon": 1e-6, "momentum": 0.9},
        rmsprop_update,
        {"squared_gradient_decay": 0.95, "epsilon": 1e-6, "momentum": 0.9},
    ),
    "sgd": ({"momentum": 0.93}, sgdm_update, {"momentum": 0.93}),
    "signsgd": ({"momentum": 0.93}, signsgd_update, {"momentum": 0.93}),
}


@pytest.mark.parametrize("method", sorted(ENGINE_CASES))
def test_functional_update_equals_the_engines_optimizer(method):
    """The engine's Updater (fused kernels where it uses them, a learning-rate schedule that
    changes the rate at every step) and the functional update give the same weights."""
    sub, update, hyper = ENGINE_CASES[method]
    x, t = _data(1)
    engine_net, mine = _mlp(1), _mlp(1)
    base = RATES[0]
    schedule = {"learning_rate_schedule": lambda batch, total: RATES[batch] / base}
    spec = parse_method((method, {**sub, **schedule}), learning_rate=base)
    updater = build_updater(engine_net, spec, total_steps=STEPS, fused=True)
    assert updater.implementation == ("foreach" if method in ("rmsprop", "signsgd") else "fused")
    state = None
    for k in range(STEPS):
        updater.zero_grad()
        _module_loss(engine_net, x, t).backward()
        updater.step()
        _, grads = value_and_grad(_module_loss, mine, x, t)
        mine, state = update(mine, grads, state, learning_rate=RATES[k], **hyper)
        for (name, a), (_, b) in zip(
            engine_net.named_parameters(), mine.named_parameters(), strict=True
        ):
            assert torch.allclose(a, b, rtol=0, atol=1e-10), (method, k, name)


def test_a_custom_loop_reproduces_nettrain_train_end_to_end():
    """train() with adam and the functional loop over train's own batch order agree."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(48, 4, generator=g, dtype=torch.float64)
    y = torch.randn(48, 2, generator=g, dtype=torch.float64)
    net, mine = _mlp(2), _mlp(2)
    result = nettrain.train(
        net,
        (x, y),
        "all",
        method=("adam", {"epsilon": 1e-8}),
        learning_rate=0.01,
        batch_size=16,
        max_training_rounds=3,
        loss_function="mean_squared_error",
        working_precision="float64",
        training_progress_reporting=None,
    )
    state = None
    for order in result.batch_permutation:
        for begin in range(0, len(order), 16):
            index = order[begin : begin + 16]
            _, grads = value_and_grad(_module_loss, mine, x[index], y[index])
            mine, state = adam_update(mine, grads, state, learning_rate=0.01)
    assert state["iteration"] == result.total_batches == 9
    for (name, a), (_, b) in zip(net.named_parameters(), mine.named_parameters(), strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-10), name


def test_state_saves_and_continues_exactly():
    x, t = _data()
    straight, params = _tree(_mlp()), _tree(_mlp())
    state_a = state_b = None
    for k in range(STEPS):
        _, g = value_and_grad(_tree_loss, straight, x, t)
        straight, state_a = adam_update(straight, g, state_a, learning_rate=RATES[k])
    for k in range(STEPS):
        if k == 5:  # save and load through torch's safe loader (no pickle of code)
            buffer = io.BytesIO()
            torch.save({"params": params, "state": state_b}, buffer)
            buffer.seek(0)
            loaded = torch.load(buffer, weights_only=True)
            params, state_b = loaded["params"], loaded["state"]
        _, g = value_and_grad(_tree_loss, params, x, t)
        params, state_b = adam_update(params, g, state_b, learning_rate=RATES[k])
    for name, value in _as_module_names(params).items():
        assert torch.equal(value, _as_module_names(straight)[name]), name


def test_a_tree_and_its_state_are_never_changed_a_module_is_updated_in_place():
    x, t = _data()
    params = _tree(_mlp())
    before = {n: v.clone() for n, v in _as_module_names(params).items()}
    _, g = value_and_grad(_tree_loss, params, x, t)
    new, state = adam_update(params, g, learning_rate=0.1)
    saved = {n: v.clone() for n, v in state["average_gradient"].items()}
    _, g2 = value_and_grad(_tree_loss, new, x, t)
    adam_update(new, g2, state, learning_rate=0.1)
    for name, value in _as_module_names(params).items():
        assert torch.equal(value, before[name])
    for name, value in state["average_gradient"].items():
        assert torch.equal(value, saved[name])
    net = _mlp()
    weight = net[0].weight
    _, g = value_and_grad(_module_loss, net, x, t)
    out, _ = sgdm_update(net, g, learning_rate=0.1)
    assert out is net and net[0].weight is weight
    assert not torch.equal(weight, _mlp()[0].weight)


def test_integer_leaves_and_frozen_parameters_are_left_alone():
    params = {"W": torch.ones(2, 2), "table": torch.tensor([3, 1])}
    _loss, grads = value_and_grad(
        lambda p, x: (x @ p["W"]).sum() * p["table"][0], params, torch.ones(1, 2)
    )
    assert grads["table"] is None and torch.equal(grads["W"], torch.full((2, 2), 3.0))
    new, state = adam_update(params, grads, learning_rate=0.1)
    assert new["table"] is params["table"] and set(state["average_gradient"]) == {"W"}
    net = _mlp()
    net[0].weight.requires_grad_(False)
    frozen = net[0].weight.clone()
    x, t = _data()
    _, g = value_and_grad(_module_loss, net, x, t)
    assert "0.weight" not in g
    rmsprop_update(net, g, learning_rate=0.1)
    assert torch.equal(net[0].weight, frozen)


def test_value_and_grad_equals_torch_autograd_for_function_module_and_siamese_pair():
    x, t = _data()
    net = _mlp()
    params = _tree(net)
    _, grads = value_and_grad(_tree_loss, params, x, t)
    leaves = [params["fc1"]["W"], params["fc1"]["b"], params["fc2"]["W"], params["fc2"]["b"]]
    leaves = [p.detach().requires_grad_() for p in leaves]
    ref = torch.autograd.grad(
        _tree_loss(_unflat(dict(zip(_as_module_names(params), leaves, strict=True))), x, t), leaves
    )
    for mine, theirs in zip(_as_module_names(grads).values(), ref, strict=True):
        assert torch.equal(mine, theirs)
    assert not params["fc1"]["W"].requires_grad  # the caller's tensors are not changed

    _, grads = value_and_grad(_module_loss, net, x, t)
    ref = torch.autograd.grad(_module_loss(net, x, t), list(net.parameters()))
    assert list(grads) == [n for n, _ in net.named_parameters()]
    for mine, theirs in zip(grads.values(), ref, strict=True):
        assert torch.equal(mine, theirs)
    assert all(p.grad is None for p in net.parameters())  # nothing accumulated in .grad

    a, b = x[:16], x[16:]

    def siamese(p, a, b):
        return (_model(p, a) - _model(p, b)).pow(2).sum(1).mean()

    _loss, grads = value_and_grad(siamese, params, a, b)
    ref_leaves = [v.detach().requires_grad_() for v in _as_module_names(params).values()]
    ref = torch.autograd.grad(
        siamese(_unflat(dict(zip(_as_module_names(params), ref_leaves, strict=True))), a, b),
        ref_leaves,
    )
    for mine, theirs in zip(_as_module_names(grads).values(), ref, strict=True):
        assert torch.equal(mine, theirs)


def test_value_and_grad_returns_extra_outputs_and_zero_for_unused_parameters():
    params = {"used": torch.tensor([2.0]), "unused": torch.ones(3)}

    def fn(p, x):
        y = p["used"] * x
        return y.sum(), y.detach(), "state"

    loss, grads, y, extra = value_and_grad(fn, params, torch.tensor([1.0, 2.0]))
    assert loss.item() == 6.0 and not loss.requires_grad
    assert torch.equal(grads["used"], torch.tensor([3.0]))
    assert torch.equal(grads["unused"], torch.zeros(3))
    assert torch.equal(y, torch.tensor([2.0, 4.0])) and extra == "state"
    # a loss that does not depend on the parameters at all: every gradient is zero
    loss, grads = value_and_grad(lambda p: torch.tensor(1.5), params)
    assert loss.item() == 1.5 and torch.equal(grads["used"], torch.zeros(1))


@pytest.mark.parametrize(
    ("call", "argument", "words"),
    [
        (lambda: value_and_grad(42, {"w": torch.ones(1)}), "fn", "not callable"),
        (lambda: value_and_grad(lambda p: p["w"] * 2, {"w": torch.ones(3)}), "fn", "more than one"),
        (lambda: value_and_grad(lambda p: "x", {"w": torch.ones(1)}), "fn", "loss"),
        (lambda: value_and_grad(lambda p: p, {"w": [1.0]}), "params", "not a tensor"),
        (lambda: value_and_grad(lambda p: p, 3.0), "params", "not a set of parameters"),
        (
            lambda: value_and_grad(lambda p: torch.tensor(1), {"w": torch.ones(1)}),
            "fn",
            "integer loss",
        ),
        (
            lambda: adam_update({"w": torch.ones(2)}, {"v": torch.ones(2)}),
            "adam_update: grads",
            "does not match",
        ),
        (
            lambda: adam_update({"w": torch.ones(2)}, {"w": torch.ones(3)}),
            "adam_update: grads",
            "wrong shape",
        ),
        (
            lambda: adam_update({"w": torch.ones(1)}, {"w": torch.ones(1)}, learning_rat=0.1),
            "adam_update",
            "learning_rate",
        ),
        (
            lambda: sgdm_update({"w": torch.ones(1)}, {"w": torch.ones(1)}, momentum=1.0),
            "sgdm_update: momentum",
            "out of range",
        ),
        (
            lambda: rmsprop_update({"w": torch.ones(1)}, {"w": torch.ones(1)}, learning_rate="x"),
            "rmsprop_update: learning_rate",
            "must be a number",
        ),
        (
            lambda: adam_update(
                {"w": torch.ones(1)},
                {"w": torch.ones(1)},
                sgdm_update({"w": torch.ones(1)}, {"w": torch.ones(1)})[1],
            ),
            "adam_update: state",
            "sgdm_update",
        ),
        (
            lambda: adam_update(
                {"w": torch.ones(1)}, {"w": torch.ones(1)}, learningRate=0.1, learning_rate=0.1
            ),
            "adam_update",
            "twice",
        ),
        (lambda: dl_update(None, {"w": torch.ones(1)}), "dl_update: fn", "not callable"),
        (
            lambda: dl_update(lambda w: "no", {"w": torch.ones(1)}),
            "dl_update: fn's result",
            "not a tensor",
        ),
    ],
)
def test_bad_input_gets_a_nettrain_error(call, argument, words):
    with pytest.raises(NetTrainError) as caught:
        call()
    assert caught.value.argument == argument
    assert words in str(caught.value)


def test_matlab_names_are_accepted():
    g = {"w": torch.tensor([0.5])}
    a, _ = adam_update({"w": torch.ones(1)}, g, learnRate=0.1, gradDecay=0.8, sqGradDecay=0.99)
    b, _ = adam_update(
        {"w": torch.ones(1)},
        g,
        learning_rate=0.1,
        gradient_decay=0.8,
        squared_gradient_decay=0.99,
    )
    c, _ = adam_update(
        {"w": torch.ones(1)},
        g,
        learn_rate=0.1,
        GradientDecayFactor=0.8,
        squaredGradientDecayFactor=0.99,
    )
    assert torch.equal(a["w"], b["w"]) and torch.equal(a["w"], c["w"])
    # a 0-d tensor rate (a schedule computed with torch) is read as a number
    d, _ = sgdm_update({"w": torch.ones(1)}, g, learning_rate=torch.tensor(0.1))
    e, _ = sgdm_update({"w": torch.ones(1)}, g, learning_rate=0.1)
    assert torch.equal(d["w"], e["w"])


def test_a_tensor_at_two_leaves_gets_its_whole_gradient_at_both():
    w = torch.tensor([2.0])
    params = {"left": w, "right": w}  # the same object twice: shared weights
    loss, grads = value_and_grad(
        lambda p, x: (p["left"] * x).sum() + (p["right"] * x).sum(), params, torch.tensor([3.0])
    )
    assert loss.item() == 12.0
    assert grads["left"].item() == grads["right"].item() == 6.0
