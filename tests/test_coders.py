"""Encoders, decoders and their inference (SPEC S3), checked against PIL, softmax and by hand."""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest
import torch

from nettrain.coders import (
    BooleanDecoder,
    BooleanEncoder,
    CharactersEncoder,
    ClassDecoder,
    ClassEncoder,
    FunctionEncoder,
    ImageEncoder,
    ScalarEncoder,
    TokensEncoder,
    decoder,
    decoder_for,
    decoder_from_config,
    encoder,
    encoder_from_config,
    infer_encoder,
)
from nettrain.errors import NetTrainError

Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")


def shape_image(kind: str, size: tuple[int, int] = (20, 16), mode: str = "RGB"):
    """A PIL image (width, height = size) with a red circle or a green square on black."""
    image = Image.new(mode, size)
    draw = ImageDraw.Draw(image)
    colour = (255, 0, 0) if kind == "circle" else (0, 200, 0)
    fill = colour if mode == "RGB" else (200 if kind == "circle" else 90)
    box = (3, 3, size[0] - 4, size[1] - 4)
    (draw.ellipse if kind == "circle" else draw.rectangle)(box, fill=fill)
    return image


def roundtrip(coder, load):
    return load(json.loads(json.dumps(coder.config())))


# ---------------------------------------------------------------------------------------------
# image
# ---------------------------------------------------------------------------------------------


def test_image_encoder_pil_shape_dtype_values():
    images = [shape_image("circle"), shape_image("square")]
    enc = ImageEncoder().fit(images)
    assert enc.size == (16, 20) and enc.color_space == "rgb"
    out = enc.encode(images)
    assert out.skipped == []
    assert out.tensor.shape == (2, 3, 16, 20) and out.tensor.dtype == torch.uint8
    expected = np.asarray(images[0]).transpose(2, 0, 1)
    assert np.array_equal(out.tensor[0].numpy(), expected)


def test_image_resize_and_colour_conversion_match_pil():
    image = shape_image("circle", size=(30, 24))
    enc = ImageEncoder(size=(12, 10), color_space="grayscale")
    got = enc.encode([image]).tensor
    want = np.asarray(image.convert("L").resize((10, 12), Image.Resampling.BILINEAR))
    assert got.shape == (1, 1, 12, 10)
    assert np.array_equal(got[0, 0].numpy(), want)
    # grayscale -> rgb as PIL does it
    gray = shape_image("square", mode="L")
    rgb = ImageEncoder(color_space="rgb").fit([gray]).encode([gray]).tensor
    assert np.array_equal(rgb[0].numpy(), np.asarray(gray.convert("RGB")).transpose(2, 0, 1))


def test_image_arrays_uint8_and_float():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    enc = ImageEncoder().fit([a])
    assert enc.color_space == "grayscale" and enc.size == (3, 4)
    assert torch.equal(enc.encode([a]).tensor[0, 0], torch.from_numpy(a))
    f = np.full((3, 4, 3), 0.5)
    rgb = ImageEncoder().fit([f]).encode([f]).tensor
    assert rgb.shape == (1, 3, 3, 4) and int(rgb[0, 0, 0, 0]) == 128
    # an already-encoded block passes through untouched
    block = torch.zeros(5, 1, 3, 4, dtype=torch.uint8)
    assert enc.encode(block).tensor is block


def test_image_files_corrupt_and_missing_are_skipped(tmp_path: pathlib.Path):
    good = tmp_path / "a.png"
    shape_image("circle").save(good)
    corrupt = tmp_path / "b.png"
    corrupt.write_bytes(np.random.default_rng(0).bytes(200))
    missing = tmp_path / "nothing.png"
    column = [str(corrupt), good, str(missing), str(good)]
    enc = ImageEncoder().fit(column)  # learns from the first readable file
    assert enc.size == (16, 20) and enc.color_space == "rgb"
    out = enc.encode(column)
    assert out.skipped == [0, 2]
    assert out.tensor.shape == (2, 3, 16, 20)
    assert torch.equal(out.tensor[0], out.tensor[1])


def test_image_prepare_normalises_per_channel():
    enc = ImageEncoder(size=(16, 20), color_space="rgb", mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4))
    x = enc.encode([shape_image("circle"), shape_image("square")]).tensor
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    torch.testing.assert_close(enc.prepare(x), (x.float() / 255 - mean) / std)
    plain = ImageEncoder(size=(16, 20), color_space="rgb")
    torch.testing.assert_close(plain.prepare(x), x.float() / 255)


