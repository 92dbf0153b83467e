"""The ``nettrain`` command: each subcommand's happy path and its bad-argument path.

Everything runs offline on the embedded Digits dataset, in a temporary folder. ``main([...])`` is
called in-process (fast); one test runs the installed command for real, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nettrain import Net, nets
from nettrain.cli import main
from nettrain.coders import decoder, encoder
from nettrain.datasets import load

FAST = ["--rounds", "3", "--reporting", "none"]


@pytest.fixture(autouse=True)
def _offline_in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NETTRAIN_OFFLINE", "1")
    monkeypatch.setenv("NETTRAIN_DATA", str(tmp_path / "data"))  # empty: only Digits exists


@pytest.fixture(scope="module")
def digits_net(tmp_path_factory) -> Path:
    """A net trained by the command on Digits, shared by the evaluate and predict tests."""
    path = tmp_path_factory.mktemp("net") / "digits.safetensors"
    assert main(["train", "Digits", *FAST, "--rounds", "20", "--output", str(path)]) == 0
    return path


@pytest.fixture
def text_net(tmp_path) -> Path:
    """A (barely trained) text net saved as `nettrain train MovieReview` would save it."""
    texts = ["good fun film", "a great joy", "bad dull film", "an awful bore"] * 5
    tokens = encoder("tokens").fit(texts)
    module = nets.make("text-cnn", "MovieReview", vocabulary=len(tokens.vocabulary or ()) + 2)
    net = Net(
        module,
        inputs={"input": tokens},
        outputs={"output": decoder("class", classes=("negative", "positive"))},
    )
    return net.save(tmp_path / "text.safetensors")


def _accuracy(text: str) -> float:
    match = re.search(r"test accuracy: ([\d.]+)%", text)
    assert match, text
    return float(match.group(1))


# ---- train ---------------------------------------------------------------------------------------


def test_train_writes_the_net_and_a_summary_and_prints_the_accuracy(capsys, tmp_path) -> None:
    assert main(["train", "Digits", *FAST]) == 0
    out = capsys.readouterr().out
    assert "nettrain train: Digits with mlp (19,210 parameters); validation: the test split." in out
    assert _accuracy(out) > 50
    assert "net written to Digits-mlp.safetensors" in out
    assert "summary written to Digits-mlp.json" in out
    summary = json.loads((tmp_path / "Digits-mlp.json").read_text())
    assert summary["dataset"] == "Digits" and summary["net"] == "mlp"
    assert summary["rounds"] == 3 and summary["reason_training_stopped"] == "max_training_rounds"
    assert 1 <= summary["cpu_threads"] <= torch.get_num_threads()
    assert summary["working_precision"] == "float32" and summary["memory_format"] == "contiguous"
    assert summary["test_examples"] == len(load("Digits", "test"))
    assert 0.5 < summary["test_accuracy"] <= 1 and summary["test_loss"] > 0
    for key in ("time_s", "examples_per_second", "final_training_loss", "final_validation_loss"):
        assert summary[key] > 0, key
    net = Net.load(tmp_path / "Digits-mlp.safetensors")
    image = load("Digits", "test").inputs[0]
    assert net(image) in [str(d) for d in range(10)]


def test_train_never_replaces_an_earlier_runs_files_unless_told(capsys, tmp_path) -> None:
    assert main(["train", "Digits", *FAST]) == 0
    first = (tmp_path / "Digits-mlp.safetensors").read_bytes()
    first_summary = (tmp_path / "Digits-mlp.json").read_text()
    assert main(["train", "Digits", *FAST, "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "net written to Digits-mlp-2.safetensors" in out
    assert "summary written to Digits-mlp-2.json" in out
    assert (tmp_path / "Digits-mlp.safetensors").read_bytes() == first  # untouched
    assert (tmp_path / "Digits-mlp.json").read_text() == first_summary
    assert (
        json.loads((tmp_path / "Digits-mlp-2.json").read_text())["options"]["random_seeding"] == 5
    )
    # a path given with --output is the user's choice: it is replaced, and nothing else is left
    assert (
        main(["train", "Digits", *FAST, "--seed", "7", "--output", "Digits-mlp.safetensors"]) == 0
    )
    assert (tmp_path / "Digits-mlp.safetensors").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "Digits-mlp-2.json",
        "Digits-mlp-2.safetensors",
        "Digits-mlp.json",
        "Digits-mlp.safetensors",
    ]


def test_train_takes_every_option(capsys, tmp_path) -> None:
    args = [
        "train",
        "digits",
        "--net",
        "Small-CNN",
        "--rounds",
        "2",
        "--time-goal",
        "1 min",
        "--batch-size",
        "32",
        "--method",
        "sgd",
        "--learning-rate",
        "0.05",
        "--validation",
        "0.2",
        "--device",
        "cpu",
        "--seed",
        "7",
        "--reporting",
        "print",
        "--output",
        "out/net.safetensors",
        "--data-dir",
        str(tmp_path),
        "--offline",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "validation: 20% of the training split" in out
    summary = json.loads((tmp_path / "out" / "net.json").read_text())
    assert summary["net"] == "small-cnn" and summary["batch_size"] == 32
    assert summary["options"]["method"] == "sgd" and summary["options"]["random_seeding"] == 7
    assert (tmp_path / "out" / "net.safetensors").is_file()
    # --data-dir and --offline travel as arguments: the environment is never changed
    assert os.environ.get("NETTRAIN_DATA") == str(tmp_path / "data")


def test_train_checkpoints_and_the_same_command_resumes_a_killed_run(capsys, tmp_path) -> None:
    """--checkpoint DIR writes checkpoints (every 10 batches here); after a kill, the same command
    with --resume goes on from the latest and writes the very net the whole run writes."""
    every = ["--checkpoint", "ck", "--checkpoint-every", "10 batches", "--resume"]
    assert main(["train", "Digits", *FAST, *every, "--output", "whole.safetensors"]) == 0
    assert "no checkpoint in 'ck' yet: a new run" in capsys.readouterr().err
    files = sorted((tmp_path / "ck").iterdir())
    assert len(files) == 6  # 69 batches
    for name in files[2:]:
        name.unlink()  # killed after batch 20
    assert main(["train", "Digits", *FAST, *every, "--output", "again.safetensors"]) == 0
    whole, again = Net.load("whole.safetensors"), Net.load("again.safetensors")
    pairs = zip(whole.module.state_dict().values(), again.module.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert [p.name for p in sorted((tmp_path / "ck").iterdir())] == [p.name for p in files]
    assert Net.load(files[-1]).module.state_dict().keys() == whole.module.state_dict().keys()


def test_train_without_validation(capsys) -> None:
    assert main(["train", "Digits", *FAST, "--validation", "none"]) == 0
    assert "validation: none." in capsys.readouterr().out


def test_train_a_users_net_from_module_function(capsys, tmp_path) -> None:
    (tmp_path / "my_nets.py").write_text(
        "import torch.nn as nn\n"
        "def tiny(classes, image_size):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(image_size ** 2, classes))\n"
    )
    assert main(["train", "Digits", *FAST, "--net", "my_nets:tiny"]) == 0
    out = capsys.readouterr().out
    assert "Digits with tiny (650 parameters)" in out
    assert (tmp_path / "Digits-tiny.safetensors").is_file()
    sys.modules.pop("my_nets", None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "ImageNet"], "DATASET: unknown dataset 'ImageNet'"),
        (["train", "Digits", "--net", "small-cn"], "did you mean 'small-cnn'"),
        (["train", "Digits", "--net", "text-cnn"], "'text-cnn' takes text"),
        (["train", "Digits", "--time-goal", "soon", "--reporting", "none"], "--time-goal: could"),
        (["train", "Digits", "--method", "adamx"], "--method: unknown method 'adamx'"),
        (["train", "CIFAR-10"], "NETTRAIN_OFFLINE"),
        (["train", "Digits", "--resume"], "--resume: needs the folder the checkpoints are in"),
        (
            ["train", "Digits", "--checkpoint", "c", "--checkpoint-every", "2.5 batches"],
            "--checkpoint-every",
        ),
    ],
)
def test_train_problems_exit_2_with_a_message_and_no_traceback(capsys, args, message) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert err.startswith("nettrain train: error: ")
    assert message in err
    assert "parameters" not in out  # nothing was built or announced before the data were found
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["train"],
        ["train", "Digits", "--rounds", "0"],
        ["train", "Digits", "--batch-size", "many"],
        ["train", "Digits", "--learning-rate", "-1"],
        ["train", "Digits", "--validation", "2"],
        ["train", "Digits", "--device", "tpu"],
        ["train", "Digits", "--seed", "-3"],
        ["train", "Digits", "--reporting", "pannel"],
        ["train", "Digits", "--no-such-option"],
    ],
)
def test_train_bad_arguments_exit_2_with_a_usage_line(capsys, args) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    # argparse reports an unknown option with the top-level usage line, the rest with train's
    assert err.startswith("usage: nettrain")
    assert "error:" in err


def test_train_a_text_dataset_fits_the_vocabulary_first(capsys, monkeypatch, tmp_path) -> None:
    # MovieReview is not on this machine: a tiny stand-in with the same form (strings, 2 classes)
    import nettrain.datasets as datasets
    from nettrain.datasets import DatasetSplit

    real_load = datasets.load
    texts = ["a good fun film", "great joy", "bad dull film", "an awful bore"] * 8
    labels = np.array([1, 1, 0, 0] * 8, dtype=np.int64)

    def fake_load(name: str, split: str = "train", **options: object) -> DatasetSplit:
        if name != "MovieReview":
            return real_load(name, split, **options)  # type: ignore[arg-type]
        return DatasetSplit(name, split, texts, labels, ("negative", "positive"), "text")

    monkeypatch.setattr(datasets, "load", fake_load)
    assert main(["train", "MovieReview", "--rounds", "10", "--reporting", "none"]) == 0
    out = capsys.readouterr().out
    assert "MovieReview with text-cnn" in out and _accuracy(out) > 90
    net = tmp_path / "MovieReview-text-cnn.safetensors"
    assert main(["evaluate", str(net), "MovieReview"]) == 0
    assert "MovieReview test: accuracy" in capsys.readouterr().out
    assert main(["predict", str(net), "great fun", "awful bore"]) == 0
    answers = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]
    assert answers == ["positive", "negative"]


# ---- datasets ------------------------------------------------------------------------------------


def test_datasets_lists_every_dataset_and_where_it_is(capsys) -> None:
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "kind", "where", "size"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"MNIST", "FashionMNIST", "CIFAR-10", "CIFAR-100", "MovieReview", "Digits"}
    assert "embedded" in rows["Digits"] and "image" in rows["Digits"]
    assert "not on this machine" in rows["CIFAR-100"]
    assert "text" in rows["MovieReview"]


def test_datasets_where_and_download(capsys, tmp_path) -> None:
    assert main(["datasets", "where", "digits"]) == 0
    folder = capsys.readouterr().out.strip()
    assert Path(folder).is_dir()
    assert main(["datasets", "--data-dir", str(tmp_path), "where", "CIFAR-100"]) == 1
    out = capsys.readouterr().out
    assert "CIFAR-100: not on this machine" in out
    assert f"a download would go to {tmp_path / 'cifar-100'}" in out
    assert main(["datasets", "download", "Digits", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("Digits: ")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["datasets", "download"], 2, "usage: nettrain datasets download"),
        (["datasets", "list-all"], 2, "usage: nettrain datasets"),
        (["datasets", "where", "Nope"], 2, "nettrain datasets: error: name: unknown dataset"),
        (["datasets", "download", "CIFAR-10"], 2, "NETTRAIN_OFFLINE"),
    ],
)
def test_datasets_bad_arguments(capsys, args, code, message) -> None:
    assert main(args) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


# ---- evaluate ------------------------------------------------------------------------------------


def test_evaluate_a_saved_net(capsys, digits_net) -> None:
    assert main(["evaluate", str(digits_net), "Digits"]) == 0
    out = capsys.readouterr().out
    match = re.fullmatch(
        r"Digits test: accuracy ([\d.]+)%, loss ([\d.]+) \(([\d,]+) examples\)\n", out
    )
    assert match, out
    assert float(match.group(1)) > 80
    assert main(["evaluate", str(digits_net), "Digits", "--split", "train"]) == 0
    assert capsys.readouterr().out.startswith("Digits train: accuracy")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "missing.safetensors", "Digits"], "NETFILE: no such file"),
        (["evaluate", "NET", "Nope"], "unknown dataset"),
        (["evaluate", "NET", "Digits", "--split", "valid"], "usage: nettrain evaluate"),
        (["evaluate", "NET"], "usage: nettrain evaluate"),
    ],
)
def test_evaluate_bad_arguments_exit_2(capsys, digits_net, args, message) -> None:
    args = [str(digits_net) if a == "NET" else a for a in args]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_evaluate_refuses_a_file_that_is_not_a_net(capsys, tmp_path) -> None:
    (tmp_path / "fake.safetensors").write_bytes(b"\x80\x04pickle")
    assert main(["evaluate", "fake.safetensors", "Digits"]) == 2
    assert "is not a nettrain net file" in capsys.readouterr().err


# ---- predict -------------------------------------------------------------------------------------


def test_predict_image_files(capsys, tmp_path, digits_net) -> None:
    from PIL import Image

    test = load("Digits", "test")
    paths = []
    for i in range(3):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(np.asarray(test.inputs[i])).save(path)
        paths.append(path.name)
    assert main(["predict", str(digits_net), *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line, path in zip(lines, paths, strict=True):
        value, decision, probability = line.split("\t")
        assert value == path and decision in test.class_names and 0 < float(probability) <= 1


def test_predict_strings_with_a_text_net(capsys, text_net) -> None:
    assert main(["predict", str(text_net), "a great film", "a dull bore"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["a great film", "a dull bore"]
    assert all(line.split("\t")[1] in ("negative", "positive") for line in lines)


def test_predict_bad_arguments(capsys, digits_net, tmp_path) -> None:
    assert main(["predict", str(digits_net)]) == 2
    assert "usage: nettrain predict" in capsys.readouterr().err
    assert main(["predict", str(digits_net), "no-such.png"]) == 2
    assert "these are not files: 'no-such.png'" in capsys.readouterr().err
    bare = Net(torch.nn.Sequential(torch.nn.Linear(2, 2))).save(tmp_path / "bare.safetensors")
    assert main(["predict", str(bare), "x"]) == 2
    assert "no image or text encoder" in capsys.readouterr().err


# ---- help, demo, and the real command ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["train"],
        ["datasets"],
        ["datasets", "download"],
        ["datasets", "where"],
        ["evaluate"],
        ["predict"],
        ["demo"],
    ],
)
def test_help_everywhere(capsys, command) -> None:
    assert main([*command, "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: nettrain")


def test_no_command_is_a_usage_error(capsys) -> None:
    assert main([]) == 2
    assert "usage: nettrain" in capsys.readouterr().err


def test_demo_still_works(capsys) -> None:
    assert main(["demo", "--examples", "200", "--time-goal", "1", "--quiet"]) == 0
    assert "test accuracy:" in capsys.readouterr().out


def test_the_main_command_trains_digits_offline_above_95_percent(tmp_path) -> None:
    # the README's main command exactly, run as a user runs it (a subprocess; no network); its
    # automatic length is about 20 s of training, far more rounds than 95% needs
    run = subprocess.run(
        [sys.executable, "-m", "nettrain", "train", "Digits"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NETTRAIN_OFFLINE": "1"},
    )
    assert run.returncode == 0, run.stderr
    assert _accuracy(run.stdout) > 95
    assert (tmp_path / "Digits-mlp.safetensors").is_file()


def test_train_writes_a_log_file_with_one_row_per_round(tmp_path, capsys) -> None:
    log = tmp_path / "run.csv"
    out = tmp_path / "digits.safetensors"
    args = ["train", "Digits", "--rounds", "2", "--reporting", "none", "--log", str(log)]
    assert main([*args, "--output", str(out)]) == 0
    import csv

    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    rounds = [r for r in rows if r["event"] == "round_complete"]
    assert [r["round"] for r in rounds] == ["1", "2"]
    summary = json.loads(out.with_suffix(".json").read_text())
    last = rounds[-1]
    assert float(last["round_loss"]) == pytest.approx(summary["final_training_loss"], rel=1e-6)
    assert float(rounds[-1]["validation_loss"]) == pytest.approx(
        summary["final_validation_loss"], rel=1e-6
    )


def test_a_log_in_a_missing_folder_is_named_as_the_flag(tmp_path, capsys) -> None:
    log = tmp_path / "missing" / "run.csv"
    assert main(["train", "Digits", "--rounds", "1", "--reporting", "none", "--log", str(log),
                 "--output", str(tmp_path / "n.safetensors")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "error: --log: the folder of the log file" in err and "Traceback" not in err
