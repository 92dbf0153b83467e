"""ode_solve (MATLAB's dlode45) against the closed form of a linear ODE, y(t) = exp(tA) y0:
values, gradients through the solver, backwards time, parameter forms, the adjoint path, and
the refusals."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nettrain.errors import NetTrainError
from nettrain.functional.ode import ode_solve

F64 = torch.float64
TIGHT = {"relative_tolerance": 1e-10, "absolute_tolerance": 1e-12}
A0 = torch.tensor([[-0.5, 2.0], [-2.0, -0.3]], dtype=F64)  # a damped rotation
Y0 = torch.tensor([1.0, 0.5], dtype=F64)
TIMES = [0.0, 0.5, 1.5, 3.0]


def linear(t, y, A):
    return A @ y


def closed_form(A, y0, times):
    return torch.stack([torch.linalg.matrix_exp((t - times[0]) * A) @ y0 for t in times[1:]])


def test_shape_is_time_first():
    y = ode_solve(linear, TIMES, Y0, A0)
    assert y.shape == (len(TIMES) - 1, 2) and y.dtype == F64
    batch = torch.stack([Y0, 2 * Y0, -Y0], 1)  # [2, 3]: three states as columns
    assert ode_solve(linear, TIMES, batch, A0).shape == (3, 2, 3)


def test_tight_tolerances_match_the_matrix_exponential():
    y = ode_solve(linear, TIMES, Y0, A0, **TIGHT)
    torch.testing.assert_close(y, closed_form(A0, Y0, TIMES), rtol=1e-8, atol=1e-10)


def test_default_tolerances_stay_within_the_documented_bound():
    # MATLAB's defaults (rtol 1e-3, atol 1e-6) bound the local error per step; over this
    # solve the global error stays below 10 * rtol * max|y| (docs/custom-loops.md)
    y = ode_solve(linear, TIMES, Y0, A0)
    ref = closed_form(A0, Y0, TIMES)
    assert (y - ref).abs().max() <= 10 * 1e-3 * ref.abs().max()
    assert (y - ref).abs().max() > 1e-9  # the defaults really are looser than TIGHT


def test_gradients_to_y0_and_A_match_the_closed_form():
    w = torch.tensor([[0.3, -1.2], [1.0, 0.5], [-0.7, 2.0]], dtype=F64)

    def loss(solution):
        return (w * solution).sum() + solution[-1].square().sum()

    A = A0.clone().requires_grad_(True)
    y0 = Y0.clone().requires_grad_(True)
    ref_A, ref_y0 = torch.autograd.grad(loss(closed_form(A, y0, TIMES)), (A, y0))
    got_A, got_y0 = torch.autograd.grad(loss(ode_solve(linear, TIMES, y0, A, **TIGHT)), (A, y0))
    torch.testing.assert_close(got_A, ref_A, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(got_y0, ref_y0, rtol=1e-7, atol=1e-9)


def test_decreasing_times_integrate_backwards():
    back = [3.0, 2.0, 0.0]
    y = ode_solve(linear, back, Y0, A0, **TIGHT)
    torch.testing.assert_close(y, closed_form(A0, Y0, back), rtol=1e-8, atol=1e-10)
    # forwards then backwards returns to the start
    there = ode_solve(linear, [0.0, 1.0], Y0, A0, **TIGHT)[-1]
    torch.testing.assert_close(
        ode_solve(linear, [1.0, 0.0], there, A0, **TIGHT)[-1], Y0, rtol=1e-8, atol=1e-10
    )


def test_numpy_t_span():
    np = pytest.importorskip("numpy")
    y = ode_solve(linear, np.array([0.0, 1.5]), Y0, A0, **TIGHT)
    torch.testing.assert_close(y, closed_form(A0, Y0, [0.0, 1.5]), rtol=1e-8, atol=1e-10)


def test_time_is_passed_as_a_tensor_and_a_tensor_t_span_works():
    # y' = cos(t): y(t) = y0 + sin(t)
    times = torch.linspace(0, 2, 5, dtype=F64)
    y = ode_solve(
        lambda t, y, p: torch.cos(t).expand_as(y), times, torch.zeros(1, dtype=F64), **TIGHT
    )
    torch.testing.assert_close(y[:, 0], torch.sin(times[1:]), rtol=1e-8, atol=1e-10)


def test_dict_params_and_closures_get_gradients():
    # y' = W y + b, with b reached through a closure and W through a nested dict
    W = A0.clone().requires_grad_(True)
    b = torch.tensor([0.2, -0.1], dtype=F64, requires_grad=True)
    params = {"layer": {"W": W}, "scale": 1.0}
    y = ode_solve(
        lambda t, y, p: p["scale"] * (p["layer"]["W"] @ y) + b, [0.0, 1.0], Y0, params, **TIGHT
    )[-1]

    # closed form: y(1) = e^{W} y0 + W^{-1} (e^{W} - I) b
    def ref(W, b):
        E = torch.linalg.matrix_exp(W)
        return E @ Y0 + torch.linalg.solve(W, (E - torch.eye(2, dtype=F64)) @ b)

    torch.testing.assert_close(y, ref(W, b), rtol=1e-8, atol=1e-10)
    got = torch.autograd.grad(y.sum(), (W, b))
    want = torch.autograd.grad(ref(W, b).sum(), (W, b))
    for g, r in zip(got, want, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-7, atol=1e-9)


def test_module_params():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    y = ode_solve(lambda t, y, m: m(y), [0.0, 0.5, 1.0], torch.randn(4, 2, dtype=F64), net)
    y[-1].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_adjoint_matches_direct_values_and_gradients():
    pytest.importorskip("torchdiffeq")
    tol = {"relative_tolerance": 1e-7, "absolute_tolerance": 1e-9}
    results = []
    for adjoint in (False, True):
        A = A0.clone().requires_grad_(True)
        y0 = Y0.clone().requires_grad_(True)
        y = ode_solve(
            lambda t, y, p: p["A"] @ y, [0.0, 1.0, 2.0], y0, {"A": A}, adjoint=adjoint, **tol
        )
        grads = torch.autograd.grad(y.square().sum(), (A, y0))
        results.append((y.detach(), *grads))
    for direct, adj in zip(*results, strict=True):
        torch.testing.assert_close(adj, direct, rtol=1e-5, atol=1e-7)


def test_adjoint_backwards_in_time_and_with_a_module():
    pytest.importorskip("torchdiffeq")
    lin = nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(A0)
    y = ode_solve(
        lambda t, y, m: m(y),
        [2.0, 0.0],
        Y0,
        lin,
        adjoint=True,
        relative_tolerance=1e-8,
        absolute_tolerance=1e-10,
    )
    torch.testing.assert_close(y, closed_form(A0, Y0, [2.0, 0.0]), rtol=1e-6, atol=1e-8)
    y.sum().backward()
    assert lin.weight.grad is not None


def test_adjoint_without_torchdiffeq_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torchdiffeq(name, *args, **kwargs):
        if name.startswith("torchdiffeq"):
            raise ImportError("no torchdiffeq")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchdiffeq)
    with pytest.raises(NetTrainError, match=r"pip install 'nettrain\[ode\]'"):
        ode_solve(linear, [0.0, 1.0], Y0, A0, adjoint=True)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"t_span": [0.0, 1.0, 0.5]}, "strictly increasing or strictly decreasing"),
        ({"t_span": [0.0, 0.0]}, "strictly"),
        ({"t_span": [1.0]}, "at least two"),
        ({"t_span": torch.zeros(2, 2)}, "1-D"),
        ({"t_span": [0.0, math.inf]}, "non-finite"),
        ({"f": "not a function"}, "must be a function"),
        ({"f": lambda t, y: y}, "three arguments"),
        ({"f": lambda t, y, p: y[:1]}, "shape of y"),
        ({"f": lambda t, y, p: 1.0}, "shape of y"),
        ({"y0": torch.tensor([1, 2])}, "floating-point"),
        ({"y0": [1.0, 2.0]}, "floating-point"),
        ({"relative_tolerance": 0}, "positive"),
        ({"absolute_tolerance": -1e-6}, "positive"),
        ({"max_steps": 2.5}, "positive integer"),
        ({"initial_step": 0.0}, "positive"),
        ({"y0": torch.zeros(0, dtype=F64)}, "non-empty"),
        ({"adjoint": True, "max_step": 0.1}, "not supported with adjoint"),
    ],
)
def test_bad_input(kwargs, needle):
    call = {"f": linear, "t_span": [0.0, 1.0], "y0": Y0, "params": A0, **kwargs}
    with pytest.raises(NetTrainError, match=needle):
        ode_solve(
            call["f"],
            call["t_span"],
            call["y0"],
            call["params"],
            **{k: v for k, v in call.items() if k not in ("f", "t_span", "y0", "params")},
        )


def test_runaway_solves_stop_with_a_clear_error():
    # y' = y^2 from y(0) = 1 blows up at t = 1
    with pytest.raises(NetTrainError, match=r"non-finite|step size fell"):
        ode_solve(lambda t, y, p: y * y, [0.0, 2.0], torch.ones(1, dtype=F64), max_steps=100_000)
    with pytest.raises(NetTrainError, match="more than 20 steps"):
        ode_solve(linear, [0.0, 50.0], Y0, A0, max_steps=20)
    with pytest.raises(NetTrainError, match="non-finite"):
        ode_solve(lambda t, y, p: y * math.nan, [0.0, 1.0], Y0)


def test_errors_from_f_carry_a_note():
    def broken(t, y, p):
        raise KeyError("W")

    with pytest.raises(KeyError) as err:
        ode_solve(broken, [0.0, 1.0], Y0)
    assert any("ODE function f" in note for note in getattr(err.value, "__notes__", []))


def test_max_step_bounds_the_steps():
    calls = []

    def counting(t, y, A):
        calls.append(float(t))
        return A @ y

    ode_solve(counting, [0.0, 1.0], Y0, A0, max_step=0.01)
    assert len(calls) >= 6 * 100  # at least 100 steps of 6 new stages each