def test_image_config_round_trip():
    images = [shape_image("circle"), shape_image("square")]
    enc = ImageEncoder(size=(8, 8), mean=0.5, std=0.25).fit(images)
    back = roundtrip(enc, encoder_from_config)
    assert back == enc
    assert torch.equal(back.encode(images).tensor, enc.encode(images).tensor)


# ---------------------------------------------------------------------------------------------
# class / boolean
# ---------------------------------------------------------------------------------------------

LABELS = ["triangle", "circle", "square", "circle"]


def test_class_encoder_sorted_order_and_round_trip():
    enc = ClassEncoder().fit(LABELS)
    assert enc.classes == ("circle", "square", "triangle")
    y = enc.encode(LABELS).tensor
    assert y.dtype == torch.int64 and y.tolist() == [2, 0, 1, 0]
    dec = decoder_for(enc)
    assert dec.decode(torch.nn.functional.one_hot(y, 3).float()) == LABELS
    assert "3 classes 'circle', 'square', 'triangle' -> index" in enc.describe()


def test_class_first_seen_order_when_unsortable():
    enc = ClassEncoder().fit(["b", 2, "a"])
    assert enc.classes == ("b", 2, "a")


def test_class_indicator_and_multilabel():
    enc = ClassEncoder(output="indicator").fit(LABELS)
    out = enc.encode(["square", "triangle"]).tensor
    assert out.dtype == torch.float32
    assert out.tolist() == [[0, 1, 0], [0, 0, 1]]
    multi = ClassEncoder(multilabel=True).fit([["x", "y"], {"z"}, []])
    assert multi.classes == ("x", "y", "z")
    assert multi.encode([("z", "x"), []]).tensor.tolist() == [[1, 0, 1], [0, 0, 0]]


def test_class_passthrough_of_indices():
    enc = ClassEncoder(classes=("a", "b"))
    y = torch.tensor([1, 0])
    assert enc.encode(y).tensor is y


def test_class_unknown_class_message():
    enc = ClassEncoder().fit(["circle", "square", "triangle"])
    with pytest.raises(NetTrainError) as info:
        enc.encode(["square", "cat"])
    message = str(info.value)
    assert "example 1" in message
    assert "unknown class 'cat'" in message
    assert "expected one of 'circle', 'square', 'triangle'" in message


def test_boolean_encoder_and_decoder():
    enc = BooleanEncoder()
    assert enc.encode([True, np.bool_(False)]).tensor.tolist() == [1.0, 0.0]
    dec = decoder_for(enc)
    logits = torch.tensor([2.0, -1.0, 0.0])
    assert dec.decode(logits) == [True, False, True]
    probs = dec.decode(logits, "probability")
    assert probs == pytest.approx(torch.sigmoid(logits).tolist())
    ent = dec.decode(logits, "entropy")
    p = probs[0]
    assert ent[0] == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)))
    assert BooleanDecoder(scores="probabilities").decode(torch.tensor([[0.3]])) == [False]


# ---------------------------------------------------------------------------------------------
# text, scalar, function
# ---------------------------------------------------------------------------------------------


def test_characters_vocabulary_and_padding():
    enc = CharactersEncoder().fit(["cab", "a"])
    assert enc.vocabulary == ("a", "b", "c")
    out = enc.encode(["ab", "abc", "z"]).tensor
    assert out.dtype == torch.int64
    assert out.tolist() == [[2, 3, 0], [2, 3, 4], [1, 0, 0]]
    fixed = CharactersEncoder(vocabulary=("a",), max_length=2).encode(["aaa", ""]).tensor
    assert fixed.tolist() == [[2, 2], [0, 0]]


def test_tokens_vocabulary_frequency_order_and_unknown():
    enc = TokensEncoder().fit(["The cat sat.", "the dog sat", "a cat"])
    assert enc.vocabulary == ("cat", "sat", "the", ".", "a", "dog")
    out = enc.encode(["the bird sat", "cat"]).tensor
    assert out.tolist() == [[4, 1, 3], [2, 0, 0]]
    small = TokensEncoder(max_tokens=2).fit(["b b a a c"])
    assert small.vocabulary == ("a", "b")
    assert TokensEncoder(lowercase=False).fit(["A a"]).vocabulary == ("A", "a")


