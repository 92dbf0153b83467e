"""The initialisers of nettrain.functional.init against their formulas and torch.nn.init.

Statistical tests draw n = 12_800 to 200_000 numbers with a fixed seed and compare sample
moments with the exact ones, within 6 standard errors of the estimate (the standard error is
computed from the distribution for that n), and the Kolmogorov-Smirnov distance with the exact
CDF within 2/sqrt(n) (the 0.1% critical value is 1.95/sqrt(n)). With fixed seeds the tests are
deterministic; the bounds say that a correct sampler passes them with overwhelming probability
and that a wrong formula (a factor sqrt(2) or 2 in the scale, a uniform instead of a normal)
fails them by far.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nettrain.errors import NetTrainError
from nettrain.functional.init import (
    Fans,
    fan_in_and_out,
    initialize_gaussian,
    initialize_glorot,
    initialize_he,
    initialize_ones,
    initialize_orthogonal,
    initialize_uniform,
    initialize_unit_forget_gate,
    initialize_zeros,
)

N = 200_000
SE = 6.0  # standard errors allowed for a moment


def check_uniform(x: torch.Tensor, bound: float) -> None:
    v = x.double().flatten()
    n = v.numel()
    # support: within [-b, b] (float32 rounding can touch b itself), and reaching close to both
    # ends: P(no sample within b * 40 / n of an end) = (1 - 20/n)^n ~ e^-20
    assert v.min() >= -bound * (1 + 1e-6) and v.max() <= bound * (1 + 1e-6)
    assert v.min() < -bound * (1 - 40 / n) and v.max() > bound * (1 - 40 / n)
    variance = bound**2 / 3
    assert abs(v.mean().item()) < SE * math.sqrt(variance / n)
    # Var(X^2) = E[X^4] - E[X^2]^2 = b^4/5 - b^4/9
    var_sq = bound**4 / 5 - bound**4 / 9
    assert abs(v.pow(2).mean().item() - variance) < SE * math.sqrt(var_sq / n)
    cdf = ((v.sort().values + bound) / (2 * bound)).clamp(0, 1)
    assert ks_distance(cdf) < 2.0 / math.sqrt(n)


def check_normal(x: torch.Tensor, mean: float, std: float) -> None:
    v = x.double().flatten()
    n = v.numel()
    assert abs(v.mean().item() - mean) < SE * std / math.sqrt(n)
    # the sample variance's standard error is std^2 * sqrt(2 / n) for a normal
    assert abs(v.var().item() - std**2) < SE * std**2 * math.sqrt(2 / n)
    cdf = torch.special.ndtr((v.sort().values - mean) / std)
    assert ks_distance(cdf) < 2.0 / math.sqrt(n)


def ks_distance(sorted_cdf: torch.Tensor) -> float:
    """sup |F_n - F| for sorted samples given as F(x_(i))."""
    n = sorted_cdf.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return max((i / n - sorted_cdf).max().item(), (sorted_cdf - (i - 1) / n).max().item())


def test_moment_check_catches_a_wrong_scale():
    # the control: He drawn with sqrt(1/num_in) (LeCun's) instead of sqrt(2/num_in)
    w = initialize_he([500, 400], 800, seed=3)
    with pytest.raises(AssertionError):
        check_normal(w, 0.0, math.sqrt(2 / 400))


def test_ks_check_tells_uniform_from_normal():
    # the control: the same moments, the wrong distribution, fails the KS bound by far
    u = initialize_uniform([N], math.sqrt(3.0), seed=0, dtype=torch.float64)
    cdf = torch.special.ndtr(u.sort().values)
    assert ks_distance(cdf) > 10 * 2.0 / math.sqrt(N)


# --- the formulas --------------------------------------------------------------------------------


def test_glorot_is_uniform_with_matlab_bound():
    w = initialize_glorot([400, 500], 400, 500, seed=1)
    assert w.shape == (400, 500) and w.dtype == torch.float32
    check_uniform(w, math.sqrt(6 / (500 + 400)))


def test_glorot_fans_from_conv_shape_and_explicit_fans():
    # [c_out, c_in, kh, kw] = [64, 8, 5, 5]: num_in = 8*25 = 200, num_out = 64*25 = 1600
    shape = [64, 8, 5, 5]
    w = initialize_glorot(shape, seed=2)
    check_uniform(w, math.sqrt(6 / (200 + 1600)))
    # MATLAB's argument order: (shape, num_out, num_in); the bound is symmetric in them, so
    # the explicit call equals the inferred one bit for bit
    assert torch.equal(initialize_glorot(shape, 1600, 200, seed=2), w)
    assert fan_in_and_out(shape) == Fans(num_in=200, num_out=1600)


def test_he_is_normal_with_fan_in_std():
    w = initialize_he([500, 400], 400, seed=3)
    check_normal(w, 0.0, math.sqrt(2 / 400))
    # fan-in of a filter: c_in * kh * kw (MATLAB: prod(filterSize) * numChannels)
    c = initialize_he([200, 16, 3, 3], seed=4, dtype=torch.float64)
    check_normal(c, 0.0, math.sqrt(2 / (16 * 9)))


def test_gaussian_defaults_and_arguments():
    check_normal(initialize_gaussian([N], seed=5), 0.0, 0.01)  # MATLAB's narrow-normal
    check_normal(initialize_gaussian([N], -2.0, 3.0, seed=6, dtype=torch.float64), -2.0, 3.0)


def test_uniform_bound():
    check_uniform(initialize_uniform([N], 0.25, seed=7), 0.25)
    assert torch.equal(initialize_uniform([3, 4], 0.0, seed=7), torch.zeros(3, 4))


def test_zeros_ones_and_int_shapes():
    assert torch.equal(initialize_zeros(3), torch.zeros(3))  # an int is a vector, as in torch
    assert torch.equal(initialize_ones([2, 3], dtype=torch.float64), torch.ones(2, 3).double())
    assert initialize_zeros([0, 4]).shape == (0, 4)
    assert initialize_zeros(np.int64(2)).shape == (2,)
    assert initialize_ones((np.int32(2), 1)).shape == (2, 1)


def test_unit_forget_gate_block():
    h = 5
    b = initialize_unit_forget_gate(h)
    assert b.shape == (4 * h,) and b.dtype == torch.float32
    # gate order input, forget, cell candidate, output: ones exactly in the second block
    expected = torch.cat([torch.zeros(h), torch.ones(h), torch.zeros(h), torch.zeros(h)])
    assert torch.equal(b, expected)


def test_unit_forget_gate_matches_torch_lstm_forget_slice():
    # torch's nn.LSTM orders the gates i, f, g, o too: setting bias_ih to the unit forget gate
    # and bias_hh to zeros puts 1 on the forget gate. Check through the cell's arithmetic: with
    # zero weights and input, f = sigmoid(1), i = o = sigmoid(0), g = tanh(0) = 0, so
    # c1 = f * c0 and h1 = o * tanh(c1).
    h = 3
    lstm = torch.nn.LSTM(2, h)
    with torch.no_grad():
        for p in lstm.parameters():
            p.zero_()
        lstm.bias_ih_l0.copy_(initialize_unit_forget_gate(h))
    c0 = torch.tensor([[[1.0, -2.0, 0.5]]])
    _, (h1, c1) = lstm(torch.zeros(1, 1, 2), (torch.zeros(1, 1, h), c0))
    f = torch.sigmoid(torch.tensor(1.0))
    torch.testing.assert_close(c1, f * c0)
    torch.testing.assert_close(h1, 0.5 * torch.tanh(f * c0))


# --- orthogonality -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [[7, 7], [12, 5], [5, 12], [20, 3, 2], [16, 4, 3, 3], [4 * 6, 6], [1, 9]]
)
def test_orthogonal_is_orthogonal(shape):
    q = initialize_orthogonal(shape, seed=8, dtype=torch.float64)
    assert q.shape == tuple(shape) and q.dtype == torch.float64
    m = q.reshape(shape[0], -1)
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T  # orthonormal columns if tall, rows if wide
    torch.testing.assert_close(
        gram, torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_orthogonal_sign_correction_makes_r_diagonal_positive():
    # MATLAB's Q * diag(D ./ abs(D)): Q is the QR factor whose R has a positive diagonal, so
    # Z = Q R' with R' = Q^T Z upper triangular with positive diagonal for the same Z
    g = torch.Generator().manual_seed(9)
    z = torch.randn(6, 4, generator=g, dtype=torch.float64)
    q = initialize_orthogonal(
        [6, 4], generator=torch.Generator().manual_seed(9), dtype=torch.float64
    )
    r = q.T @ z
    torch.testing.assert_close(r, r.triu(), atol=1e-12, rtol=0)
    assert bool((torch.diagonal(r) > 0).all())


def test_orthogonal_float32_and_half():
    q = initialize_orthogonal([8, 8], seed=10)
    assert q.dtype == torch.float32
    torch.testing.assert_close(q.T @ q, torch.eye(8), atol=1e-5, rtol=0)
    assert initialize_orthogonal([4, 4], seed=10, dtype=torch.bfloat16).dtype == torch.bfloat16


def test_orthogonal_empty():
    assert initialize_orthogonal([0, 3], seed=0).shape == (0, 3)


# --- equivalence with torch.nn.init -------------------------------------------------------------


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [[30, 20], [16, 3, 5, 5]])
def test_glorot_equals_xavier_uniform(shape):
    ref = torch.nn.init.xavier_uniform_(torch.empty(shape), generator=gen(11))
    ours = initialize_glorot(shape, generator=gen(11))
    # the same draws; the bound differs only by double rounding (sqrt(6/n) vs sqrt(3)*sqrt(2/n))
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=0)


@pytest.mark.parametrize("shape", [[30, 20], [16, 3, 5, 5]])
def test_he_equals_kaiming_normal_fan_in_relu(shape):
    ref = torch.nn.init.kaiming_normal_(
        torch.empty(shape), mode="fan_in", nonlinearity="relu", generator=gen(12)
    )
    torch.testing.assert_close(initialize_he(shape, generator=gen(12)), ref, rtol=1e-6, atol=0)


@pytest.mark.parametrize("shape", [[9, 9], [12, 5], [5, 12], [6, 2, 3]])
def test_orthogonal_equals_torch_orthogonal(shape):
    ref = torch.nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), generator=gen(13))
    ours = initialize_orthogonal(shape, generator=gen(13), dtype=torch.float64)
    assert torch.equal(ours, ref)  # the same draws and the same QR: the same bits


def test_gaussian_and_uniform_equal_torch_normal_and_uniform():
    ref = torch.nn.init.normal_(torch.empty(5, 6), 1.5, 0.2, generator=gen(14))
    assert torch.equal(initialize_gaussian([5, 6], 1.5, 0.2, generator=gen(14)), ref)
    ref = torch.nn.init.uniform_(torch.empty(5, 6), -0.3, 0.3, generator=gen(15))
    assert torch.equal(initialize_uniform([5, 6], 0.3, generator=gen(15)), ref)


# --- seeding ------------------------------------------------------------------------------------


RANDOM = [
    lambda **kw: initialize_glorot([6, 5], **kw),
    lambda **kw: initialize_he([6, 5], **kw),
    lambda **kw: initialize_gaussian([6, 5], **kw),
    lambda **kw: initialize_uniform([6, 5], 0.5, **kw),
    lambda **kw: initialize_orthogonal([6, 5], **kw),
]
NAMES = ["glorot", "he", "gaussian", "uniform", "orthogonal"]


@pytest.mark.parametrize("init", RANDOM, ids=NAMES)
def test_same_seed_same_bits_and_global_rng_untouched(init):
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a, b = init(seed=21), init(seed=21)
    assert torch.equal(a, b)
    assert not torch.equal(a, init(seed=22))
    g = torch.Generator().manual_seed(21)
    assert torch.equal(init(generator=g), a)  # seed=s is a CPU generator seeded with s
    assert not torch.equal(init(generator=g), a)  # the generator has advanced
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("init", RANDOM, ids=NAMES)
def test_without_seed_uses_global_rng(init):
    torch.manual_seed(3)
    a = init()
    torch.manual_seed(3)
    b = init()
    assert torch.equal(a, b)
    before = torch.get_rng_state()
    init()
    assert not torch.equal(torch.get_rng_state(), before)  # as torch.nn.init does


def test_seeded_dtype_is_drawn_in_that_dtype():
    a = initialize_glorot([3, 4], seed=1, dtype=torch.float64)
    assert a.dtype == torch.float64
    ref = torch.nn.init.uniform_(torch.empty(3, 4, dtype=torch.float64), -1, 1, generator=gen(1))
    torch.testing.assert_close(a, ref * math.sqrt(6 / 7), rtol=1e-12, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_seed_gives_the_same_numbers_on_the_gpu():
    cpu = initialize_glorot([5, 4], seed=3)
    gpu = initialize_glorot([5, 4], seed=3, device="cuda")
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
    g = torch.Generator(device="cuda").manual_seed(3)
    w = initialize_orthogonal([6, 4], generator=g, device="cuda", dtype=torch.float64)
    assert w.device.type == "cuda"
    torch.testing.assert_close(w.T @ w, torch.eye(4, dtype=torch.float64, device="cuda"))


# --- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: initialize_zeros([3, -1]), "shape"),
        (lambda: initialize_zeros([3.0, 2]), "shape"),
        (lambda: initialize_zeros([True, 2]), "shape"),
        (lambda: initialize_zeros("3"), "shape"),
        (lambda: initialize_ones(-2), "shape"),
        (lambda: initialize_glorot([3, 4], 3), "num_in"),
        (lambda: initialize_glorot([3, 4], 0, 4), "num_out"),
        (lambda: initialize_glorot([3, 4], 3, 4.5), "num_in"),
        (lambda: initialize_glorot([5], seed=0), "shape"),  # a vector has no fans
        (lambda: initialize_he([3, 4], -1), "num_in"),
        (lambda: initialize_he([3, 4], True), "num_in"),
        (lambda: initialize_gaussian([3], 0.0, -0.1), "standard_deviation"),
        (lambda: initialize_gaussian([3], 0.0, float("nan")), "standard_deviation"),
        (lambda: initialize_gaussian([3], float("inf"), 1.0), "mean"),
        (lambda: initialize_gaussian([3], 0.0, "0.1"), "standard_deviation"),
        (lambda: initialize_uniform([3], -1.0), "bound"),
        (lambda: initialize_orthogonal([4]), "shape"),
        (lambda: initialize_unit_forget_gate(0), "num_hidden"),
        (lambda: initialize_unit_forget_gate(2.0), "num_hidden"),
        (lambda: initialize_zeros(3, dtype=torch.int64), "dtype"),
        (lambda: initialize_he([3, 4], dtype="float32"), "dtype"),
        (lambda: initialize_zeros(3, device="nowhere"), "device"),
        (lambda: initialize_he([3, 4], seed=-1), "seed"),
        (lambda: initialize_he([3, 4], seed=1.0), "seed"),
        (lambda: initialize_he([3, 4], seed=2**64), "seed"),
        (lambda: initialize_he([3, 4], seed=1, generator=torch.Generator()), "seed"),
        (lambda: initialize_he([3, 4], generator=1), "generator"),
    ],
)
def test_bad_arguments(call, argument):
    with pytest.raises(NetTrainError) as info:
        call()
    assert info.value.argument == argument


def test_error_message_says_what_to_do():
    with pytest.raises(NetTrainError, match=r"shape: every size must be a non-negative int"):
        initialize_zeros([2, -3])
    with pytest.raises(NetTrainError, match=r"give both num_out and num_in, or neither"):
        initialize_glorot([2, 3], num_in=3)
