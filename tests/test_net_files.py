"""Net files: saving into bad places, killed saves, hostile files, and exact round trips.

A net file is untrusted input: every damaged or crafted description must be refused with a
``NetTrainError`` (argument "path") naming the field at fault, before anything is built, without
importing or unpickling anything, and without turning the file's text into advice.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from torch import nn

from nettrain import Net
from nettrain.coders import decoder, encoder
from nettrain.errors import NetTrainError
from nettrain.netfile import STALE_TEMP_SECONDS

TEMP = re.compile(r"\.net\.safetensors\.nettrain-tmp-[0-9a-f]{12}")


def _small() -> Net:
    module = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    return Net(module, outputs={"output": decoder("class", classes=("no", "yes"))})


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP.fullmatch(p.name))


# ---- saving into bad places ----------------------------------------------------------------------


def test_save_into_a_missing_folder_names_the_users_path(tmp_path) -> None:
    path = tmp_path / "no" / "such" / "net.safetensors"
    with pytest.raises(NetTrainError) as caught:
        _small().save(path)
    error = caught.value
    assert error.argument == "path"
    assert f"the folder {str(path.parent)!r} does not exist" in str(error)
    assert repr(str(path)) in str(error)
    assert "expected a file path in an existing folder" in str(error)
    assert "Fix: create it first" in str(error)
    assert "nettrain-tmp" not in str(error)


def test_save_to_a_directory_says_it_is_one(tmp_path) -> None:
    with pytest.raises(NetTrainError) as caught:
        _small().save(tmp_path)
    assert caught.value.argument == "path"
    assert "is a directory" in str(caught.value) and "Fix: add a file name" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_save_under_a_regular_file_fails_even_for_root(tmp_path) -> None:
    (tmp_path / "plain.txt").write_text("not a folder")
    path = tmp_path / "plain.txt" / "net.safetensors"
    with pytest.raises(NetTrainError) as caught:
        _small().save(path)
    assert caught.value.argument == "path"
    assert f"{str(tmp_path / 'plain.txt')!r} is a file, not a folder" in str(caught.value)
    assert repr(str(path)) in str(caught.value)
    assert "Fix: choose a path inside a folder" in str(caught.value)


def test_save_into_a_read_only_folder(tmp_path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        try:
            (folder / "probe").write_text("x")
        except PermissionError:
            pass
        else:
            pytest.skip("this user (root) may write in a read-only folder; see the test above")
        with pytest.raises(NetTrainError) as caught:
            _small().save(folder / "net.safetensors")
        error = caught.value
        assert error.argument == "path"
        assert f"cannot write in the folder {str(folder)!r}" in str(error)
        assert "Fix: choose a writable folder" in str(error)
        assert "nettrain-tmp" not in str(error)
    finally:
        folder.chmod(0o700)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch) -> None:
    path = _small().save(tmp_path / "net.safetensors")
    before = path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(NetTrainError) as caught:
        Net(nn.Linear(5, 5)).save(path)
    assert caught.value.argument == "path"
    assert "writing the net failed (No space left on device)" in str(caught.value)
    assert repr(str(path)) in str(caught.value) and "nettrain-tmp" not in str(caught.value)
    assert path.read_bytes() == before
    assert _temps(tmp_path) == []


def test_a_folder_the_system_refuses_to_write_in_even_for_root(tmp_path, monkeypatch) -> None:
    # what a read-only folder does to any user but root (or a read-only file system to root)
    real_open = os.open

    def refuse(path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(NetTrainError) as caught:
        _small().save(tmp_path / "net.safetensors")
    message = str(caught.value)
    assert caught.value.argument == "path"
    assert f"cannot write in the folder {str(tmp_path)!r} (Permission denied)" in message
    assert f"received {str(tmp_path / 'net.safetensors')!r}" in message
    assert "Fix: choose a writable folder" in message and "nettrain-tmp" not in message


def test_save_refuses_a_path_that_is_not_a_path() -> None:
    with pytest.raises(NetTrainError, match="path: must be the path of a file"):
        _small().save(3)  # type: ignore[arg-type]


# ---- temporary files of killed saves -------------------------------------------------------------


def test_stale_temporary_files_are_removed_and_young_ones_kept(tmp_path) -> None:
    old = tmp_path / ".net.safetensors.nettrain-tmp-0123456789ab"
    young = tmp_path / ".net.safetensors.nettrain-tmp-ba9876543210"
    other = tmp_path / ".other.safetensors.nettrain-tmp-0123456789ab"  # another target's
    lookalike = tmp_path / ".net.safetensors.nettrain-tmp-mine"  # not a name we make
    for file in (old, young, other, lookalike):
        file.write_bytes(b"partial")
    long_ago = time.time() - STALE_TEMP_SECONDS - 60
    for file in (old, other, lookalike):
        os.utime(file, (long_ago, long_ago))
    _small().save(tmp_path / "net.safetensors")
    assert not old.exists()
    assert young.exists() and other.exists() and lookalike.exists()
    assert Net.load(tmp_path / "net.safetensors").config() == _small().config()


_KILLED_SAVE = """
import os, sys, time
import torch
from nettrain import Net