def test_scalar_encoder_plain_and_normalized():
    assert ScalarEncoder().encode([1, 2]).tensor.tolist() == [1.0, 2.0]
    enc = ScalarEncoder(normalize=True).fit([2.0, 4.0, 6.0])
    x = enc.encode([4.0, 6.0]).tensor
    assert x.tolist() == pytest.approx([0.0, 2 / math.sqrt(8 / 3)])
    assert roundtrip(enc, encoder_from_config) == enc


def test_function_encoder_and_its_config():
    enc = FunctionEncoder(lambda s: [len(s), s.count("a")], name="features")
    assert enc.encode(["aa", "b"]).tensor.tolist() == [[2, 2], [1, 0]]
    config = json.loads(json.dumps(enc.config()))
    assert config == {"kind": "function", "name": "features"}
    with pytest.raises(NetTrainError, match="pass your function again") as info:
        encoder_from_config(config)
    assert "'features'" in info.value.received  # the file's name, as what was received only
    assert "features" not in (info.value.hint or "")


@pytest.mark.parametrize(
    "enc, column",
    [
        (ClassEncoder(), LABELS),
        (ClassEncoder(output="indicator"), LABELS),
        (ClassEncoder(multilabel=True), [["a", "b"], ["c"]]),
        (ClassEncoder(), [1, 5, 3]),
        (BooleanEncoder(), [True, False]),
        (CharactersEncoder(max_length=4), ["hello", "hi"]),
        (TokensEncoder(max_tokens=3), ["a b c d", "a b"]),
        (ScalarEncoder(), [1.5, 2.0]),
    ],
)
def test_config_json_round_trip_gives_identical_encodings(enc, column):
    fitted = enc.fit(column)
    back = roundtrip(fitted, encoder_from_config)
    assert back == fitted
    assert torch.equal(back.encode(column).tensor, fitted.encode(column).tensor)


def test_fit_is_pure_and_idempotent():
    enc = ClassEncoder()
    fitted = enc.fit(["b", "a"])
    assert enc.classes is None
    assert fitted.fit(["z"]) is fitted


# ---------------------------------------------------------------------------------------------
# decoders
# ---------------------------------------------------------------------------------------------

CLASSES = ("ant", "bee", "cat", "dog")


@pytest.fixture
def logits():
    return torch.randn(6, 4, generator=torch.Generator().manual_seed(0))


def test_class_decoder_probabilities_match_softmax(logits):
    dec = ClassDecoder(classes=CLASSES)
    probs = dec.decode(logits, "probabilities")
    softmax = torch.softmax(logits.double(), -1)
    for row, want in zip(probs, softmax, strict=True):
        assert list(row) == list(CLASSES)
        assert sum(row.values()) == pytest.approx(1.0)
        assert list(row.values()) == pytest.approx(want.tolist())
    assert dec.decode(logits, ("probability", "cat")) == pytest.approx(softmax[:, 2].tolist())


def test_class_decoder_top_decisions_and_probabilities(logits):
    dec = ClassDecoder(classes=CLASSES)
    order = logits.argsort(-1, descending=True)
    tops = dec.decode(logits, ("top_decisions", 2))
    assert tops == [[CLASSES[i] for i in row[:2]] for row in order.tolist()]
    pairs = dec.decode(logits, ("top_probabilities", 3))
    for row in pairs:
        assert len(row) == 3
        values = [p for _, p in row]
        assert values == sorted(values, reverse=True)
    assert [row[0][0] for row in pairs] == dec.decode(logits)


def test_class_decoder_entropy_against_hand_formula(logits):
    dec = ClassDecoder(classes=CLASSES)
    p = torch.softmax(logits.double(), -1)
    hand = [-sum(float(q) * math.log(float(q)) for q in row) for row in p]
    assert dec.decode(logits, "entropy") == pytest.approx(hand)
    uniform = ClassDecoder(classes=CLASSES, scores="probabilities")
    assert uniform.decode(torch.full((1, 4), 0.25), "entropy") == pytest.approx([math.log(4)])


