"""MiniBatchQueue (MATLAB's minibatchqueue): the order against the engine's permutations, every
example once per epoch, MATLAB's methods, resuming, the data forms through the same boundary as
``train`` (raw values encoded by the same encoders), streams, and errors naming the argument."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nettrain
from conftest import FASHION_MNIST, QUIET, needs_fashion_mnist
from nettrain.coders import ClassEncoder, ImageEncoder
from nettrain.data.batching import round_permutation
from nettrain.data.forms import normalize
from nettrain.datasets import DatasetSplit
from nettrain.errors import NetTrainError, NetTrainWarning
from nettrain.functional.queue import MiniBatchQueue, QueueExhausted
from nettrain.named import named_data
from nettrain.runtime.device import resolve_device
from nettrain.runtime.seed import DEFAULT_SEED
from nettrain.typed import Typed

N, B = 23, 5


def numbered(n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs that say which example they are (x[i] = [i, -i]) and class targets i % 3."""
    i = torch.arange(n, dtype=torch.float32)
    return torch.stack([i, -i], 1), torch.arange(n) % 3


def visited(batches) -> list[list[int]]:
    """The example indices of each batch (read from the numbered inputs)."""
    return [x[:, 0].long().tolist() for x, *_ in batches]


def epoch_order(queue: MiniBatchQueue) -> torch.Tensor:
    return torch.tensor([i for b in visited(queue) for i in b])


# -- the order ---------------------------------------------------------------------------------


def test_epochs_visit_examples_in_the_order_of_train_rounds():
    data = numbered()
    permutations = nettrain.train(
        nn.Linear(2, 3),
        data,
        "batch_permutation",
        batch_size=B,
        max_training_rounds=3,
        random_seeding=7,
        **QUIET,
    )
    queue = MiniBatchQueue(data, B, seed=7, device="cpu")
    for epoch in range(1, 4):
        assert torch.equal(epoch_order(queue), permutations[epoch - 1])
        assert queue.epoch == epoch
    # MATLAB's idiom (shuffle; while hasdata; next) gives the same epochs
    matlab = MiniBatchQueue(data, B, seed=7, device="cpu")
    for epoch in range(1, 4):
        matlab.shuffle()
        order = []
        while matlab.has_data():
            order += matlab.next()[0][:, 0].long().tolist()
        assert matlab.epoch == epoch
        assert order == permutations[epoch - 1].tolist()


def test_the_default_seed_is_trains():
    assert torch.equal(
        epoch_order(MiniBatchQueue(numbered(), B, device="cpu")),
        round_permutation(DEFAULT_SEED, 1, N),
    )


@pytest.mark.parametrize("partial", ["return", "discard"])
def test_every_example_exactly_once_per_epoch(partial):
    queue = MiniBatchQueue(numbered(), B, partial_mini_batch=partial, device="cpu")
    for epoch in range(1, 4):
        batches = visited(queue)
        order = round_permutation(1234, epoch, N).tolist()
        if partial == "return":
            assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
            assert sorted(i for b in batches for i in b) == list(range(N))
        else:
            assert [len(b) for b in batches] == [5, 5, 5, 5]
            assert len(queue) == 4
        # the batches are consecutive slices of the epoch's permutation
        assert [i for b in batches for i in b] == order[: sum(map(len, batches))]
    assert len(MiniBatchQueue(numbered(), B, device="cpu")) == 5


def test_shuffle_modes():
    once = MiniBatchQueue(numbered(), B, shuffle="once", device="cpu")
    never = MiniBatchQueue(numbered(), B, shuffle="Never", device="cpu")
    hyphen = MiniBatchQueue(numbered(), B, shuffle="every-epoch", device="cpu")
    first = round_permutation(1234, 1, N)
    for epoch in range(1, 4):
        assert torch.equal(epoch_order(once), first)
        assert torch.equal(epoch_order(never), torch.arange(N))
        assert torch.equal(epoch_order(hyphen), round_permutation(1234, epoch, N))
    assert once.shuffle_mode == "once" and hyphen.shuffle_mode == "every_epoch"


# -- MATLAB's methods --------------------------------------------------------------------------


