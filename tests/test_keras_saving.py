"""``nettrain.keras.saving``: the whole model in one safetensors + JSON file, never pickled."""

from __future__ import annotations

import itertools
import json
import pickle
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from nettrain import Net, netfile, nets
from nettrain.errors import NetTrainError
from nettrain.keras.saving import KERAS_FORMAT, load_model, save_model

COMPILE = {"optimizer": {"name": "adam", "learning_rate": 0.001}, "loss": "mse", "metrics": []}


def trained_model() -> tuple[nn.Sequential, torch.optim.Adam, torch.Tensor, torch.Tensor]:
    """A small Sequential with BatchNorm statistics and Adam moments that are not their
    initial values (three steps taken)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.8, 0.99))
    x, y = torch.randn(16, 5), torch.randn(16, 2)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
    return net, opt, x, y


def step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    net.train()
    opt.zero_grad()
    nn.functional.mse_loss(net(x), y).backward()
    opt.step()


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]) for k in sa
    )


# ---- round trips -------------------------------------------------------------------------------


def test_sequential_round_trip_is_bit_exact_and_needs_no_code(tmp_path: Path) -> None:
    net, _, x, _ = trained_model()
    net.double()
    path = save_model(net, tmp_path / "m.safetensors", compile_config=COMPILE)
    loaded = load_model(path)
    assert loaded.module is not net and type(loaded.module) is nn.Sequential
    assert loaded.architecture["type"] == "Sequential" and loaded.function is None
    assert same_state(loaded.module, net)  # weights, running stats, num_batches_tracked, dtypes
    assert not loaded.module.training
    net.eval()
    assert torch.equal(loaded.module(x.double()), net(x.double()))
    assert loaded.compile_config == COMPILE
    assert loaded.optimizer_state is None and loaded.extra is None
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left


def test_optimizer_state_continues_exactly(tmp_path: Path) -> None:
    net, opt, x, y = trained_model()
    save_model(net, tmp_path / "m.safetensors", optimizer_state=opt)
    loaded = load_model(tmp_path / "m.safetensors")
    state = loaded.optimizer_state
    assert state is not None
    original = opt.state_dict()
    assert state["param_groups"] == original["param_groups"]  # tuples stay tuples
    assert isinstance(state["param_groups"][0]["betas"], tuple)
    assert sorted(state["state"]) == sorted(original["state"])  # int keys stay ints

    resumed = torch.optim.Adam(loaded.module.parameters(), lr=0.5)  # lr comes from the file
    resumed.load_state_dict(state)
    step(net, opt, x, y)
    step(loaded.module, resumed, x, y)
    assert same_state(loaded.module, net)


def test_sgd_momentum_and_a_state_dict_given_directly(tmp_path: Path) -> None:
    net = nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x, y = torch.randn(4, 3), torch.randn(4, 1)
    step(net, opt, x, y)
    save_model(net, tmp_path / "s.safetensors", optimizer_state=opt.state_dict())
    loaded = load_model(tmp_path / "s.safetensors")
    resumed = torch.optim.SGD(loaded.module.parameters(), lr=1.0)
    resumed.load_state_dict(loaded.optimizer_state)  # type: ignore[arg-type]
    step(net, opt, x, y)
    step(loaded.module, resumed, x, y)
    assert same_state(loaded.module, net)


def test_extra_and_non_finite_values(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    state = {"state": {}, "param_groups": [{"lr": float("inf"), "params": [0, 1], "x": None}]}
    save_model(net, tmp_path / "e.safetensors", optimizer_state=state, extra={"epochs": [1, 2]})
    loaded = load_model(tmp_path / "e.safetensors")
    assert loaded.extra == {"epochs": [1, 2]}
    assert loaded.optimizer_state == state


def test_built_in_nets_are_rebuilt(tmp_path: Path) -> None:
    for module in (nets.small_cnn(1, 28, 10), nets.resnet_small(3, 32, 10), nets.text_cnn(50)):
        path = save_model(module, tmp_path / "n.safetensors")
        assert same_state(load_model(path).module, module)


class NoArguments(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class NeedsArguments(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.layer = nn.Linear(2, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def build_net(width: int = 3) -> nn.Module:
    """A net builder, saved by name and handed back at load time."""
    return NeedsArguments(width)


def test_functions_rebuild_only_when_handed_over(tmp_path: Path) -> None:
    net = build_net(6)
    path = save_model(net, tmp_path / "f.safetensors", architecture=(build_net, {"width": 6}))
    loaded = load_model(path, builders=[build_net])
    assert loaded.function == f"{__name__}:build_net"
    assert isinstance(loaded.module, NeedsArguments) and same_state(loaded.module, net)
    renamed = load_model(path, builders={f"{__name__}:build_net": lambda width: build_net(width)})
    assert same_state(renamed.module, net)
    with pytest.raises(NetTrainError, match="which was not given") as info:
        load_model(path)  # the module is imported, yet nothing is called without consent
    assert info.value.argument == "builders" and "builders=[build_net]" in str(info.value)
    assert same_state(load_model(path, module=NeedsArguments(6)).module, net)

    by_name = save_model(net, tmp_path / "g.safetensors", architecture="nettrain_never_x:f")
    with pytest.raises(NetTrainError, match="not given"):
        load_model(by_name, builders=[build_net])
    assert "nettrain_never_x" not in sys.modules


def test_a_crafted_file_cannot_call_imported_functions(tmp_path: Path) -> None:
    called: list[object] = []
    path = save_model(nn.Linear(2, 2), tmp_path / "c.safetensors", architecture="os:system")
    with pytest.raises(NetTrainError, match="not given"):
        load_model(path, builders={"x:y": called.append})
    assert called == []


def test_builders_that_fail_or_are_not_functions(tmp_path: Path) -> None:
    path = save_model(build_net(3), tmp_path / "f.safetensors", architecture=build_net)
    spec = f"{__name__}:build_net"

    def fails() -> nn.Module:
        raise KeyError("oops")

    for builders, message in (
        ({spec: fails}, "got an unexpected|raised TypeError|raised KeyError"),
        ({spec: lambda: "not a module"}, "did not return a torch module"),
        ([nn.Linear(2, 2)], "must be the functions"),
        ([lambda: None], "must be the functions"),
    ):
        with pytest.raises(NetTrainError, match=message) as info:
            load_model(path, builders=builders)  # type: ignore[arg-type]
        assert info.value.argument == "builders"
    with pytest.raises(NetTrainError, match="architecture"):
        save_model(build_net(3), tmp_path / "h.safetensors", architecture=lambda: build_net())


def test_net_files_and_model_files_read_each_other(tmp_path: Path) -> None:
    net, _, _, _ = trained_model()
    Net(net).save(tmp_path / "net.safetensors")
    loaded = load_model(tmp_path / "net.safetensors")
    assert same_state(loaded.module, net) and loaded.compile_config is None
    save_model(net, tmp_path / "model.safetensors", compile_config=COMPILE)
    assert same_state(Net.load(tmp_path / "model.safetensors").module, net)


# ---- what the file is, and what it is not --------------------------------------------------------


def test_the_file_is_safetensors_and_json_only(tmp_path: Path) -> None:
    net, opt, _, _ = trained_model()
    data = save_model(
        net, tmp_path / "m.safetensors", compile_config=COMPILE, optimizer_state=opt
    ).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    # the tensors' byte ranges tile the rest of the file exactly: nothing else is in it
    spans = sorted(tuple(v["data_offsets"]) for v in tensors.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(data) - 8 - size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    metadata = header["__metadata__"]
    assert set(metadata) == {"nettrain", "nettrain.keras"}
    section = json.loads(metadata["nettrain.keras"])
    assert section["format"] == KERAS_FORMAT and section["compile"] == COMPILE
    assert all(k.startswith(".optimizer/") for k in tensors if k not in net.state_dict())
    assert data[:1] != b"\x80" and not data.startswith(b"PK")  # neither a pickle nor torch.save


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net, opt, _, _ = trained_model()
    path = save_model(net, tmp_path / "m.safetensors", optimizer_state=opt)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unpickling was attempted")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert same_state(load_model(path).module, net)


RAN: list[str] = []


class Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (RAN.append, ("the pickle ran",))


def test_pickles_are_refused_without_running(tmp_path: Path) -> None:
    torch.save({"model": Payload()}, tmp_path / "evil.pt")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload()))
    for name in ("evil.pt", "evil.pkl"):
        with pytest.raises(NetTrainError, match="not a nettrain net file") as info:
            load_model(tmp_path / name)
        assert info.value.argument == "path"
    assert RAN == []


def test_truncated_and_corrupt_files(tmp_path: Path) -> None:
    net, opt, _, _ = trained_model()
    data = save_model(net, tmp_path / "m.safetensors", optimizer_state=opt).read_bytes()
    cases = {
        "empty": b"",
        "short": data[:5],
        "half": data[: len(data) // 2],
        "one byte less": data[:-1],
        "noise": bytes(range(256)) * 4,
        "header cut": data[:8] + data[8:40],
    }
    for label, content in cases.items():
        target = tmp_path / f"{label}.safetensors"
        target.write_bytes(content)
        with pytest.raises(NetTrainError) as info:
            load_model(target)
        assert info.value.argument == "path", label
    with pytest.raises(NetTrainError, match="no such file"):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(NetTrainError, match="directory"):
        load_model(tmp_path)


def crafted(tmp_path: Path, section: Any, extra_tensors: dict[str, torch.Tensor]) -> Path:
    """A file with a valid net description and the given model section (tampered with)."""
    net = nn.Linear(2, 2)
    tensors = {**{k: v.detach() for k, v in net.state_dict().items()}, **extra_tensors}
    metadata = {"nettrain": json.dumps(Net(net).config())}
    if section is not None:
        metadata["nettrain.keras"] = section if isinstance(section, str) else json.dumps(section)
    return netfile.write(tmp_path / "c.safetensors", tensors, metadata)


def test_damaged_model_sections(tmp_path: Path) -> None:
    base = {
        "format": KERAS_FORMAT,
        "function": None,
        "compile": None,
        "optimizer": None,
        "extra": None,
    }
    one = {".optimizer/0": torch.zeros(2)}
    deep: Any = 0
    for _ in range(40):
        deep = [deep]
    cases: list[tuple[Any, dict[str, torch.Tensor], str]] = [
        ("{not json", {}, "is not JSON"),
        ({**base, "format": "nettrain.keras/99"}, {}, "unknown format"),
        ({**base, "surprise": 1}, {}, "is not a key"),
        ({**base, "compile": [1]}, {}, "must be an object"),
        ({**base, "function": "os:system"}, {}, "function"),
        ({**base, "optimizer": {"tensor": ".optimizer/9"}}, one, "tag"),
        ({**base, "optimizer": {"tensor": "weight"}}, {}, "tag"),  # not an optimizer tensor
        ({**base, "optimizer": {"dict": [[1]]}}, {}, "pair"),
        ({**base, "optimizer": {"dict": []}}, one, "belongs to nothing"),
        ({**base, "optimizer": [0]}, {}, "not a state_dict"),
        (base, one, "without its state"),
        ({**base, "optimizer": deep}, {}, "deep"),
    ]
    for section, tensors, message in cases:
        with pytest.raises(NetTrainError, match=message) as info:
            load_model(crafted(tmp_path, section, tensors))
        assert info.value.argument == "path", message


def test_bad_arguments_to_save(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    path = tmp_path / "m.safetensors"
    bad: list[tuple[dict[str, Any], str]] = [
        ({"compile_config": {"loss": object()}}, "compile_config"),
        ({"compile_config": {"lr": float("nan")}}, "compile_config"),
        ({"compile_config": ["adam"]}, "compile_config"),
        ({"extra": {"f": print}}, "extra"),
        ({"optimizer_state": 3}, "optimizer_state"),
        ({"optimizer_state": {"state": {(1, 2): 0}}}, "optimizer_state"),
        ({"optimizer_state": {"state": {0: {"f": print}}}}, "optimizer_state"),
        ({"architecture": "not a spec"}, "architecture"),
        ({"architecture": ("m:f", ["not", "kwargs"])}, "architecture"),
    ]
    for kwargs, argument in bad:
        with pytest.raises(NetTrainError) as info:
            save_model(net, path, **kwargs)
        assert info.value.argument == argument, kwargs
    assert not path.exists()
    with pytest.raises(NetTrainError, match="module"):
        save_model("net", path)  # type: ignore[arg-type]
    with pytest.raises(NetTrainError, match="directory"):
        save_model(net, tmp_path)


def test_lazy_modules(tmp_path: Path) -> None:
    with pytest.raises(NetTrainError, match="not built yet"):
        save_model(nn.Sequential(nn.LazyLinear(3)), tmp_path / "l.safetensors")
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    path = save_model(net, tmp_path / "l.safetensors")
    fresh = nn.Sequential(nn.LazyLinear(3), nn.LazyBatchNorm1d())
    assert same_state(load_model(path, module=fresh).module, net)  # built from the file
    with pytest.raises(NetTrainError, match="do not fit") as info:
        load_model(path, module=nn.Sequential(nn.LazyLinear(3), nn.LazyLinear(2)))
    assert info.value.argument == "module" and "key(s) in state_dict" in info.value.problem