def test_random_sample(logits):
    dec = ClassDecoder(classes=CLASSES)
    decision = dec.decode(logits)
    cold = dec.decode(logits, ("random_sample", {"temperature": 1e-6}))
    assert cold == decision
    assert dec.decode(logits, ("random_sample", {"top_k": 1})) == decision
    assert dec.decode(logits, ("random_sample", {"top_p": 1e-9})) == decision
    a = dec.decode(logits, "random_sample", generator=torch.Generator().manual_seed(3))
    b = dec.decode(logits, "random_sample", generator=torch.Generator().manual_seed(3))
    assert a == b and set(a) <= set(CLASSES)
    # the empirical frequencies follow the softmax
    many = torch.zeros(2000, 4) + logits[0]
    picks = dec.decode(many, "random_sample", generator=torch.Generator().manual_seed(0))
    freq = [picks.count(c) / 2000 for c in CLASSES]
    assert freq == pytest.approx(torch.softmax(logits[0], -1).tolist(), abs=0.04)


def test_multilabel_decoder_threshold():
    dec = ClassDecoder(classes=("a", "b", "c"), multilabel=True)
    out = torch.tensor([[2.0, -2.0, 0.0], [-5.0, -5.0, -5.0]])
    assert dec.decode(out) == [["a", "c"], []]
    strict = ClassDecoder(classes=("a", "b", "c"), multilabel=True, threshold=0.6)
    assert strict.decode(out) == [["a"], []]
    probs = dec.decode(out, "probabilities")
    assert probs[0]["b"] == pytest.approx(float(torch.sigmoid(torch.tensor(-2.0))))
    assert decoder_for(ClassEncoder(multilabel=True).fit([["a"], ["b", "c"]])) == dec


def test_decoder_config_round_trip():
    for dec in (
        ClassDecoder(classes=CLASSES, scores="probabilities"),
        ClassDecoder(classes=(1, 2), multilabel=True, threshold=0.3),
        BooleanDecoder(threshold=0.7),
    ):
        assert roundtrip(dec, decoder_from_config) == dec


# ---------------------------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------------------------


def test_inference_picks_the_expected_encoder(tmp_path: pathlib.Path):
    path = tmp_path / "x.jpg"
    assert infer_encoder([1.0, 2.0], role="target") is None
    assert infer_encoder(np.zeros((3, 2)), role="input") is None
    assert infer_encoder([[1, 2], [3, 4]], role="input") is None
    assert infer_encoder([torch.zeros(2), torch.ones(2)], role="input") is None
    assert isinstance(infer_encoder([True, False], role="target"), BooleanEncoder)
    assert isinstance(infer_encoder([shape_image("circle")], role="input"), ImageEncoder)
    assert isinstance(infer_encoder([str(path), path], role="input"), ImageEncoder)
    assert infer_encoder(["cat", "dog"], role="target") == ClassEncoder()
    assert infer_encoder([["cat"], [], {"dog"}], role="target") == ClassEncoder(multilabel=True)
    tokens = infer_encoder(["a long sentence", "another one"], role="input")
    assert isinstance(tokens, TokensEncoder) and "2.5 words" in tokens.describe()
    chars = infer_encoder(["ACGT", "GATTACA"], role="input")
    assert isinstance(chars, CharactersEncoder) and "characters" in chars.describe()


def test_inference_mixed_types_message():
    with pytest.raises(NetTrainError) as info:
        infer_encoder(["cat", "dog", 3], role="target", name="label")
    message = str(info.value)
    assert "example 2" in message and "'label'" in message
    assert "strings (example 0)" in message and "numbers or arrays (example 2)" in message
    assert "give an encoder" in message
    with pytest.raises(NetTrainError, match=r"images or image file paths .* strings"):
        infer_encoder([shape_image("circle"), "hello"], role="input")


