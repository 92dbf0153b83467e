"""The IDX reader: small files in the exact MNIST format written here, and the real Fashion-MNIST.

The writer below is independent of the reader (struct, not numpy's byte-order machinery), so a
mistake in the reader's header decoding cannot cancel out against the same mistake in the test.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import FASHION_MNIST, needs_fashion_mnist
from nettrain.datasets import (
    FASHION_MNIST_FILES,
    load_fashion_mnist,
    md5_of_decompressed,
    parse_idx,
    read_idx,
)
from nettrain.errors import NetTrainError

REAL_DATA = FASHION_MNIST

# From shared/datasets/README.md: md5 of each file's decompressed bytes.
README_MD5 = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}


def idx_bytes(type_code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file: 0x00 0x00 type ndim, big-endian uint32 dims, then the payload."""
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, type_code, len(dims), *dims) + payload


def images_file(n: int, seed: int = 0) -> tuple[bytes, list[int]]:
    """``n`` 28x28 ubyte images (magic 0x00000803, as in train-images-idx3-ubyte)."""
    rng = np.random.default_rng(seed)
    pixels = [int(v) for v in rng.integers(0, 256, size=n * 28 * 28)]
    return idx_bytes(0x08, (n, 28, 28), bytes(pixels)), pixels


def labels_file(labels: list[int]) -> bytes:
    """ubyte labels (magic 0x00000801, as in train-labels-idx1-ubyte)."""
    return idx_bytes(0x08, (len(labels),), bytes(labels))


def write(path: Path, data: bytes, compress: bool) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def error_text(excinfo: pytest.ExceptionInfo[NetTrainError]) -> str:
    return str(excinfo.value)


# --------------------------------------------------------------------------------------------
# reading


def test_writer_makes_the_real_magic_numbers() -> None:
    assert images_file(1)[0][:4] == bytes.fromhex("00000803")
    assert labels_file([1])[:4] == bytes.fromhex("00000801")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_reads_ubyte_images_and_labels(tmp_path: Path, compress: bool) -> None:
    raw, pixels = images_file(3)
    images = read_idx(write(tmp_path / "images-idx3-ubyte", raw, compress))
    labels = read_idx(write(tmp_path / "labels-idx1-ubyte", labels_file([9, 0, 3]), compress))
    assert images.dtype == np.uint8 and images.shape == (3, 28, 28)
    assert images.reshape(-1).tolist() == pixels
    # Row-major: the second image's first row follows the whole first image.
    assert images[1, 0, 5] == pixels[28 * 28 + 5]
    assert images[2, 27, 27] == pixels[-1]
    assert labels.dtype == np.uint8 and labels.tolist() == [9, 0, 3]
    # Writable, so torch.from_numpy works without a warning (warnings are errors here).
    assert images.flags.writeable and labels.flags.writeable


def test_accepts_str_paths(tmp_path: Path) -> None:
    path = write(tmp_path / "l", labels_file([4, 2]), compress=True)
    assert read_idx(str(path)).tolist() == [4, 2]


def test_compression_is_detected_by_content_not_name(tmp_path: Path) -> None:
    data = labels_file([1, 2, 3])
    gz_without_suffix = write(tmp_path / "labels-idx1-ubyte", data, compress=True)
    plain_with_suffix = write(tmp_path / "labels-idx1-ubyte.gz", data, compress=False)
    assert read_idx(gz_without_suffix).tolist() == [1, 2, 3]
    assert read_idx(plain_with_suffix).tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("type_code", "fmt", "dtype", "values"),
    [
        (0x09, "b", np.int8, [-128, -1, 0, 127]),
        (0x0B, "h", np.int16, [-32768, -2, 258, 32767]),
        (0x0C, "i", np.int32, [-(2**31), -3, 65536 + 7, 2**31 - 1]),
        (0x0D, "f", np.float32, [1.5, -0.25, 3.0e10, 0.0]),
        (0x0E, "d", np.float64, [1.0 / 3.0, -2.5e-300, 1e300, -0.0]),
    ],
)
def test_all_element_types_are_big_endian(
    type_code: int, fmt: str, dtype: type, values: list[float]
) -> None:
    raw = idx_bytes(type_code, (2, 2), struct.pack(f">4{fmt}", *values))
    array = parse_idx(raw)
    assert array.dtype == np.dtype(dtype)
    assert array.dtype.byteorder in ("=", "|")  # native, not a big-endian view
    assert array.shape == (2, 2)
    assert array.reshape(-1).tolist() == pytest.approx(values)


