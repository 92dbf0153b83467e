"""Built-in nets: shapes for every dataset, sizes, names, errors, saving and rebuilding."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from nettrain import Net, NetTrainError, nets
from nettrain.coders import decoder, encoder
from nettrain.datasets import NAMES

VOCABULARY = 50

# (net, dataset) pairs that fit, and the parameter count each has: the sizes are part of the
# design (small enough for a CPU), so a change to them should be deliberate
SIZES = {
    ("mlp", "Digits"): 19_210,
    ("digits-mlp", "Digits"): 19_210,
    ("mlp", "FashionMNIST"): 203_530,
    ("mlp", "CIFAR-10"): 789_258,
    ("small-cnn", "FashionMNIST"): 207_018,
    ("small-cnn", "MNIST"): 207_018,
    ("small-cnn", "CIFAR-10"): 268_746,
    ("small-cnn", "Digits"): 22_698,
    ("resnet-small", "CIFAR-10"): 308_650,
    ("resnet-small", "CIFAR-100"): 320_260,
    ("resnet-small", "FashionMNIST"): 308_074,
    # 50 x 64 embedding + convolutions of widths 3, 4, 5 (64 -> 64 each) + 192 -> 2 linear
    ("text-cnn", "MovieReview"): 3_200 + 64 * 64 * 12 + 3 * 64 + 192 * 2 + 2,
}


def _dummy(dataset: str, batch: int = 3) -> torch.Tensor:
    shape = nets.dataset_shape(dataset)
    if shape.kind == "text":
        ids = torch.randint(2, VOCABULARY, (batch, 7))
        ids[0, 4:] = 0  # a padded row
        return ids
    return torch.rand(batch, shape.channels, shape.size, shape.size)


@pytest.mark.parametrize(("name", "dataset"), sorted(SIZES))
def test_every_net_answers_with_one_score_per_class(name: str, dataset: str) -> None:
    torch.manual_seed(0)
    net = nets.make(name, dataset, vocabulary=VOCABULARY)
    net.eval()
    out = net(_dummy(dataset))
    assert out.shape == (3, nets.dataset_shape(dataset).classes)
    assert torch.isfinite(out).all()
    assert nets.parameter_count(net) == SIZES[name, dataset]


def test_parameter_counts_report(capsys: pytest.CaptureFixture[str]) -> None:
    # the table the docs quote; printed so `pytest -s` shows it
    for name, dataset in sorted(SIZES):
        count = nets.parameter_count(nets.make(name, dataset, vocabulary=VOCABULARY))
        print(f"{name:>13} on {dataset:<12} {count:>9,} parameters")
    assert "small-cnn on FashionMNIST" in capsys.readouterr().out


def test_image_nets_are_plain_sequentials_so_they_save_as_data(tmp_path) -> None:
    for name in ("mlp", "small-cnn"):
        module = nets.make(name, "FashionMNIST")
        assert type(module) is nn.Sequential
        path = Net(module).save(tmp_path / f"{name}.safetensors")
        loaded = Net.load(path)  # no module needed: the architecture is in the file
        x = torch.rand(2, 1, 28, 28)
        module.eval()
        assert torch.allclose(loaded.module(x), module(x))


@pytest.mark.parametrize(
    ("module", "dataset"),
    [
        (nets.ResNetSmall(classes=100), "CIFAR-100"),
        (nets.TextCNN(vocabulary=VOCABULARY), "MovieReview"),
    ],
)
def test_residual_and_text_nets_rebuild_from_their_file(tmp_path, module, dataset) -> None:
    path = Net(module).save(tmp_path / "net.safetensors")
    rebuilt = nets.rebuild(path)
    assert type(rebuilt) is type(module)
    loaded = Net.load(path, module=rebuilt)
    x = _dummy(dataset)
    module.eval()
    assert torch.allclose(loaded.module(x), module(x))


def test_rebuild_leaves_other_files_to_net_load(tmp_path) -> None:
    assert nets.rebuild(Net(nets.make("mlp", "Digits")).save(tmp_path / "a.safetensors")) is None
    (tmp_path / "junk.safetensors").write_bytes(b"not a net")
    assert nets.rebuild(tmp_path / "junk.safetensors") is None
    assert nets.rebuild(tmp_path / "missing.safetensors") is None


def test_custom_classes_construct_without_arguments() -> None:
    # Net.load rebuilds a class-recorded module by calling it with no arguments
    assert nets.ResNetSmall()(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    assert nets.TextCNN()(torch.tensor([[2, 3]])).shape == (1, 2)
    assert nets.ResidualBlock()(torch.rand(1, 16, 8, 8)).shape == (1, 16, 8, 8)


def test_text_cnn_reads_texts_shorter_than_its_widest_filter() -> None:
    net = nets.TextCNN(vocabulary=10).eval()
    assert net(torch.tensor([[5]])).shape == (1, 2)


def test_text_cnn_trains_with_a_tokens_encoder() -> None:
    import nettrain

    texts = ["good fun film", "a great joy", "bad dull film", "an awful bore"] * 10
    labels = ["pos", "pos", "neg", "neg"] * 10
    tokens = encoder("tokens").fit(texts)
    assert tokens.vocabulary is not None
    module = nets.make("text-cnn", "MovieReview", vocabulary=len(tokens.vocabulary) + 2)
    trained = nettrain.train(
        Net(module, inputs={"input": tokens}),
        (texts, labels),
        max_training_rounds=20,
        training_progress_reporting=None,
    )
    assert trained(["great fun", "awful bore"]) == ["pos", "neg"]


@pytest.mark.parametrize("dataset", NAMES)
def test_every_dataset_has_a_default_net_that_fits(dataset: str) -> None:
    name = nets.default_net(dataset)
    assert name in nets.NET_NAMES
    net = nets.make(name, dataset, vocabulary=VOCABULARY)
    assert net(_dummy(dataset)).shape[-1] == nets.dataset_shape(dataset).classes


def test_names_are_case_and_spelling_insensitive() -> None:
    assert type(nets.make("Small-CNN", "fashion-mnist")) is nn.Sequential
    assert type(nets.make("small_cnn", "Fashion MNIST")) is nn.Sequential
    assert isinstance(nets.make("RESNET-SMALL", "cifar10"), nets.ResNetSmall)
    assert nets.dataset_shape("CIFAR100").classes == 100


def test_unknown_net_suggests_close_matches() -> None:
    with pytest.raises(NetTrainError, match="did you mean 'small-cnn'"):
        nets.make("small-cn", "MNIST")


def test_unknown_dataset_is_an_error() -> None:
    with pytest.raises(NetTrainError, match=r"dataset|name"):
        nets.make("mlp", "ImageNet")


def test_nets_that_do_not_fit_the_data_are_refused() -> None:
    with pytest.raises(NetTrainError, match="'text-cnn' takes text, but MNIST holds images"):
        nets.make("text-cnn", "MNIST")
    with pytest.raises(NetTrainError, match=r"'small-cnn' takes image.*'text-cnn'"):
        nets.make("small-cnn", "MovieReview")


def test_text_net_needs_the_vocabulary_size() -> None:
    with pytest.raises(NetTrainError, match=r"len\(tokens_encoder.vocabulary\) \+ 2"):
        nets.make("text-cnn", "MovieReview")


def test_module_function_gets_the_arguments_it_names(tmp_path, monkeypatch) -> None:
    (tmp_path / "user_nets.py").write_text(
        "import torch.nn as nn\n"
        "def build(classes, image_size):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(image_size * image_size, classes))\n"
        "def anything(**kwargs):\n"
        "    return nn.Linear(kwargs['in_channels'], kwargs['classes'])\n"
        "def nothing():\n"
        "    return 42\n"
        "NOT_CALLABLE = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "user_nets", raising=False)
    assert nets.make("user_nets:build", "Digits")(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert nets.make("user_nets:anything", "CIFAR-100").out_features == 100
    with pytest.raises(NetTrainError, match="did not return a torch module"):
        nets.make("user_nets:nothing", "Digits")
    with pytest.raises(NetTrainError, match="not callable"):
        nets.make("user_nets:NOT_CALLABLE", "Digits")
    with pytest.raises(NetTrainError, match="cannot import"):
        nets.make("user_nets:missing", "Digits")
    with pytest.raises(NetTrainError, match="cannot import"):
        nets.make("no_such_module_here:build", "Digits")


def test_a_trained_text_net_keeps_its_decoder(tmp_path) -> None:
    tokens = encoder("tokens").fit(["a b c"])
    net = Net(
        nets.TextCNN(vocabulary=5),
        inputs={"input": tokens},
        outputs={"output": decoder("class", classes=("neg", "pos"))},
    )
    path = net.save(tmp_path / "t.safetensors")
    loaded = Net.load(path, module=nets.rebuild(path))
    assert loaded("a b", "probabilities").keys() == {"neg", "pos"}


def colour_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 16x16 colour images whose class is their colour (10 colours), as CIFAR stores them:
    uint8 [n, H, W, 3]."""
    rng = np.random.default_rng(seed)
    palette = np.array(
        [
            [230, 25, 75],
            [60, 180, 75],
            [255, 225, 25],
            [0, 130, 200],
            [245, 130, 48],
            [145, 30, 180],
            [70, 240, 240],
            [240, 50, 230],
            [128, 128, 128],
            [0, 0, 0],
        ],
        dtype=np.float64,
    )
    labels = rng.integers(0, 10, n)
    images = palette[labels][:, None, None, :] + rng.normal(0, 40, (n, 16, 16, 3))
    return images.clip(0, 255).astype(np.uint8), labels.astype(np.int64)


def test_resnet_small_learns_colour_images_stored_as_cifar_stores_them() -> None:
    # the CIFAR path end to end without CIFAR: uint8 [n, H, W, 3] images in a DatasetSplit, an
    # image encoder of their size and colour space, the residual net, class names out
    import nettrain
    from nettrain.datasets import DatasetSplit

    names = tuple(f"colour{k}" for k in range(10))
    x, y = colour_images(400, seed=0)
    x_test, y_test = colour_images(200, seed=1)
    train = DatasetSplit("CIFAR-10", "train", x, y, names, "image")
    torch.manual_seed(0)
    net = nettrain.train(
        nets.make("resnet-small", "CIFAR-10"),
        train,
        max_training_rounds=10,
        validation_set=None,
        training_progress_reporting=None,
    )
    answers = net(list(x_test))
    accuracy = np.mean([a == names[k] for a, k in zip(answers, y_test, strict=True)])
    assert accuracy > 0.9
