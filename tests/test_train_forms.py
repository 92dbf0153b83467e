"""Every data form trains to bitwise the same weights as the equivalent ``(xs, ys)`` call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

import nettrain
from conftest import QUIET, assert_same_weights, make_classification, make_net, weights
from nettrain.data.batching import round_permutation

N, B, ROUNDS, SEED = 50, 8, 3, 1234
OPTS = {"batch_size": B, "max_training_rounds": ROUNDS, "random_seeding": SEED, **QUIET}


def reference(x, y, **extra):
    net = make_net()
    nettrain.train(net, (x, y), **{**OPTS, **extra})
    return net


def trained(data, **extra):
    net = make_net()
    nettrain.train(net, data, **{**OPTS, **extra})
    return net


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(N)
    return x, y, reference(x, y)


def test_pairs(data):
    x, y, ref = data
    assert_same_weights(trained([(x[i], y[i]) for i in range(N)]), ref)
    assert_same_weights(trained([[x[i].numpy(), int(y[i])] for i in range(N)]), ref)


def test_inputs_targets_numpy_lists_and_float64(data):
    x, y, ref = data
    assert_same_weights(trained((x.numpy(), y.numpy())), ref)
    assert_same_weights(trained((x.tolist(), y.tolist())), ref)
    assert_same_weights(trained((x.double().numpy(), y.numpy())), ref)


def test_port_columns_and_rows(data):
    x, y, ref = data
    assert_same_weights(trained({"input": x, "target": y}), ref)
    rows = [{"input": x[i].tolist(), "target": int(y[i])} for i in range(N)]
    assert_same_weights(trained(rows), ref)


def test_data_frame(data):
    x, y, ref = data
    frame = pd.DataFrame({"input": list(x.numpy()), "target": y.numpy()})
    assert_same_weights(trained(frame), ref)
    wide = pd.DataFrame(x.numpy(), columns=[f"f{i}" for i in range(5)])
    wide["target"] = y.numpy()
    assert_same_weights(trained(wide), ref)


class ItemDataset(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_datasets(data):
    x, y, ref = data
    assert_same_weights(trained(TensorDataset(x, y)), ref)
    assert_same_weights(trained(ItemDataset(x, y)), ref)


class RoundSampler(Sampler):
    """Yields nettrain's own batch order, round after round, so a DataLoader can match it."""

    def __init__(self):
        self.round = 0

    def __iter__(self):
        self.round += 1
        order = round_permutation(SEED, self.round, N)
        return iter([order[i : i + B].tolist() for i in range(0, N, B)])

    def __len__(self):
        return -(-N // B)


def test_data_loader_streams_its_own_batches(data):
    x, y, ref = data
    loader = DataLoader(TensorDataset(x, y), batch_sampler=RoundSampler())
    opts = {k: v for k, v in OPTS.items() if k != "batch_size"}
    net = make_net()
    result = nettrain.train(net, loader, "all", **opts)
    assert result.input_form == "data_loader"
    assert_same_weights(net, ref)


def test_generator_with_round_length(data):
    x, y, ref = data
    calls = []

    def generate(batch_size, round):
        calls.append((batch_size, round))
        order = round_permutation(SEED, round, N)
        k = sum(1 for _, r in calls if r == round) - 1
        idx = order[k * batch_size : (k + 1) * batch_size]
        return x[idx], y[idx]

    assert_same_weights(trained((generate, {"round_length": N})), ref)
    assert calls[-1] == (B, ROUNDS)


def test_iterable_of_batches(data):
    x, y, ref = data

    class Batches:
        def __init__(self):
            self.round = 0

        def __iter__(self):
            self.round += 1
            order = round_permutation(SEED, self.round, N)
            for i in range(0, N, B):
                yield {"input": x[order[i : i + B]], "target": y[order[i : i + B]]}

    opts = {k: v for k, v in OPTS.items() if k != "batch_size"}
    net = make_net()
    assert nettrain.train(net, Batches(), "input_form", **opts) == "iterable"
    assert_same_weights(net, ref)


def test_same_seed_same_result_other_seed_differs(data):
    x, y, ref = data
    assert_same_weights(reference(x, y), ref)
    other = reference(x, y, random_seeding=99)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(weights(other).values(), weights(ref).values(), strict=True)
    )


def test_auto_seed_is_recorded_and_reproduces(data):
    x, y, _ = data
    net = make_net()
    seed = nettrain.train(
        net,
        (x, y),
        "random_seed",
        random_seeding="auto",
        **{k: v for k, v in OPTS.items() if k != "random_seeding"},
    )
    assert_same_weights(net, reference(x, y, random_seeding=seed))


def test_multi_input_ports_by_forward_names():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(4, 2)

        def forward(self, left, right):
            return self.a(left) + self.b(right)

    g = torch.Generator().manual_seed(3)
    left, right = torch.randn(40, 3, generator=g), torch.randn(40, 4, generator=g)
    target = left.sum(1, keepdim=True).repeat(1, 2) - right[:, :2]
    torch.manual_seed(0)
    net1 = TwoInputs()
    net2 = TwoInputs()
    net2.load_state_dict(net1.state_dict())
    nettrain.train(net1, {"left": left, "right": right, "target": target}, **OPTS)
    rows = [{"right": right[i], "left": left[i], "target": target[i]} for i in range(40)]
    nettrain.train(net2, rows, **OPTS)
    assert_same_weights(net1, net2)


def test_numpy_input_equivalent_to_tensor_for_regression():
    g = np.random.default_rng(0)
    x = g.normal(size=(30, 2))
    y = x @ np.array([2.0, -1.0]) + 0.5
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    b.load_state_dict(a.state_dict())
    nettrain.train(a, (x, y), **OPTS)
    nettrain.train(
        b,
        (torch.tensor(x, dtype=torch.float32), torch.tensor(y[:, None], dtype=torch.float32)),
        **OPTS,
    )
    assert_same_weights(a, b)


def test_uint8_images_stay_8_bit_and_uint8_labels_train_as_classes():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 4, 4), generator=g, dtype=torch.uint8)
    labels = (images.float().mean((1, 2)) > 127).to(torch.uint8)

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))

        def forward(self, input):
            assert input.dtype == torch.uint8  # the batch arrives as stored: 8-bit
            return self.body(input.float() / 255)

    r = nettrain.train(Scale(), (images, labels), "all", max_training_rounds=2, **QUIET)
    assert r.loss_function["output"]["loss"] == "cross_entropy"


def test_integer_inputs_to_a_float_net_get_a_hint():
    images = torch.zeros(10, 16, dtype=torch.uint8)
    with pytest.raises(nettrain.NetTrainError, match=r"x.float\(\) / 255"):
        nettrain.train(nn.Linear(16, 2), (images, torch.zeros(10).long()), **QUIET)