def stall(fd):
    print("writing", flush=True)  # every byte is written: only the flush to disk is left
    time.sleep(60)

os.fsync = stall
Net(torch.nn.Linear(64, 64)).save(sys.argv[1])
"""


def test_a_killed_save_leaves_its_temporary_file_and_the_next_save_removes_it(tmp_path) -> None:
    target = tmp_path / "net.safetensors"
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVE, str(target)], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "writing\n"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    leftovers = _temps(tmp_path)
    assert len(leftovers) == 1 and not target.exists()
    leftover = tmp_path / leftovers[0]
    _small().save(target)  # a young leftover may be a save still running: it is kept
    assert leftover.exists()
    long_ago = time.time() - STALE_TEMP_SECONDS - 1
    os.utime(leftover, (long_ago, long_ago))
    _small().save(target)
    assert _temps(tmp_path) == [] and Net.load(target).config() == _small().config()


# ---- files that are not net files ----------------------------------------------------------------


def test_a_missing_file(tmp_path) -> None:
    with pytest.raises(NetTrainError) as caught:
        Net.load(tmp_path / "missing.safetensors")
    assert caught.value.argument == "path"
    assert str(caught.value).startswith("path: no such file")
    assert repr(str(tmp_path / "missing.safetensors")) in str(caught.value)


def test_a_directory(tmp_path) -> None:
    with pytest.raises(NetTrainError) as caught:
        Net.load(tmp_path)
    assert caught.value.argument == "path" and "path: is a directory" in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"junk" * 100, b"\xff" * 8 + b"{}"])
def test_bytes_that_are_not_safetensors(tmp_path, content) -> None:
    (tmp_path / "x.safetensors").write_bytes(content)
    with pytest.raises(NetTrainError) as caught:
        Net.load(tmp_path / "x.safetensors")
    assert caught.value.argument == "path"
    assert "is not a nettrain net file (safetensors)" in str(caught.value)


def test_a_safetensors_file_without_nettrains_description(tmp_path) -> None:
    save_file({"w": torch.zeros(2)}, tmp_path / "x.safetensors", metadata={"other": "tool"})
    with pytest.raises(NetTrainError) as caught:
        Net.load(tmp_path / "x.safetensors")
    assert caught.value.argument == "path"
    assert "without nettrain's description" in str(caught.value)


# ---- hostile descriptions ------------------------------------------------------------------------


def _good() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    net = _small()
    return net.config(), dict(net.module.state_dict())


def _layers(config: dict[str, Any]) -> list[Any]:
    return config["architecture"]["layers"]


def _set(path: str, value: Any) -> Any:
    """A change to the good description: ``value`` at a dotted ``path`` (list indices too)."""

    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        place: Any = config
        for part in parents:
            place = place[int(part)] if isinstance(place, list) else place[part]
        if isinstance(place, list):
            place[int(last)] = value
        else:
            place[last] = value

    return change


def _drop(key: str) -> Any:
    return lambda config: config.pop(key)


def _deep(config: dict[str, Any]) -> None:
    spec: Any = {"type": "Linear", "args": {"in_features": 2, "out_features": 3}}
    for _ in range(40):
        spec = {"type": "Sequential", "layers": [spec]}
    _layers(config)[0] = spec


LINEAR = {"in_features": 2, "out_features": 3, "bias": True}

# (change to the good description, the field named, what the message says)
HOSTILE = {
    "not JSON": ("{not json", "the description is not JSON", "expected a JSON object"),
    "JSON array": ("[1, 2]", "the description is not a JSON object", "received [1, 2]"),
    "JSON string": ('"net"', "the description is not a JSON object", "received 'net'"),
    "JSON nested 900 deep": (
        '{"format": "nettrain.net/1", "inputs": {"x": null}, "outputs": {"y": null}, '
        '"architecture": ' + "[" * 900 + "]" * 900 + "}",
        "architecture must be an object with a 'type'",
        "received [[[[",
    ),
    "no format": (_drop("format"), "format is missing", "expected 'nettrain.net/1'"),
    "future format": (_set("format", "nettrain.net/9"), "unknown nettrain file format", "/9"),
    "no architecture": (_drop("architecture"), "architecture is missing", "not a valid"),
    "no inputs": (_drop("inputs"), "inputs is missing", "not a valid"),
    "no outputs": (_drop("outputs"), "outputs is missing", "not a valid"),
    "unknown key": (_set("evil", 1), "'evil' is not a key of the description", "keys format"),
    "inputs a list": (_set("inputs", ["input"]), "inputs must be an object", "['input']"),
    "no input ports": (_set("inputs", {}), "inputs has no ports", "at least one port"),
    "architecture a string": (
        _set("architecture", "os.system"),
        "architecture must be an object with a 'type'",
        "received 'os.system'",
    ),
    "layers not a list": (
        _set("architecture.layers", {"0": 1}),
        "architecture.layers must be a list of layers",
        "expected a list",
    ),
    "unknown layer type": (
        _set("architecture.layers.2.type", "os.system"),
        "architecture.layers[2].type is not a layer type nettrain rebuilds",
        "received 'os.system'",
    ),
    "layer type not a string": (
        _set("architecture.layers.1.type", ["ReLU"]),
        "architecture.layers[1].type must be a layer type name",
        "received ['ReLU']",
    ),
    "unexpected layer argument": (
        _set("architecture.layers.0.args", {**LINEAR, "bogus": 1}),
        "architecture.layers[0].args.bogus is not an argument of Linear",
        "arguments: 'in_features', 'out_features', 'bias'",
    ),
    "negative size": (
        _set("architecture.layers.2.args.out_features", -3),
        "architecture.layers[2].args.out_features has a bad value",
        "expected an integer >= 1, received -3",
    ),
    "size as a string": (
        _set("architecture.layers.0.args.in_features", "2"),
        "architecture.layers[0].args.in_features has a bad value",
        "received '2'",
    ),
    "boolean as a size": (
        _set("architecture.layers.0.args.in_features", True),
        "architecture.layers[0].args.in_features has a bad value",
        "received True",
    ),
    "missing argument": (
        _set("architecture.layers.0.args", {"out_features": 3}),
        "architecture.layers[0].args.in_features is missing (Linear needs it)",
        "not a valid",
    ),
    "unknown entry field": (
        _set("architecture.layers.1.code", "import os"),
        "architecture.layers[1].code is not a field of this entry",
        "only 'type', 'args'",
    ),
    "nested Sequential with a bad entry": (
        _set("architecture.layers.1", {"type": "Sequential", "layers": [{"type": "ReLU"}, 5]}),
        "architecture.layers[1].layers[1] must be an object",
        "received 5",
    ),
    "nested class entry": (
        _set("architecture.layers.1", {"type": "class", "class": "os:system"}),
        "architecture.layers[1].type is not a layer type",
        "received 'class'",
    ),
    "too deep": (_deep, "nests Sequentials more than 32 deep", "not a valid"),
    "torch refuses the combination": (
        _set(
            "architecture.layers.0",
            {
                "type": "Conv2d",
                "args": {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2},
            },
        ),
        "architecture.layers[0].args Conv2d refuses these arguments",
        "in_channels must be divisible by groups",
    ),
    "unknown encoder kind": (
        _set("inputs.input", {"kind": "pickle"}),
        "inputs['input'].kind is not an encoder kind",
        "received 'pickle'",
    ),
    "encoder not an object": (
        _set("inputs.input", "tokens"),
        "inputs['input'] must be an encoder description",
        "received 'tokens'",
    ),
    "unknown encoder field": (
        _set("inputs.input", {"kind": "class", "classes": ["a"], "bogus": 1}),
        "inputs['input'].bogus is not a field of the class encoder",
        "fields 'classes', 'output', 'multilabel'",
    ),
    "encoder field of the wrong type": (
        _set("inputs.input", {"kind": "tokens", "vocabulary": "abc"}),
        "inputs['input'].vocabulary has a value of the wrong type",
        "received 'abc'",
    ),
    "encoder field with a bad value": (
        _set("inputs.input", {"kind": "tokens", "vocabulary": ["a"], "max_length": -1}),
        "inputs['input'].max_length must be a positive integer or None",
        "received -1",
    ),
    "unhashable class names": (
        _set("inputs.input", {"kind": "class", "classes": [{"a": 1}]}),
        "inputs['input'].classes has a value of the wrong type",
        "received [{'a': 1}]",
    ),
    "decoder with a bad choice": (
        _set("outputs.output.scores", "evil"),
        "outputs['output'].scores unknown value 'evil'",
        "expected one of 'logits'",
    ),
    "decoder without classes": (
        _set("outputs.output", {"kind": "class"}),
        "outputs['output'].classes is missing (a class decoder needs it)",
        "not a valid",
    ),
    "unknown decoder kind": (
        _set("outputs.output", {"kind": "eval"}),
        "outputs['output'].kind is not a decoder kind",
        "received 'eval'",
    ),
    "bad target encoder": (
        _set("targets", {"y": {"kind": "scalar", "normalize": "yes"}}),
        "targets['y'].normalize has a value of the wrong type",
        "received 'yes'",
    ),
    "example shape of an unknown port": (
        _set("example_shapes", {"other": [2]}),
        "example_shapes['other'] is not an input port",
        "not a valid",
    ),
    "example shape not a shape": (
        _set("example_shapes", {"input": [2, -1]}),
        "example_shapes['input'] must be a shape",
        "received [2, -1]",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_damaged_description_names_the_field_at_fault(tmp_path, case) -> None:
    change, field, says = HOSTILE[case]
    config, tensors = _good()
    if isinstance(change, str):
        text = change
    else:
        change(config)
        text = json.dumps(config)
    save_file(tensors, tmp_path / "x.safetensors", metadata={"nettrain": text})
    with pytest.raises(NetTrainError) as caught:
        Net.load(tmp_path / "x.safetensors")
    message = str(caught.value)
    assert caught.value.argument == "path"
    assert field in message
    assert says in message
    assert "did you mean" not in message.lower()  # nothing from the file becomes advice
    assert "\n" not in message and len(message) < 1200


def _crafted(tmp_path: Path, architecture: Any, tensors: dict[str, torch.Tensor]) -> Path:
    config, _ = _good()
    config["architecture"] = architecture
    path = tmp_path / "x.safetensors"
    save_file(tensors, path, metadata={"nettrain": json.dumps(config)})
    return path


def test_tensors_must_match_the_architecture_before_anything_is_allocated(tmp_path) -> None:
    # a terabyte of layer for 8 bytes of file: compared on the meta device, never allocated
    huge = {"type": "Linear", "args": {"in_features": 10**6, "out_features": 10**6}}
    path = _crafted(tmp_path, huge, {"weight": torch.zeros(2), "bias": torch.zeros(1)})
    with pytest.raises(NetTrainError) as caught:
        Net.load(path)
    assert caught.value.argument == "path"
    assert "the tensors do not match the architecture" in str(caught.value)
    assert "shape (2,), where the module's is (1000000, 1000000)" in str(caught.value)


def test_missing_and_extra_tensors(tmp_path) -> None:
    linear = {"type": "Linear", "args": {"in_features": 2, "out_features": 3}}
    path = _crafted(tmp_path, linear, {"weight": torch.zeros(3, 2)})
    with pytest.raises(NetTrainError, match=r"has no tensor 'bias'"):
        Net.load(path)
    extra = {"weight": torch.zeros(3, 2), "bias": torch.zeros(3), "evil": torch.zeros(1)}
    path = _crafted(tmp_path, linear, extra)
    with pytest.raises(NetTrainError, match=r"has a tensor 'evil' that the module does not"):
        Net.load(path)


def test_a_class_the_file_names_is_never_imported(tmp_path) -> None:
    crafted = {
        "type": "class",
        "class": "evil_module_nettrain_test:Net",
        "repr": "construct it as: os.system('rm -rf ~')",
    }
    path = _crafted(tmp_path, crafted, {})
    with pytest.raises(NetTrainError) as caught:
        Net.load(path)
    message = str(caught.value)
    assert caught.value.argument == "module"
    assert "is not among the modules imported" in message
    assert "received class 'evil_module_nettrain_test:Net' named in the file" in message
    assert "os.system" not in message  # the file's repr is never offered as advice
    assert "evil_module_nettrain_test" not in sys.modules


def test_a_class_path_naming_something_that_is_not_a_module_class(tmp_path) -> None:
    path = _crafted(tmp_path, {"type": "class", "class": "builtins:print"}, {})
    with pytest.raises(NetTrainError, match=r"the net's class is not an nn\.Module class"):
        Net.load(path)
    path = _crafted(tmp_path, {"type": "class", "class": "os.system('x')"}, {})
    with pytest.raises(NetTrainError, match=r"architecture.class must be a class path"):
        Net.load(path)


def test_long_hostile_text_is_quoted_cut_short(tmp_path) -> None:
    config, tensors = _good()
    _layers(config)[1]["type"] = "A" * 100_000
    _layers(config)[0]["args"] = {**LINEAR, "b\nc" * 1000: 1}
    save_file(tensors, tmp_path / "x.safetensors", metadata={"nettrain": json.dumps(config)})
    with pytest.raises(NetTrainError) as caught:
        Net.load(tmp_path / "x.safetensors")
    assert "architecture.layers[0].args['b\\nc" in str(caught.value)
    assert len(str(caught.value)) < 1000 and "\n" not in str(caught.value)


def test_a_function_encoder_is_not_rebuilt_and_its_name_is_not_advice(tmp_path) -> None:
    config, tensors = _good()
    config["inputs"] = {"input": {"kind": "function", "name": "__import__('os').system"}}
    save_file(tensors, tmp_path / "x.safetensors", metadata={"nettrain": json.dumps(config)})
    with pytest.raises(NetTrainError) as caught:
        Net.load(tmp_path / "x.safetensors")
    assert caught.value.argument == "path"
    assert "inputs['input'] is a function encoder" in str(caught.value)
    assert "__import__" not in str(caught.value)


# ---- exact round trips ---------------------------------------------------------------------------

ACTIVATIONS = [
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.SiLU,
    nn.Identity,
    lambda: nn.GELU(approximate="tanh"),
    lambda: nn.LeakyReLU(0.3),
    lambda: nn.ELU(alpha=0.7),
    lambda: nn.Softplus(beta=2.0, threshold=5.0),
    lambda: nn.Softmax(dim=-1),
    lambda: nn.LogSoftmax(dim=1),
]
sizes = st.integers(1, 5)


@st.composite
def vector_layers(draw: Any, width: int) -> tuple[list[nn.Module], int]:
    """Layers for ``[n, width]`` inputs, and the width they end with."""
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["linear", "batchnorm", "layernorm", "dropout", "act"]))
        if kind == "linear":
            out = draw(sizes)
            layers.append(nn.Linear(width, out, bias=draw(st.booleans())))
            width = out
        elif kind == "batchnorm":
            layers.append(nn.BatchNorm1d(width, momentum=draw(st.sampled_from([0.1, None]))))
        elif kind == "layernorm":
            layers.append(nn.LayerNorm(width, bias=draw(st.booleans())))
        elif kind == "dropout":
            layers.append(nn.Dropout(draw(st.floats(0, 1))))
        else:
            layers.append(draw(st.sampled_from(ACTIVATIONS))())
    return layers, width


@st.composite
def image_layers(draw: Any, channels: int, side: int) -> tuple[list[nn.Module], int]:
    """Conv-style layers for ``[n, channels, side, side]`` inputs, flattened to a width."""
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 3))):
        out = draw(sizes)
        kernel = draw(st.sampled_from([1, 3]))
        padding = draw(st.sampled_from([0, kernel // 2, "same"]))
        stride = 1 if padding == "same" else draw(st.sampled_from([1, 2]))
        if (side + 2 * (0 if padding == "same" else padding) - kernel) < 0:
            padding = "same"
            stride = 1
        mode = draw(st.sampled_from(["zeros", "replicate", "circular"]))
        layers.append(nn.Conv2d(channels, out, kernel, stride, padding, padding_mode=mode))
        side = side if padding == "same" else (side + 2 * padding - kernel) // stride + 1
        channels = out
        extra = draw(st.sampled_from(["none", "bn", "max", "avg", "drop", "act"]))
        if extra == "bn":
            layers.append(nn.BatchNorm2d(channels))
        elif extra in ("max", "avg") and side >= 2:
            ceil = draw(st.booleans())
            pool = nn.MaxPool2d(2, ceil_mode=ceil) if extra == "max" else nn.AvgPool2d(2)
            layers.append(pool)
            side = math.ceil(side / 2) if extra == "max" and ceil else side // 2
        elif extra == "drop":
            layers.append(nn.Dropout2d(0.5))
        elif extra == "act":
            layers.append(draw(st.sampled_from(ACTIVATIONS[:9]))())
    if draw(st.booleans()):
        pool = draw(st.sampled_from([nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d]))
        layers.append(pool((1, 1)))
        side = 1
    layers.append(nn.Flatten())
    return layers, channels * side * side


def _randomise(module: nn.Module, seed: int) -> None:
    """Every tensor random (positive variances), so a round trip cannot pass by luck."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point():
                values = torch.rand(tensor.shape, generator=g, dtype=torch.float64) + 0.5
                if "running_var" not in name:
                    values = torch.randn(tensor.shape, generator=g, dtype=torch.float64)
                tensor.copy_(values)
            else:
                tensor.fill_(int(torch.randint(0, 100, (1,), generator=g)))


