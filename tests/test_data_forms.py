"""The data boundary: every in-memory form gives the same table; bad data gives precise errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from nettrain.data.batching import InMemorySource, round_permutation
from nettrain.data.columns import to_batch
from nettrain.data.forms import normalize, to_table
from nettrain.data.generator import GeneratorSource
from nettrain.data.streams import BatchIterableSource, DatasetSource
from nettrain.data.values import needs_encoder, to_tensor
from nettrain.errors import NetTrainError

N, F = 37, 5


@pytest.fixture(scope="module")
def xs() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, F))  # float64, as numpy makes it


@pytest.fixture(scope="module")
def ys() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 3, size=N)


def reference(xs: np.ndarray, ys: np.ndarray) -> dict[str, torch.Tensor]:
    """What every form must give: built by hand, not by the code under test."""
    return {
        "input": torch.tensor(xs.tolist(), dtype=torch.float32),
        "target": torch.tensor(ys.tolist(), dtype=torch.int64),
    }


def frame_with_features(xs: np.ndarray, ys: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(xs, columns=[f"f{i}" for i in range(F)])
    frame["Target"] = ys
    return frame


FORMS = {
    "inputs_targets numpy": (lambda x, y: (x, y), "inputs_targets"),
    "inputs_targets tensors": (
        lambda x, y: (torch.from_numpy(x), torch.from_numpy(y)),
        "inputs_targets",
    ),
    "inputs_targets nested lists": (lambda x, y: (x.tolist(), y.tolist()), "inputs_targets"),
    "inputs_targets list of arrays": (lambda x, y: (list(x), list(y)), "inputs_targets"),
    "list of two arrays": (lambda x, y: [x, y], "inputs_targets"),
    "pairs of arrays": (lambda x, y: list(zip(x, y, strict=True)), "pairs"),
    "pairs of lists": (
        lambda x, y: [[a.tolist(), int(b)] for a, b in zip(x, y, strict=True)],
        "pairs",
    ),
    "pairs of tensors": (
        lambda x, y: list(zip(torch.from_numpy(x), torch.from_numpy(y), strict=True)),
        "pairs",
    ),
    "tuple of pairs": (lambda x, y: tuple(zip(x, y, strict=True)), "pairs"),
    "port columns": (lambda x, y: {"input": x, "target": y}, "port_columns"),
    "port rows": (
        lambda x, y: [{"input": a, "target": b} for a, b in zip(x, y, strict=True)],
        "port_rows",
    ),
    "data frame of array column": (
        lambda x, y: pd.DataFrame({"input": list(x), "target": y}),
        "data_frame",
    ),
    "data frame of features": (frame_with_features, "data_frame"),
    "tensor dataset": (
        lambda x, y: TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        "dataset",
    ),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_in_memory_form_gives_the_same_table(
    name: str, xs: np.ndarray, ys: np.ndarray
) -> None:
    make, form = FORMS[name]
    source = normalize(make(xs, ys), seed=5)
    assert isinstance(source, InMemorySource)
    assert source.form == form
    assert source.seed == 5
    assert source.names == ("input", "target")
    assert source.num_examples == N
    expected = reference(xs, ys)
    for column in ("input", "target"):
        got = source.table.columns[column]
        assert got.dtype == expected[column].dtype
        assert torch.equal(got, expected[column]), column


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 9),
    shape=st.lists(st.integers(1, 3), max_size=2),
    dtype=st.sampled_from([np.float64, np.float32, np.int32, np.int64, np.bool_]),
)
def test_forms_agree_for_any_shape_and_dtype(n: int, shape: list[int], dtype: type) -> None:
    rng = np.random.default_rng(n)
    xs = (rng.normal(size=(n, *shape)) * 3).astype(dtype)
    ys = rng.integers(0, 4, size=n)
    expected = torch.tensor(xs.tolist())  # the rules by hand: float32, int64 or bool
    if expected.is_floating_point():
        expected = torch.tensor(xs.astype(np.float32).tolist())
    elif expected.dtype != torch.bool:
        expected = expected.long()
    tables = [
        to_table((xs, ys)),
        to_table(list(zip(xs, ys, strict=True))),
        to_table(list(zip(xs.tolist(), ys.tolist(), strict=True))),
        to_table([{"input": x, "target": y} for x, y in zip(xs, ys, strict=True)]),
    ]
    for table in tables:
        assert table.columns["input"].dtype == expected.dtype
        assert torch.equal(table.columns["input"], expected)
        assert torch.equal(table.columns["target"], torch.from_numpy(ys))


def test_in_memory_batches_follow_the_seeded_order(xs: np.ndarray, ys: np.ndarray) -> None:
    source = normalize((xs, ys), seed=9)
    expected = reference(xs, ys)
    order = torch.cat([b["target"] for b in source.round_batches(1, 8)])
    assert torch.equal(order, expected["target"][round_permutation(9, 1, N)])


def test_float64_follows_float_dtype(xs: np.ndarray, ys: np.ndarray) -> None:
    assert to_table((xs, ys)).columns["input"].dtype == torch.float32
    source = normalize((xs, ys), seed=1, float_dtype=torch.float64)
    assert isinstance(source, InMemorySource)
    wide = source.table.columns["input"]
    assert wide.dtype == torch.float64
    assert torch.equal(wide, torch.tensor(xs.tolist(), dtype=torch.float64))
    half = to_table({"input": xs}, float_dtype=torch.bfloat16).columns["input"]
    assert torch.equal(half, torch.tensor(xs.tolist()).to(torch.bfloat16))


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (np.array([1, 2], dtype=np.int32), torch.int64, [1, 2]),
        (np.array([1, 2], dtype=np.uint8), torch.uint8, [1, 2]),  # pixels stay 8-bit
        (torch.tensor([1, 2], dtype=torch.int16), torch.int64, [1, 2]),
        ([True, False], torch.bool, [True, False]),
        (np.array([True, False]), torch.bool, [True, False]),
        ([1, 2.5], torch.float32, [1.0, 2.5]),  # a float among ints makes the column float
        ([np.float64(0.5), np.float64(1.5)], torch.float32, [0.5, 1.5]),
        ([torch.tensor(1.0), torch.tensor(2.0)], torch.float32, [1.0, 2.0]),
        (pd.Series([3, 4], dtype="Int64"), torch.int64, [3, 4]),
        (range(3), torch.int64, [0, 1, 2]),
    ],
)
def test_value_rules(values: object, dtype: torch.dtype, expected: list[object]) -> None:
    column = to_tensor(values)
    assert column.dtype == dtype
    assert column.tolist() == expected


def test_tensors_and_arrays_of_the_right_dtype_are_not_copied() -> None:
    tensor = torch.randn(6, 2)
    assert to_tensor(tensor) is tensor
    array = np.zeros((6, 2), dtype=np.float32)
    assert to_tensor(array).data_ptr() == array.ctypes.data
    grad = torch.ones(3, requires_grad=True)
    assert not to_tensor(grad).requires_grad


def test_awkward_numpy_memory_converts_without_warnings() -> None:
    base = np.arange(12, dtype=np.float64).reshape(6, 2)
    read_only = base.copy()
    read_only.flags.writeable = False
    expected = torch.tensor(base.tolist(), dtype=torch.float32)
    assert torch.equal(to_tensor(read_only.astype(np.float32)), expected)  # writable copy
    frozen32 = base.astype(np.float32)
    frozen32.flags.writeable = False
    assert torch.equal(to_tensor(frozen32), expected)  # read-only: would warn if shared
    assert torch.equal(to_tensor(base[::-1].astype(np.float32)[::-1]), expected)
    assert torch.equal(to_tensor(base.astype(">f4")), expected)


def test_data_frame_of_features_stacks_in_column_order(xs: np.ndarray, ys: np.ndarray) -> None:
    frame = frame_with_features(xs, ys)[["f3", "f0", "f1", "f4", "f2", "Target"]]
    table = to_table(frame)
    assert table.names == ("input", "target")
    assert torch.equal(table.columns["input"], torch.tensor(xs[:, [3, 0, 1, 4, 2]].tolist()))


def test_data_frame_with_input_column_keeps_its_columns() -> None:
    frame = pd.DataFrame({"input": [1.0, 2.0], "weight": [3, 4], "target": [True, False]})
    table = to_table(frame)
    assert table.form == "data_frame"
    assert table.names == ("input", "weight", "target")
    assert table.columns["weight"].dtype == torch.int64
    assert table.columns["target"].dtype == torch.bool


def test_data_frame_without_target_keeps_its_columns() -> None:
    table = to_table(pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}))
    assert table.names == ("x", "y")


def test_data_frame_with_missing_nullable_values_reports_the_row() -> None:
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "target": [0, 1, 0]})
    with pytest.raises(NetTrainError) as info:
        normalize(frame, seed=1)
    assert info.value.index == 1
    assert "NaN" in info.value.problem


def test_port_columns_and_rows_keep_port_names() -> None:
    image = np.zeros((4, 1, 3, 3), dtype=np.float32)
    columns: dict[str, Any] = {
        "image": image,
        "label": [0, 1, 2, 1],
        "weight": [0.5, 1.0, 1.0, 2.0],
    }
    table = to_table(columns)
    assert table.form == "port_columns"
    assert table.names == ("image", "label", "weight")
    rows = [{k: v[i] for k, v in columns.items()} for i in range(4)]
    from_rows = to_table(rows)
    assert from_rows.form == "port_rows"
    for name in table.names:
        assert torch.equal(from_rows.columns[name], table.columns[name])


def test_normalize_dispatches_streams_to_their_sources() -> None:
    dataset = TensorDataset(torch.zeros(4, 2), torch.zeros(4))
    assert isinstance(normalize(DataLoader(dataset, batch_size=2), seed=1), BatchIterableSource)
    assert normalize(DataLoader(dataset, batch_size=2), seed=1).form == "data_loader"
    assert normalize(iter([]), seed=1).form == "iterable"
    items = [(torch.zeros(2), 0)] * 3
    source = normalize(_MapStyle(items), seed=1)
    assert isinstance(source, DatasetSource)
    assert source.form == "dataset"
    generator = normalize(
        lambda batch_size: (torch.zeros(batch_size, 2), torch.zeros(batch_size)), seed=1
    )
    assert isinstance(generator, GeneratorSource)
    assert generator.num_examples is None
    with_length = normalize((lambda batch_size: ([0.0], [0.0]), {"round_length": 10}), seed=1)
    assert isinstance(with_length, GeneratorSource)
    assert with_length.num_examples == 10
    assert with_length.batches_per_round(4) == 3


def test_normalize_is_idempotent(xs: np.ndarray, ys: np.ndarray) -> None:
    source = normalize((xs, ys), seed=1)
    assert normalize(source, seed=2) is source
    table = to_table((xs, ys))
    again = normalize(table, seed=4)
    assert isinstance(again, InMemorySource)
    assert again.table is table
    assert again.seed == 4


class _MapStyle:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


def test_to_batch_accepts_a_bare_tensor_and_collated_lists() -> None:
    assert torch.equal(to_batch(np.ones((2, 3)))["input"], torch.ones(2, 3))
    batch = to_batch([torch.zeros(2, 3), torch.tensor([1, 0])])
    assert torch.equal(batch["target"], torch.tensor([1, 0]))


def test_needs_encoder_spots_raw_values() -> None:
    class FakeImage:
        __module__ = "PIL.Image"
        __array_interface__: ClassVar[dict[str, object]] = {}

    assert needs_encoder(FakeImage())
    assert needs_encoder(b"bytes")
    assert needs_encoder(np.array(["a"]))
    assert not needs_encoder(np.float32(1.0))
    assert not needs_encoder(np.array([1.0]))


# --------------------------------------------------------------------------------------------
# Bad input: each error names the argument, the index where there is one, expected, received.
# --------------------------------------------------------------------------------------------


def error_of(data: object, **options: Any) -> NetTrainError:
    with pytest.raises(NetTrainError) as info:
        normalize(data, seed=1, **options)
    return info.value


def test_empty_data() -> None:
    empty: object
    for empty in ([], (), ([], []), {"input": [], "target": []}, pd.DataFrame({"a": []})):
        error = error_of(empty)
        assert error.argument == "data"
        assert error.expected == "at least one example"
        assert error.received is not None and "no examples" in error.received


def test_inputs_and_targets_of_different_lengths(xs: np.ndarray, ys: np.ndarray) -> None:
    error = error_of((xs, ys[:30]), argument="validation_set")
    assert error.argument == "validation_set"
    assert str(error).startswith("validation_set: has inputs and targets of different lengths")
    assert error.received == "37 inputs and 30 targets"
    assert error.expected is not None and "37 targets" in error.expected


def test_rows_with_different_keys() -> None:
    rows = [{"input": 1.0, "target": 0}] * 2 + [{"input": 1.0, "label": 0}]
    error = error_of(rows)
    assert error.index == 2
    assert error.expected == "a dict with keys ['input', 'target']"
    assert error.received == "keys ['input', 'label']"
    assert str(error).startswith("data, example 2:")


def test_a_pair_that_is_not_two_long() -> None:
    error = error_of([(1.0, 0), (2.0, 1), (3.0, 1, 7)])
    assert error.index == 2
    assert error.received == "a tuple of length 3"
    assert error.expected is not None and "2 elements" in error.expected
    assert error_of([(1.0, 0), 5.0]).index == 1


def test_ragged_nested_lists_name_both_shapes() -> None:
    error = error_of([([1.0, 2.0], 0), ([1.0, 2.0], 1), ([1.0, 2.0, 3.0], 0)])
    assert error.index == 2
    assert error.expected == "shape (2,) like example 0"
    assert error.received == "shape (3,)"
    assert "'input'" in error.problem


def test_ragged_tensors_and_arrays() -> None:
    tensors = [torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2, 2)]
    error = error_of((tensors, [0, 1, 0, 1]))
    assert (error.index, error.received) == (3, "shape (2, 2)")
    arrays = [np.zeros(4), np.zeros(5)]
    assert error_of({"input": arrays}).index == 1


def test_nan_and_inf_give_the_first_bad_example(xs: np.ndarray, ys: np.ndarray) -> None:
    bad = xs.copy()
    bad[21, 3] = np.nan
    bad[30, 0] = np.inf
    error = error_of((bad, ys))
    assert (error.index, error.received, error.expected) == (21, "nan", "finite numbers")
    targets = np.zeros(N)
    targets[4] = -np.inf
    error = error_of({"input": xs, "target": targets})
    assert (error.index, error.received) == (4, "-inf")
    assert "'target'" in error.problem


def test_large_finite_values_are_not_mistaken_for_inf() -> None:
    huge = np.full((3, 4), 3e38, dtype=np.float32)  # the sum overflows, the values do not
    assert torch.equal(to_tensor(huge), torch.from_numpy(huge))


def test_columns_of_different_lengths_name_both_columns() -> None:
    error = error_of({"input": np.zeros((5, 2)), "target": np.zeros(5), "weight": np.zeros(4)})
    assert "'input'" in error.problem and "'weight'" in error.problem
    assert error.received == "4 examples in 'weight'"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "is not training data"),
        (42, "is not training data"),
        (object(), "is not training data"),
        ("MNIST", "named datasets"),
        (torch.zeros(3, 2), "single array"),
        (np.zeros(3), "single array"),
        (pd.Series([1.0, 2.0]), "single array"),
        (torch.nn.Linear(2, 2), "is a net"),
        (TensorDataset, "the class TensorDataset"),
    ],
)
def test_objects_that_are_not_data(data: object, problem: str) -> None:
    error = error_of(data)
    assert problem in error.problem
    assert error.expected is not None and "a list of (input, target) pairs" in error.expected
    assert error.received is not None


def test_iterable_dataset_is_told_to_use_a_data_loader() -> None:
    class Examples(IterableDataset[int]):
        def __iter__(self) -> Iterator[int]:
            return iter(range(3))

    error = error_of(Examples())
    assert error.hint is not None and "DataLoader" in error.hint


def test_raw_values_need_encoders() -> None:
    error = error_of(([[1.0], [2.0]], ["cat", "dog"]))
    assert error.index == 0
    assert "column 'target' holds raw values of type str" in error.problem
    assert "encoders are not available" in error.problem
    assert error.received == "str 'cat'"
    assert error.hint is not None and "numbers" in error.hint
    later = error_of({"input": [1.0, 2.0, None]})
    assert later.index == 2
    assert "NoneType" in later.problem
    frame = error_of(pd.DataFrame({"colour": ["red", "blue"], "target": [0, 1]}))
    assert "column 'colour'" in frame.problem


def test_tuple_of_scalars_is_not_inputs_and_targets() -> None:
    error = error_of((1.0, 2.0))
    assert "not a sequence" in error.problem
    assert error.hint is not None and "[(x, y)]" in error.hint


def test_bad_generator_options() -> None:
    error = error_of((lambda batch_size: ([0.0], [0.0]), {"round_lenght": 10}))
    assert error.received == "'round_lenght'"
    assert error.hint is not None and "'round_length'" in error.hint
    error = error_of((lambda batch_size: ([0.0], [0.0]), {"round_length": 0}))
    assert "positive integer" in error.problem
    assert error.received == "int 0"


def test_bad_float_dtype() -> None:
    error = error_of(([1.0], [1.0]), float_dtype=torch.int32)
    assert error.argument == "float_dtype"
    assert error.received is not None and "int32" in error.received


def test_non_string_port_names_and_scalar_columns() -> None:
    assert "not a string" in error_of({0: [1.0], 1: [2.0]}).problem
    error = error_of({"input": 3.0, "target": [1.0]})
    assert "single value" in error.problem
    assert error.received == "float 3.0"
