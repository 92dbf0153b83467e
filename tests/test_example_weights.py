"""``example_weights``: a weighted loss checked against a hand-written PyTorch loop, its three
forms against each other, validation and measurements, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from nettrain.data.batching import round_permutation
from nettrain.data.split import split_fraction
from nettrain.data.table import PortTable
from nettrain.errors import NetTrainError

SEED, N, BATCH, ROUNDS = 3, 40, 8, 2
MOMENTUM = 0.93  # nettrain's sgd default


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g)
    y = torch.randint(0, 3, (N,), generator=g)
    w = torch.rand(N, generator=g) * 2
    return x, y, w


def fresh_net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Linear(3, 3)


def train(data_: object, **options: object) -> object:
    options = {
        "batch_size": BATCH,
        "max_training_rounds": ROUNDS,
        "method": "sgd",
        "training_progress_reporting": None,
        "random_seeding": SEED,
        **options,
    }
    return nettrain.train(fresh_net(), data_, "all", **options)


def hand_loop(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, lr: float) -> tuple:
    """The weighted loss as Keras defines sample_weight: sum(w * loss) / batch size."""
    net = fresh_net()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=MOMENTUM)
    round_losses = []
    for rnd in range(1, ROUNDS + 1):
        order, total = round_permutation(SEED, rnd, N), 0.0
        for begin in range(0, N, BATCH):
            i = order[begin : begin + BATCH]
            loss = (F.cross_entropy(net(x[i]), y[i], reduction="none") * w[i]).sum() / len(i)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(i)
        round_losses.append(total / N)
    return net, round_losses


def test_weights_per_example_match_a_hand_written_weighted_loop():
    x, y, w = data()
    result = train((x, y), example_weights=w)
    net, losses = hand_loop(x, y, w, result["initial_learning_rate"])
    torch.testing.assert_close(result["trained_net"].weight, net.weight)
    torch.testing.assert_close(result["trained_net"].bias, net.bias)
    assert result["round_loss_list"] == pytest.approx(losses, rel=1e-6)


def test_unit_weights_train_exactly_as_no_weights():
    x, y, _ = data()
    plain, ones = train((x, y)), train((x, y), example_weights=torch.ones(N))
    assert torch.equal(plain["trained_net"].weight, ones["trained_net"].weight)


def test_a_column_a_vector_and_class_weights_are_the_same_weights():
    x, y, _ = data()
    table = {0: 0.5, 1: 1.0, 2: 4.0}
    per_example = torch.tensor([table[int(c)] for c in y])
    by_class = train((x, y), example_weights=table)
    by_vector = train((x, y), example_weights=per_example)
    by_column = train({"input": x, "target": y, "w": per_example}, example_weights="w")
    for other in (by_vector, by_column):
        assert torch.equal(by_class["trained_net"].weight, other["trained_net"].weight)
        assert by_class["round_loss_list"] == other["round_loss_list"]
    # and it is the weighted loss, not the plain one
    assert not torch.equal(by_class["trained_net"].weight, train((x, y))["trained_net"].weight)


def test_class_weights_leave_out_classes_weigh_one_and_zero_removes_examples():
    x, y, _ = data()
    keep = y != 2
    only = train((x, y), example_weights={2: 0.0})
    w = keep.float()
    net, _ = hand_loop(x, y, w, only["initial_learning_rate"])
    torch.testing.assert_close(only["trained_net"].weight, net.weight)


def test_class_weights_by_label_name_and_for_one_hot_and_binary_targets():
    x, y, _ = data()
    names = ["cat", "dog", "fox"]
    labels = [names[int(c)] for c in y]
    by_name = train((x, labels), example_weights={"fox": 3.0})
    by_index = train((x, y), example_weights={2: 3.0})
    assert torch.equal(by_name["trained_net"].module.weight, by_index["trained_net"].weight)

    flags = y == 1
    common = {"batch_size": BATCH, "max_training_rounds": 1, "training_progress_reporting": None}
    torch.manual_seed(4)
    binary = nettrain.train(nn.Linear(3, 1), (x, flags), example_weights={True: 4.0}, **common)
    torch.manual_seed(4)
    vector = nettrain.train(
        nn.Linear(3, 1), (x, flags), example_weights=1 + 3 * flags.float(), **common
    )
    assert torch.equal(binary.weight, vector.weight)


def test_one_hot_class_weights_read_the_largest_entry():
    x, y, _ = data()
    one_hot = F.one_hot(y, 3).float()
    make = lambda: nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=-1))  # noqa: E731
    common = {
        "batch_size": BATCH, "max_training_rounds": 1, "method": "sgd",
        "training_progress_reporting": None, "random_seeding": SEED,
    }  # fmt: skip
    torch.manual_seed(2)
    a = nettrain.train(make(), (x, one_hot), example_weights={0: 3.0}, **common)
    torch.manual_seed(2)
    b = nettrain.train(make(), (x, one_hot), example_weights=1 + 2 * (y == 0).float(), **common)
    assert torch.equal(a[0].weight, b[0].weight)


def test_a_stream_with_a_weight_column():
    x, y, w = data()

    class Batches:  # a re-iterable stream of dict batches
        def __iter__(self):
            for begin in range(0, N, BATCH):
                s = slice(begin, begin + BATCH)
                yield {"input": x[s], "target": y[s], "w": w[s]}

    batches = Batches()
    result = nettrain.train(
        fresh_net(), batches, "all", method="sgd", max_training_rounds=1,
        training_progress_reporting=None, example_weights="w",
    )  # fmt: skip
    net = fresh_net()
    opt = torch.optim.SGD(net.parameters(), lr=result["initial_learning_rate"], momentum=MOMENTUM)
    for batch in batches:
        loss = (F.cross_entropy(net(batch["input"]), batch["target"], reduction="none")
                * batch["w"]).mean()  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.testing.assert_close(result["trained_net"].weight, net.weight)


def test_validation_loss_is_weighted_by_the_held_out_weights_not_by_class_weights():
    x, y, w = data()
    held = train((x, y), example_weights=w, validation_set=0.25, max_training_rounds=1)
    # the held-out quarter, as the engine splits it (stratified by class, under the seed)
    table = PortTable({"input": x, "target": y, "w": w}, "pairs")
    _, out = split_fraction(table, 0.25, seed=SEED, stratify="target")
    vx, vy, vw = out.columns["input"], out.columns["target"], out.columns["w"]
    losses = F.cross_entropy(held["trained_net"](vx), vy, reduction="none").detach()
    assert held["validation_loss_list"][-1] == pytest.approx(float((losses * vw).mean()))
    assert held["validation_loss_list"][-1] != pytest.approx(float(losses.mean()))

    # validation data given separately: weighted where it has the column, plain without it
    vx, vy, vw = x[:10], y[:10], w[:10]
    with_column = train(
        {"input": x, "target": y, "w": w}, example_weights="w",
        validation_set={"input": vx, "target": vy, "w": vw}, max_training_rounds=1,
    )  # fmt: skip
    net = with_column["trained_net"]
    losses = F.cross_entropy(net(vx), vy, reduction="none").detach()
    assert with_column["validation_loss_list"][-1] == pytest.approx(float((losses * vw).mean()))
    without = train(
        {"input": x, "target": y, "w": w}, example_weights="w",
        validation_set={"input": vx, "target": vy}, max_training_rounds=1,
    )  # fmt: skip
    losses = F.cross_entropy(without["trained_net"](vx), vy).detach()
    assert without["validation_loss_list"][-1] == pytest.approx(float(losses))

    by_class = train(
        (x, y), example_weights={0: 9.0}, validation_set=(vx, vy), max_training_rounds=1
    )
    losses = F.cross_entropy(by_class["trained_net"](vx), vy).detach()
    assert by_class["validation_loss_list"][-1] == pytest.approx(float(losses))


def test_measurements_are_not_weighted():
    x, y, w = data()
    vx, vy = x[:10], y[:10]
    result = train(
        (x, y), example_weights=w * 0 + 1e-3, validation_set=(vx, vy), max_training_rounds=1,
        training_progress_measurements=["loss", "accuracy"],
    )  # fmt: skip
    predicted = result["trained_net"](vx).argmax(1)
    accuracy = float((predicted == vy).float().mean())
    assert result["validation_measurements_lists"]["accuracy"][-1] == pytest.approx(accuracy)


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        (torch.ones(N - 1), "one weight per training example"),
        (torch.tensor([-1.0] + [1.0] * (N - 1)), "finite number >= 0"),
        (torch.ones(N, 2), "one number per example"),
        ({5: 2.0}, "is not one of the classes"),
        ({0: -1.0}, "finite number >= 0"),
        ({}, "empty"),
        ("wieght", "no column 'wieght'"),
        (3.0, "cannot use this as example weights"),
    ],
)
def test_bad_weights_are_refused_before_training(weights, words):
    x, y, _ = data()
    net = fresh_net()
    before = net.weight.detach().clone()
    columns = {"input": x, "target": y}
    if isinstance(weights, str):
        columns["weight"] = torch.ones(N)
    with pytest.raises(NetTrainError, match="example_weights") as error:
        nettrain.train(
            net, columns,
            example_weights=weights, max_training_rounds=1, training_progress_reporting=None,
        )  # fmt: skip
    assert words in str(error.value)
    assert torch.equal(net.weight, before)


def test_misspelt_column_gets_a_suggestion_and_bad_column_values_are_named():
    x, y, _ = data()
    with pytest.raises(NetTrainError, match="did you mean 'weight'"):
        nettrain.train(fresh_net(), {"input": x, "target": y, "weight": torch.ones(N)},
                       example_weights="weigth", max_training_rounds=1)  # fmt: skip
    bad = torch.ones(N)
    bad[7] = float("nan")
    with pytest.raises(NetTrainError, match="example 7: column 'w' holds NaN"):
        nettrain.train(fresh_net(), {"input": x, "target": y, "w": bad},
                       example_weights="w", max_training_rounds=1, batch_size=N)  # fmt: skip
    bad[7] = -2.0
    with pytest.raises(NetTrainError, match="example 7") as error:
        nettrain.train(fresh_net(), {"input": x, "target": y, "w": bad},
                       example_weights="w", max_training_rounds=1, batch_size=N)  # fmt: skip
    assert "not a finite number >= 0" in str(error.value)


def test_class_weights_need_a_classification_and_a_stream_needs_a_column():
    x, _, w = data()
    with pytest.raises(NetTrainError, match="class weights need a classification loss"):
        nettrain.train(fresh_net(), (x, torch.randn(N, 3)), example_weights={0: 2.0},
                       max_training_rounds=1)  # fmt: skip

    class Stream:
        def __iter__(self):
            yield from ((x[i : i + 8], torch.zeros(8, dtype=torch.long)) for i in range(0, N, 8))

    with pytest.raises(NetTrainError, match="need data held in memory") as error:
        nettrain.train(fresh_net(), Stream(), example_weights=w, max_training_rounds=1)
    assert "as a column" in str(error.value)


def test_a_net_returning_its_own_loss_cannot_be_weighted():
    class OwnLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 1)

        def forward(self, input, target):
            return ((self.linear(input).squeeze(1) - target) ** 2).mean()

    x, _, w = data()
    with pytest.raises(NetTrainError, match="one loss for the whole batch"):
        nettrain.train(OwnLoss(), {"input": x, "target": torch.randn(N)}, example_weights=w,
                       max_training_rounds=1)  # fmt: skip


def test_a_torch_loss_module_and_a_per_example_callable_are_weighted_per_example():
    x, _, w = data()
    target = torch.randn(N, 3)
    per_example = lambda out, t: ((out - t) ** 2).mean(1)  # noqa: E731
    results = [
        train((x, target), loss_function=loss, example_weights=w, max_training_rounds=1)
        for loss in (nn.MSELoss(), per_example, "mean_squared")
    ]
    for other in results[1:]:
        torch.testing.assert_close(results[0]["trained_net"].weight, other["trained_net"].weight)
    # the weighted loss, by hand, for the first batch of the first round
    order = round_permutation(SEED, 1, N)[:BATCH]
    net = fresh_net()
    each = ((net(x[order]) - target[order]) ** 2).mean(1).detach()
    assert results[0]["batch_loss_list"][0] == pytest.approx(float((each * w[order]).mean()))
