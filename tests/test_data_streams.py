"""Stream sources: datasets match in-memory batches, loaders and generators keep their order."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nettrain.data.batching import InMemorySource
from nettrain.data.forms import normalize
from nettrain.data.generator import GeneratorSource
from nettrain.data.streams import BatchIterableSource, DatasetSource
from nettrain.data.table import Batch
from nettrain.errors import NetTrainError

N, F = 37, 5


class MapStyle:
    """A map-style dataset that counts its reads."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        self.reads.append(index)
        return self.items[index]


@pytest.fixture(scope="module")
def xs() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, F))


@pytest.fixture(scope="module")
def ys() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 3, size=N)


def assert_same_batches(got: list[Batch], expected: list[Batch]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].dtype == b[name].dtype
            assert torch.equal(a[name], b[name]), name


# --------------------------------------------------------------------------------------------
# DatasetSource
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("round", [1, 2])
def test_dataset_batches_equal_in_memory_batches(
    round: int, xs: np.ndarray, ys: np.ndarray
) -> None:
    pairs = [(torch.from_numpy(x), int(y)) for x, y in zip(xs, ys, strict=True)]
    stream = DatasetSource(MapStyle(pairs), seed=11)
    memory = normalize(pairs, seed=11)
    assert isinstance(memory, InMemorySource)
    assert stream.batches_per_round(8) == memory.batches_per_round(8) == 5
    assert_same_batches(list(stream.round_batches(round, 8)), list(memory.round_batches(round, 8)))


def test_dataset_of_rows_equals_in_memory_rows(xs: np.ndarray, ys: np.ndarray) -> None:
    rows = [{"x": x, "label": y} for x, y in zip(xs, ys, strict=True)]
    stream = normalize(MapStyle(rows), seed=3)
    memory = normalize(rows, seed=3)
    assert isinstance(stream, DatasetSource)
    assert stream.names == ("x", "label")
    assert_same_batches(list(stream.round_batches(2, 6)), list(memory.round_batches(2, 6)))
    assert_same_batches([stream.sample(4)], [memory.sample(4)])


def test_dataset_start_skips_batches_without_reading_them(xs: np.ndarray, ys: np.ndarray) -> None:
    dataset = MapStyle(list(zip(xs, ys, strict=True)))
    stream = DatasetSource(dataset, seed=5)
    full = list(stream.round_batches(1, 8))
    dataset.reads.clear()
    assert_same_batches(list(stream.round_batches(1, 8, start=3)), full[3:])
    assert len(dataset.reads) == N - 3 * 8
    assert list(stream.round_batches(1, 8, start=5)) == []


def test_dataset_of_bare_tensors_has_one_input_column() -> None:
    items = [torch.full((2,), float(i)) for i in range(5)]
    stream = DatasetSource(MapStyle(items), seed=1)
    assert stream.names == ("input",)
    assert torch.equal(stream.sample(5)["input"], torch.stack(items))
    single = DatasetSource(MapStyle([(item,) for item in items]), seed=1)
    assert torch.equal(single.sample(5)["input"], torch.stack(items))


def test_dataset_errors_give_the_dataset_index() -> None:
    items = [(torch.zeros(3), 0) for _ in range(10)]
    items[7] = (torch.tensor([0.0, float("nan"), 0.0]), 0)
    stream = DatasetSource(MapStyle(items), seed=2)
    with pytest.raises(NetTrainError) as info:
        list(stream.round_batches(1, 4))
    assert info.value.index == 7
    assert info.value.received == "nan"
    assert "while reading the dataset" in info.value.problem


def test_dataset_item_that_is_not_a_pair() -> None:
    items = [(torch.zeros(3), 0, 1)] * 4
    with pytest.raises(NetTrainError) as info:
        DatasetSource(MapStyle(items), seed=2).sample(4)
    assert (info.value.index, info.value.received) == (0, "a tuple of length 3")


def test_dataset_item_unlike_item_zero() -> None:
    items: list[Any] = [(torch.zeros(3), 0) for _ in range(10)]
    items[6] = (torch.zeros(4), 0)
    stream = DatasetSource(MapStyle(items), seed=2)
    with pytest.raises(NetTrainError) as info:
        list(stream.round_batches(1, 1))
    assert info.value.index == 6
    assert info.value.expected is not None and "(3,)" in info.value.expected
    assert info.value.received is not None and "(4,)" in info.value.received


def test_empty_dataset() -> None:
    with pytest.raises(NetTrainError, match="empty dataset"):
        normalize(MapStyle([]), seed=1)


# --------------------------------------------------------------------------------------------
# BatchIterableSource
# --------------------------------------------------------------------------------------------