def test_reset_repeats_the_epoch_and_shuffle_begins_the_next():
    queue = MiniBatchQueue(numbered(), B, device="cpu")
    assert queue.epoch == 0
    queue.reset()  # nothing begun yet: still before epoch 1
    assert queue.epoch == 0
    first = [queue.next()[0][:, 0].long().tolist() for _ in range(2)]
    assert queue.epoch == 1 and queue.position == 2
    queue.reset()
    assert queue.epoch == 1 and queue.position == 0
    again = [queue.next()[0][:, 0].long().tolist() for _ in range(2)]
    assert again == first
    queue.shuffle()  # mid-epoch: the next epoch, from its start
    assert queue.epoch == 2 and queue.position == 0
    assert torch.equal(epoch_order(queue), round_permutation(1234, 2, N))


def test_iteration_goes_on_from_where_a_loop_stopped():
    queue = MiniBatchQueue(numbered(), B, device="cpu")
    order = round_permutation(1234, 1, N).tolist()
    for k, _batch in enumerate(queue):
        if k == 1:
            break
    assert queue.epoch == 1 and queue.position == 2
    rest = [i for b in visited(queue) for i in b]
    assert rest == order[10:]  # the rest of epoch 1, not a new epoch
    assert not queue.has_data()
    assert queue.epoch == 1
    assert epoch_order(queue).tolist() == round_permutation(1234, 2, N).tolist()
    assert queue.epoch == 2


def test_next_on_an_exhausted_queue_says_what_to_do():
    queue = MiniBatchQueue(numbered(4), 2, device="cpu")
    queue.next(), queue.next()
    assert not queue.has_data()
    with pytest.raises(QueueExhausted) as caught:
        queue.next()
    error = caught.value
    assert isinstance(error, NetTrainError) and error.argument == "queue"
    assert "epoch 1" in error.problem and "shuffle()" in (error.hint or "")
    queue.shuffle()
    assert queue.has_data() and queue.epoch == 2


def test_properties():
    queue = MiniBatchQueue(numbered(), B, device="cpu")
    assert queue.names == ("input", "target")
    assert queue.num_examples == N and queue.batch_size == B and len(queue) == 5
    assert queue.form == "inputs_targets" and queue.device == torch.device("cpu")
    assert queue.classes is None and queue.encoders == {}
    assert MiniBatchQueue(numbered(), device="cpu").batch_size == 128
    assert len(MiniBatchQueue(numbered(), device="cpu")) == 1
    assert "batch_size=5" in repr(queue)
    with pytest.raises(AttributeError, match="cannot be changed"):
        queue.batch_size = 7
    auto = MiniBatchQueue(numbered(), B)
    assert auto.device == resolve_device("auto")
    assert auto.next()[0].device.type == auto.device.type


# -- saving and continuing ---------------------------------------------------------------------


def test_a_saved_state_continues_mid_epoch_exactly():
    original = MiniBatchQueue(numbered(), B, seed=5, device="cpu")
    visited(original)  # all of epoch 1
    original.shuffle()
    original.next(), original.next()  # two batches of epoch 2
    state = json.loads(json.dumps(original.state_dict()))  # plain data
    assert state["epoch"] == 2 and state["position"] == 2 and state["seed"] == 5
    resumed = MiniBatchQueue(numbered(), B, seed="auto", device="cpu")
    resumed.load_state_dict(state)
    assert resumed.epoch == 2 and resumed.seed == 5
    for _ in range(2):  # the rest of epoch 2, then epoch 3
        assert visited(resumed) == visited(original)
    fresh = MiniBatchQueue(numbered(), B, device="cpu")
    fresh.load_state_dict(MiniBatchQueue(numbered(), B, device="cpu").state_dict())
    assert fresh.epoch == 0 and torch.equal(epoch_order(fresh), round_permutation(1234, 1, N))


def test_a_state_from_another_queue_is_refused():
    state = MiniBatchQueue(numbered(), B, device="cpu").state_dict()
    other = MiniBatchQueue(numbered(), 4, device="cpu")
    with pytest.raises(NetTrainError, match="another batch_size") as caught:
        other.load_state_dict(state)
    assert caught.value.argument == "state"
    with pytest.raises(NetTrainError, match="not a MiniBatchQueue state"):
        other.load_state_dict({"epoch": 1})
    with pytest.raises(NetTrainError, match="impossible position"):
        other.load_state_dict({**other.state_dict(), "epoch": 1, "position": 99})


# -- preprocess (MATLAB's MiniBatchFcn) --------------------------------------------------------


