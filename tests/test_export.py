"""ONNX export: ``export_onnx``, ``Net.export`` and ``nettrain export``, checked by running the
written file in onnxruntime on batch sizes other than the one traced."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import nettrain
from nettrain import Net, NetTrainError
from nettrain.cli import main
from nettrain.export import export_onnx, sample_inputs

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 3))


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )


def _run(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x.numpy()})[0]


def _expected(module: nn.Module, x: torch.Tensor) -> np.ndarray:
    was = module.training
    module.eval()
    with torch.no_grad():
        out = module(x).numpy()
    module.train(was)
    return out


def _state(module: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool]]:
    weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
    return weights, [m.training for m in module.modules()]


def _assert_unchanged(
    module: nn.Module, before: tuple[dict[str, torch.Tensor], list[bool]]
) -> None:
    weights, modes = _state(module)
    assert weights.keys() == before[0].keys()
    for k, v in weights.items():
        assert v.dtype == before[0][k].dtype and v.device == before[0][k].device
        assert torch.equal(v, before[0][k]), k  # bitwise
    assert modes == before[1]


@pytest.mark.parametrize(("make", "example"), [(_mlp, (5,)), (_cnn, (1, 8, 8))], ids=["mlp", "cnn"])
def test_exported_module_matches_on_other_batch_sizes_and_is_left_unchanged(
    tmp_path, make, example
) -> None:
    module = make()
    module.train()
    module[2].eval()  # a mixed mode must come back as it was, too
    before = _state(module)
    path = export_onnx(module, tmp_path / "model.onnx", sample=(1, *example))
    assert path == tmp_path / "model.onnx" and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left
    _assert_unchanged(module, before)
    for batch in (1, 7):
        x = torch.randn(batch, *example)
        np.testing.assert_allclose(_run(path, x), _expected(module, x), rtol=1e-5, atol=1e-5)


def test_the_input_shape_of_a_first_linear_layer_needs_no_sample(tmp_path) -> None:
    module = _mlp()
    path = export_onnx(module, tmp_path / "mlp.onnx")
    x = torch.randn(4, 5)
    np.testing.assert_allclose(_run(path, x), _expected(module, x), rtol=1e-5, atol=1e-5)


def test_a_fixed_batch(tmp_path) -> None:
    module = _cnn()
    path = export_onnx(
        module, tmp_path / "cnn.onnx", sample=torch.randn(3, 1, 8, 8), dynamic_batch=False
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [3, 1, 8, 8]


@pytest.fixture(scope="module")
def trained_net() -> Net:
    """A net from a short training run on raw data: float images and class names."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(40, 1, 8, 8, generator=g)
    labels = [("dark", "grey", "bright")[int(im.mean() * 3)] for im in images]
    labels[:3] = ["dark", "grey", "bright"]  # every class, whatever the means
    net = nettrain.train(
        _cnn(), (images, labels), max_training_rounds=2, training_progress_reporting=None
    )
    assert isinstance(net, Net) and net.example_shapes == {"input": (1, 8, 8)}
    return net


def test_a_trained_net_exports_its_module_from_the_shape_it_recorded(tmp_path, trained_net) -> None:
    net = trained_net
    net.module.train()
    before = _state(net.module)
    path = net.export(tmp_path / "net.onnx")
    _assert_unchanged(net.module, before)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    for batch in (2, 5):
        x = torch.rand(batch, 1, 8, 8)
        (out,) = session.run(None, {"input": x.numpy()})
        np.testing.assert_allclose(out, net(x, None).numpy(), rtol=1e-5, atol=1e-5)
    net.eval()


def test_without_the_extra_the_message_says_how_to_install_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(NetTrainError, match=r"onnx.*not installed.*nettrain\[onnx\]"):
        export_onnx(_mlp(), tmp_path / "mlp.onnx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("path", "problem"),
    [("", "is a directory"), (".", "is a directory"), ("missing/m.onnx", "does not exist")],
)
def test_a_bad_path(tmp_path, monkeypatch, path, problem) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NetTrainError, match=problem) as info:
        export_onnx(_mlp(), path)
    assert info.value.argument == "path"
    with pytest.raises(NetTrainError, match="file path"):
        export_onnx(_mlp(), 3)  # type: ignore[arg-type]


def test_an_unknown_input_shape_asks_for_a_sample(tmp_path) -> None:
    with pytest.raises(NetTrainError, match=r"sample=") as info:
        export_onnx(_cnn(), tmp_path / "cnn.onnx")
    assert info.value.argument == "sample"
    with pytest.raises(NetTrainError, match="cannot run on it") as info:
        export_onnx(_cnn(), tmp_path / "cnn.onnx", sample=(1, 3, 8, 8))
    assert info.value.argument == "sample"
    assert not list(tmp_path.iterdir())


def test_sample_inputs_are_batches_of_the_recorded_shape(trained_net) -> None:
    (x,) = sample_inputs(trained_net, 3)
    assert x.shape == (3, 1, 8, 8) and x.dtype == torch.float32


def test_the_command_exports_a_saved_net(tmp_path, capsys, trained_net) -> None:
    netfile = trained_net.save(tmp_path / "net.safetensors")
    out = tmp_path / "net.onnx"
    assert main(["export", str(netfile), str(out)]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    x = torch.rand(3, 1, 8, 8)
    np.testing.assert_allclose(_run(out, x), trained_net(x, None).numpy(), rtol=1e-5, atol=1e-5)

    fixed = tmp_path / "fixed.onnx"
    assert main(["export", str(netfile), str(fixed), "--batch", "4"]) == 0
    assert "batch size 4" in capsys.readouterr().out
    session = ort.InferenceSession(str(fixed), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [4, 1, 8, 8]


def test_the_command_reports_problems_with_status_2(tmp_path, capsys) -> None:
    plain = Net(_cnn()).save(tmp_path / "plain.safetensors")  # no recorded input shape
    assert main(["export", str(plain), str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err
    assert "nettrain export: error: --shape:" in err and "Traceback" not in err
    assert main(["export", str(plain), str(tmp_path / "p.onnx"), "--shape", "1,8,8"]) == 0
    capsys.readouterr()

    assert main(["export", str(tmp_path / "none.safetensors"), str(tmp_path / "p.onnx")]) == 2
    assert "nettrain export: error: NETFILE" in capsys.readouterr().err
    missing = tmp_path / "no" / "p.onnx"
    assert main(["export", str(plain), str(missing), "--shape", "1,8,8"]) == 2
    assert "nettrain export: error: OUT.onnx: the folder" in capsys.readouterr().err
    assert main(["export", str(plain), str(tmp_path / "p.onnx"), "--batch", "0"]) == 2
    assert "--batch" in capsys.readouterr().err
