"""Shared helpers for the tests: tiny seeded problems and nets, and where the real data is."""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import nn

from nettrain.datasets import locate


def make_classification(n: int = 50, features: int = 5, classes: int = 3, seed: int = 0):
    """Float inputs [n, features] and int64 labels [n] from a fixed linear rule."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, classes, generator=g)
    y = (x @ w).argmax(1)
    return x, y


def make_net(features: int = 5, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, classes))


def weights(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs"


QUIET = {"training_progress_reporting": None}

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    """The script ``examples/<name>.py`` imported as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in the script look their module up here
    spec.loader.exec_module(module)
    return module


# --- The real Fashion-MNIST ---------------------------------------------------------------------
# Tests that need it find it through NETTRAIN_DATA (a folder holding fashion-mnist/), read once
# here, before any test's own environment changes; .ci/run sets it to ../shared/datasets. On a
# machine without it they skip, saying so.
DATA_ROOT = Path(os.environ["NETTRAIN_DATA"]) if os.environ.get("NETTRAIN_DATA") else None
FASHION_MNIST = DATA_ROOT / "fashion-mnist" if DATA_ROOT is not None else None
needs_fashion_mnist = pytest.mark.skipif(
    FASHION_MNIST is None or not FASHION_MNIST.is_dir(),
    reason="the real Fashion-MNIST is not on this machine: set NETTRAIN_DATA to a folder "
    "holding fashion-mnist/ (.ci/run sets it to ../shared/datasets)",
)


@pytest.fixture
def problem():
    return make_classification()


# --- Named datasets ---------------------------------------------------------------------------


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """No environment, cache or system folder of this machine leaks into a dataset test."""
    monkeypatch.delenv("NETTRAIN_DATA", raising=False)
    monkeypatch.delenv("NETTRAIN_OFFLINE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(locate, "SYSTEM_ROOTS", [tmp_path / "system"])
    locate.clear_verified()
    yield
    locate.clear_verified()


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` as an uncompressed IDX file of unsigned bytes (type code 0x08)."""
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return head + array.astype(np.uint8).tobytes()


# --- No network in the test suite -------------------------------------------------------------
# Every test runs with outgoing connections limited to loopback (127.x, ::1, localhost) and Unix
# sockets: anything else raises at once, before any DNS lookup, so a test that would reach the
# internet fails loudly instead of hanging or depending on the network. The error is not an
# OSError, so code that catches network errors (mirror fall-back) cannot swallow it.
import ipaddress as _ipaddress  # noqa: E402
import socket as _socket  # noqa: E402


class NetworkAccessForbidden(RuntimeError):
    """A test tried to connect to a non-loopback address."""


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return _ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # any other host name would need a DNS lookup: refused


def _check_address(family: object, address: object) -> None:
    if family == getattr(_socket, "AF_UNIX", object()):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        raise NetworkAccessForbidden(f"network access is forbidden in tests: {address!r}")


_real_connect = _socket.socket.connect
_real_connect_ex = _socket.socket.connect_ex
_real_create_connection = _socket.create_connection


def _guarded_connect(self, address):  # type: ignore[no-untyped-def]
    _check_address(self.family, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):  # type: ignore[no-untyped-def]
    _check_address(self.family, address)
    return _real_connect_ex(self, address)


def _guarded_create_connection(address, *args, **kwargs):  # type: ignore[no-untyped-def]
    _check_address(_socket.AF_INET, address)
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_socket.socket, "connect", _guarded_connect)
        mp.setattr(_socket.socket, "connect_ex", _guarded_connect_ex)
        mp.setattr(_socket, "create_connection", _guarded_create_connection)
        yield


@pytest.fixture
def one_thread():
    """One intra-op CPU thread for the test: one reduction order, so that a resumed run and an
    uninterrupted one can be compared bit for bit. Modules that compare so use it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