def test_data_loader_batches_in_its_own_order(xs: np.ndarray, ys: np.ndarray) -> None:
    dataset = TensorDataset(torch.from_numpy(xs), torch.from_numpy(ys))
    loader = DataLoader(dataset, batch_size=8, shuffle=False)
    source = normalize(loader, seed=1)
    assert isinstance(source, BatchIterableSource)
    assert source.form == "data_loader"
    assert source.num_examples == N
    assert source.batches_per_round(64) == len(loader) == 5
    assert source.names == ("input", "target")
    expected = [{"input": x.float(), "target": y} for x, y in loader]
    for round in (1, 2):
        assert_same_batches(list(source.round_batches(round, 64)), expected)
    assert_same_batches(list(source.round_batches(3, 64, start=2)), expected[2:])
    dropping = DataLoader(dataset, batch_size=8, drop_last=True)
    assert normalize(dropping, seed=1).num_examples == 32


def test_data_loader_of_dicts() -> None:
    rows = [{"image": torch.full((2, 2), float(i)), "label": i} for i in range(6)]
    loader: DataLoader[Any] = DataLoader(rows, batch_size=4)  # type: ignore[arg-type]
    batches = list(normalize(loader, seed=1).round_batches(1, 4))
    assert [b["label"].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5]]
    assert batches[1]["image"].shape == (2, 2, 2)


def test_sample_does_not_shift_a_shuffled_round_one(xs: np.ndarray, ys: np.ndarray) -> None:
    dataset = TensorDataset(torch.from_numpy(xs), torch.from_numpy(ys))
    loader = DataLoader(dataset, batch_size=8, shuffle=True)
    torch.manual_seed(123)
    expected = [{"input": x.float(), "target": y} for x, y in loader]
    torch.manual_seed(123)
    source = normalize(loader, seed=1)
    assert_same_batches([source.sample(3)], [{k: v[:3] for k, v in expected[0].items()}])
    assert source.sample(8)["target"].shape == (8,)  # kept, not read again
    assert_same_batches(list(source.round_batches(1, 8)), expected)


def one_shot(count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for k in range(count):
        yield torch.full((3, 2), float(k)), torch.tensor([k, k, k])


def test_one_shot_iterator_gives_one_round_then_nothing() -> None:
    source = normalize(one_shot(4), seed=1)
    assert isinstance(source, BatchIterableSource)
    assert source.form == "iterable"
    assert source.batches_per_round(8) is None
    assert source.num_examples is None
    first = source.sample(2)
    assert first["target"].tolist() == [0, 0]
    assert [b["target"][0].item() for b in source.round_batches(1, 8)] == [0, 1, 2, 3]
    assert list(source.round_batches(2, 8)) == []
    assert source.sample(1)["target"].tolist() == [0]  # still answers from the kept batch


def test_one_shot_iterator_without_sample_and_with_start() -> None:
    source = BatchIterableSource(one_shot(5))
    assert [b["target"][0].item() for b in source.round_batches(1, 8, start=2)] == [2, 3, 4]
    assert source.names == ("input", "target")  # from the skipped first batch, no read
    assert list(source.round_batches(2, 8)) == []


def test_iterable_with_a_changed_dtype_names_the_batch() -> None:
    batches = [(torch.zeros(2, 3), torch.zeros(2))] * 2 + [
        (torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64))
    ]
    source = BatchIterableSource(iter(batches))
    with pytest.raises(NetTrainError) as info:
        list(source.round_batches(1, 2))
    assert "batch 3 of round 1" in info.value.problem
    assert info.value.expected == "columns 'input' (float32), 'target' (float32)"
    assert info.value.received == "columns 'input' (float32), 'target' (int64)"


def test_iterable_batch_that_is_not_data() -> None:
    source = BatchIterableSource(iter([(torch.zeros(2, 3), torch.zeros(2)), "oops"]))
    with pytest.raises(NetTrainError) as info:
        list(source.round_batches(1, 2))
    assert "batch 2 of round 1" in info.value.problem


def test_iterable_with_no_batches() -> None:
    with pytest.raises(NetTrainError, match="yields no batches"):
        BatchIterableSource(iter([])).sample(4)


# --------------------------------------------------------------------------------------------
# GeneratorSource
# --------------------------------------------------------------------------------------------