def test_preprocess_gets_the_batch_and_gives_what_is_handed_out():
    seen = []

    def preprocess(x, t):
        seen.append((x.clone(), t.clone()))
        return x * 2, nn.functional.one_hot(t, 3)

    queue = MiniBatchQueue(numbered(), B, preprocess=preprocess, device="cpu")
    plain = MiniBatchQueue(numbered(), B, device="cpu")
    for (x2, hot), (x, t), (sx, st) in zip(queue, plain, seen, strict=True):
        assert torch.equal(sx, x) and torch.equal(st, t)
        assert torch.equal(x2, 2 * x) and torch.equal(hot, nn.functional.one_hot(t, 3))
    single = MiniBatchQueue(numbered(), B, preprocess=lambda x, t: x, device="cpu")
    assert len(single.next()) == 1


def test_errors_inside_preprocess_name_it_and_the_batch():
    def preprocess(x, t):
        raise KeyError("boom")

    queue = MiniBatchQueue(numbered(), B, preprocess=preprocess, device="cpu")
    queue.reset()
    with pytest.raises(NetTrainError) as caught:
        queue.next()
    error = caught.value
    assert error.argument == "preprocess" and "batch 1 of epoch 1" in error.problem
    assert "KeyError" in error.problem and isinstance(error.__cause__, KeyError)
    assert queue.position == 0  # the batch was not handed out
    returns_none = MiniBatchQueue(numbered(), B, preprocess=lambda x, t: None, device="cpu")
    with pytest.raises(NetTrainError, match="returned NoneType") as caught:
        returns_none.next()
    assert caught.value.argument == "preprocess"


# -- raw values: the encoders train infers -----------------------------------------------------


def test_class_labels_get_trains_encoder():
    x, _ = numbered(8)
    labels = ["dog", "cat", "bird", "cat", "dog", "dog", "bird", "cat"]
    queue = MiniBatchQueue(list(zip(x, labels, strict=True)), 3, device="cpu")
    typed = Typed.start(nn.Linear(2, 3), list(zip(x, labels, strict=True)))
    assert queue.encoders == typed.encoders
    assert queue.classes == ("bird", "cat", "dog") == ClassEncoder().fit(labels).classes
    assert queue.form == "pairs"
    reference = ClassEncoder().fit(labels).encode(labels).tensor
    for xb, tb in queue:
        assert torch.equal(tb, reference[xb[:, 0].long()])
    described = nettrain.train(
        nn.Linear(2, 3),
        list(zip(x, labels, strict=True)),
        "encoders",
        max_training_rounds=1,
        **QUIET,
    )
    assert described == {p: e.describe() for p, e in queue.encoders.items()}


def test_text_inputs_get_trains_encoder():
    data = {"text": ["a good film", "bad", "a bad film", "good"], "target": [1, 0, 0, 1]}
    queue = MiniBatchQueue(data, 4, shuffle="never", device="cpu")
    encoder = queue.encoders["text"]
    assert encoder.kind == "tokens"
    ids, target = queue.next()
    assert torch.equal(ids, encoder.prepare(encoder.encode(data["text"]).tensor))
    assert target.tolist() == [1, 0, 0, 1]
    # named otherwise, the strings are class labels
    labels = MiniBatchQueue(data, inputs=(), device="cpu")
    assert labels.encoders["text"].kind == "class"


def _mnist_like(n: int = 12) -> DatasetSplit:
    rng = np.random.default_rng(0)
    return DatasetSplit(
        name="FashionMNIST",
        split="train",
        inputs=rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
        labels=np.arange(n, dtype=np.int64) % 10,
        class_names=tuple(f"class {k}" for k in range(10)),
        kind="image",
    )


def test_mnist_like_images_are_floats_per_batch():
    part = _mnist_like()
    queue = MiniBatchQueue(part, 5, device="cpu")
    assert queue.names == ("input", "target") and queue.form == "named_dataset"
    assert queue.classes == part.class_names and queue.encoders["input"].kind == "image"
    order = round_permutation(1234, 1, 12)
    x, t = queue.next()
    pixels = torch.from_numpy(part.inputs)[order[:5]].float() / 255
    assert x.dtype == torch.float32 and torch.equal(x, pixels[:, None])
    assert torch.equal(t, torch.from_numpy(part.labels)[order[:5]])
    # the same uint8 array with an image encoder given by hand, and in float64
    encoder = ImageEncoder(size=(28, 28), color_space="grayscale")
    by_hand = MiniBatchQueue(
        {"input": part.inputs, "target": part.labels},
        5,
        encoders={"input": encoder},
        dtype="double",
        device="cpu",
    )
    x64, _ = by_hand.next()
    assert x64.dtype == torch.float64 and torch.equal(x64, pixels[:, None].double())