# ---------------------------------------------------------------------------------------------
# bad input: every message says what and where
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, fragments",
    [
        (lambda: encoder("clas"), ["unknown encoder kind 'clas'", "did you mean 'class'"]),
        (lambda: encoder("class", clases=["a"]), ["clases", "did you mean 'classes'"]),
        (lambda: encoder("class", output="onehot"), ["output", "'index', 'indicator'"]),
        (lambda: ImageEncoder(size=(0, 3)), ["size", "(height, width)"]),
        (lambda: ImageEncoder(color_space="cmyk"), ["color_space", "'grayscale', 'rgb'"]),
        (
            lambda: ImageEncoder(size=(2, 2), color_space="rgb").encode([np.full((2, 2), 3.0)]),
            ["example 0", "[0, 1]", "divide by 255"],
        ),
        (
            lambda: ImageEncoder(size=(2, 2), color_space="rgb").encode([np.zeros((2, 2)), 5]),
            ["example 1", "cannot read", "int 5"],
        ),
        (lambda: ImageEncoder().encode([np.zeros((2, 2))]), ["not learnt", "fit"]),
        (lambda: ClassEncoder().fit(["a", None]), ["example 1", "missing class label"]),
        (lambda: ClassEncoder().fit([["a"], ["b"]]), ["example 0", "multilabel=True"]),
        (lambda: ClassEncoder(multilabel=True).fit(["a"]), ["example 0", "collection"]),
        (lambda: ClassEncoder().encode("abc"), ["not learnt"]),
        (lambda: ClassEncoder(classes=("a",)).encode("a"), ["column", "[value]"]),
        (lambda: BooleanEncoder().encode([True, 1]), ["example 1", "True or False", "int 1"]),
        (lambda: ScalarEncoder().encode([1.0, "2"]), ["example 1", "str '2'"]),
        (lambda: ScalarEncoder().encode([1.0, math.nan]), ["example 1", "finite"]),
        (lambda: TokensEncoder().fit(["ok", 3]), ["example 1", "takes strings"]),
        (lambda: TokensEncoder(pattern="("), ["pattern", "regular expression"]),
        (
            lambda: FunctionEncoder(lambda v: [0] * v).encode([1, 2]),
            ["example 1", "different shapes", "(1,)"],
        ),
        (
            lambda: ClassDecoder(classes=CLASSES).decode(torch.zeros(1, 4), "probabilty"),
            ["unknown property 'probabilty'", "did you mean 'probability'"],
        ),
        (
            lambda: ClassDecoder(classes=CLASSES).decode(torch.zeros(1, 4), ("probability", "cow")),
            ["unknown class 'cow'"],
        ),
        (
            lambda: ClassDecoder(classes=CLASSES).decode(torch.zeros(2, 3)),
            ["one score per class (4)", "shape (2, 3)"],
        ),
        (
            lambda: ClassDecoder(classes=CLASSES).decode(
                torch.zeros(1, 4), ("random_sample", {"temprature": 1})
            ),
            ["temprature", "did you mean 'temperature'"],
        ),
        (
            lambda: ClassDecoder(classes=("a",), multilabel=True).decode(
                torch.zeros(1, 1), "top_decisions"
            ),
            ["unknown property 'top_decisions'", "multilabel"],
        ),
        (lambda: decoder("boolean", treshold=0.3), ["did you mean 'threshold'"]),
        (lambda: encoder_from_config({"kind": "video"}), ["unknown encoder kind 'video'"]),
        (lambda: infer_encoder(["a", None], role="target"), ["example 1", "missing values"]),
        (lambda: infer_encoder([[None]], role="input"), ["example 0", "collections of labels"]),
        (lambda: infer_encoder([1], role="output"), ["role", "'input' or 'target'"]),
        (lambda: decoder_for(ClassEncoder()), ["not learnt its classes", "fit"]),
    ],
)
def test_bad_input_messages(call, fragments):
    with pytest.raises(NetTrainError) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_image_without_pillow_says_how_to_install(monkeypatch, tmp_path: pathlib.Path):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import Image` fail
    enc = ImageEncoder(size=(2, 2), color_space="rgb")
    with pytest.raises(NetTrainError, match="pip install pillow"):
        enc.encode([str(tmp_path / "a.png")])


def test_image_blocks_rgba_and_read_only_arrays():
    block = np.random.default_rng(0).integers(0, 256, (4, 5, 6), dtype=np.uint8)
    block.flags.writeable = False
    enc = ImageEncoder(size=(5, 6), color_space="grayscale")
    out = enc.encode(block).tensor  # [n, H, W] uint8 is transposed in one go
    assert out.shape == (4, 1, 5, 6) and torch.equal(out[:, 0], torch.from_numpy(block.copy()))
    rgba = Image.new("RGBA", (3, 2), (10, 20, 30, 40))
    fitted = ImageEncoder().fit([rgba])
    assert fitted.color_space == "rgb"
    assert fitted.encode([rgba]).tensor[0, :, 0, 0].tolist() == [10, 20, 30]


def test_pandas_series_column():
    pd = pytest.importorskip("pandas")
    series = pd.Series(["b", "a", "b"])
    enc = ClassEncoder().fit(series)
    assert enc.encode(series).tensor.tolist() == [1, 0, 1]
    assert isinstance(infer_encoder(series, role="target"), ClassEncoder)
