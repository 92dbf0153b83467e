"""Checkpoint files: round trips, damage and fallback to the previous generation, hostile files,
a full disk, and writers killed at random moments."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from nettrain.checkpoint import (
    FORMAT,
    checkpoint_name,
    clean_temporaries,
    previous_path,
    read_checkpoint,
    read_latest,
    write_checkpoint,
)
from nettrain.checkpoint import files as files_module
from nettrain.errors import NetTrainError, NetTrainWarning


def _raw(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(4, 6, generator=g)
    return {
        "f32": base,
        "f64": torch.randn(3, generator=g, dtype=torch.float64),
        "f16": base.half(),
        "bf16": base.bfloat16(),
        "i64": torch.tensor([-(2**62), 0, 2**62 + 1]),
        "i32": torch.arange(5, dtype=torch.int32),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([[True, False], [False, True]]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "nan": torch.tensor([float("nan"), float("inf")]),
        "transposed": base.t(),  # not contiguous
        "slice": base[1:3],  # shares base's memory
        "again": base,  # the same tensor twice
        "param": torch.nn.Parameter(torch.ones(2)),
        "rng": torch.get_rng_state(),
    }


META = {
    "counter": 7,
    "round": 2,
    "history": {"loss": [0.5, 0.25, None], "names": ["é", "ü"]},
    "flags": [True, False],
    "lr": 1e-3,
}


def _write(path: Path, counter: int, **kw: object) -> dict[str, torch.Tensor]:
    tensors = {"w": torch.full((3,), float(counter)), "step": torch.tensor(counter)}
    write_checkpoint(path, tensors, {"counter": counter}, **kw)
    return tensors


def test_round_trip_bitwise(tmp_path: Path) -> None:
    tensors = _tensors()
    path = write_checkpoint(tmp_path / "c.safetensors", tensors, META)
    checkpoint = read_checkpoint(path)
    assert checkpoint.meta == META and checkpoint.path == path
    assert set(checkpoint.tensors) == set(tensors)
    for name, t in tensors.items():
        got = checkpoint.tensors[name]
        assert got.dtype == t.dtype and got.shape == t.shape and got.device.type == "cpu"
        assert _raw(got) == _raw(t.detach()), name
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors"]  # no temporary file left


def test_checksum_is_as_documented(tmp_path: Path) -> None:
    from safetensors import safe_open

    path = write_checkpoint(tmp_path / "c.safetensors", _tensors(), META)
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    assert set(metadata) == {"format", "meta", "sha256"} and metadata["format"] == FORMAT

    def part(data: bytes) -> bytes:
        return len(data).to_bytes(8, "little") + data

    h = hashlib.sha256(part(FORMAT.encode()) + part(metadata["meta"].encode()))
    for name in sorted(tensors):
        t = tensors[name]
        head = [name, str(t.dtype).replace("torch.", ""), list(t.shape)]
        h.update(part(json.dumps(head, separators=(",", ":")).encode()) + part(_raw(t)))
    assert metadata["sha256"] == h.hexdigest()


def test_generations(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    for counter in (1, 2, 3):
        _write(path, counter)
    assert read_checkpoint(path).meta["counter"] == 3
    assert read_checkpoint(previous_path(path)).meta["counter"] == 2
    _write(path, 4, previous=False)
    assert read_checkpoint(previous_path(path)).meta["counter"] == 2


# ---- damage --------------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_data(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    path.write_bytes(bytes(data))


def _flip_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01
    path.write_bytes(bytes(data))


def _forge(**changes: str | None):
    def damage(path: Path) -> None:
        checkpoint = read_checkpoint(path)
        text = json.dumps(checkpoint.meta)
        metadata: dict[str, str | None] = {"format": FORMAT, "meta": text}
        metadata["sha256"] = files_module._digest(checkpoint.tensors, text)
        metadata.update(changes)
        if "meta" in changes and changes["meta"] is not None:  # a checksum that fits the forgery
            metadata["sha256"] = files_module._digest(checkpoint.tensors, changes["meta"])
        kept = {k: v for k, v in metadata.items() if v is not None}
        path.write_bytes(save(checkpoint.tensors, metadata=kept))

    return damage


DAMAGES = {
    "truncated": (_truncate, "safetensors|truncated"),
    "empty file": (lambda p: p.write_bytes(b""), "safetensors|truncated"),
    "bit flipped in the data": (_flip_data, "checksum"),
    "bit flipped in the header": (_flip_header, "checkpoint"),
    "wrong checksum": (_forge(sha256="0" * 64), "checksum"),
    "malformed checksum": (_forge(sha256="xyz"), "malformed checksum"),
    "missing checksum": (_forge(sha256=None), "'sha256'"),
    "missing meta": (_forge(meta=None), "'meta'"),
    "unknown key": (_forge(extra="1"), "unknown key"),
    "unknown format": (_forge(format="nettrain.checkpoint/99"), "unknown format"),
    "meta not JSON": (_forge(meta="{nope"), "not JSON"),
    "meta a list": (_forge(meta="[1, 2]"), "not a JSON object"),
    "counter a string": (_forge(meta='{"counter": "7"}'), "counter"),
    "counter a bool": (_forge(meta='{"counter": true}'), "counter"),
    "nested too deep": (_forge(meta='{"a": ' + "[" * 100 + "]" * 100 + "}"), "nested"),
    "nested past recursion": (_forge(meta='{"a": ' + "[" * 5000 + "]" * 5000 + "}"), "nested"),
    "deleted": (lambda p: p.unlink(), "does not exist"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_previous_generation_used_when_latest_damaged(tmp_path: Path, damage: str) -> None:
    hurt, problem = DAMAGES[damage]
    path = tmp_path / "c.safetensors"
    first = _write(path, 1)
    _write(path, 2)
    hurt(path)
    if path.exists():
        with pytest.raises(NetTrainError, match=problem) as info:
            read_checkpoint(path)
        assert info.value.argument == "resume" and str(path) in str(info.value)
    with pytest.warns(NetTrainWarning) as caught:
        checkpoint = read_latest(path)
    message = str(caught[0].message)
    assert str(path) in message and str(previous_path(path)) in message
    assert checkpoint.meta == {"counter": 1} and checkpoint.path == previous_path(path)
    assert all(torch.equal(checkpoint.tensors[k], v) for k, v in first.items())


def test_both_generations_damaged(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    _write(path, 1)
    _write(path, 2)
    _truncate(path)
    _flip_data(previous_path(path))
    with pytest.raises(NetTrainError, match="no valid checkpoint") as info:
        read_latest(path)
    assert str(path) in str(info.value) and str(previous_path(path)) in str(info.value)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_pickle_file_is_never_unpickled(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    if how == "pickle":
        path.write_bytes(pickle.dumps(_Evil(marker)))
    else:
        torch.save({"w": torch.ones(2), "x": _Evil(marker)}, path)
    with pytest.raises(NetTrainError, match="not a safetensors file") as info:
        read_checkpoint(path)
    assert info.value.argument == "resume" and str(path) in str(info.value)
    with pytest.raises(NetTrainError, match="no valid checkpoint"):
        read_latest(path)
    with pytest.raises(NetTrainError, match="no valid checkpoint"):
        read_latest(tmp_path)
    assert not marker.exists()


def test_net_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "net.safetensors"
    path.write_bytes(save({"w": torch.ones(1)}, metadata={"nettrain": "{}"}))
    with pytest.raises(NetTrainError, match=r"Net\.save"):
        read_checkpoint(path)
    with pytest.raises(NetTrainError, match="holds no checkpoint"):
        read_latest(tmp_path)


# ---- failed writes -------------------------------------------------------------------------------


def _full_disk(f, data):
    f.write(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("generations", [0, 1, 2])
def test_full_disk_keeps_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, generations: int
) -> None:
    path = tmp_path / "c.safetensors"
    for counter in range(1, generations + 1):
        _write(path, counter)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(files_module, "_write_all", _full_disk)
    with pytest.raises(NetTrainError) as info:
        _write(path, 9)
    message = str(info.value)
    assert info.value.argument == "training_progress_checkpointing"
    assert "No space left on device" in message
    kept = f"the previous checkpoint {str(path)!r} is kept" if generations else "no previous"
    assert kept in message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no .part left
    if generations:
        assert read_latest(path).meta["counter"] == generations


def test_failed_final_rename_names_prev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.safetensors"
    _write(path, 1)
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(files_module.os, "replace", replace)
    with pytest.raises(NetTrainError, match=r"c\.safetensors\.prev' is kept"):
        _write(path, 2)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors.prev"]
    with pytest.warns(NetTrainWarning, match="does not exist"):
        assert read_latest(path).meta["counter"] == 1


def test_bad_inputs_are_checkpointing_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    deep: list = []
    for _ in range(100):
        deep = [deep]
    for tensors, meta in [
        ({"w": torch.ones(1)}, {"a": deep}),
        ({"w": torch.ones(1)}, {"a": object()}),
        ({"w": torch.ones(1)}, {1: "int key"}),
        ({"w": [1.0]}, {}),
    ]:
        with pytest.raises(NetTrainError, match="no previous checkpoint") as info:
            write_checkpoint(path, tensors, meta)
        assert info.value.argument == "training_progress_checkpointing"
    with pytest.raises(NetTrainError, match="directory"):
        write_checkpoint(tmp_path, {}, {})
    assert list(tmp_path.iterdir()) == []


# ---- killed writers ------------------------------------------------------------------------------

WRITER = """
import os, sys, torch
from nettrain.checkpoint import write_checkpoint
for line in sys.stdin:
    folder, seed = line.split()
    pid = os.fork()
    if pid == 0:
        parent = os.getppid()
        big = torch.randn(500_000, generator=torch.Generator().manual_seed(int(seed)))
        path = os.path.join(folder, "c.safetensors")
        with open(os.path.join(folder, "done"), "a") as log:
            for counter in range(1, 100_000):
                if os.getppid() != parent:
                    break
                tensors = {"big": big, "counter": torch.tensor(counter)}
                write_checkpoint(path, tensors, {"counter": counter})
                log.write(f"{counter}\\n")
                log.flush()
        os._exit(0)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""


