"""numerical_gradient against the lesson's outputs and torch autograd; gradient_check's verdicts.

References: the values the lesson ("deep learning from scratch", chapter 4) prints, its
NumPy ``numerical_gradient`` (written out below), exact derivatives, and torch autograd on a
small version of its two-layer net, in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nettrain.errors import NetTrainError, NetTrainWarning
from nettrain.functional.grad import value_and_grad
from nettrain.functional.gradcheck import GradientCheckReport, gradient_check, numerical_gradient

F64 = torch.float64


def lesson_numerical_gradient(f, x):
    """The lesson's NumPy numerical_gradient (common/gradient.py), for arrays of any shape."""
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad


# --- numerical_gradient --------------------------------------------------------------------------


def test_sum_of_squares_gives_2x_for_any_shape():
    x = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    before = x.clone()
    g = numerical_gradient(lambda v: torch.sum(v**2), x)
    assert g.shape == x.shape and g.dtype == F64
    # a quadratic has no truncation error: only rounding, ~ eps * |f| / h ~ 1e-11
    torch.testing.assert_close(g, 2 * x, rtol=0, atol=1e-9)
    assert torch.equal(x, before)  # every element put back


@pytest.mark.parametrize(
    ("point", "expected"),
    [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)), ((3.0, 0.0), (6.0, 0.0))],
)
def test_lesson_function_2(point, expected):
    def function_2(x):
        return torch.sum(x**2)

    g = numerical_gradient(function_2, torch.tensor(point, dtype=F64))
    torch.testing.assert_close(g, torch.tensor(expected, dtype=F64), rtol=0, atol=1e-9)


def test_lesson_function_1_bit_for_bit():
    # the lesson prints numerical_diff(function_1, 5) = 0.1999999999990898 and, at 10,
    # 0.2999999999986347: the same float64 operations give the same bits
    def function_1(x):
        return 0.01 * x**2 + 0.1 * x

    assert numerical_gradient(function_1, torch.tensor(5.0, dtype=F64)).item() == 0.1999999999990898
    assert (
        numerical_gradient(function_1, torch.tensor(10.0, dtype=F64)).item() == 0.2999999999986347
    )


def test_matches_the_lessons_numpy_algorithm():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    expected = lesson_numerical_gradient(lambda v: np.sum(np.sin(v) * v), x.copy())
    ours = numerical_gradient(lambda v: torch.sum(torch.sin(v) * v), torch.from_numpy(x.copy()))
    # the same algorithm; NumPy and torch sum in different orders, so f differs by an ulp or
    # two (~2e-15 here), which the division by 2h turns into ~1e-11
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-10)


def test_lesson_simple_net_through_a_closure():
    # The lesson's simpleNet: f = lambda w: net.loss(x, t) ignores its argument and reads W
    # itself, which works because W is changed in place. The printed W and dW (8 digits).
    W = torch.tensor(
        [[1.83160192, 0.4900981, -0.94188042], [-0.24946104, 2.91410946, -0.00695892]], dtype=F64
    )
    x = torch.tensor([0.6, 0.9], dtype=F64)
    t = torch.tensor([0.0, 0.0, 1.0], dtype=F64)

    def net_loss(x, t):
        return -torch.sum(t * torch.log(softmax(x @ W)))

    dW = numerical_gradient(lambda w: net_loss(x, t), W)
    printed = torch.tensor(
        [[0.06708443, 0.51711391, -0.58419835], [0.10062665, 0.77567087, -0.87629752]], dtype=F64
    )
    torch.testing.assert_close(dW, printed, rtol=0, atol=2e-8)


def test_scalar_tensor_and_python_number_results():
    x = torch.tensor(2.0, dtype=F64)  # a 0-d tensor: one element, index ()
    assert numerical_gradient(lambda v: float(v) ** 3, x).item() == pytest.approx(12.0, abs=1e-6)
    assert numerical_gradient(lambda v: (v**3).reshape(1, 1), x).item() == pytest.approx(
        12.0, abs=1e-6
    )
    assert numerical_gradient(lambda v: 1.0, torch.zeros(0, dtype=F64)).shape == (0,)