def class_names(count: int) -> Any:
    """``count`` distinct class names: all strings or all integers."""
    return st.one_of(
        st.lists(st.text(max_size=6), min_size=count, max_size=count, unique=True),
        st.lists(st.integers(-1000, 1000), min_size=count, max_size=count, unique=True),
    )


@st.composite
def targets(draw: Any) -> dict[str, Any]:
    """Target encoders of every kind the files hold."""
    count = draw(st.integers(1, 4))
    floats = st.floats(-1e6, 1e6, allow_nan=False)
    return {
        "label": encoder("class", classes=draw(class_names(count))),
        "flag": encoder("boolean"),
        "size": encoder("scalar", normalize=True, mean=draw(floats), std=draw(st.floats(0.1, 9))),
    }


def _same(net: Net, loaded: Net, x: Any) -> None:
    assert loaded.config() == net.config()
    assert (loaded.inputs, loaded.outputs, loaded.targets) == (net.inputs, net.outputs, net.targets)
    saved, read = net.module.state_dict(), loaded.module.state_dict()
    assert list(saved) == list(read)
    for key in saved:
        assert saved[key].dtype == read[key].dtype, key
        assert torch.equal(saved[key], read[key]), key
    assert torch.equal(loaded(x, None), net(x, None))
    if next(iter(net.outputs.values())) is not None:
        assert loaded(x) == net(x)


