"""``nettrain.keras.summary`` and ``nettrain.keras.weights``: Keras' summary table and weights.

Expected values are Keras' documented ones (seed 002's two-layer model: 25,120 + 330 = 25,450
parameters; Keras 3's table layout and memory sizes), written down, not computed by Keras.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nettrain.errors import NetTrainError
from nettrain.keras.summary import readable_size, summary
from nettrain.keras.weights import get_weights, set_weights, weight_list
from nettrain.runtime.modules import library_hooks

SEED_TABLE = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                        ┃ Output Shape                 ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ 0 (Linear)                          │ (None, 32)                   │          25,120 │
├─────────────────────────────────────┼──────────────────────────────┼─────────────────┤
│ 1 (ReLU)                            │ (None, 32)                   │               0 │
├─────────────────────────────────────┼──────────────────────────────┼─────────────────┤
│ 2 (Linear)                          │ (None, 10)                   │             330 │
└─────────────────────────────────────┴──────────────────────────────┴─────────────────┘
 Total params: 25,450 (99.41 KB)
 Trainable params: 25,450 (99.41 KB)
 Non-trainable params: 0 (0.00 B)"""


def seed_model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def quiet(module: nn.Module, *args: object, **kwargs: object) -> str:
    return summary(module, *args, print_fn=None, **kwargs)  # type: ignore[arg-type]


