"""Named datasets: names, finding, verification, and each reader on small files in the real format.

The small files are written by the tests in exactly the upstream formats (IDX gz and not, CIFAR
python pickles with bytes keys and protocol 2, rt-polarity latin-1 text). Their checksums differ
from the real ones, so each is described by a fake DatasetInfo with its own checksums, passed to
``load`` directly; the real names keep their real checks (tests below show a small file under a
real name is refused).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA_ROOT, idx_bytes, needs_fashion_mnist
from nettrain.datasets import (
    NAMES,
    DatasetSplit,
    canonical_name,
    list_datasets,
    load,
    locate,
)
from nettrain.datasets.cifar import safe_unpickle
from nettrain.datasets.registry import BUILTIN_INFOS, get_info
from nettrain.errors import NetTrainError

SHARED = DATA_ROOT


pytestmark = pytest.mark.usefixtures("isolated_data")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --- writers of the real formats --------------------------------------------------------------


def write_idx_folder(folder: Path, n_train: int = 7, n_test: int = 3, gz: bool = True) -> dict:
    """Four IDX files like MNIST's: train ones gzipped, test ones gzipped only if ``gz``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test, dtype=np.uint8) + 3) % 10,
    }
    for name, array in arrays.items():
        raw = idx_bytes(array)
        if gz or name.startswith("train"):
            (folder / name).write_bytes(gzip.compress(raw))
        else:
            (folder / name.removesuffix(".gz")).write_bytes(raw)
    return arrays


def idx_info(base: str, name: str, folder: str, arrays: dict):
    """A fake registry entry: the real one's reader and class names, the fake files' md5s."""
    files = tuple(
        replace(
            spec,
            md5=md5(idx_bytes(arrays[spec.path])),
            packed_md5=None,
            idx_shape=arrays[spec.path].shape,
        )
        for spec in get_info(base).files
    )
    return replace(get_info(base), name=name, folder=folder, files=files)


