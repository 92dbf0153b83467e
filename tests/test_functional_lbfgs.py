"""lbfgs_update: known minima, torch.optim.LBFGS and the engine's "lbfgs" step by step."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nettrain import NetTrainError
from nettrain.functional import lbfgs_update
from nettrain.optim import build_updater, parse_method


def _regression(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 5, generator=g, dtype=torch.float64)
    w = torch.randn(5, generator=g, dtype=torch.float64)
    y = x @ w + 0.3 + 0.1 * torch.randn(200, generator=g, dtype=torch.float64)
    design = torch.cat([x, torch.ones(200, 1, dtype=torch.float64)], 1)
    solution = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
    return x, y, solution


# "strong_wolfe" keeps torch's absolute tolerance on the predicted decrease (1e-9), so on this
# loss (of scale 0.01) it stops about 2.5e-6 from the solution, exactly where the engine's
# lbfgs (torch.optim.LBFGS) stops; the two others go on while the direction descends.
@pytest.mark.parametrize("line_search", ["weak_wolfe", "backtracking"])
def test_reaches_the_least_squares_solution_in_at_most_25_calls(line_search):
    x, y, solution = _regression()
    params = {"w": torch.zeros(5, dtype=torch.float64), "b": torch.zeros((), dtype=torch.float64)}

    def loss_fn(p):
        return ((x @ p["w"] + p["b"] - y) ** 2).mean()

    state = None
    for _call in range(25):
        params, state = lbfgs_update(params, loss_fn, state, line_search=line_search)
        found = torch.cat([params["w"], params["b"][None]])
        if (found - solution).abs().max() < 1e-6:
            break
    assert (found - solution).abs().max() < 1e-6, line_search
    assert state["iteration"] <= 25 and state["function_evaluations"] >= state["iteration"]


def test_rosenbrock_converges_from_the_standard_start():
    def rosenbrock(p):
        x = p["x"]
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    params, state = {"x": torch.tensor([-1.2, 1.0], dtype=torch.float64)}, None
    for _ in range(100):
        params, state = lbfgs_update(params, rosenbrock, state)
        if state["line_search_status"] == "converged":
            break
    assert torch.allclose(params["x"], torch.ones(2, dtype=torch.float64), atol=1e-6)
    assert state["loss"] < 1e-12


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1)).double()


def _batch():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 3, generator=g, dtype=torch.float64)
    return x, torch.sin(x.sum(1, keepdim=True))


def test_strong_wolfe_equals_torch_lbfgs_and_the_engines_lbfgs_step_by_step():
    x, t = _batch()
    mine, ref, engine = _net(), _net(), _net()
    optimizer = torch.optim.LBFGS(
        ref.parameters(), lr=1.0, max_iter=1, max_eval=26, line_search_fn="strong_wolfe"
    )
    updater = build_updater(engine, parse_method("lbfgs"))

    def closure_of(net, zero):
        def closure():
            zero()
            loss = F.mse_loss(net(x), t)
            loss.backward()
            return loss

        return closure

    state = None
    for step in range(10):
        mine, state = lbfgs_update(
            mine,
            lambda net: F.mse_loss(net(x), t),
            state,
            line_search="strong_wolfe",
            max_line_search_iterations=25,
        )
        optimizer.step(closure_of(ref, optimizer.zero_grad))
        updater.step(closure_of(engine, updater.zero_grad))
        for (name, a), b, c in zip(
            mine.named_parameters(), ref.parameters(), engine.parameters(), strict=True
        ):
            assert torch.allclose(a, b, rtol=0, atol=1e-10), (step, name)
            assert torch.allclose(a, c, rtol=0, atol=1e-10), (step, name)


def test_own_gradients_state_round_trip_and_the_tree_left_unchanged():
    x, y, solution = _regression(1)
    params = {"w": torch.zeros(5, dtype=torch.float64), "b": torch.zeros((), dtype=torch.float64)}

    def with_gradients(p):  # MATLAB's [loss, gradients] = f(parameters), by hand
        r = x @ p["w"] + p["b"] - y
        return (r**2).mean(), {"w": 2 * x.T @ r / len(y), "b": 2 * r.mean()}

    straight, s1 = params, None
    for _ in range(8):
        straight, s1 = lbfgs_update(straight, with_gradients, s1)
    resumed, s2 = params, None
    for k in range(8):
        if k == 4:
            buffer = io.BytesIO()
            torch.save(s2, buffer)
            buffer.seek(0)
            s2 = torch.load(buffer, weights_only=True)
        resumed, s2 = lbfgs_update(resumed, with_gradients, s2)
    assert torch.equal(straight["w"], resumed["w"]) and torch.equal(straight["b"], resumed["b"])
    assert torch.equal(params["w"], torch.zeros(5, dtype=torch.float64))  # never changed
    assert torch.allclose(torch.cat([straight["w"], straight["b"][None]]), solution, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "argument", "words"),
    [
        ({"line_search": "wolfe"}, "lbfgs_update: line_search", "unknown line search"),
        ({"history_size": 0}, "lbfgs_update: history_size", ">= 1"),
        ({"learning_rate": -1.0}, "lbfgs_update: learning_rate", "> 0"),
        ({"initial_step_size": "big"}, "lbfgs_update: initial_step_size", "'auto'"),
        ({"state": {"method": "adam_update"}}, "lbfgs_update: state", "not the state"),
    ],
)
def test_bad_options_get_a_nettrain_error(kwargs, argument, words):
    with pytest.raises(NetTrainError) as caught:
        lbfgs_update({"w": torch.ones(2)}, lambda p: p["w"].sum(), **kwargs)
    assert caught.value.argument == argument and words in str(caught.value)


def test_matlab_spelling_of_the_line_search_and_a_non_callable_loss():
    a, _ = lbfgs_update(
        {"w": torch.ones(2)}, lambda p: (p["w"] ** 2).sum(), line_search="weak-wolfe"
    )
    b, _ = lbfgs_update({"w": torch.ones(2)}, lambda p: (p["w"] ** 2).sum())
    assert torch.equal(a["w"], b["w"])
    with pytest.raises(NetTrainError, match="not callable"):
        lbfgs_update({"w": torch.ones(2)}, 3)