class Custom(nn.Module):
    """A module that is not a Sequential: nested children and a weight of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(x).flatten(1)
        return self.head(features) * self.scale, features


# ---- the table -----------------------------------------------------------------------------------


def test_seed_model_table_exactly() -> None:
    printed: list[str] = []
    text = summary(seed_model(), (784,), print_fn=printed.append)
    assert text == SEED_TABLE
    assert printed == [SEED_TABLE]  # printed once, whole, as Keras' print_fn is called
    assert {len(line) for line in text.splitlines()[1:-3]} == {88}


def test_printed_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    text = summary(seed_model(), (784,))
    assert capsys.readouterr().out == text + "\n"


def test_unbuilt_shapes_are_question_marks_and_counts_stay() -> None:
    lines = quiet(seed_model(), line_length=60).splitlines()
    assert lines[4] == "│ 0 (Linear)              │ ?                 │     25,120 │"
    assert " Total params: 25,450 (99.41 KB)" in lines


def test_batchnorm_buffers_and_frozen_parameters_are_non_trainable() -> None:
    net = nn.Sequential(nn.Linear(784, 32), nn.BatchNorm1d(32), nn.Linear(32, 10))
    net[2].bias.requires_grad_(False)
    text = quiet(net, (784,))
    assert "│ 1 (BatchNorm1d)" in text and "│             128 │" in text  # gamma, beta, mean, var
    # trainable: 25,120 + 64 + 320; non-trainable: BN's 64 statistics and the frozen bias's 10
    # (BN's integer num_batches_tracked is a counter, not a weight, as Keras has none)
    assert " Trainable params: 25,504 (99.62 KB)" in text
    assert " Non-trainable params: 74 (296.00 B)" in text
    assert " Total params: 25,578 (99.91 KB)" in text


def test_sizes_follow_dtypes() -> None:
    assert " Total params: 25,450 (198.83 KB)" in quiet(seed_model().double(), (784,))
    assert [readable_size(n) for n in (0, 1023, 1024, 1536 * 1024)] == [
        "0.00 B",
        "1023.00 B",
        "1.00 KB",
        "1.50 MB",
    ]


def test_other_modules_show_leaves_nested_names_and_own_weights() -> None:
    text = quiet(Custom(), (1, 8, 8), name="custom", line_length=100)
    rows = [line for line in text.splitlines() if line.startswith("│")]
    names = [row.split("│")[1].strip() for row in rows]
    assert names == [
        "custom (Custom)",
        "encoder.0 (Conv2d)",
        "encoder.1 (BatchNorm2d)",
        "encoder.2 (ReLU)",
        "head (Linear)",
    ]
    shapes = [row.split("│")[2].strip() for row in rows]
    assert shapes == ["((None, 3), (None, 144))", *["(None, 4, 6, 6)"] * 3, "(None, 3)"]
    counts = [row.split("│")[3].strip() for row in rows]
    assert counts == ["1", "40", "16", "0", "435"]  # the root's row: only its own scale
    assert text.startswith('Model: "custom"')


def test_sample_forms_and_batch_dimension() -> None:
    net = nn.Sequential(nn.Embedding(20, 4), nn.Flatten(), nn.Linear(20, 2))
    text = quiet(net, sample=torch.zeros(7, 5, dtype=torch.long))
    assert "(None, 5, 4)" in text and "(None, 20)" in text and "(None, 2)" in text

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(z)

    by_shapes = quiet(Two(), [(3,), (4,)])
    assert by_shapes == quiet(Two(), sample=(torch.zeros(5, 3), torch.zeros(5, 4)))
    assert by_shapes == quiet(Two(), sample={"x": torch.zeros(5, 3), "z": torch.zeros(5, 4)})
    assert by_shapes.count("(None, 2)") == 2


def test_line_length_narrow_wraps_and_wide_widens() -> None:
    narrow = quiet(Custom(), (1, 8, 8), line_length=40)
    assert {len(line) for line in narrow.splitlines()[1:-3]} == {40}
    assert "│ encoder.1  " in narrow and "│ (BatchNorm2 │" not in narrow  # words wrap whole
    wide = quiet(seed_model(), (784,), line_length=140)
    assert {len(line) for line in wide.splitlines()[1:-3]} == {140}
    for bad in (10, 0, "80", 2.5):
        with pytest.raises(NetTrainError, match="line_length") as info:
            quiet(seed_model(), line_length=bad)
        assert info.value.expected is not None and ">=" in info.value.expected


# ---- the forward pass leaves no trace ------------------------------------------------------------


def test_pass_restores_modes_rng_statistics_and_hooks() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    net.train()
    net[2].eval()  # mixed flags come back as they were, module by module
    user_calls: list[int] = []
    net[0].register_forward_hook(lambda m, i, o: user_calls.append(1))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(3)
    rng = torch.get_rng_state()
    quiet(net, (4,))
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in net.modules()] == [True, True, True, False, True]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert library_hooks(net) == 0
    assert len(net[0]._forward_hooks) == 1 and user_calls == [1]  # the user's hook is kept


def test_lazy_modules_are_built_by_the_pass() -> None:
    net = nn.Sequential(nn.LazyLinear(5), nn.ReLU(), nn.Linear(5, 1))
    assert "0 (unbuilt)" in quiet(net)
    assert " Total params: 6 (24.00 B)" in quiet(net)  # unbuilt weights count nothing yet
    text = quiet(net, (3,))
    assert "0 (Linear)" in text and "│              20 │" in text
    assert isinstance(net[0], nn.Linear) and net[0].weight.shape == (5, 3)  # built in place


def test_bad_inputs() -> None:
    with pytest.raises(NetTrainError, match="input_shape"):
        quiet(seed_model(), (None, 784))
    with pytest.raises(NetTrainError, match="input_shape"):
        quiet(seed_model(), "784")
    with pytest.raises(NetTrainError, match="not both"):
        quiet(seed_model(), (784,), sample=torch.zeros(1, 784))
    with pytest.raises(NetTrainError, match="forward failed") as info:
        quiet(seed_model(), (10,))
    assert "RuntimeError" in info.value.problem and info.value.received == "(3, 10)"
    with pytest.raises(NetTrainError, match="module"):
        quiet("not a module")  # type: ignore[arg-type]


# ---- weights -------------------------------------------------------------------------------------


def test_weight_list_names_shapes_order_and_trainable() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    net[0].bias.requires_grad_(False)
    listed = [(w.name, w.shape, w.trainable) for w in weight_list(net)]
    assert listed == [
        ("0.weight", (4, 3), True),  # torch's (out, in), a Keras kernel's transpose
        ("0.bias", (4,), False),
        ("1.weight", (4,), True),
        ("1.bias", (4,), True),
        ("1.running_mean", (4,), False),
        ("1.running_var", (4,), False),
    ]
    names = [n for n, _ in net.named_parameters()]
    assert [w.name for w in weight_list(net) if w.name in names] == names


def test_tied_weights_are_listed_once() -> None:
    first, second = nn.Linear(3, 3), nn.Linear(3, 3)
    second.weight = first.weight
    assert [w.name for w in weight_list(nn.Sequential(first, second))] == [
        "0.weight",
        "0.bias",
        "1.bias",
    ]


def test_value_is_a_view_and_assign_checks() -> None:
    layer = nn.Linear(2, 3)
    weight = weight_list(layer)[0]
    with torch.no_grad():
        layer.weight.fill_(2.0)
    assert weight.value.eq(2.0).all()
    weight.assign(np.ones((3, 2)))
    assert layer.weight.eq(1.0).all() and layer.weight.requires_grad
    with pytest.raises(NetTrainError, match="has another shape") as info:
        weight.assign(np.ones((2, 3)))
    assert info.value.hint is not None and "transpose" in info.value.hint


def test_get_and_set_weights_round_trip() -> None:
    net = seed_model()
    arrays = get_weights(net)
    assert [a.shape for a in arrays] == [(32, 784), (32,), (10, 32), (10,)]
    arrays[0][0, 0] = 123.0  # a copy: the module is untouched until set_weights
    assert net[0].weight[0, 0].item() != 123.0
    set_weights(net, arrays)
    assert net[0].weight[0, 0].item() == 123.0
    other = seed_model()
    set_weights(other, get_weights(net))
    assert all(torch.equal(a, b) for a, b in zip(other.parameters(), net.parameters(), strict=True))


def test_set_weights_checks_everything_before_changing_anything() -> None:
    net = seed_model()
    before = [p.clone() for p in net.parameters()]
    arrays = get_weights(net)
    arrays[0] = arrays[0] + 1
    arrays[2] = np.zeros((32, 10), dtype=np.float32)
    with pytest.raises(NetTrainError) as info:
        set_weights(net, arrays)
    error = info.value
    assert error.argument == "weights[2]" and "'2.weight'" in error.problem
    assert error.expected == "shape (10, 32)" and error.received == "shape (32, 10)"
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    with pytest.raises(NetTrainError, match="4 arrays"):
        set_weights(net, arrays[:3])
    with pytest.raises(NetTrainError, match="list of arrays"):
        set_weights(net, np.zeros(4))
    good = get_weights(net)
    with pytest.raises(NetTrainError, match=r"weights\[3\]: cannot be made into a tensor"):
        set_weights(net, [*good[:3], np.array(["a"] * 10)])
    with pytest.raises(NetTrainError, match="numeric"):
        set_weights(net, [*good[:3], np.ones(10, dtype=bool)])


def test_bfloat16_and_lazy_weights() -> None:
    net = nn.Linear(2, 2).to(torch.bfloat16)
    arrays = get_weights(net)
    assert arrays[0].dtype == np.float32
    set_weights(net, arrays)
    with pytest.raises(NetTrainError, match="not built yet"):
        weight_list(nn.LazyLinear(3))
