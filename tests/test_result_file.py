"""``TrainResult.save`` / ``TrainResult.load``: one safetensors file, no pickle (issue 13)."""

from __future__ import annotations

import ast
import json
import math
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import Tensor, nn

import nettrain
from conftest import QUIET, make_classification, make_net
from nettrain import Net, NetTrainError, TrainResult
from nettrain import result_file as rf

NET_KEYS = {"trained_net", "final_net", "training_net", "properties"}


def same(a: object, b: object) -> bool:
    """Equal, with the same types all the way down: floats and tensors bit for bit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Tensor):
        assert isinstance(b, Tensor)
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a.flatten().view(torch.uint8), b.flatten().view(torch.uint8))
        )
    if isinstance(a, float):
        assert isinstance(b, float)
        return (math.isnan(a) and math.isnan(b)) or struct.pack("d", a) == struct.pack("d", b)
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def assert_same_net(a: nn.Module, b: nn.Module, x: Tensor) -> None:
    wa, wb = a.state_dict(), b.state_dict()
    assert list(wa) == list(wb)
    assert all(same(wa[k], wb[k]) for k in wa)
    assert a.training == b.training
    assert type(a) is type(b)
    with torch.no_grad():
        ya, yb = (n.module(x) if isinstance(n, Net) else n(x) for n in (a, b))
    assert same(ya, yb)


@pytest.fixture(scope="module")
def run():
    x, y = make_classification(60)
    xv, yv = make_classification(30, seed=1)
    r, _ = nettrain.train(
        make_net(),
        (x, y),
        ["all", "example_losses"],
        validation_set=(xv, yv),
        max_training_rounds=3,
        batch_size=16,
        training_progress_measurements=["accuracy", "confusion_matrix", "roc_curve"],
        **QUIET,
    )
    return r, x


def test_a_result_round_trips_exactly(run, tmp_path):
    r, x = run
    path = r.save(tmp_path / "run.safetensors")
    assert path == tmp_path / "run.safetensors" and not list(tmp_path.glob(".*tmp*"))
    loaded = TrainResult.load(str(path))
    for key, value in r._values.items():
        if key not in NET_KEYS:
            assert same(value, loaded[key]), key
    roc = loaded.validation_measurements["roc_curve"]
    assert set(roc) == {0, 1, 2} and all(type(c) is tuple and len(c) == 3 for c in roc.values())
    assert loaded.validation_measurements["confusion_matrix"].dtype == torch.int64
    # one tensor held twice (the last round's measurements and the lists) is shared again
    last = loaded.round_measurements_lists["confusion_matrix"][-1]
    assert loaded.round_measurements["confusion_matrix"] is last
    assert r.final_net is not r.trained_net and loaded.final_net is not loaded.trained_net
    assert_same_net(r.trained_net, loaded.trained_net, x)
    assert_same_net(r.final_net, loaded.final_net, x)


def test_what_is_not_saved_is_unavailable_with_why(run, tmp_path):
    r, _ = run
    loaded = TrainResult.load(r.save(tmp_path / "run.safetensors"))
    expected = {
        "training_net": "not kept in a saved result: the TrainingNet",
        "batch_permutation": "not kept in a saved result: it is computed on demand",
        "batch_measurements_lists": "not recorded in this run",
    }
    for name, why in expected.items():
        with pytest.raises(NetTrainError, match=why) as info:
            loaded[name]
        assert info.value.argument == "prop" and name not in loaded.properties
    assert "loss_plot" in loaded and "final_plots" in loaded and "example_losses" in loaded
    with safe_open(str(tmp_path / "run.safetensors"), framework="pt") as f:
        document = json.loads(f.metadata()["nettrain_result"])
    assert set(document["not_saved"]) == set(expected)


def test_the_figures_are_drawn_again_from_the_loaded_values(run, tmp_path):
    pytest.importorskip("matplotlib")
    r, _ = run
    loaded = TrainResult.load(r.save(tmp_path / "run.safetensors"))
    assert set(loaded.final_plots) == set(r.final_plots)
    assert loaded.loss_plot.axes[0].get_xlabel() == r.loss_plot.axes[0].get_xlabel()
    again = TrainResult.load(r.save(tmp_path / "drawn.safetensors"))  # figures drawn already
    assert "loss_plot" in again and set(again.final_plots) == set(r.final_plots)


def test_one_net_stays_one_net_and_asked_for_lazy_values_are_kept(tmp_path):
    x, y = make_classification(40)
    r = nettrain.train(make_net(), (x, y), "all", max_training_rounds=2, batch_size=8, **QUIET)
    assert r.final_net is r.trained_net
    permutation = r.batch_permutation  # computed now: saved as the tensors it is
    loaded = TrainResult.load(r.save(tmp_path / "r.safetensors"))
    assert loaded.final_net is loaded.trained_net
    assert same(loaded.batch_permutation, permutation)
    assert_same_net(r.trained_net, loaded.trained_net, x)


def test_a_net_trained_on_raw_data_round_trips(tmp_path):
    x, y = make_classification(40, features=2, classes=2)
    labels = ["cat" if v else "dog" for v in y.tolist()]
    r = nettrain.train(nn.Linear(2, 2), (x, labels), "all", max_training_rounds=2, **QUIET)
    assert isinstance(r.trained_net, Net)
    loaded = TrainResult.load(r.save(tmp_path / "typed.safetensors"))
    assert isinstance(loaded.trained_net, Net) and loaded.final_net is loaded.trained_net
    assert loaded.trained_net(x[:6]) == r.trained_net(x[:6])
    assert loaded.trained_net(x[:6], "probabilities") == r.trained_net(x[:6], "probabilities")
    assert same(loaded.encoders, r.encoders) and same(
        loaded.skipped_training_data, r.skipped_training_data
    )
    assert_same_net(r.trained_net, loaded.trained_net, x)


class Custom(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = nn.Linear(5, width)
        self.register_buffer("scale", torch.tensor(2.0, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x) * self.scale.float()


def test_a_net_of_another_class_needs_modules(tmp_path):
    x, y = make_classification(40)
    r = nettrain.train(Custom(3), (x, y), "all", max_training_rounds=2, **QUIET)
    path = r.save(tmp_path / "custom.safetensors")
    with pytest.raises(NetTrainError, match="no module was given") as info:
        TrainResult.load(path)
    assert info.value.argument == "module"
    with pytest.raises(NetTrainError, match="do not fit"):
        TrainResult.load(path, modules={"trained_net": Custom(4)})
    with pytest.raises(NetTrainError) as info:
        TrainResult.load(path, modules={"tained_net": Custom(3)})
    assert info.value.argument == "modules"
    loaded = TrainResult.load(path, modules={"trained_net": Custom(3)})
    assert loaded.final_net is loaded.trained_net
    assert_same_net(r.trained_net, loaded.trained_net, x)


def test_plain_values_keep_their_types_and_others_are_named(tmp_path):
    shared = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    values = {
        "round_loss": -0.0,
        "round_loss_list": [math.nan, math.inf, -math.inf, 1e-310, 0.1],
        "loss_function": {"a": (1, (2.5, None), [True, "x"]), "$dict": {}},
        "weights_learning_rate_multipliers": {0: "zero", 1.5: shared, None: shared.T, True: 1},
        "example_losses": torch.tensor([1.0, math.nan], dtype=torch.bfloat16),
        "total_rounds": 10**30,
        "custom_thing": {"ok": 1, "f": len},
        "empty": [torch.zeros(0, 3, dtype=torch.bool), (), {}],
    }
    loaded = TrainResult.load(rf.save_result(TrainResult(values), tmp_path / "v.safetensors"))
    for key, value in values.items():
        if key != "custom_thing":
            assert same(value, loaded[key]), key
    multipliers = loaded.weights_learning_rate_multipliers
    assert multipliers[1.5] is not shared and torch.equal(multipliers[None], shared.T)
    with pytest.raises(NetTrainError, match=r"not kept .* builtin_function_or_method"):
        loaded["custom_thing"]


def forge(tmp_path: Path, source: Path, change) -> Path:
    """A copy of ``source`` whose description ``change(document)`` has rewritten."""
    with safe_open(str(source), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        document = json.loads(f.metadata()["nettrain_result"])
    text = change(document)
    forged = tmp_path / "forged.safetensors"
    forged.write_bytes(save(tensors, {"nettrain_result": text or json.dumps(document)}))
    return forged


def test_a_damaged_file_is_refused(run, tmp_path):
    r, _ = run
    path = r.save(tmp_path / "run.safetensors")
    data = path.read_bytes()
    cuts = [data[: len(data) // 2], data[:100], data[:5], b""]
    for i, cut in enumerate(cuts):
        (tmp_path / f"cut{i}").write_bytes(cut)
        with pytest.raises(NetTrainError) as info:
            TrainResult.load(tmp_path / f"cut{i}")
        assert info.value.argument == "path"

    def put(where: str, value: object):
        def change(d: dict) -> None:
            target = d
            *parts, last = where.split("/")
            for p in parts:
                target = target[int(p)] if isinstance(target, list) else target[p]
            target[last] = value

        return change

    changes = [
        lambda d: "{not json",
        lambda d: json.dumps(d).replace('"$float": "nan"', '"$float": NaN', 1) + " NaN",
        put("format", "nettrain.result/9"),
        put("values/round_loss", {"$eval": "__import__('os').system('true')"}),
        put("values/round_loss", {"$tensor": "values/999"}),
        put("values/round_loss", {"$tensor": "trained_net/0.weight"}),
        put("values/round_loss", {"$items": [[[1], 2]]}),
        put("values/round_loss", {"$float": "1e400"}),
        put("nets/trained_net/config/architecture", {"type": "class", "class": "os:system"}),
        put("nets/trained_net/kind", "pickle"),
        put("nets/trained_net/config/architecture/layers/0/type", "Evil"),
        put("nets/evil_net", {}),
        put("plots/evil_plot", {"x_label": "x"}),
        put("not_saved/round_loss", "forged"),
        put("values/deep", json.loads("[" * 200 + "]" * 200)),
        lambda d: d.pop("nets") and None,
    ]
    for change in changes:
        with pytest.raises(NetTrainError) as info:
            TrainResult.load(forge(tmp_path, path, change))
        assert info.value.argument in ("path", "module")
    net_file = Net(nn.Linear(2, 1)).save(tmp_path / "net.safetensors")
    with pytest.raises(NetTrainError, match="net file") as info:
        TrainResult.load(net_file)
    assert "Net.load" in str(info.value)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_pickle_is_refused_and_nothing_in_it_runs(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    crafted = tmp_path / "evil.safetensors"
    crafted.write_bytes(pickle.dumps(_Payload(marker)))
    torch.save({"x": _Payload(marker)}, tmp_path / "evil.pt")

    def refuse(*args, **kwargs):
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    for path in (crafted, tmp_path / "evil.pt"):
        with pytest.raises(NetTrainError, match="never unpickles") as info:
            TrainResult.load(path)
        assert info.value.argument == "path"
    assert not marker.exists()


def test_the_module_never_imports_pickle():
    tree = ast.parse(Path(rf.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"pickle", "_pickle", "dill", "marshal", "shelve", "cloudpickle"}
    code = ast.unparse(tree)
    assert "torch.load" not in code and "Unpickler" not in code and "eval(" not in code


def test_writing_is_atomic_and_a_bad_path_is_refused(run, tmp_path):
    r, _ = run
    target = tmp_path / "run.safetensors"
    target.write_bytes(b"old")
    r.save(target)
    assert TrainResult.load(target).total_rounds == r.total_rounds
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]
    for bad in (tmp_path, tmp_path / "missing" / "r.safetensors"):
        with pytest.raises(NetTrainError) as info:
            r.save(bad)
        assert info.value.argument == "path"
    with pytest.raises(NetTrainError, match="no such file"):
        TrainResult.load(tmp_path / "nothing.safetensors")
