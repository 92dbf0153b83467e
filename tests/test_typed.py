"""Typed inputs and outputs end to end: raw images, labels, booleans and text train, and the
trained ``nettrain.Net`` answers in the data's own terms (issue 4)."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import subprocess
import sys
import warnings

import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

import nettrain
from nettrain import Net, NetTrainError, NetTrainWarning
from nettrain.coders import encoder

QUIET = {"training_progress_reporting": None}
SHAPES = ("circle", "square", "triangle")


def draw(shape: str, rng: random.Random, size: int = 20) -> Image.Image:
    image = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(image)
    r = rng.randint(5, 8)
    cx, cy = rng.randint(r + 1, size - r - 2), rng.randint(r + 1, size - r - 2)
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=255)
    return image


def shapes_data(n_per_shape: int, seed: int) -> list[tuple[Image.Image, str]]:
    rng = random.Random(seed)
    return [(draw(s, rng), s) for s in SHAPES for _ in range(n_per_shape)]


def convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 3),
    )


@pytest.fixture(scope="module")
def shapes_net():
    r = nettrain.train(
        convnet(),
        shapes_data(60, seed=1),
        "all",
        max_training_rounds=25,
        learning_rate=3e-3,
        **QUIET,
    )
    return r


def test_images_and_labels_train_and_the_net_answers_with_names(shapes_net):
    net = shapes_net.trained_net
    assert isinstance(net, Net)
    assert shapes_net.input_form == "pairs"
    assert "Image" in shapes_net.encoders["input"] and "Class" in shapes_net.encoders["target"]
    test = shapes_data(20, seed=99)
    answers = net([image for image, _ in test])
    accuracy = sum(a == s for a, (_, s) in zip(answers, test, strict=True)) / len(test)
    assert accuracy >= 0.9
    square = draw("square", random.Random(5))
    assert net(square) == "square"
    probabilities = net(square, "probabilities")
    assert set(probabilities) == set(SHAPES)
    assert math.isclose(sum(probabilities.values()), 1.0, rel_tol=1e-6)
    top = net(square, ("top_probabilities", 2))
    assert top[0][0] == "square" and top[0][1] >= top[1][1]
    assert net(square, ("random_sample", {"temperature": 1e-6})) == "square"
    entropy = net(square, "entropy")
    assert math.isclose(
        entropy, -sum(p * math.log(p) for p in probabilities.values() if p > 0), rel_tol=1e-5
    )
    raw = net(square, None)
    assert raw.shape == (3,)


def test_save_load_in_a_fresh_process_gives_identical_outputs(shapes_net, tmp_path):
    net = shapes_net.trained_net
    path = net.save(tmp_path / "shapes.safetensors")
    images = [draw(s, random.Random(i)) for i, s in enumerate(SHAPES * 3)]
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i}.png")
    expected = net([str(tmp_path / f"{i}.png") for i in range(len(images))], "probabilities")
    script = (
        "import json, sys, nettrain\n"
        f"net = nettrain.Net.load({str(path)!r})\n"
        f"paths = [{str(tmp_path)!r} + f'/{{i}}.png' for i in range({len(images)})]\n"
        "print(json.dumps(net(paths, 'probabilities')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == expected  # JSON keeps floats exactly: bitwise equal


def test_loading_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "net.safetensors"
    bad.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(NetTrainError, match="not a nettrain net file"):
        Net.load(bad)
    assert not marker.exists()
    torch.save({"x": Exploit()}, tmp_path / "torch.pt")
    with pytest.raises(NetTrainError):
        Net.load(tmp_path / "torch.pt")
    assert not marker.exists()


def test_boolean_targets_give_a_boolean_decoder_and_binary_cross_entropy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g)
    y = [bool(a > b) for a, b in x.tolist()]
    r = nettrain.train(
        nn.Linear(2, 1), (x, y), "all", max_training_rounds=40, learning_rate=0.05, **QUIET
    )
    assert r.loss_function["output"]["loss"] == "binary_cross_entropy"
    net = r.trained_net
    assert net(torch.tensor([2.0, -2.0])) is True
    assert net(torch.tensor([-2.0, 2.0])) is False
    assert net(torch.tensor([2.0, -2.0]), "probability") > 0.9
    answers = net(x)
    assert sum(a == b for a, b in zip(answers, y, strict=True)) / len(y) > 0.95


def test_multilabel_targets_train_with_binary_cross_entropy():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(400, 3, generator=g)
    labels = [
        {name for name, v in zip(("a", "b", "c"), row, strict=True) if v > 0} for row in x.tolist()
    ]
    r = nettrain.train(
        nn.Linear(3, 3), (x, labels), "all", max_training_rounds=40, learning_rate=0.05, **QUIET
    )
    assert r.loss_function["output"]["loss"] == "binary_cross_entropy"
    net = r.trained_net
    assert set(net(torch.tensor([1.0, -1.0, 1.0]))) == {"a", "c"}
    answers = net(x)
    exact = sum(set(a) == b for a, b in zip(answers, labels, strict=True)) / len(labels)
    assert exact > 0.9


POSITIVE = ["good", "great", "fine", "happy", "nice", "superb"]
NEGATIVE = ["bad", "awful", "poor", "sad", "nasty", "dire"]
FILLER = ["the", "film", "was", "quite", "a", "story", "and", "plot", "it", "seemed"]


def corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = [*rng.sample(FILLER, 5), rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocabulary: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, 16, padding_idx=0)
        self.out = nn.Linear(16, 2)

    def forward(self, input):
        mask = (input != 0).unsqueeze(-1).float()
        pooled = (self.embed(input) * mask).sum(1) / mask.sum(1).clamp_min(1)
        return self.out(pooled)


class CharConv(nn.Module):
    def __init__(self, vocabulary: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, 16, padding_idx=0)
        self.conv = nn.Conv1d(16, 32, 5, padding=2)
        self.out = nn.Linear(32, 2)

    def forward(self, input):
        h = torch.relu(self.conv(self.embed(input).transpose(1, 2)))
        return self.out(h.max(-1).values)


@pytest.mark.parametrize(
    ("kind", "module", "accuracy"),
    [("tokens", BagOfEmbeddings, 0.98), ("characters", CharConv, 0.9)],
)
def test_text_classifier_with_tokens_and_characters(kind, module, accuracy):
    texts, labels = corpus(600, seed=2)
    text_encoder = encoder(kind).fit(texts)
    torch.manual_seed(0)
    size = len(text_encoder.vocabulary) + 2  # 0 = padding, 1 = unknown
    net = Net(module(size), inputs={"input": text_encoder})
    trained = nettrain.train(
        net, (texts, labels), max_training_rounds=30, learning_rate=0.01, **QUIET
    )
    assert trained is net  # a Net passed in is trained in place and returned
    test_texts, test_labels = corpus(200, seed=3)
    answers = net(test_texts)
    got = sum(a == b for a, b in zip(answers, test_labels, strict=True)) / len(test_labels)
    assert got >= accuracy, got
    assert net("the film was good") == "pos" or kind == "characters"


def test_a_corrupt_image_is_skipped_and_reported(tmp_path):
    rng = random.Random(0)
    data = []
    for i in range(30):
        shape = SHAPES[i % 3]
        path = tmp_path / f"{i}.png"
        draw(shape, rng).save(path)
        data.append((str(path), shape))
    (tmp_path / "7.png").write_bytes(b"not an image at all")
    with pytest.warns(NetTrainWarning, match=r"1 of 30 training examples .* skipped .*\[7\]"):
        r = nettrain.train(convnet(), data, "all", max_training_rounds=2, **QUIET)
    assert r.skipped_training_data == {
        "count": 1,
        "indices": [7],
        "ports": {7: "input"},
        "examples": 30,
    }
    assert r.training_examples == 29


def test_unknown_class_and_bad_property_at_prediction_time(shapes_net):
    net = shapes_net.trained_net
    square = draw("square", random.Random(5))
    with pytest.raises(NetTrainError, match="hexagon"):
        net(square, ("probability", "hexagon"))
    with pytest.raises(NetTrainError, match="probabilities"):
        net(square, "probabilitys")


def test_an_encoder_that_cannot_apply_says_so():
    net = Net(nn.Linear(4, 2), inputs={"input": encoder("image")})
    with pytest.raises(NetTrainError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nettrain.train(net, (["a", "b"], [0, 1]), **QUIET)
    assert "image" in str(info.value).lower()


def test_validation_data_uses_the_training_encoders():
    data = shapes_data(20, seed=4)
    val = shapes_data(5, seed=5)
    r = nettrain.train(convnet(), data, "all", validation_set=val, max_training_rounds=3, **QUIET)
    assert r.validation_examples == 15
    assert 0.0 <= r.validation_measurements["error_rate"] <= 1.0


class TwoInTwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Linear(3, 4)
        self.right = nn.Linear(2, 4)
        self.label = nn.Linear(4, 3)
        self.size = nn.Linear(4, 1)

    def forward(self, left, right):
        h = torch.tanh(self.left(left) + self.right(right))
        return {"label": self.label(h), "size": self.size(h)}


def test_two_input_dict_data_with_weighted_per_port_losses_reported_separately():
    g = torch.Generator().manual_seed(0)
    data = {
        "left": torch.randn(48, 3, generator=g),
        "right": torch.randn(48, 2, generator=g),
        "label": torch.randint(0, 3, (48,), generator=g),
        "size": torch.randn(48, 1, generator=g),
    }
    torch.manual_seed(0)
    net = TwoInTwoOut()
    with torch.no_grad():
        out = net(data["left"], data["right"])
        label = nn.functional.cross_entropy(out["label"], data["label"]).item()
        size = nn.functional.mse_loss(out["size"], data["size"]).item()
    # one full batch: its loss is computed before the update, from these very weights
    r = nettrain.train(
        net,
        data,
        "all",
        loss_function={"label": ("cross_entropy", 2.0), "size": ("mse", 0.5)},
        batch_size=48,
        max_training_rounds=1,
        **QUIET,
    )
    assert r.round_loss == pytest.approx(2.0 * label + 0.5 * size, rel=1e-6)
    assert r.round_measurements["loss:label"] == pytest.approx(label, rel=1e-6)
    assert r.round_measurements["loss:size"] == pytest.approx(size, rel=1e-6)
    rows = [{k: v[i] for k, v in data.items()} for i in range(48)]
    assert (
        nettrain.train(TwoInTwoOut(), rows, "input_form", max_training_rounds=1, **QUIET)
        == "port_rows"
    )


def test_text_batches_are_trimmed_to_their_longest_member():
    texts = ["a b c d e f g h", "a", "b", "a b"]
    text_encoder = encoder("tokens").fit(texts)
    seen = []

    class Record(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(len(text_encoder.vocabulary) + 2, 4, padding_idx=0)
            self.out = nn.Linear(4, 2)

        def forward(self, input):
            seen.append(input.shape[1])
            return self.out(self.embed(input).mean(1))

    nettrain.train(
        Net(Record(), inputs={"input": text_encoder}),
        (texts, [0, 1, 1, 0]),
        batch_size=2,
        max_training_rounds=3,
        **QUIET,
    )
    # the column is padded to 8 tokens; a batch without the long text is cut to its own longest
    assert max(seen) == 8 and min(seen) < 8
