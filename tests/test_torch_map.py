"""The MATLAB-to-torch map of docs/custom-loops.md, tested where the arguments differ most:
each MATLAB call is written out by hand (MATLAB's formula on MATLAB's layout) and compared with
the torch call on the converted arguments, and with nettrain's helper where there is one."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nettrain.functional.ops import crosschannelnorm, ctc

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- ctc


def brute_force_ctc_probability(probs: torch.Tensor, target: list[int], blank: int) -> float:
    """p(target | probs) by enumerating every alignment: probs is [T, C] for one sequence."""
    steps, classes = probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == target:
            total += math.prod(float(probs[t, c]) for t, c in enumerate(path))
    return total


def test_matlab_ctc_call_converted_to_ctc_loss_matches_brute_force():
    # MATLAB: loss = ctc(Y, T, YMask, TMask, BlankIndex="last") with Y "CBT" probabilities
    classes, batch, steps = 3, 2, 5  # classes 0, 1 are symbols, 2 is the blank (last)
    g = gen(0)
    Y = torch.randn(classes, batch, steps, generator=g, dtype=F64).softmax(0)  # "CBT"
    targets = torch.tensor([[0, 1, 1], [1, 0, 0]])  # padded; sequence 2 has target length 1
    y_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    t_mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    blank = classes - 1

    expected = []
    for n in range(batch):
        probs = Y[:, n, : int(y_mask[n].sum())].T  # [T_n, C]
        target = targets[n, : int(t_mask[n].sum())].tolist()
        expected.append(-math.log(brute_force_ctc_probability(probs, target, blank)))
    matlab_loss = sum(expected) / batch  # MATLAB: the mean over the batch

    log_probs = Y.log().permute(2, 1, 0)  # "CBT" -> torch's [T, N, C]
    torch_loss = (
        F.ctc_loss(log_probs, targets, y_mask.sum(1), t_mask.sum(1), blank=blank, reduction="sum")
        / batch
    )
    assert torch_loss.item() == pytest.approx(matlab_loss, rel=1e-10)
    # torch's default "mean" first divides each loss by its target length: not MATLAB's number
    default = F.ctc_loss(log_probs, targets, y_mask.sum(1), t_mask.sum(1), blank=blank)
    assert default.item() == pytest.approx((expected[0] / 3 + expected[1] / 1) / 2, rel=1e-10)
    # nettrain's helper takes MATLAB's arguments in torch's batch-first layout
    helper = ctc(Y.permute(1, 0, 2), targets, y_mask, t_mask, blank="last")
    assert helper.item() == pytest.approx(matlab_loss, rel=1e-10)
    per_sequence = ctc(
        Y.permute(1, 2, 0), targets, y_mask, t_mask, blank="last", dim=2, reduction="none"
    )
    torch.testing.assert_close(per_sequence, torch.tensor(expected, dtype=F64))


def test_ctc_helper_blank_first_and_gradcheck():
    g = gen(1)
    logits = torch.randn(2, 4, 4, generator=g, dtype=F64, requires_grad=True)  # [N, C, T]
    targets = torch.tensor([[1, 3], [2, 2]])
    probs = logits.softmax(1)
    expected = (
        sum(
            -math.log(brute_force_ctc_probability(probs[n].detach().T, targets[n].tolist(), 0))
            for n in range(2)
        )
        / 2
    )
    assert ctc(probs, targets).item() == pytest.approx(expected, rel=1e-10)
    assert torch.autograd.gradcheck(lambda z: ctc(z.softmax(1), targets), (logits,))


def test_ctc_impossible_alignment_is_infinite():
    # a repeated symbol needs a blank between its copies: "1 1" needs 3 steps, not 2
    probs = torch.full((1, 3, 2), 1 / 3, dtype=F64)
    assert math.isinf(ctc(probs, torch.tensor([[1, 1]])).item())


# ---------------------------------------------------------------- crosschannelnorm


def matlab_crosschannelnorm(x, window, alpha, beta, k):
    """MATLAB's formula by hand: x / (K + alpha * ss / window)^beta, ss over the previous
    floor((w-1)/2) and the next floor(w/2) channels (x is [N, C, ...])."""
    out = torch.empty_like(x)
    channels = x.shape[1]
    for c in range(channels):
        lo, hi = max(0, c - (window - 1) // 2), min(channels, c + window // 2 + 1)
        ss = x[:, lo:hi].square().sum(1)
        out[:, c] = x[:, c] / (k + alpha * ss / window) ** beta
    return out


@pytest.mark.parametrize("window", [1, 3, 5])
def test_crosschannelnorm_odd_windows_are_local_response_norm(window):
    x = torch.randn(2, 6, 3, 3, generator=gen(2), dtype=F64)
    alpha, beta, k = 0.3, 0.6, 1.5  # large alpha so the window matters
    hand = matlab_crosschannelnorm(x, window, alpha, beta, k)
    # both divide alpha by the window size: the arguments carry over unchanged
    torch.testing.assert_close(F.local_response_norm(x, window, alpha, beta, k), hand)
    torch.testing.assert_close(crosschannelnorm(x, window, alpha=alpha, beta=beta, k=k), hand)


@pytest.mark.parametrize("window", [2, 4])
def test_crosschannelnorm_even_windows_differ_from_torch(window):
    x = torch.randn(2, 6, 3, generator=gen(3), dtype=F64)
    alpha, beta, k = 0.3, 0.6, 1.5
    hand = matlab_crosschannelnorm(x, window, alpha, beta, k)
    torch.testing.assert_close(crosschannelnorm(x, window, alpha=alpha, beta=beta, k=k), hand)
    torch_result = F.local_response_norm(x, window, alpha, beta, k)
    assert not torch.allclose(torch_result, hand)
    # torch's even window is MATLAB's mirrored: the same numbers on reversed channels
    mirrored = F.local_response_norm(x.flip(1), window, alpha, beta, k).flip(1)
    torch.testing.assert_close(mirrored, hand)


# ---------------------------------------------------------------- lstm / gru


def matlab_lstm(X, H0, C0, W, R, b):
    """MATLAB's lstm on "CBT" data: gates in MATLAB's order input, forget, cell candidate,
    output; states [H, N]."""
    hidden = H0.shape[0]
    h, c, ys = H0, C0, []
    for t in range(X.shape[2]):
        z = W @ X[:, :, t] + R @ h + b[:, None]
        i, f, g, o = (z[j * hidden : (j + 1) * hidden] for j in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys, 2), h, c


def test_lstm_matlab_weights_drive_torch_lstm():
    inputs, hidden, batch, steps = 3, 4, 2, 5
    g = gen(4)
    X = torch.randn(inputs, batch, steps, generator=g, dtype=F64)  # "CBT"
    H0, C0 = (torch.randn(hidden, batch, generator=g, dtype=F64) for _ in range(2))  # "CB"
    W = torch.randn(4 * hidden, inputs, generator=g, dtype=F64)
    R = torch.randn(4 * hidden, hidden, generator=g, dtype=F64)
    b = torch.randn(4 * hidden, generator=g, dtype=F64)
    Y, hT, cT = matlab_lstm(X, H0, C0, W, R, b)

    lstm = nn.LSTM(inputs, hidden, batch_first=True).double()
    # same gate order (i, f, g, o); one bias in MATLAB, two summed in torch
    params = {
        "weight_ih_l0": W,
        "weight_hh_l0": R,
        "bias_ih_l0": b,
        "bias_hh_l0": torch.zeros_like(b),
    }
    out, (h_n, c_n) = functional_call(
        lstm,
        params,
        (X.permute(1, 2, 0), (H0.T[None], C0.T[None])),  # [N, T, D], [1, N, H]
    )
    torch.testing.assert_close(out.permute(2, 0, 1), Y)  # [N, T, H] -> "CBT"
    torch.testing.assert_close(h_n[0].T, hT)
    torch.testing.assert_close(c_n[0].T, cT)


def matlab_gru(X, H0, W, R, b, mode):
    """MATLAB's gru: gates reset, update, candidate; ResetGateMode "after-multiplication"
    (one 3H bias, outside the reset) or "recurrent-bias-after-multiplication" (6H: input
    then recurrent bias, the recurrent one inside the reset)."""
    hidden = H0.shape[0]
    bw, br = (b, torch.zeros_like(b)) if mode == "after" else (b[: 3 * hidden], b[3 * hidden :])
    h, ys = H0, []
    for t in range(X.shape[2]):
        wx = W @ X[:, :, t] + bw[:, None]
        rh = R @ h + br[:, None]
        r = torch.sigmoid(wx[:hidden] + rh[:hidden])
        z = torch.sigmoid(wx[hidden : 2 * hidden] + rh[hidden : 2 * hidden])
        candidate = torch.tanh(wx[2 * hidden :] + r * rh[2 * hidden :])
        h = (1 - z) * candidate + z * h
        ys.append(h)
    return torch.stack(ys, 2), h


@pytest.mark.parametrize("mode", ["after", "recurrent-bias-after"])
def test_gru_matlab_weights_drive_torch_gru(mode):
    inputs, hidden, batch, steps = 3, 4, 2, 5
    g = gen(5)
    X = torch.randn(inputs, batch, steps, generator=g, dtype=F64)
    H0 = torch.randn(hidden, batch, generator=g, dtype=F64)
    W = torch.randn(3 * hidden, inputs, generator=g, dtype=F64)
    R = torch.randn(3 * hidden, hidden, generator=g, dtype=F64)
    b = torch.randn((3 if mode == "after" else 6) * hidden, generator=g, dtype=F64)
    Y, hT = matlab_gru(X, H0, W, R, b, mode)

    gru = nn.GRU(inputs, hidden, batch_first=True).double()
    if mode == "after":  # MATLAB's default mode: all bias into torch's input bias
        b_ih, b_hh = b, torch.zeros_like(b)
    else:
        b_ih, b_hh = b[: 3 * hidden], b[3 * hidden :]
    params = {"weight_ih_l0": W, "weight_hh_l0": R, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    out, h_n = functional_call(gru, params, (X.permute(1, 2, 0), H0.T[None]))
    torch.testing.assert_close(out.permute(2, 0, 1), Y)
    torch.testing.assert_close(h_n[0].T, hT)


# ---------------------------------------------------------------- attention


def matlab_attention(Q, K, V, heads, causal=False):
    """MATLAB's attention(queries, keys, values, numHeads) on "CBT" arrays by hand: each head
    takes a contiguous block of channels, scores scaled by 1/sqrt(channels per head)."""
    channels, batch, tq = Q.shape
    dk, dv = channels // heads, V.shape[0] // heads
    out = torch.zeros(V.shape[0], batch, tq, dtype=Q.dtype)
    for n in range(batch):
        for h in range(heads):
            q = Q[h * dk : (h + 1) * dk, n]  # [dk, Tq]
            k = K[h * dk : (h + 1) * dk, n]  # [dk, Tk]
            v = V[h * dv : (h + 1) * dv, n]  # [dv, Tk]
            scores = (k.T @ q) / math.sqrt(dk)  # [Tk, Tq]: keys down, queries across
            if causal:
                later = torch.arange(k.shape[1])[:, None] > torch.arange(tq)[None, :]
                scores = scores.masked_fill(later, -math.inf)
            out[h * dv : (h + 1) * dv, n] = v @ scores.softmax(0)
    return out


def to_heads(x, heads):  # "CBT" [C, N, T] -> [N, heads, T, C / heads]
    c, n, t = x.shape
    return x.permute(1, 2, 0).reshape(n, t, heads, c // heads).transpose(1, 2)


def from_heads(x):  # [N, heads, T, d] -> "CBT" [heads * d, N, T]
    n, h, t, d = x.shape
    return x.transpose(1, 2).reshape(n, t, h * d).permute(2, 0, 1)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_layout_conversion(causal):
    g = gen(6)
    heads, channels, batch, tq, tk = 2, 6, 3, 4, 4
    Q = torch.randn(channels, batch, tq, generator=g, dtype=F64)
    K = torch.randn(channels, batch, tk, generator=g, dtype=F64)
    V = torch.randn(2 * heads, batch, tk, generator=g, dtype=F64)  # value channels may differ
    hand = matlab_attention(Q, K, V, heads, causal)
    # torch's default scale is 1/sqrt(q.size(-1)), the per-head size: MATLAB's "auto" scale
    out = F.scaled_dot_product_attention(
        to_heads(Q, heads), to_heads(K, heads), to_heads(V, heads), is_causal=causal
    )
    torch.testing.assert_close(from_heads(out), hand)


# ---------------------------------------------------------------- dlconv, fullyconnect


def test_dlconv_filter_layout_and_fullyconnect_flattening_order():
    g = gen(7)
    # dlconv weights [h w c_in c_out] -> conv2d's [c_out c_in h w]
    x = torch.randn(1, 2, 5, 5, generator=g, dtype=F64)  # torch NCHW
    Wm = torch.randn(3, 3, 2, 4, generator=g, dtype=F64)
    y = F.conv2d(x, Wm.permute(3, 2, 0, 1))
    # output (filter 1, row 0, col 0): a plain correlation, no flipped kernel
    hand = sum(
        float(x[0, c, i, j] * Wm[i, j, c, 1]) for c in range(2) for i in range(3) for j in range(3)
    )
    assert y[0, 1, 0, 0].item() == pytest.approx(hand, rel=1e-12)

    # fullyconnect flattens "SSC" column-major (h fastest, then w, then c); torch's flatten
    # of NCHW is row-major (w fastest). Reorder MATLAB's [out, H*W*C] weights for torch.
    H, Wd, C, out = 2, 3, 2, 5
    x = torch.randn(1, C, H, Wd, generator=g, dtype=F64)
    weights = torch.randn(out, H * Wd * C, generator=g, dtype=F64)  # MATLAB's layout
    matlab_flat = torch.stack(
        [x[0, c, h, w] for c in range(C) for w in range(Wd) for h in range(H)]
    )
    reordered = weights.reshape(out, C, Wd, H).transpose(2, 3).reshape(out, -1)
    torch.testing.assert_close(F.linear(x.flatten(1), reordered)[0], weights @ matlab_flat)