def test_empty_and_zero_dimensional_arrays() -> None:
    assert parse_idx(idx_bytes(0x08, (0, 28, 28), b"")).shape == (0, 28, 28)
    assert parse_idx(idx_bytes(0x0C, (), struct.pack(">i", -5))).tolist() == -5


# --------------------------------------------------------------------------------------------
# damaged files: each message names the file and says what was expected and what was found


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_truncated_data(tmp_path: Path, compress: bool) -> None:
    raw, _ = images_file(2)
    path = write(tmp_path / "train-images-idx3-ubyte.gz", raw[:-100], compress)
    with pytest.raises(NetTrainError, match="truncated") as excinfo:
        read_idx(path)
    text = error_text(excinfo)
    assert str(path) in text
    assert "expected 1,584 bytes" in text  # 16-byte header + 2 x 28 x 28
    assert "2 x 28 x 28 ubyte" in text
    assert "received 1,484 bytes" in text
    assert "download it again" in text
    assert excinfo.value.argument == "path"


def test_truncated_header(tmp_path: Path) -> None:
    path = write(tmp_path / "x", images_file(1)[0][:10], compress=False)
    with pytest.raises(NetTrainError, match="truncated inside its header") as excinfo:
        read_idx(path)
    assert str(path) in error_text(excinfo)
    assert "16 header bytes for 3 dimension(s)" in error_text(excinfo)


@pytest.mark.parametrize("length", [0, 3])
def test_too_short_for_a_magic_number(tmp_path: Path, length: int) -> None:
    path = write(tmp_path / "tiny", b"\x00" * length, compress=False)
    with pytest.raises(NetTrainError, match="too short") as excinfo:
        read_idx(path)
    assert f"received {length} byte(s)" in error_text(excinfo)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_trailing_bytes(tmp_path: Path, compress: bool) -> None:
    path = write(tmp_path / "labels", labels_file([1, 2]) + b"junk", compress)
    with pytest.raises(NetTrainError, match="longer than its header says") as excinfo:
        read_idx(path)
    text = error_text(excinfo)
    assert str(path) in text
    assert "expected 10 bytes (a header of 8 bytes, then 2 ubyte elements)" in text
    assert "received 14 bytes" in text


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_damaged_header_claiming_huge_data(tmp_path: Path, compress: bool) -> None:
    # A header that claims ~10^29 bytes must fail with a message, not a MemoryError.
    raw = idx_bytes(0x0E, (2**32 - 1,) * 3, b"\x00" * 64)
    path = write(tmp_path / "huge", raw, compress)
    problem = "claims more data than fits in memory" if compress else "truncated"
    with pytest.raises(NetTrainError, match=problem) as excinfo:
        read_idx(path)
    assert "4294967295 x 4294967295 x 4294967295 double elements" in error_text(excinfo)


def test_broken_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(labels_file(list(range(10)) * 50))[:-12])
    with pytest.raises(NetTrainError, match="broken gzip stream") as excinfo:
        read_idx(path)
    assert str(path) in error_text(excinfo)
    with pytest.raises(NetTrainError, match="broken gzip stream"):
        md5_of_decompressed(path)


def test_bad_magic_html_page(tmp_path: Path) -> None:
    path = write(tmp_path / "t10k-images-idx3-ubyte.gz", b"<html><body>404</body></html>", False)
    with pytest.raises(NetTrainError, match="bad magic number") as excinfo:
        read_idx(path)
    text = error_text(excinfo)
    assert str(path) in text
    assert "not an IDX file" in text
    assert "received 0x3C68746D" in text  # "<htm"
    assert "0x08 (ubyte)" in text and "0x0E (double)" in text
    assert "HTML error page" in text


def test_unknown_type_code() -> None:
    with pytest.raises(NetTrainError, match="bad magic number") as excinfo:
        parse_idx(idx_bytes(0x0A, (1,), b"\x00"), name="blob")
    assert "blob is not an IDX file" in error_text(excinfo)
    assert "received 0x00000A01" in error_text(excinfo)
    assert excinfo.value.argument == "data"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.gz"
    with pytest.raises(NetTrainError, match="does not exist") as excinfo:
        read_idx(path)
    assert str(path) in error_text(excinfo)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(NetTrainError, match="cannot be read"):
        read_idx(tmp_path)