def lesson_params(seed: int = 0, sizes=(20, 7, 4), std: float = 0.5) -> dict[str, torch.Tensor]:
    # the lesson's TwoLayerNet.__init__, smaller, with a larger weight_init_std than its 0.01 so
    # that the sigmoid layer is not nearly linear
    g = torch.Generator().manual_seed(seed)
    i, hidden, o = sizes
    return {
        "W1": std * torch.randn(i, hidden, generator=g, dtype=F64),
        "b1": torch.zeros(hidden, dtype=F64),
        "W2": std * torch.randn(hidden, o, generator=g, dtype=F64),
        "b2": torch.zeros(o, dtype=F64),
    }


def lesson_batch(seed: int = 1, n: int = 6, i: int = 20, o: int = 4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, i, generator=g, dtype=F64)
    t = nn.functional.one_hot(torch.randint(o, (n,), generator=g), o).to(F64)
    return x, t


def softmax(a):
    # the lesson's softmax, row by row (also cheaper than torch.softmax's parallel kernel for
    # the thousands of tiny calls a numerical gradient makes)
    exp_a = torch.exp(a - a.amax(dim=-1, keepdim=True))
    return exp_a / exp_a.sum(dim=-1, keepdim=True)


def lesson_loss(p, x, t):
    # TwoLayerNet.predict (sigmoid hidden layer, softmax output) and cross_entropy_error
    # averaged over the batch
    z1 = torch.sigmoid(x @ p["W1"] + p["b1"])
    y = softmax(z1 @ p["W2"] + p["b2"])
    return -torch.sum(t * torch.log(y)) / x.shape[0]


def test_two_layer_net_matches_autograd():
    params = lesson_params()
    x, t = lesson_batch()
    numerical = numerical_gradient(lambda p: lesson_loss(p, x, t), params)
    _, autograd = value_and_grad(lesson_loss, params, x, t)
    assert list(numerical) == ["W1", "b1", "W2", "b2"]
    for name in params:
        n, a = numerical[name], autograd[name]
        assert n.shape == params[name].shape
        # both: |n - a| <= 1e-6 (absolute) and |n - a| <= 1e-6 * max(|a|, |n|) wherever the
        # gradient is above 1e-3 (relative; below, the absolute bound is the meaningful one)
        assert (n - a).abs().max() <= 1e-6, name
        big = a.abs() > 1e-3
        assert ((n - a).abs()[big] <= 1e-6 * torch.maximum(a.abs(), n.abs())[big]).all(), name


def test_tree_with_integer_leaf_and_nested_names():
    params = {"layers": [{"W": torch.ones(2, dtype=F64)}], "steps": torch.tensor(3)}
    grads = numerical_gradient(lambda p: (p["layers"][0]["W"] ** 2).sum() * p["steps"], params)
    assert grads["steps"] is None  # an integer tensor is a constant, as in value_and_grad
    torch.testing.assert_close(grads["layers"][0]["W"], torch.full((2,), 6.0, dtype=F64))


def test_module_gives_named_parameters_and_skips_frozen():
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1)).double()
    net[2].bias.requires_grad_(False)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    grads = numerical_gradient(lambda m: m(x).sum(), net)
    _, autograd = value_and_grad(lambda m: m(x).sum(), net)
    assert list(grads) == ["0.weight", "0.bias", "2.weight"] == list(autograd)
    for name in grads:
        torch.testing.assert_close(grads[name], autograd[name], rtol=1e-6, atol=1e-8)