def test_image_files_and_unreadable_ones(tmp_path):
    from PIL import Image

    paths = []
    for k in range(3):
        path = tmp_path / f"{k}.png"
        Image.fromarray(np.full((4, 4), 60 * k, dtype=np.uint8)).save(path)
        paths.append(str(path))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    paths.insert(1, str(tmp_path / "bad.png"))
    with pytest.warns(NetTrainWarning, match="1 of 4 examples"):
        queue = MiniBatchQueue((paths, ["a", "b", "a", "b"]), 4, shuffle="never", device="cpu")
    assert queue.skipped == {1: "input"} and queue.num_examples == 3
    x, t = queue.next()
    expected = torch.tensor([0.0, 60.0, 120.0]) / 255
    assert torch.equal(x[:, 0, 0, 0], expected) and t.tolist() == [0, 0, 1]


def test_named_digits_and_its_splits():
    queue = MiniBatchQueue("digits", 100, device="cpu")
    columns, encoders = named_data("Digits", "train")
    assert queue.num_examples == 1438 and len(queue) == 15
    assert queue.classes == encoders["target"].classes
    x, t = queue.next()
    order = round_permutation(1234, 1, 1438)[:100]
    assert torch.equal(x, torch.from_numpy(columns["input"])[order][:, None].float() / 255)
    assert torch.equal(t, columns["target"][order])
    assert MiniBatchQueue("Digits", split="test", device="cpu").num_examples == 359


@needs_fashion_mnist
def test_the_real_fashion_mnist():
    assert FASHION_MNIST is not None
    queue = MiniBatchQueue("FashionMNIST", 64, split="test", device="cpu")
    x, t = queue.next()
    assert queue.num_examples == 10_000 and "Ankle boot" in (queue.classes or ())
    assert x.shape == (64, 1, 28, 28) and x.min() >= 0 and x.max() <= 1 and t.dtype == torch.int64


# -- the other in-memory forms -----------------------------------------------------------------


def test_in_memory_forms_give_the_boundarys_columns():
    pd = pytest.importorskip("pandas")
    x, y = numbered(6)
    frame = pd.DataFrame({"a": x[:, 0].numpy(), "b": x[:, 1].numpy(), "target": y.numpy()})
    forms = {
        "port_columns": {"left": x, "right": -x, "target": y},
        "port_rows": [{"left": a, "right": -a, "target": b} for a, b in zip(x, y, strict=True)],
        "data_frame": frame,
        "dataset": TensorDataset(x, y),
    }
    for form, data in forms.items():
        queue = MiniBatchQueue(data, 6, shuffle="never", device="cpu")
        table = normalize(data, seed=0).table
        assert queue.form == form and queue.names == table.names
        assert all(
            torch.equal(a, b) for a, b in zip(queue.next(), table.columns.values(), strict=True)
        )


def test_a_map_style_dataset_is_read_in_the_same_order():
    x, y = numbered()
    items = [(x[i], int(y[i])) for i in range(N)]  # a list of pairs, read as a Dataset

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return N

        def __getitem__(self, i):
            return items[i]

    queue = MiniBatchQueue(Items(), B, seed=3, device="cpu")
    assert queue.form == "dataset"
    assert visited(queue) == visited(MiniBatchQueue((x, y), B, seed=3, device="cpu"))


def test_float_dtype():
    x, t = MiniBatchQueue(numbered(), B, dtype=torch.float64, device="cpu").next()
    assert x.dtype == torch.float64 and t.dtype == torch.int64


# -- streams -----------------------------------------------------------------------------------