def _done(folder: Path) -> int:
    try:
        lines = (folder / "done").read_text().split()
    except FileNotFoundError:
        return 0
    return int(lines[-1]) if lines else 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and SIGKILL")
def test_writer_killed_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(13)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    assert proc.stdin is not None and proc.stdout is not None
    left_parts = between_renames = 0
    try:
        for run in range(12):
            folder = tmp_path / f"run{run}"
            folder.mkdir()
            proc.stdin.write(f"{folder} {run}\n")
            proc.stdin.flush()
            pid = int(proc.stdout.readline())
            while _done(folder) < 2:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.06))
            os.kill(pid, signal.SIGKILL)
            assert proc.stdout.readline().strip() == "reaped"
            last = _done(folder)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NetTrainWarning)  # killed between the renames
                checkpoint = read_latest(folder / "c.safetensors")
            assert checkpoint.meta["counter"] in (last, last + 1)
            assert checkpoint.tensors["counter"].item() == checkpoint.meta["counter"]
            left_parts += len(clean_temporaries(folder))
            assert not list(folder.glob(".*.part"))
            between_renames += not (folder / "c.safetensors").exists()
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    print(f"of 12 kills, {left_parts} left a temporary file, {between_renames} hit between renames")


# ---- directories, names, temporaries -------------------------------------------------------------