def test_element_restored_when_f_raises():
    x = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    before = x.clone()
    calls = []

    def f(v):
        calls.append(v.clone())
        if len(calls) == 4:  # while the second element is at 2 - h
            raise RuntimeError("boom")
        return v.sum()

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert torch.equal(x, before)
    assert calls[3][1].item() == 2.0 - 1e-4  # it did perturb that element in place


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: numerical_gradient(lambda v: v * 2, torch.ones(3, dtype=F64)), "f"),  # not scalar
        (lambda: numerical_gradient(lambda v: "1", torch.ones(3, dtype=F64)), "f"),
        (lambda: numerical_gradient(lambda v: (v.sum(), 0), torch.ones(3, dtype=F64)), "f"),
        (lambda: numerical_gradient(lambda v: v.sum() > 0, torch.ones(3, dtype=F64)), "f"),
        (lambda: numerical_gradient(lambda v: torch.tensor(1), torch.ones(3, dtype=F64)), "f"),
        (lambda: numerical_gradient(42, torch.ones(3, dtype=F64)), "f"),
        (lambda: numerical_gradient(lambda v: v.sum(), torch.ones(3, dtype=torch.int64)), "x"),
        (lambda: numerical_gradient(lambda v: 0.0, {"n": torch.tensor([1, 2])}), "x"),
        (lambda: numerical_gradient(lambda v: 0.0, {"z": torch.ones(2, dtype=torch.cfloat)}), "x"),
        (lambda: numerical_gradient(lambda v: 0.0, [1.0, 2.0]), "x"),
        (lambda: numerical_gradient(lambda v: v.sum(), torch.ones(3, dtype=F64), h=0), "h"),
        (lambda: numerical_gradient(lambda v: v.sum(), torch.ones(3, dtype=F64), h=-1e-4), "h"),
    ],
)
def test_numerical_gradient_bad_input(call, argument):
    with pytest.raises(NetTrainError) as info:
        call()
    assert info.value.argument == argument


def test_non_scalar_message_says_how_to_fix():
    with pytest.raises(NetTrainError, match=r"tensor of shape \[3\].*loss\.sum\(\)"):
        numerical_gradient(lambda v: v * 2, torch.ones(3, dtype=F64))


# --- gradient_check -----------------------------------------------------------------------------


def test_passes_for_the_two_layer_net():
    params = lesson_params()
    x, t = lesson_batch()
    report = gradient_check(lesson_loss, params, x, t)
    assert isinstance(report, GradientCheckReport)
    assert report.ok and report.failed == ()
    assert list(report.errors) == ["W1", "b1", "W2", "b2"]
    assert report.max_relative_error == max(report.errors.values()) < 1e-6
    assert report.loss == pytest.approx(lesson_loss(params, x, t).item(), abs=0)
    torch.testing.assert_close(
        report.autograd["W1"], value_and_grad(lesson_loss, params, x, t)[1]["W1"]
    )


class WrongSigmoid(torch.autograd.Function):
    """sigmoid whose backward forgets the (1 - s) factor: a deliberately wrong gradient."""

    @staticmethod
    def forward(ctx, a):
        s = torch.sigmoid(a)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s


class DoubledGradient(torch.autograd.Function):
    """The identity whose backward doubles the gradient."""

    @staticmethod
    def forward(ctx, a):
        return a.clone()

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad


def test_fails_and_names_the_parameters_behind_a_wrong_backward():
    params = lesson_params()
    x, t = lesson_batch()

    def wrong_hidden(p, x, t):
        z1 = WrongSigmoid.apply(x @ p["W1"] + p["b1"])
        y = softmax(z1 @ p["W2"] + p["b2"])
        return -torch.sum(t * torch.log(y)) / x.shape[0]

    report = gradient_check(wrong_hidden, params, x, t)
    # the forward is right, so only the parameters below the wrong backward are wrong
    assert not report.ok
    assert report.failed == ("W1", "b1")
    assert report.errors["W2"] < 1e-6 and report.errors["b2"] < 1e-6
    assert report.max_relative_error > 0.1

    def wrong_bias(p, x, t):
        z1 = torch.sigmoid(x @ p["W1"] + p["b1"])
        y = softmax(z1 @ p["W2"] + DoubledGradient.apply(p["b2"]))
        return -torch.sum(t * torch.log(y)) / x.shape[0]

    report = gradient_check(wrong_bias, params, x, t)
    assert report.failed == ("b2",)
    # a doubled gradient: |2n - n| / |2n| = 1/2 wherever the gradient is above atol/rtol
    assert report.errors["b2"] == pytest.approx(0.5, abs=1e-6)


