"""Every user mistake on the ``nettrain`` command line: exit status 2 and one paragraph on stderr.

The paragraph is ``nettrain <command>: error: <argument>: ...`` on one line, never a traceback,
naming the argument as typed (``--net``, ``NETFILE``, ``--output``...). Everything runs offline on
the embedded Digits dataset, in a temporary folder.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from nettrain import Net, nets
from nettrain.cli import main
from nettrain.coders import decoder, encoder

FAST = ["--rounds", "1", "--reporting", "none"]

USER_NETS = """
import torch.nn as nn

NOT_CALLABLE = 3

def tiny(classes, image_size):
    return nn.Sequential(nn.Flatten(), nn.Linear(image_size ** 2, classes))

def boom():
    raise RuntimeError("first line\\nsecond line")

def text():
    return "a net"

def wrong_inputs(classes):
    return nn.Linear(3, classes)

def needs_depth(depth, classes):
    return nn.Linear(64, classes)
"""


@pytest.fixture(autouse=True)
def _offline_in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NETTRAIN_OFFLINE", "1")
    monkeypatch.setenv("NETTRAIN_DATA", str(tmp_path / "data"))  # empty: only Digits exists
    (tmp_path / "user_nets.py").write_text(USER_NETS)
    (tmp_path / "broken_nets.py").write_text("1 / 0\n")
    yield
    for name in ("user_nets", "broken_nets"):
        sys.modules.pop(name, None)


@pytest.fixture
def digits_file(tmp_path) -> str:
    """An (untrained) Digits net saved as ``nettrain train`` saves one."""
    net = Net(
        nets.make("mlp", "Digits"),
        inputs={"input": encoder("image", size=(8, 8), color_space="grayscale")},
        outputs={"output": decoder("class", classes=tuple("0123456789"))},
    )
    return str(net.save(tmp_path / "digits.safetensors"))


def _error(capsys, args: list[str]) -> tuple[str, str]:
    """Run the command; check status 2 and one paragraph; return stdout and the paragraph."""
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"nettrain {args[0]}: error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, err  # one paragraph, one line
    assert "Traceback" not in err
    return out, err


# ---- --net ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net", "says"),
    [
        (
            "json:dumps",
            "--net: 'json:dumps' needs the argument 'obj', which nettrain does not give",
        ),
        ("user_nets:needs_depth", "needs the argument 'depth'"),
        ("no_such_module_xyz:build", "there is no module 'no_such_module_xyz'"),
        ("user_nets:tinny", "--net: cannot import 'user_nets:tinny': 'user_nets' has no 'tinny'"),
        ("user_nets:NOT_CALLABLE", "--net: 'user_nets:NOT_CALLABLE' is not callable"),
        ("user_nets:text", "did not return a torch module; expected an nn.Module, received str"),
        ("broken_nets:build", "--net: importing 'broken_nets' raised ZeroDivisionError"),
        ("user_nets:", "is not a net name nor of the form module:function"),
        ("small-cn", "--net: unknown net 'small-cn'; did you mean 'small-cnn'?"),
    ],
)
def test_a_net_that_cannot_be_built(capsys, net, says) -> None:
    out, err = _error(capsys, ["train", "Digits", *FAST, "--net", net])
    assert says in err
    assert "parameters" not in out  # nothing was announced


def test_a_close_name_in_the_users_module_is_suggested(capsys) -> None:
    _, err = _error(capsys, ["train", "Digits", *FAST, "--net", "user_nets:tinny"])
    assert "Fix: did you mean 'tiny'?" in err


def test_a_users_function_that_raises_is_named_with_its_message_on_one_line(capsys) -> None:
    _, err = _error(capsys, ["train", "Digits", *FAST, "--net", "user_nets:boom"])
    assert "--net: 'user_nets:boom' raised RuntimeError: first line second line." in err


def test_a_net_that_cannot_take_the_datasets_inputs(capsys) -> None:
    _, err = _error(capsys, ["train", "Digits", *FAST, "--net", "user_nets:wrong_inputs"])
    assert "the net cannot take the data's inputs" in err
    assert "mat1 and mat2 shapes cannot be multiplied" in err


# ---- DATASET, --time-goal, --output --------------------------------------------------------------


def test_an_unknown_dataset_suggests_a_close_one(capsys, digits_file) -> None:
    _, err = _error(capsys, ["train", "Digitz", *FAST])
    assert "DATASET: unknown dataset 'Digitz'" in err and "did you mean 'Digits'?" in err
    _, err = _error(capsys, ["evaluate", digits_file, "Digitz"])
    assert "DATASET: unknown dataset 'Digitz'" in err and "did you mean 'Digits'?" in err


@pytest.mark.parametrize(
    ("goal", "says"),
    [("soon", "--time-goal: could not"), ("-5", "--time-goal: must be positive")],
)
def test_a_time_goal_that_cannot_be_read(capsys, goal, says) -> None:
    _, err = _error(capsys, ["train", "Digits", *FAST, "--time-goal", goal])
    assert says in err


def test_an_output_that_is_a_directory_is_refused_before_training(capsys, tmp_path) -> None:
    (tmp_path / "out").mkdir()
    out, err = _error(capsys, ["train", "Digits", *FAST, "--output", "out"])
    assert "--output: 'out' is a directory" in err and "Fix: add a file name" in err
    assert "parameters" not in out


def test_an_output_under_a_file_is_refused_before_training(capsys, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("a file")
    out, err = _error(capsys, ["train", "Digits", *FAST, "--output", "notes.txt/sub/net.st"])
    assert "--output: 'notes.txt' is a file, not a folder" in err
    assert "parameters" not in out
    assert not (tmp_path / "notes.txt").is_dir()


# ---- NETFILE and INPUTS --------------------------------------------------------------------------


def test_a_netfile_that_does_not_exist(capsys) -> None:
    _, err = _error(capsys, ["evaluate", "missing.safetensors", "Digits"])
    assert "NETFILE: no such file" in err and "'missing.safetensors'" in err


def test_a_netfile_that_is_a_directory(capsys, tmp_path) -> None:
    (tmp_path / "folder").mkdir()
    _, err = _error(capsys, ["predict", "folder", "x.png"])
    assert "NETFILE: is a directory" in err


def test_a_corrupt_netfile(capsys, tmp_path) -> None:
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04 not a net at all")
    _, err = _error(capsys, ["evaluate", "junk.safetensors", "Digits"])
    assert "NETFILE: is not a nettrain net file (safetensors)" in err


def test_a_netfile_with_a_damaged_description(capsys, tmp_path, digits_file) -> None:
    from safetensors.torch import load_file, safe_open

    with safe_open(digits_file, framework="pt") as f:
        config = json.loads(f.metadata()["nettrain"])
    config["architecture"]["layers"][1]["type"] = "os:system"
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(digits_file), bad, metadata={"nettrain": json.dumps(config)})
    _, err = _error(capsys, ["evaluate", str(bad), "Digits"])
    assert "NETFILE: " in err and "is not a valid net file" in err
    assert "architecture.layers[1].type is not a layer type nettrain rebuilds" in err


def test_inputs_the_net_cannot_read(capsys, tmp_path, digits_file) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    _, err = _error(capsys, ["predict", digits_file, "notes.txt"])
    assert "INPUTS: 'notes.txt': the 'input' encoder could not read this value" in err


def test_a_genuine_bug_still_shows_its_traceback(monkeypatch, digits_file) -> None:
    # only mistakes nettrain can explain become a paragraph; anything else is a bug to see
    import nettrain.cli.commands as commands

    def broken(net, split):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(commands, "score", broken)
    with pytest.raises(ZeroDivisionError):
        main(["evaluate", digits_file, "Digits"])


def test_class_scores_use_the_nets_own_probabilities() -> None:
    from nettrain.cli.common import class_scores

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(2, 3), nn.LogSoftmax(dim=-1))
    x = torch.randn(4, 2)
    scores = decoder("class", classes=("a", "b", "c"), scores="log_probabilities")
    probabilities, classes = class_scores(Net(module, outputs={"output": scores}), x.tolist())
    assert classes == ["a", "b", "c"]
    assert torch.allclose(probabilities, module(x).exp().double())
    bare = Net(nn.Sequential(nn.Linear(2, 3)))  # no class decoder: the raw outputs are logits
    probabilities, classes = class_scores(bare, x.tolist())
    assert classes == [0, 1, 2]
    assert torch.allclose(probabilities, torch.softmax(bare.module(x), -1))
