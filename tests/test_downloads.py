"""Downloads and archives, against a local HTTP server on 127.0.0.1 only; and the network guard.

The server (http.server in a thread, port 0) serves what each test puts in its ``routes``: a
normal file, a 404, or a transfer cut short (a Content-Length larger than what is sent).
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import socket
import sys
import tarfile
import threading
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import idx_bytes
from nettrain.datasets import download, load
from nettrain.datasets.archive import safe_extract
from nettrain.datasets.fetch import fetch
from nettrain.datasets.registry import Download, get_info
from nettrain.errors import NetTrainError

pytestmark = pytest.mark.usefixtures("isolated_data")


class Server:
    """A loopback HTTP server; ``routes[path] = (status, body, bytes_to_send or None)``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int | None]] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                status, body, send = routes.get(self.path, (404, b"not here", None))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # A transfer cut short: announce the whole length, send part, close.
                self.wfile.write(body if send is None else body[:send])
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


PAYLOAD = bytes(range(256)) * 40


def spec(**kwargs) -> Download:
    return Download("file.bin", size=len(PAYLOAD), md5=hashlib.md5(PAYLOAD).hexdigest(), **kwargs)


# --- fetch: mirrors, truncation, checksums ----------------------------------------------------


def test_first_mirror_404_second_good(server, tmp_path):
    server.routes["/b/file.bin"] = (200, PAYLOAD, None)
    dest = tmp_path / "out" / "file.bin"
    fetch([f"{server.url}/a/file.bin", f"{server.url}/b/file.bin"], dest, spec(), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == ["/a/file.bin", "/b/file.bin"]
    assert leftovers(tmp_path / "out") == ["file.bin"]


def test_first_mirror_refused_second_good(server, tmp_path):
    server.routes["/file.bin"] = (200, PAYLOAD, None)
    dest = tmp_path / "file.bin"
    fetch([f"{refused_url()}/file.bin", f"{server.url}/file.bin"], dest, spec(), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_truncated_transfer_leaves_nothing(server, tmp_path):
    server.routes["/file.bin"] = (200, PAYLOAD, 1000)
    folder = tmp_path / "out"
    with pytest.raises(NetTrainError, match=r"file\.bin.*cut short"):
        fetch([f"{server.url}/file.bin"], folder / "file.bin", spec(), progress=False)
    assert leftovers(folder) == []
    # Without a registered size either, the Content-Length still catches it.
    with pytest.raises(NetTrainError, match="cut short"):
        fetch([f"{server.url}/file.bin"], folder / "file.bin", Download("file.bin"), progress=False)
    assert leftovers(folder) == []
    # A later run with a good mirror succeeds.
    server.routes["/good/file.bin"] = (200, PAYLOAD, None)
    urls = [f"{server.url}/file.bin", f"{server.url}/good/file.bin"]
    fetch(urls, folder / "file.bin", spec(), progress=False)
    assert leftovers(folder) == ["file.bin"]


def test_checksum_mismatch_names_the_file(server, tmp_path):
    server.routes["/file.bin"] = (200, PAYLOAD[::-1], None)
    with pytest.raises(NetTrainError) as err:
        fetch([f"{server.url}/file.bin"], tmp_path / "file.bin", spec(), progress=False)
    message = str(err.value)
    assert (
        "file.bin" in message and "md5" in message and hashlib.md5(PAYLOAD).hexdigest() in message
    )
    assert leftovers(tmp_path) == []
    sha = Download("file.bin", sha256="0" * 64)
    server.routes["/file.bin"] = (200, PAYLOAD, None)
    with pytest.raises(NetTrainError, match="sha256"):
        fetch([f"{server.url}/file.bin"], tmp_path / "file.bin", sha, progress=False)
    assert leftovers(tmp_path) == []


def test_interrupt_leaves_nothing(server, tmp_path):
    server.routes["/file.bin"] = (200, PAYLOAD, None)

    def interrupt(path: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch([f"{server.url}/file.bin"], tmp_path / "file.bin", spec(), check=interrupt)
    assert leftovers(tmp_path) == []


def test_progress_only_on_a_terminal(server, tmp_path, capsys, monkeypatch):
    server.routes["/file.bin"] = (200, PAYLOAD, None)
    fetch([f"{server.url}/file.bin"], tmp_path / "a.bin", spec(), progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    fetch([f"{server.url}/file.bin"], tmp_path / "b.bin", spec(), progress=True)
    err = capsys.readouterr().err
    # a tqdm bar: the file, the bytes of the whole file, 100% at the end
    assert "nettrain: b.bin" in err and "100%" in err and "10.2k/10.2k" in err


# --- download(): a whole dataset --------------------------------------------------------------


def idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(idx_bytes(array))


def tiny_idx_dataset(server: Server):
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(5, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(2, dtype=np.uint8),
    }
    files = tuple(
        replace(
            s,
            md5=hashlib.md5(gzip.decompress(idx_gz(arrays[s.path]))).hexdigest(),
            idx_shape=arrays[s.path].shape,
        )
        for s in get_info("FashionMNIST").files
    )
    for name, array in arrays.items():
        server.routes[f"/m2/{name}"] = (200, idx_gz(array), None)
    info = replace(
        get_info("FashionMNIST"),
        name="TinyFashion",
        folder="tiny-fashion",
        files=files,
        mirrors=(f"{server.url}/m1", f"{server.url}/m2"),
    )
    return info, arrays


def test_download_dataset_then_load(server, tmp_path, monkeypatch):
    info, arrays = tiny_idx_dataset(server)
    monkeypatch.setenv("NETTRAIN_DATA", str(tmp_path / "data"))
    folder = download(info, progress=False)
    assert folder == tmp_path / "data" / "tiny-fashion"
    assert leftovers(folder) == sorted(arrays)
    train = load(info, offline=True)
    np.testing.assert_array_equal(train.inputs, arrays["train-images-idx3-ubyte.gz"])
    # Already there and verified: no request at all the second time.
    count = len(server.requests)
    download(info)
    assert len(server.requests) == count


def test_load_downloads_when_allowed(server, tmp_path):
    info, _ = tiny_idx_dataset(server)
    assert len(load(info, "test", data_dir=tmp_path, progress=False)) == 2
    assert (tmp_path / "tiny-fashion" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_download_with_wrong_content_names_the_file(server, tmp_path):
    info, _ = tiny_idx_dataset(server)
    # Good gzip, wrong IDX content: only the md5 of the decompressed bytes can tell.
    server.routes["/m2/train-labels-idx1-ubyte.gz"] = (200, idx_gz(np.zeros(5, np.uint8)), None)
    with pytest.raises(NetTrainError) as err:
        download(info, data_dir=tmp_path, progress=False)
    assert "train-labels-idx1-ubyte.gz" in str(err.value) and "md5" in str(err.value)
    assert "train-labels-idx1-ubyte.gz" not in leftovers(tmp_path / "tiny-fashion")


def test_download_offline_is_refused_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("NETTRAIN_OFFLINE", "1")
    with pytest.raises(NetTrainError) as err:
        download("MovieReview", data_dir=tmp_path)
    message = str(err.value)
    assert "rt-polaritydata/rt-polarity.pos" in message and str(tmp_path) in message
    assert "cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz" in message


def test_explicit_mirrors_override_the_registry(server, tmp_path):
    info, arrays = tiny_idx_dataset(server)
    info = replace(info, mirrors=("http://192.0.2.1/never",))
    download(info, data_dir=tmp_path, mirrors=[f"{server.url}/m2"], progress=False)
    assert leftovers(tmp_path / "tiny-fashion") == sorted(arrays)


# --- archives ---------------------------------------------------------------------------------


def make_tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link_member(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def rt_members(n: int = 20) -> list[tuple[tarfile.TarInfo, bytes]]:
    text = {
        k: b"".join(f"{k} {i} \x97\n".encode("latin-1") for i in range(n)) for k in ("pos", "neg")
    }
    return [
        file_member("rt-polaritydata/rt-polarity.pos", text["pos"]),
        file_member("rt-polaritydata/rt-polarity.neg", text["neg"]),
        file_member("rt-polaritydata.README.1.0.txt", b"readme\n"),
    ]


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (file_member("../escape.txt", b"x"), "'..'"),
        (file_member("rt-polaritydata/../../escape.txt", b"x"), "'..'"),
        (file_member("/tmp/abs-escape.txt", b"x"), "absolute"),
        (link_member("rt-polaritydata/link", "../../escape.txt", tarfile.SYMTYPE), "link"),
        (link_member("rt-polaritydata/link", "/etc/passwd", tarfile.SYMTYPE), "link"),
        (link_member("rt-polaritydata/hard", "/etc/passwd", tarfile.LNKTYPE), "link"),
        (link_member("rt-polaritydata/dev", "", tarfile.CHRTYPE), "device"),
    ],
)
def test_unsafe_archives_are_rejected(tmp_path, member, why):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar([*rt_members(), member]))
    target = tmp_path / "inner" / "target"
    with pytest.raises(NetTrainError, match=f"unsafe member.*{why}"):
        safe_extract(archive, target)
    assert leftovers(target) == []  # nothing extracted, not even the safe members
    assert leftovers(tmp_path) == ["a.tar.gz", "inner"]
    assert leftovers(tmp_path / "inner") == ["target"]
    assert not Path("/tmp/abs-escape.txt").exists()


def movie_info(server: Server, name: str = "TinyMR"):
    base = get_info("MovieReview")
    return replace(
        base,
        name=name,
        folder="tiny-mr",
        files=tuple(replace(s, lines=20) for s in base.files),
        mirrors=(f"{server.url}/gone", f"{server.url}/mr"),
    )


def test_archive_download_extracts_and_loads(server, tmp_path):
    server.routes["/mr/rt-polaritydata.tar.gz"] = (200, make_tar(rt_members()), None)
    info = movie_info(server)
    folder = download(info, data_dir=tmp_path, progress=False)
    train = load(info, data_dir=tmp_path, offline=True)
    assert leftovers(folder) == ["rt-polaritydata", "rt-polaritydata.README.1.0.txt"]
    assert len(train) == 36 and "\x97" in train.inputs[0]


def test_archive_download_with_escaping_member_writes_nothing_outside(server, tmp_path):
    bad = make_tar([*rt_members(), file_member("../../escape.txt", b"x")])
    server.routes["/mr/rt-polaritydata.tar.gz"] = (200, bad, None)
    root = tmp_path / "data"
    with pytest.raises(NetTrainError, match="unsafe member"):
        download(movie_info(server), data_dir=root, progress=False)
    assert leftovers(tmp_path) == ["data"]
    assert leftovers(root) == ["tiny-mr"]
    assert leftovers(root / "tiny-mr") == []  # no archive, no half-extracted folder


# --- the network guard (tests/conftest.py) ----------------------------------------------------


def _connect(family: int, address: tuple, ex: bool = False) -> None:
    with socket.socket(family) as s:
        (s.connect_ex if ex else s.connect)(address)


@pytest.mark.parametrize(
    "attempt",
    [
        lambda: socket.create_connection(("192.0.2.1", 80), timeout=1),
        lambda: socket.create_connection(("example.com", 80), timeout=1),
        lambda: _connect(socket.AF_INET, ("10.1.2.3", 80)),
        lambda: _connect(socket.AF_INET, ("8.8.8.8", 53), ex=True),
        lambda: _connect(socket.AF_INET6, ("2001:db8::1", 80, 0, 0)),
        lambda: urllib.request.urlopen("http://www.cs.toronto.edu/", timeout=1),
    ],
)
def test_network_guard_refuses_non_loopback(attempt):
    with pytest.raises(RuntimeError, match="network access is forbidden in tests"):
        attempt()


def test_network_guard_allows_loopback(server):
    server.routes["/hello"] = (200, b"hi", None)
    with urllib.request.urlopen(server.url + "/hello") as r:
        assert r.read() == b"hi"
    with socket.create_connection(("127.0.0.1", server.httpd.server_address[1])):
        pass


def test_network_guard_blocks_registry_mirrors(tmp_path):
    # The real mirrors are never contacted in tests: the guard stops the first attempt.
    with pytest.raises(RuntimeError, match="network access is forbidden"):
        download("MNIST", data_dir=tmp_path, progress=False)
    assert leftovers(tmp_path / "mnist") == []