def test_report_table_and_repr():
    params = lesson_params()
    x, t = lesson_batch()

    def wrong_bias(p, x, t):
        return lesson_loss({**p, "b2": DoubledGradient.apply(p["b2"])}, x, t)

    report = gradient_check(wrong_bias, params, x, t)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].startswith("gradient check FAILED for b2: max relative error 5.00e-01")
    assert lines[1].split() == [
        "parameter",
        "shape",
        "dtype",
        "relative",
        "error",
        "absolute",
        "error",
    ]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["W1"][1:3] == ["20x7", "float64"] and rows["W1"][-1] == "ok"
    assert rows["b2"][1] == "4" and rows["b2"][-1] == "FAILED"
    assert "tensor" not in repr(report) and "ok=False" in repr(report)


def test_module_restored_bit_for_bit_buffers_too():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Tanh(), nn.Linear(2, 2)).double()
    net.train()  # batch norm updates its running statistics at every forward
    x = torch.randn(6, 3, dtype=F64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    report = gradient_check(lambda m, x: m(x).pow(2).mean(), net, x)
    assert report.ok, str(report)
    assert list(report.errors) == [n for n, _ in net.named_parameters()]
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_module_restored_when_fn_raises():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).double()
    x = torch.randn(4, 3, dtype=F64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calls = [0]

    def fn(m, x):
        calls[0] += 1
        if calls[0] == 6:  # in the middle of the numerical gradient
            raise RuntimeError("boom")
        return m(x).sum()

    with pytest.raises(RuntimeError, match="boom"):
        gradient_check(fn, net, x)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_tuple_result_and_dotted_names():
    params = {"enc": {"W": torch.eye(2, dtype=F64)}, "dec": [torch.ones(2, dtype=F64)]}

    def fn(p, x):
        y = torch.tanh(x @ p["enc"]["W"]) * p["dec"][0]
        return y.sum(), y  # (loss, extra), as value_and_grad accepts

    report = gradient_check(fn, params, torch.tensor([[0.3, -0.7]], dtype=F64))
    assert report.ok and list(report.errors) == ["enc.W", "dec.0"]


def test_float32_parameters_warn():
    params = {"w": torch.tensor([0.5, -1.0])}  # float32
    with pytest.warns(NetTrainWarning, match=r"w is float32, not float64.*too noisy"):
        gradient_check(lambda p: (p["w"] ** 2).sum(), params, h=1e-2, rtol=1e-2, atol=1e-3)


def test_nan_gradient_fails():
    report = gradient_check(
        lambda p: torch.sqrt(p["w"]).sum(), {"w": torch.tensor([-1.0], dtype=F64)}
    )
    assert not report.ok and report.failed == ("w",)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"h": 0.0}, "h"), ({"rtol": 0}, "rtol"), ({"atol": -1.0}, "atol"), ({"h": "1e-6"}, "h")],
)
def test_gradient_check_bad_settings(kwargs, argument):
    with pytest.raises(NetTrainError) as info:
        gradient_check(lambda p: p["w"].sum(), {"w": torch.ones(2, dtype=F64)}, **kwargs)
    assert info.value.argument == argument


def test_gradient_check_bad_fn_and_params():
    with pytest.raises(NetTrainError) as info:
        gradient_check("loss", {"w": torch.ones(2, dtype=F64)})
    assert info.value.argument == "fn"
    with pytest.raises(NetTrainError) as info:
        gradient_check(lambda p: p["w"], {"w": torch.ones(2, dtype=F64)})  # not a scalar
    assert info.value.argument == "fn"
    frozen = nn.Linear(2, 1).double().requires_grad_(False)
    with pytest.raises(NetTrainError, match="no parameter to differentiate") as info:
        gradient_check(lambda m: m(torch.ones(1, 2, dtype=F64)).sum(), frozen)
    assert info.value.argument == "params"
