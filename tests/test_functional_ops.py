"""nettrain.functional's one-hot coding and MATLAB-normalised losses, against hand formulas,
torch's own losses and gradcheck; every bad input raises NetTrainError."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nettrain.errors import NetTrainError
from nettrain.functional.crossentropy import crossentropy
from nettrain.functional.losses import huber, l1loss, l2loss, mse
from nettrain.functional.onehot import onehot_decode, onehot_encode
from nettrain.functional.ops import crosschannelnorm, ctc


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pair(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0):
    g = gen(seed)
    return torch.randn(*shape, generator=g, dtype=dtype), torch.randn(
        *shape, generator=g, dtype=dtype
    )


# ---------------------------------------------------------------- one-hot encode / decode


def test_encode_indices_matches_one_hot_and_puts_classes_at_dim():
    labels = torch.tensor([[2, 0, 1], [1, 1, 0]])  # [N, W]
    expected = F.one_hot(labels, 4).permute(0, 2, 1).float()  # [N, K, W]
    out = onehot_encode(labels, 4)
    assert out.dtype == torch.float32 and torch.equal(out, expected)
    assert torch.equal(onehot_encode(labels, 4, dim=-1), F.one_hot(labels, 4).float())
    assert onehot_encode(labels, 4, dtype=torch.float64).dtype == torch.float64


def test_encode_images_of_labels():
    g = gen(1)
    labels = torch.randint(0, 3, (2, 4, 5), generator=g)
    out = onehot_encode(labels, 3)
    assert out.shape == (2, 3, 4, 5)
    for c in range(3):
        assert torch.equal(out[:, c], (labels == c).float())


def test_encode_names_lists_nested_lists_and_numpy():
    classes = ["cat", "dog", "eel"]
    assert onehot_encode(["eel", "cat"], classes).tolist() == [[0, 0, 1], [1, 0, 0]]
    nested = onehot_encode([["dog", "cat"], ["eel", "eel"]], classes)  # [N=2, W=2]
    assert nested.shape == (2, 3, 2)
    assert nested[0, :, 0].tolist() == [0, 1, 0] and nested[1, :, 1].tolist() == [0, 0, 1]
    from_numpy = onehot_encode(np.array(["dog", "eel"]), classes)
    assert from_numpy.tolist() == [[0, 1, 0], [0, 0, 1]]
    # class names need not be strings; a tensor is looked up by value against a name list
    assert onehot_encode(torch.tensor([20, 10]), [10, 20]).tolist() == [[0, 1], [1, 0]]


def test_encode_infers_count_like_one_hot_when_classes_omitted():
    assert onehot_encode([0, 3]).shape == (2, 4)
    assert torch.equal(onehot_encode(torch.tensor([1, 2])), F.one_hot(torch.tensor([1, 2])).float())


@pytest.mark.parametrize("dim", [1, -1, 0])
def test_round_trip_names_and_indices(dim):
    classes = ["a", "b", "c", "d"]
    g = gen(2)
    index = torch.randint(0, 4, (3, 5), generator=g)
    names = [[classes[i] for i in row] for row in index.tolist()]
    assert onehot_decode(onehot_encode(names, classes, dim=dim), classes, dim=dim) == names
    assert torch.equal(onehot_decode(onehot_encode(index, 4, dim=dim), dim=dim), index)


def test_decode_ties_go_to_the_first_class_and_indices_are_int64():
    scores = torch.tensor([[0.5, 0.5, 0.0], [0.1, 0.3, 0.3]])
    out = onehot_decode(scores)
    assert out.dtype == torch.int64 and out.tolist() == [0, 1]
    assert onehot_decode(torch.tensor([0.2, 0.8]), ["x", "y"], dim=0) == "y"


def test_indices_with_a_name_list_suggest_a_count():
    with pytest.raises(NetTrainError, match="classes=2"):
        onehot_encode(torch.tensor([0, 1]), ["cat", "dog"])


def test_unknown_label_is_named_with_the_classes():
    with pytest.raises(NetTrainError) as err:
        onehot_encode(["cat", "cow"], ["cat", "dog"])
    text = str(err.value)
    assert "'cow'" in text and "'cat', 'dog'" in text and "example 1" in text


@pytest.mark.parametrize(
    ("labels", "classes", "needle"),
    [
        (torch.tensor([0, 3]), 3, "out of range"),
        (torch.tensor([-1, 0]), 3, "negative"),
        (torch.tensor([0.0, 1.0]), 2, "integer tensor"),
        (["a", "b"], None, "class indices"),
        (["a", "b"], 2, "class indices"),
        ([["a"], ["a", "b"]], ["a", "b"], "rectangular"),
        ([0, 1], ["a", "a"], "repeated"),
        ([0, 1], [], "empty"),
        ([0, 1], "ab", "list of class names"),
        ([0, 1], 0, "at least 1"),
        ([], None, "number of classes is unknown"),
    ],
)
def test_encode_refuses_bad_input(labels, classes, needle):
    with pytest.raises(NetTrainError, match=needle):
        onehot_encode(labels, classes)


def test_encode_and_decode_refuse_bad_dims_and_scores():
    with pytest.raises(NetTrainError, match="out of range"):
        onehot_encode(torch.tensor([0, 1]), 2, dim=2)
    with pytest.raises(NetTrainError, match="floating-point"):
        onehot_decode(torch.tensor([[0, 1]]))
    with pytest.raises(NetTrainError, match="class axis"):
        onehot_decode(torch.rand(2, 3), ["a", "b"])
    with pytest.raises(NetTrainError, match="out of range"):
        onehot_decode(torch.rand(2, 3), dim=3)


# ---------------------------------------------------------------- losses against torch


def test_l1_l2_mse_against_torch():
    y, t = pair(6, 3)
    n = y.shape[0]
    torch.testing.assert_close(l1loss(y, t), F.l1_loss(y, t, reduction="sum") / n)
    torch.testing.assert_close(l2loss(y, t), F.mse_loss(y, t, reduction="sum") / n)
    torch.testing.assert_close(mse(y, t), 0.5 * F.mse_loss(y, t, reduction="sum") / n)
    torch.testing.assert_close(l2loss(y, t, normalization_factor="all_elements"), F.mse_loss(y, t))
    torch.testing.assert_close(
        l1loss(y, t, normalization_factor="none"), F.l1_loss(y, t, reduction="sum")
    )
    torch.testing.assert_close(l2loss(y, t, reduction="none"), (y - t) ** 2)
    torch.testing.assert_close(mse(y, t, reduction="none"), 0.5 * (y - t) ** 2)


@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
def test_huber_against_torch_and_hand_formula(delta):
    y, t = pair(5, 4, seed=3)
    y = 2 * y
    n = y.shape[0]
    torch.testing.assert_close(
        huber(y, t, transition_point=delta), F.huber_loss(y, t, delta=delta, reduction="sum") / n
    )
    torch.testing.assert_close(
        huber(y, t, transition_point=delta, normalization_factor="all-elements"),
        F.huber_loss(y, t, delta=delta),
    )
    d = (y - t).abs()
    hand = torch.where(d <= delta, d**2 / 2, delta * d - delta**2 / 2)
    torch.testing.assert_close(huber(y, t, transition_point=delta, reduction="none"), hand)
    if delta == 1.0:  # MATLAB: with TransitionPoint 1, Huber is the smooth L1 loss
        torch.testing.assert_close(huber(y, t), F.smooth_l1_loss(y, t, reduction="sum") / n)


def test_weights_and_masks_by_hand():
    y, t = pair(4, 3, seed=4)
    w = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)  # one per response (dim 1)
    hand = sum(w[j] * (y[i, j] - t[i, j]) ** 2 for i in range(4) for j in range(3)) / 4
    torch.testing.assert_close(l2loss(y, t, w), hand)
    per_obs = torch.tensor([[1.0], [0.0], [2.0], [1.0]], dtype=torch.float64)
    torch.testing.assert_close(l1loss(y, t, per_obs), ((y - t).abs() * per_obs).sum() / 4)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])
    torch.testing.assert_close(l2loss(y, t, mask=mask), ((y - t) ** 2 * mask).sum() / 4)
    torch.testing.assert_close(
        l2loss(y, t, mask=mask.bool(), normalization_factor="all-elements"),
        ((y - t) ** 2 * mask).sum() / 12,
    )
    # mask_included: each observation divided by its own count, then summed (the third,
    # fully masked observation contributes nothing)
    hand = sum(((y[i] - t[i]) ** 2 * mask[i]).sum() / mask[i].sum() for i in (0, 1, 3))
    torch.testing.assert_close(l2loss(y, t, mask=mask, normalization_factor="mask-included"), hand)


def test_mask_broadcasts_and_hides_non_finite_predictions():
    y, t = pair(2, 3, 4, seed=5)  # [N, C, T]
    steps = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])[:, None, :]  # [N, 1, T]
    y = y.clone()
    y[0, :, 3] = math.nan  # padding may hold anything
    out = l2loss(y, t, mask=steps)
    assert math.isfinite(float(out))
    torch.testing.assert_close(
        out, ((y - t) ** 2).nan_to_num()[steps.expand_as(y).bool()].sum() / 2
    )
    counts = [3 * 3, 3 * 2]
    hand = sum(
        ((y[i] - t[i]) ** 2).nan_to_num()[:, : counts[i] // 3].sum() / counts[i] for i in range(2)
    )
    torch.testing.assert_close(l2loss(y, t, mask=steps, normalization_factor="mask_included"), hand)


@pytest.mark.parametrize(
    ("prepare", "loss"),
    [
        (lambda x: x, lambda y, t, m: l2loss(y, t, mask=m)),
        (lambda x: x, lambda y, t, m: huber(y, t, mask=m, normalization_factor="mask_included")),
        (lambda x: x.softmax(1), lambda y, t, m: crossentropy(y, t, mask=m)),
        (
            torch.sigmoid,
            lambda y, t, m: crossentropy(y, t, mask=m, target_categories="independent"),
        ),
    ],
)
def test_nan_padding_gives_finite_values_and_zero_gradients(prepare, loss):
    y, t = (prepare(v) for v in pair(2, 3, 4, seed=12))
    m = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]])[:, None, :]
    clean = loss(y, t, m)
    y_nan, t_nan = y.clone(), t.clone()
    y_nan[0, :, 3], t_nan[1, :, 3] = math.nan, math.nan
    y_nan.requires_grad_(True)
    out = loss(y_nan, t_nan, m)
    torch.testing.assert_close(out, clean)
    (grad,) = torch.autograd.grad(out, y_nan)
    assert torch.isfinite(grad).all() and (grad[m.expand_as(grad) == 0] == 0).all()


def test_crossentropy_on_softmax_equals_cross_entropy_on_logits():
    g = gen(6)
    z = torch.randn(8, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 5, (8,), generator=g)
    p = z.softmax(1)
    torch.testing.assert_close(crossentropy(p, labels), F.cross_entropy(z, labels))
    torch.testing.assert_close(
        crossentropy(p, F.one_hot(labels, 5).double()), F.cross_entropy(z, labels)
    )
    soft = torch.rand(8, 5, generator=g, dtype=torch.float64).softmax(1)
    torch.testing.assert_close(crossentropy(p, soft), F.cross_entropy(z, soft))
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(
        crossentropy(p, labels, w), F.cross_entropy(z, labels, weight=w, reduction="sum") / 8
    )


def test_crossentropy_segmentation_layout_and_normalisations():
    g = gen(7)
    z = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)  # [N, K, H, W]
    labels = torch.randint(0, 3, (2, 4, 5), generator=g)
    p = z.softmax(1)
    torch.testing.assert_close(
        crossentropy(p, labels), F.cross_entropy(z, labels, reduction="sum") / 2
    )
    # exclusive "all_elements" counts positions: torch's mean over pixels
    torch.testing.assert_close(
        crossentropy(p, labels, normalization_factor="all_elements"), F.cross_entropy(z, labels)
    )
    keep = torch.rand(2, 1, 4, 5, generator=g) > 0.3
    per_pixel = F.cross_entropy(z, labels, reduction="none")  # [N, H, W]
    hand = sum(per_pixel[i][keep[i, 0]].sum() / keep[i].sum() for i in range(2))
    torch.testing.assert_close(
        crossentropy(p, labels, mask=keep, normalization_factor="mask-included"), hand
    )
    # class axis last
    torch.testing.assert_close(
        crossentropy(p.movedim(1, -1), labels, dim=-1), crossentropy(p, labels)
    )


def test_crossentropy_independent_equals_binary_cross_entropy():
    g = gen(8)
    p = torch.rand(6, 4, generator=g, dtype=torch.float64) * 0.98 + 0.01
    t = (torch.rand(6, 4, generator=g) > 0.5).double()
    for kind in ("independent", "multilabel"):
        torch.testing.assert_close(
            crossentropy(p, t, target_categories=kind),
            F.binary_cross_entropy(p, t, reduction="sum") / 6,
        )
    torch.testing.assert_close(
        crossentropy(p, t, target_categories="independent", normalization_factor="all-elements"),
        F.binary_cross_entropy(p, t),
    )


def test_crossentropy_guards_log_zero():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    eps = torch.finfo(torch.float64).eps
    # a zero probability for the true class costs -log(eps); 0 * log(0) costs nothing
    torch.testing.assert_close(
        crossentropy(p, t), torch.tensor(-math.log(eps) / 2, dtype=torch.float64)
    )
    torch.testing.assert_close(
        crossentropy(p, t, epsilon=1e-4), torch.tensor(-math.log(1e-4) / 2, dtype=torch.float64)
    )
    out = crossentropy(p, t, target_categories="independent")
    assert math.isfinite(float(out))


def test_spellings_are_interchangeable():
    y, t = pair(3, 2, seed=9)
    mask = torch.tensor([[1, 0], [1, 1], [0, 1]])
    for a, b in [
        ("batch-size", "batch_size"),
        ("All-Elements", "all_elements"),
        ("mask-included", "mask_included"),
    ]:
        torch.testing.assert_close(
            l1loss(y, t, mask=mask, normalization_factor=a),
            l1loss(y, t, mask=mask, normalization_factor=b),
        )


@pytest.mark.parametrize(
    "loss",
    [
        lambda y, t: l1loss(y, t),
        lambda y, t: l2loss(y, t, torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)),
        lambda y, t: mse(y, t, normalization_factor="all_elements"),
        lambda y, t: huber(y, t, transition_point=0.7),
        lambda y, t: crossentropy(y.softmax(1), t.softmax(1)),
        lambda y, t: crossentropy(y.sigmoid(), t.sigmoid(), target_categories="independent"),
        lambda y, t: l2loss(
            y, t, mask=torch.tensor([[1, 0, 1]]), normalization_factor="mask_included"
        ),
    ],
)
def test_gradcheck(loss):
    y, t = pair(4, 3, seed=10)
    y.requires_grad_(True)
    t.requires_grad_(True)
    assert torch.autograd.gradcheck(loss, (y, t))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda y, t: l2loss(y, t[:, :2]), "same shape"),
        (lambda y, t: l2loss(y, t[0]), "same shape"),
        (lambda y, t: l2loss(y.long(), t), "floating-point"),
        (lambda y, t: l2loss(y, t.long()), "floating point"),
        (lambda y, t: l2loss([[1.0]], t), "floating-point"),
        (lambda y, t: l1loss(y, t, reduction="mean"), "unknown value 'mean'"),
        (lambda y, t: l1loss(y, t, reduction="sun"), "did you mean 'sum'"),
        (lambda y, t: l1loss(y, t, normalization_factor="batchsize"), "did you mean 'batch_size'"),
        (lambda y, t: l1loss(y, t, normalization_factor=2), "must be a string"),
        (lambda y, t: l1loss(y, t, normalization_factor="mask-included"), "no mask"),
        (lambda y, t: l2loss(y, t, torch.ones(4)), "feature axis"),
        (lambda y, t: l2loss(y, t, torch.ones(2, 3)), "broadcast"),
        (lambda y, t: l2loss(y, t, torch.ones(3, dtype=torch.bool)), "real numbers"),
        (lambda y, t: l2loss(y, t, mask=torch.ones(4, 1)), "broadcast"),
        (lambda y, t: l2loss(y, t, dim=2), "not an axis"),
        (lambda y, t: huber(y, t, transition_point=0), "positive"),
        (lambda y, t: huber(y, t, transition_point="1"), "positive"),
        (lambda y, t: crossentropy(y, t, target_categories="multi"), "did you mean"),
        (lambda y, t: crossentropy(y, torch.tensor([0, 1, 2, 3, 0])), "out of range"),
        (lambda y, t: crossentropy(y, torch.tensor([0, 1])), "without the class axis"),
        (
            lambda y, t: crossentropy(
                y, torch.tensor([0, 1, 2, 0, 0]), target_categories="independent"
            ),
            "multi-label",
        ),
        (lambda y, t: crossentropy(y, t, epsilon=0), "between 0 and 1"),
        (lambda y, t: l2loss(torch.zeros(0, 3), torch.zeros(0, 3)), "at least one element"),
    ],
)
def test_losses_refuse_bad_input(call, needle):
    y, t = pair(5, 3, dtype=torch.float32, seed=11)
    with pytest.raises(NetTrainError, match=needle):
        call(y, t)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: crosschannelnorm(torch.ones(3), 3), "channel axis"),
        (lambda: crosschannelnorm(torch.ones(1, 3, 2), 0), "positive integer"),
        (lambda: crosschannelnorm(torch.ones(1, 3, 2), 3, dim=3), "not an axis"),
        (lambda: crosschannelnorm(torch.ones(1, 3, 2), 3, beta="x"), "number"),
        (lambda: ctc(torch.rand(2, 3), torch.tensor([[1]])), r"\[N, C, T\]"),
        (lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[0]])), "blank"),
        (lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[3]])), "outside"),
        (lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[1.0]])), "integer tensor"),
        (
            lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[1]]), torch.tensor([[1, 0, 1, 1]])),
            "prefix",
        ),
        (lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[1]]), torch.ones(1, 3)), "shape"),
        (lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[1]]), blank="middle"), "valid names"),
        (lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[1]]), blank=7), "index"),
        (lambda: ctc(torch.rand(1, 3, 4), torch.tensor([[1]]), reduction="sum"), "unknown"),
    ],
)
def test_ops_refuse_bad_input(call, needle):
    with pytest.raises(NetTrainError, match=needle):
        call()