class Recorder:
    """A batch function of (batch_size, round) that records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, batch_size: int, round: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append((batch_size, round))
        x = torch.arange(batch_size * 2, dtype=torch.float64).reshape(batch_size, 2) + round
        return x, x.sum(dim=1)


def test_generator_one_call_per_round_by_default() -> None:
    make = Recorder()
    source = normalize(make, seed=1)
    assert isinstance(source, GeneratorSource)
    assert (source.form, source.num_examples, source.batches_per_round(16)) == (
        "generator",
        None,
        1,
    )
    for round in (1, 2, 3):
        (batch,) = source.round_batches(round, 16)
        expected_x, expected_y = Recorder()(16, round)
        assert torch.equal(batch["input"], expected_x.float())
        assert torch.equal(batch["target"], expected_y.float())
    assert make.calls == [(16, 1), (16, 2), (16, 3)]


def test_generator_round_length_makes_ceil_n_over_b_calls() -> None:
    make = Recorder()
    source = normalize((make, {"round_length": 50}), seed=1)
    assert source.num_examples == 50
    assert source.batches_per_round(16) == math.ceil(50 / 16) == 4
    assert len(list(source.round_batches(2, 16))) == 4
    assert make.calls == [(16, 2)] * 4
    make.calls.clear()
    assert len(list(source.round_batches(3, 16, start=1))) == 3
    assert make.calls == [(16, 3)] * 3


def test_generator_sample_is_replayed_as_round_one() -> None:
    make = Recorder()
    source = GeneratorSource(make, round_length=20)
    sampled = source.sample(10)
    assert source.names == ("input", "target")
    batches = list(source.round_batches(1, 10))
    assert batches[0] is sampled
    assert make.calls == [(10, 1), (10, 1)]  # sample's call, then round 1's second call
    source.sample(4)
    assert len(make.calls) == 2  # a smaller sample comes from the kept batch


@pytest.mark.parametrize(
    "function",
    [
        lambda batch_size: ([[0.0]] * batch_size, [0] * batch_size),
        lambda **kwargs: {
            "input": torch.zeros(kwargs["batch_size"], 1),
            "target": torch.zeros(kwargs["batch_size"]),
        },
        lambda: [([0.0], 0), ([1.0], 1)],
        lambda batch_size, round, scale=2.0: [{"input": [scale], "target": round}] * batch_size,
    ],
)
def test_generator_signatures_and_batch_forms(function: Any) -> None:
    source = GeneratorSource(function)
    (batch,) = source.round_batches(1, 2)
    assert set(batch) == {"input", "target"}
    assert batch["input"].shape == (2, 1)
    assert batch["input"].dtype == torch.float32


def test_generator_wrong_shape_on_a_later_call() -> None:
    def make(batch_size: int, round: int) -> tuple[torch.Tensor, torch.Tensor]:
        width = 3 if round == 2 else 2
        return torch.zeros(batch_size, width), torch.zeros(batch_size)

    source = GeneratorSource(make, round_length=8)
    list(source.round_batches(1, 4))
    with pytest.raises(NetTrainError) as info:
        list(source.round_batches(2, 4))
    error = info.value
    assert error.argument == "data"
    assert "call 1 of round 2" in error.problem
    assert (
        error.expected == "columns 'input' (float32, each example of shape (2,)), "
        "'target' (float32, each example of shape ())"
    )
    assert (
        error.received is not None
        and "'input' (float32, each example of shape (3,))" in error.received
    )


def test_generator_changed_ports_on_a_later_call() -> None:
    outputs = iter([{"input": [1.0], "target": [0]}, {"input": [1.0], "label": [0]}])
    source = GeneratorSource(lambda: next(outputs), round_length=2)
    with pytest.raises(NetTrainError) as info:
        list(source.round_batches(1, 1))
    assert "call 2 of round 1" in info.value.problem
    assert info.value.received is not None and "'label'" in info.value.received


def test_generator_returning_non_data_names_the_call() -> None:
    source = GeneratorSource(lambda batch_size: None)
    with pytest.raises(NetTrainError) as info:
        list(source.round_batches(4, 2))
    assert "call 1 of round 4" in info.value.problem
    assert info.value.received == "NoneType None"


def test_generator_with_parameters_nettrain_cannot_fill() -> None:
    def make(n: int, round: int) -> object:
        return ([0.0], [0.0])

    with pytest.raises(NetTrainError) as info:
        normalize(make, seed=1)
    assert "n" in info.value.problem
    assert info.value.received is not None and info.value.received.startswith("make(n")


def test_generator_function_that_yields_is_refused() -> None:
    def batches(batch_size: int) -> Iterator[object]:
        yield ([0.0], [0.0])

    with pytest.raises(NetTrainError) as info:
        normalize(batches, seed=1)
    assert "yields" in info.value.problem
    assert info.value.hint is not None and "f()" in info.value.hint