def cifar_batch(n: int, classes: int, key: bytes, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch",
        key: [int(v) for v in rng.integers(0, classes, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def write_pickle(path: Path, obj: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = pickle.dumps(obj, protocol=2)  # the real batches are protocol-2 pickles
    path.write_bytes(raw)
    return md5(raw)


def write_cifar10(folder: Path) -> tuple[object, dict]:
    sub = folder / "cifar-10-batches-py"
    batches = {f"data_batch_{i}": cifar_batch(2, 10, b"labels", i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(3, 10, b"labels", 9)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    sums = {f"cifar-10-batches-py/{k}": write_pickle(sub / k, v) for k, v in batches.items()}
    sums["cifar-10-batches-py/batches.meta"] = write_pickle(
        sub / "batches.meta", {b"label_names": names, b"num_cases_per_batch": 2}
    )
    info = get_info("CIFAR-10")
    files = tuple(replace(s, md5=sums[s.path]) for s in info.files)
    return replace(info, name="TinyCIFAR10", folder=folder.name, files=files), batches


class MarkerMaker:
    """Unpickling this creates a file: the proof that a pickle was (or was not) loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class SystemCaller:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("fashion-mnist", "FashionMNIST"),
        ("Fashion MNIST", "FashionMNIST"),
        ("cifar10", "CIFAR-10"),
        ("CIFAR_100", "CIFAR-100"),
        ("movie review", "MovieReview"),
        ("rt-polarity", "MovieReview"),
        ("mnist", "MNIST"),
        ("DIGITS", "Digits"),
    ],
)
def test_canonical_name(spelling, name):
    assert canonical_name(spelling) == name


def test_unknown_name_suggests_close_matches():
    with pytest.raises(NetTrainError, match=r"unknown dataset 'fashon-mnist'.*FashionMNIST"):
        canonical_name("fashon-mnist")
    with pytest.raises(NetTrainError, match="unknown dataset"):
        load("ImageNet")


def test_names_and_built_in_entries_cannot_be_replaced():
    assert NAMES == ("MNIST", "FashionMNIST", "CIFAR-10", "CIFAR-100", "MovieReview", "Digits")
    assert tuple(BUILTIN_INFOS) == NAMES
    real = get_info("FashionMNIST")
    weak = replace(real, files=())
    with pytest.raises(TypeError):
        BUILTIN_INFOS["FashionMNIST"] = weak
    with pytest.raises(TypeError):
        del BUILTIN_INFOS["FashionMNIST"]
    # A DatasetInfo passed in is used as it is, and leaves the built-in entry alone.
    assert get_info(weak) is weak
    assert get_info("fashion-mnist") is real and len(real.files) == 4


def test_bad_split():
    with pytest.raises(NetTrainError, match="split"):
        load("Digits", "validation")


# --- IDX: MNIST and Fashion-MNIST layouts -----------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_in_real_format(tmp_path, gz):
    arrays = write_idx_folder(tmp_path / "tiny-mnist", gz=gz)
    info = idx_info("MNIST", "TinyMNIST", "tiny-mnist", arrays)
    train = load(info, data_dir=tmp_path)
    test = load(info, "test", data_dir=tmp_path)
    assert isinstance(train, DatasetSplit)
    assert (train.name, train.split, train.kind) == ("TinyMNIST", "train", "image")
    assert train.inputs.shape == (7, 28, 28) and train.inputs.dtype == np.uint8
    assert train.labels.dtype == np.int64
    np.testing.assert_array_equal(train.inputs, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(train.labels, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(test.inputs, arrays["t10k-images-idx3-ubyte.gz"])
    assert test.inputs.shape == (3, 28, 28) and len(test) == 3
    assert train.class_names == tuple("0123456789")


def test_fashion_layout_and_class_names(tmp_path):
    arrays = write_idx_folder(tmp_path / "tiny-fashion")
    train = load(idx_info("FashionMNIST", "TinyFashion", "tiny-fashion", arrays), data_dir=tmp_path)
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    assert len(train.class_names) == 10


def test_real_names_keep_their_checks(tmp_path):
    # Small files under the real folder names are refused: verification is not weakened.
    write_idx_folder(tmp_path / "fashion-mnist")
    with pytest.raises(NetTrainError, match=r"train-images-idx3-ubyte\.gz.*md5"):
        load("FashionMNIST", data_dir=tmp_path)
    write_idx_folder(tmp_path / "mnist")
    # MNIST: not the published .gz, so the IDX shape is checked, and (7, 28, 28) is wrong.
    with pytest.raises(NetTrainError, match=r"train-images-idx3-ubyte\.gz.*IDX shape"):
        load("MNIST", data_dir=tmp_path)


def test_corrupt_file_names_the_file_and_what_to_do(tmp_path):
    arrays = write_idx_folder(tmp_path / "tiny-mnist")
    info = idx_info("MNIST", "TinyMNIST", "tiny-mnist", arrays)
    bad = tmp_path / "tiny-mnist" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(idx_bytes(np.full(7, 9, dtype=np.uint8))))
    with pytest.raises(NetTrainError) as err:
        load(info, data_dir=tmp_path)
    message = str(err.value)
    assert str(bad) in message and "damaged" in message and "download it again" in message


def test_files_are_verified_once_per_process(tmp_path, monkeypatch):
    arrays = write_idx_folder(tmp_path / "tiny-mnist")
    calls: list[Path] = []
    real = locate.md5_of_decompressed
    monkeypatch.setattr(locate, "md5_of_decompressed", lambda p: calls.append(p) or real(p))
    info = idx_info("MNIST", "TinyMNIST", "tiny-mnist", arrays)
    load(info, data_dir=tmp_path)
    load(info, data_dir=tmp_path)
    assert len(calls) == 2  # two files of the train split, each hashed once
    # A file changed on disk is checked again (the cache is keyed by size and mtime).
    path = tmp_path / "tiny-mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(7, np.uint8))))
    with pytest.raises(NetTrainError, match="damaged"):
        load(info, data_dir=tmp_path)


# --- where data is found ----------------------------------------------------------------------


def test_search_order_and_incomplete_folders(tmp_path, monkeypatch):
    arrays = write_idx_folder(tmp_path / "arg" / "tiny-mnist")
    write_idx_folder(tmp_path / "env" / "tiny-mnist")
    info = idx_info("MNIST", "TinyMNIST", "tiny-mnist", arrays)
    monkeypatch.setenv("NETTRAIN_DATA", str(tmp_path / "env"))
    assert locate.find_dataset(info, tmp_path / "arg") == tmp_path / "arg" / "tiny-mnist"
    assert locate.find_dataset(info) == tmp_path / "env" / "tiny-mnist"
    # An incomplete folder earlier in the order does not hide a complete one later.
    (tmp_path / "arg" / "tiny-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert locate.find_dataset(info, tmp_path / "arg") == tmp_path / "env" / "tiny-mnist"


def test_cache_and_system_folders_are_searched(tmp_path, monkeypatch):
    arrays = write_idx_folder(tmp_path / "system" / "tiny-mnist")
    info = idx_info("MNIST", "TinyMNIST", "tiny-mnist", arrays)
    assert load(info).inputs.shape == (7, 28, 28)
    write_idx_folder(tmp_path / "cache" / "nettrain" / "tiny-mnist")
    assert locate.find_dataset(info) == tmp_path / "cache" / "nettrain" / "tiny-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert locate.cache_root() == Path.home() / ".cache" / "nettrain"


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_offline_message_names_files_places_and_remedies(tmp_path, monkeypatch, how):
    monkeypatch.setenv("NETTRAIN_DATA", str(tmp_path / "env"))
    if how == "environment":
        monkeypatch.setenv("NETTRAIN_OFFLINE", "1")
    offline = True if how == "argument" else None
    with pytest.raises(NetTrainError) as err:
        load("CIFAR-10", data_dir=tmp_path / "arg", offline=offline)
    message = str(err.value)
    for part in (
        "offline",
        "cifar-10-batches-py/data_batch_1",
        "cifar-10-batches-py/batches.meta",
        str(tmp_path / "arg" / "cifar-10"),
        str(tmp_path / "env" / "cifar-10"),
        str(tmp_path / "cache" / "nettrain" / "cifar-10"),
        str(tmp_path / "system" / "cifar-10"),
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "NETTRAIN_DATA",
        "download",
    ):
        assert part in message, part


def test_list_datasets(tmp_path):
    arrays = write_idx_folder(tmp_path / "tiny-mnist")
    tiny = idx_info("MNIST", "TinyMNIST", "tiny-mnist", arrays)
    infos = [*BUILTIN_INFOS.values(), tiny]
    rows = {row["name"]: row for row in list_datasets(tmp_path, infos=infos)}
    assert list(rows)[:6] == list(NAMES)
    assert [row["name"] for row in list_datasets(tmp_path)] == list(NAMES)  # the default
    assert [row["name"] for row in list_datasets(tmp_path, infos=[tiny])] == ["TinyMNIST"]
    assert rows["TinyMNIST"]["found"] == str((tmp_path / "tiny-mnist").resolve())
    assert rows["TinyMNIST"]["sizes"]["t10k-labels-idx1-ubyte.gz"] > 0
    assert rows["CIFAR-10"]["found"] is None and rows["CIFAR-10"]["sizes"]
    assert rows["Digits"]["embedded"] is True and rows["Digits"]["found"]
    assert "CC BY 4.0" in rows["Digits"]["licence"]
    assert all(row["licence"] for row in rows.values())


# --- CIFAR ------------------------------------------------------------------------------------


def test_cifar10_reader_in_real_format(tmp_path):
    info, batches = write_cifar10(tmp_path / "tiny-cifar")
    train = load(info, data_dir=tmp_path)
    test = load(info, "test", data_dir=tmp_path)
    assert train.inputs.shape == (10, 32, 32, 3) and train.inputs.dtype == np.uint8
    assert test.inputs.shape == (3, 32, 32, 3)
    assert train.class_names[:3] == ("airplane", "automobile", "bird")
    first = batches["data_batch_1"]
    # Row layout: 1,024 red, 1,024 green, 1,024 blue, each plane row-major 32x32.
    np.testing.assert_array_equal(
        train.inputs[0, :, :, 0], first[b"data"][0, :1024].reshape(32, 32)
    )
    np.testing.assert_array_equal(train.inputs[0, 0, 5, 2], first[b"data"][0, 2048 + 5])
    expected = [v for i in range(1, 6) for v in batches[f"data_batch_{i}"][b"labels"]]
    np.testing.assert_array_equal(train.labels, expected)
    assert train.labels.dtype == np.int64


def test_cifar100_reader_in_real_format(tmp_path):
    sub = tmp_path / "tiny-cifar100" / "cifar-100-python"
    train = cifar_batch(4, 100, b"fine_labels", 1)
    train[b"coarse_labels"] = [0, 1, 2, 3]
    test = cifar_batch(2, 100, b"fine_labels", 2)
    meta = {
        b"fine_label_names": [f"class{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"super{i}".encode() for i in range(20)],
    }
    sums = {
        "cifar-100-python/train": write_pickle(sub / "train", train),
        "cifar-100-python/test": write_pickle(sub / "test", test),
        "cifar-100-python/meta": write_pickle(sub / "meta", meta),
    }
    base = get_info("CIFAR-100")
    info = replace(
        base,
        name="TinyCIFAR100",
        folder="tiny-cifar100",
        files=tuple(replace(s, md5=sums[s.path]) for s in base.files),
    )
    got = load(info, data_dir=tmp_path)
    got_test = load(info, "test", data_dir=tmp_path)
    assert got.inputs.shape == (4, 32, 32, 3) and got_test.inputs.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(got.labels, train[b"fine_labels"])
    assert len(got.class_names) == 100 and got.class_names[7] == "class7"


def test_cifar_batch_with_wrong_md5_is_never_unpickled(tmp_path):
    marker = tmp_path / "PWNED"
    # Under the real CIFAR-10 name: every file has the real md5, so ours do not match.
    info, _ = write_cifar10(tmp_path / "cifar-10")
    meta = tmp_path / "cifar-10" / "cifar-10-batches-py" / "batches.meta"
    write_pickle(meta, MarkerMaker(marker))
    with pytest.raises(NetTrainError, match=r"batches\.meta.*md5"):
        load("CIFAR-10", data_dir=tmp_path)
    assert not marker.exists()
    # And under a fake entry whose md5 is for another file: still refused before unpickling.
    with pytest.raises(NetTrainError, match="md5"):
        load(replace(info, folder="cifar-10"), data_dir=tmp_path)
    assert not marker.exists()


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil"
    write_pickle(evil, SystemCaller())
    with pytest.raises(NetTrainError, match=r"refusing to load global '(posix|os|nt)\.system'"):
        safe_unpickle(evil)
    write_pickle(evil, {b"data": MarkerMaker(marker)})
    with pytest.raises(NetTrainError, match=r"refusing to load global '(builtins|io)\.open'"):
        safe_unpickle(evil)
    assert not marker.exists()
    # What the batches need still loads.
    write_pickle(evil, {b"data": np.arange(6, dtype=np.uint8), b"labels": [1, 2], b"x": b""})
    loaded = safe_unpickle(evil)
    np.testing.assert_array_equal(loaded[b"data"], np.arange(6))
    assert loaded[b"x"] == b""


# --- MovieReview ------------------------------------------------------------------------------


def write_rt_polarity(folder: Path, n: int) -> dict[str, list[bytes]]:
    sub = folder / "rt-polaritydata"
    sub.mkdir(parents=True, exist_ok=True)
    lines = {}
    for kind in ("pos", "neg"):
        # Every byte 0x80-0xFF appears (0x85 and 0xa0 included, which str methods treat as
        # white space or line breaks); the files are latin-1, not UTF-8.
        lines[kind] = [
            f"{kind} snippet {i} ".encode()
            + bytes([0x80 + (i * 7 + j) % 128 for j in range(5)])
            + b" ."
            for i in range(n)
        ]
        (sub / f"rt-polarity.{kind}").write_bytes(b"\n".join(lines[kind]) + b"\n")
    return lines


def test_movie_review_reader_and_split(tmp_path):
    lines = write_rt_polarity(tmp_path / "tiny-mr", 50)
    base = get_info("MovieReview")
    info = replace(
        base,
        name="TinyMR",
        folder="tiny-mr",
        files=tuple(replace(s, lines=50) for s in base.files),
    )
    train = load(info, data_dir=tmp_path)
    test = load(info, "test", data_dir=tmp_path)
    again = load(info, "test", data_dir=tmp_path)
    assert train.kind == "text" and train.class_names == ("negative", "positive")
    assert isinstance(train.inputs, list) and all(isinstance(t, str) for t in train.inputs)
    assert (len(train), len(test)) == (90, 10)
    assert np.bincount(test.labels).tolist() == [5, 5]  # stratified: 10% of each class
    assert test.inputs == again.inputs  # fixed
    assert not set(train.inputs) & set(test.inputs)  # disjoint
    everything = {t.encode("latin-1") for t in train.inputs + test.inputs}
    assert everything == {line.strip(b" ") for line in lines["pos"] + lines["neg"]}  # round trip
    for text, label in zip(test.inputs, test.labels, strict=True):
        assert text.startswith(("neg", "pos")[label])
    assert set(range(0x80, 0x100)) <= {ord(c) for t in train.inputs + test.inputs for c in t}


def test_movie_review_real_split_sizes_and_line_check(tmp_path):
    from nettrain.datasets.movie_review import MOVIE_REVIEW_SALT, MOVIE_REVIEW_TEST_FRACTION
    from nettrain.datasets.split import stratified_split

    labels = np.repeat([0, 1], 5331)
    train, test = stratified_split(labels, MOVIE_REVIEW_TEST_FRACTION, MOVIE_REVIEW_SALT)
    assert (len(train), len(test)) == (9596, 1066)
    assert np.bincount(labels[test]).tolist() == [533, 533]
    # 50-line files under the real name fail its line-count check, naming the file.
    write_rt_polarity(tmp_path / "movie-review", 50)
    with pytest.raises(NetTrainError, match=r"rt-polarity\.neg.*line count"):
        load("MovieReview", data_dir=tmp_path)


# --- Digits (embedded) and the real Fashion-MNIST ---------------------------------------------


def test_digits_embedded():
    train, test = load("Digits"), load("digits", "test", offline=True)
    assert (len(train), len(test)) == (1438, 359)
    assert train.inputs.shape == (1438, 8, 8) and train.inputs.dtype == np.uint8
    assert int(train.inputs.max()) == 255 and int(train.inputs.min()) == 0
    assert train.class_names == tuple("0123456789")
    counts = np.bincount(test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20% of each digit
    assert np.isin(np.unique(train.inputs), np.arange(17) * 255 // 16).all()


@needs_fashion_mnist
def test_real_fashion_mnist_found(monkeypatch):
    train = load("FashionMNIST", data_dir=SHARED, offline=True)
    monkeypatch.setenv("NETTRAIN_DATA", str(SHARED))
    test = load("fashion-mnist", "test", offline=True)
    assert train.inputs.shape == (60000, 28, 28) and test.inputs.shape == (10000, 28, 28)
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert train.class_names[0] == "T-shirt/top"