def _round_trip(net: Net) -> Net:
    with tempfile.TemporaryDirectory() as folder:
        return Net.load(net.save(Path(folder) / "net.safetensors"))


FAST = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.data(), st.integers(1, 5), st.sampled_from([torch.float32, torch.float64]))
def test_vector_nets_round_trip_bit_for_bit(data, width, dtype) -> None:
    layers, out = data.draw(vector_layers(width))
    module = nn.Sequential(*layers).to(dtype)
    _randomise(module, data.draw(st.integers(0, 2**31)))
    output = decoder("class", classes=data.draw(class_names(out))) if out > 1 else None
    net = Net(module, outputs={"output": output}, targets=data.draw(targets()))
    x = torch.randn(4, width, dtype=dtype)
    _same(net, _round_trip(net), x)


@FAST
@given(st.data(), st.integers(1, 3), st.integers(1, 6))
def test_image_nets_round_trip_bit_for_bit(data, channels, side) -> None:
    layers, width = data.draw(image_layers(channels, side))
    classes = data.draw(st.integers(1, 4))
    module = nn.Sequential(*layers, nn.Linear(width, classes))
    _randomise(module, data.draw(st.integers(0, 2**31)))
    output = decoder("class", classes=data.draw(class_names(classes)))
    if classes == 1:
        output = decoder("boolean", threshold=data.draw(st.floats(0.05, 0.95)))
    net = Net(module, outputs={"output": output}, example_shapes={"input": (channels, side, side)})
    x = torch.randn(3, channels, side, side)
    _same(net, _round_trip(net), x)