def test_directory_mode(tmp_path: Path) -> None:
    names = {}
    for counter in (1, 2, 3, 4):
        names[counter] = tmp_path / checkpoint_name(1e9, counter, counter, 10, 0.5, None)
        _write(names[counter], counter)
        os.utime(names[counter], (1e9 - counter * 100, 1e9 - counter * 100))  # older by time
    assert read_latest(tmp_path).meta["counter"] == 4
    _truncate(names[4])
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    (tmp_path / "net.safetensors").write_bytes(save({"w": torch.ones(1)}, {"nettrain": "{}"}))
    (tmp_path / "notes.txt").write_text("ignored")
    _write(tmp_path / ".c.safetensors.0123456789ab.part", 99)  # a temporary: never picked
    with pytest.warns(NetTrainWarning) as caught:
        checkpoint = read_latest(tmp_path)
    assert checkpoint.meta["counter"] == 3 and checkpoint.path == names[3]
    message = str(caught[0].message)
    assert str(names[4]) in message and "junk.safetensors" in message
    assert "net.safetensors" not in message and str(names[3]) in message
    assert clean_temporaries(tmp_path) == [tmp_path / ".c.safetensors.0123456789ab.part"]
    for counter in (1, 2, 3):
        _flip_data(names[counter])
    with pytest.raises(NetTrainError, match="no valid checkpoint") as info:
        read_latest(tmp_path)
    assert all(str(p) in str(info.value) for p in names.values())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NetTrainError, match="holds no checkpoint"):
        read_latest(empty)


def test_checkpoint_name() -> None:
    name = checkpoint_name(1796196665.0, 3, 2, 100, 0.42131, 0.44078)
    assert name == "2026-12-02T07-31-05_0003_round-2_batch-100_loss-0.4213_val-0.4408.safetensors"
    odd = checkpoint_name(0.0, 12345, 0, 0, float("nan"), None)
    assert odd.endswith("_12345_round-0_batch-0_loss-nan_val-none.safetensors")
    assert "inf" in checkpoint_name(0.0, 1, 0, 0, float("inf"), 2e7)
    names = [checkpoint_name(1e9, c, 1, 1, 1.0, None) for c in (10, 2, 1)]
    assert sorted(names) == names[::-1]
    assert not any(c in "".join(names) for c in ':*?"<>|\\/ ')
    with pytest.raises(NetTrainError):
        checkpoint_name(0.0, -1, 0, 0, 1.0, None)


def test_clean_temporaries_only_removes_ours(tmp_path: Path) -> None:
    ours = tmp_path / ".c.safetensors.a1b2c3d4e5f6.part"
    ours.write_bytes(b"half")
    others = [".c.safetensors.xyz.part", "c.safetensors.a1b2c3d4e5f6.part", ".hidden", "a.part"]
    for name in others:
        (tmp_path / name).write_bytes(b"keep")
    (tmp_path / ".d.0123456789ab.part").mkdir()
    assert clean_temporaries(tmp_path) == [ours]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, ".d.0123456789ab.part"])
    assert clean_temporaries(tmp_path / "missing") == []