def test_a_data_loader_brings_its_batches():
    x, y = numbered(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    queue = MiniBatchQueue(loader, device="cpu")
    assert queue.batch_size == 4 and len(queue) == 3 and queue.form == "data_loader"
    for _ in range(2):
        assert visited(queue) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert queue.epoch == 2
    discard = MiniBatchQueue(loader, partial_mini_batch="discard", device="cpu")
    assert len(discard) == 2 and visited(discard) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(NetTrainError, match="brings its own batches") as caught:
        MiniBatchQueue(loader, 8, device="cpu")
    assert caught.value.argument == "batch_size"
    with pytest.raises(NetTrainError, match="apply to data held in memory"):
        MiniBatchQueue(loader, encoders={"input": ClassEncoder()}, device="cpu")
    with pytest.raises(NetTrainError, match="keeps its own order") as caught:
        MiniBatchQueue(loader, shuffle="never", device="cpu")
    assert caught.value.argument == "shuffle"
    resumed = MiniBatchQueue(loader, device="cpu")
    resumed.load_state_dict({**queue.state_dict(), "epoch": 3, "position": 1})
    assert visited(resumed) == [[4, 5, 6, 7], [8, 9]]


def test_a_generator_is_called_with_the_batch_size_and_epoch():
    calls = []

    def make(batch_size, round):
        calls.append((batch_size, round))
        x = torch.full((batch_size, 2), float(round))
        return x, x.sum(1)

    queue = MiniBatchQueue((make, {"round_length": 10}), 4, device="cpu")
    assert len(queue) == 3 and queue.num_examples == 10
    firsts = [[x[0, 0].item() for x, _ in queue] for _ in range(2)]
    assert firsts == [[1.0] * 3, [2.0] * 3]
    assert calls == [(4, 1)] * 3 + [(4, 2)] * 3  # the first call is replayed, not repeated


def test_a_one_shot_iterator_gives_one_epoch():
    batches = iter([(torch.zeros(2, 1), torch.zeros(2)), (torch.ones(3, 1), torch.ones(3))])
    queue = MiniBatchQueue(batches, device="cpu")
    assert [len(x) for x, _ in queue] == [2, 3]
    assert list(queue) == [] and not queue.has_data()
    with pytest.raises(TypeError, match="unknown length"):
        len(queue)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "argument", "text"),
    [
        ({"batch_size": 0}, "batch_size", "positive whole number"),
        ({"batch_size": 2.5}, "batch_size", "positive whole number"),
        ({"batch_size": True}, "batch_size", "positive whole number"),
        ({"batch_size": 50, "partial_mini_batch": "discard"}, "batch_size", "leaves no batch"),
        ({"shuffle": "evry_epoch"}, "shuffle", "did you mean 'every_epoch'"),
        ({"shuffle": 1}, "shuffle", "unknown mode"),
        ({"partial_mini_batch": "dicard"}, "partial_mini_batch", "did you mean 'discard'"),
        ({"preprocess": 3}, "preprocess", "not callable"),
        ({"seed": -1}, "seed", "cannot use this as a seed"),
        ({"device": "tpu"}, "device", "unknown device"),
        ({"dtype": torch.int64}, "dtype", "not a floating dtype"),
        ({"split": "test"}, "split", "only a named dataset"),
        ({"inputs": ["imput"]}, "inputs", "did you mean 'input'"),
        ({"encoders": {"input": "image"}}, "encoders", "must map column names"),
        ({"encoders": {"imput": ClassEncoder()}}, "encoders", "did you mean 'input'"),
    ],
)
def test_bad_arguments_are_named(options, argument, text):
    with pytest.raises(NetTrainError) as caught:
        MiniBatchQueue(numbered(), **{"device": "cpu", **options})
    assert caught.value.argument == argument
    assert text in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [42, (torch.zeros(3, 2), torch.zeros(2)), "FashionMNST", [(1.0, float("nan"))]],
)
def test_bad_data_gets_the_boundarys_message(data):
    with pytest.raises(NetTrainError) as ours:
        MiniBatchQueue(data, device="cpu")
    with pytest.raises(NetTrainError) as trains:
        nettrain.train(nn.Linear(2, 1), data, **QUIET)
    assert str(ours.value) == str(trains.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_batches_on_the_gpu_equal_those_on_the_cpu():
    on_gpu = MiniBatchQueue("Digits", 64, device="gpu")
    on_cpu = MiniBatchQueue("Digits", 64, device="cpu")
    assert on_gpu.next()[0].is_cuda
    on_gpu.reset()
    for a, b in zip(on_gpu, on_cpu, strict=True):
        assert all(torch.equal(p.cpu(), q) for p, q in zip(a, b, strict=True))