@FAST
@given(st.data(), st.sampled_from(["tokens", "characters"]), st.integers(1, 4))
def test_text_nets_and_their_fitted_vocabularies_round_trip(data, kind, dim) -> None:
    texts = data.draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6))
    fitted = encoder(kind).fit(texts)
    rows = len(fitted.vocabulary or ()) + 2  # ids 0 and 1: padding and unknown
    module = nn.Sequential(
        nn.Embedding(rows, dim, padding_idx=data.draw(st.sampled_from([None, 0]))),
        nn.LayerNorm(dim),
        nn.Linear(dim, 1),
        nn.Flatten(),  # [n, L]: one score per token
        nn.AdaptiveAvgPool1d(2),  # [n, 2] whatever the length: the two class scores
    )
    _randomise(module, data.draw(st.integers(0, 2**31)))
    names = data.draw(class_names(2))
    net = Net(module, inputs={"input": fitted}, outputs={"output": decoder("class", classes=names)})
    loaded = _round_trip(net)
    assert loaded.inputs["input"].vocabulary == fitted.vocabulary
    _same(net, loaded, [*texts, "never seen"])


def test_a_described_layers_every_argument_survives() -> None:
    # arguments that change the outputs but not the tensors must be in the file too
    module = nn.Sequential(
        nn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2, padding_mode="circular"),
        nn.MaxPool1d(2, ceil_mode=True),
        nn.AvgPool1d(2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.AdaptiveAvgPool1d(3),
        nn.Flatten(),
        nn.Softplus(beta=3.0, threshold=2.0),
    )
    net = Net(module)
    loaded = _round_trip(net)
    assert repr(loaded.module) == repr(module)
    _same(net, loaded, torch.randn(2, 2, 11))
    embedding = nn.Embedding(4, 2, padding_idx=1, max_norm=1.5, norm_type=1.0)
    assert repr(_round_trip(Net(embedding)).module) == repr(embedding)