# --------------------------------------------------------------------------------------------
# md5 and the Fashion-MNIST loader on small files


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_md5_of_decompressed(tmp_path: Path, compress: bool) -> None:
    data = images_file(5)[0]
    path = write(tmp_path / "f", data, compress)
    assert md5_of_decompressed(path) == hashlib.md5(data).hexdigest()


def write_fashion_folder(folder: Path, train: int = 6, test: int = 4) -> dict[str, list[int]]:
    """The four standard files, small; train compressed, test not (both must be accepted)."""
    folder.mkdir(exist_ok=True)
    labels = {"train": [i % 10 for i in range(train)], "test": [9 - i for i in range(test)]}
    write(folder / "train-images-idx3-ubyte.gz", images_file(train, seed=1)[0], True)
    write(folder / "train-labels-idx1-ubyte.gz", labels_file(labels["train"]), True)
    write(folder / "t10k-images-idx3-ubyte", images_file(test, seed=2)[0], False)
    write(folder / "t10k-labels-idx1-ubyte", labels_file(labels["test"]), False)
    return labels


def test_load_fashion_mnist_small(tmp_path: Path) -> None:
    labels = write_fashion_folder(tmp_path)
    data = load_fashion_mnist(tmp_path)
    assert set(data) == {"train", "test"}
    for split, n in (("train", 6), ("test", 4)):
        images, got = data[split]
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert got.tolist() == labels[split]
    seed_2 = np.frombuffer(images_file(4, seed=2)[0][16:], dtype=np.uint8).reshape(4, 28, 28)
    np.testing.assert_array_equal(data["test"][0], seed_2)


def test_load_fashion_mnist_lists_missing_files(tmp_path: Path) -> None:
    write_fashion_folder(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(NetTrainError, match="missing") as excinfo:
        load_fashion_mnist(tmp_path)
    text = error_text(excinfo)
    assert "train-labels-idx1-ubyte.gz" in text and "t10k-images-idx3-ubyte.gz" in text
    assert "train-images-idx3-ubyte.gz" not in text
    assert str(tmp_path.resolve()) in text
    assert "received 2 of them" in text
    assert excinfo.value.argument == "directory"


def test_load_fashion_mnist_count_mismatch(tmp_path: Path) -> None:
    write_fashion_folder(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", labels_file([1, 2, 3]), False)
    with pytest.raises(NetTrainError, match="different count") as excinfo:
        load_fashion_mnist(tmp_path)
    assert "expected 4 labels, one per image, received 3" in error_text(excinfo)


def test_load_fashion_mnist_rejects_wrong_shapes_and_labels(tmp_path: Path) -> None:
    write_fashion_folder(tmp_path)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(0x08, (4, 2, 2), bytes(16)), False)
    with pytest.raises(NetTrainError, match="28x28 ubyte images"):
        load_fashion_mnist(tmp_path)
    write_fashion_folder(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", labels_file([1, 2, 10, 3]), False)
    with pytest.raises(NetTrainError, match="outside the 10 classes"):
        load_fashion_mnist(tmp_path)


# --------------------------------------------------------------------------------------------
# the real data (about a second)


def test_checksum_table_matches_the_readme() -> None:
    assert dict(FASHION_MNIST_FILES) == README_MD5


@needs_fashion_mnist
@pytest.mark.parametrize(
    "name",
    ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"],
)
def test_real_fashion_mnist_checksums(name: str) -> None:
    # The training images (47 MB) are left out to keep this fast; the loader test reads them.
    assert md5_of_decompressed(REAL_DATA / name) == README_MD5[name]


@needs_fashion_mnist
def test_real_fashion_mnist_loads() -> None:
    data = load_fashion_mnist(REAL_DATA)
    (train_x, train_y), (test_x, test_y) = data["train"], data["test"]
    assert train_x.shape == (60_000, 28, 28) and test_x.shape == (10_000, 28, 28)
    # Fashion-MNIST is balanced: 6,000 / 1,000 images of each class.
    assert np.bincount(train_y).tolist() == [6_000] * 10
    assert np.bincount(test_y).tolist() == [1_000] * 10
    # The first labels of the upstream files (Ankle boot, T-shirt, T-shirt, Dress, ...).
    assert train_y[:4].tolist() == [9, 0, 0, 3]
    assert test_y[:4].tolist() == [9, 2, 1, 1]
