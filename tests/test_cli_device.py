"""``nettrain train --device``: its spellings, and the silence of ranks other than 0.

The parsing is checked on the parser alone (nothing is trained). Under ``torchrun`` every rank
runs the same command and only rank 0 may print or write; a real rank 1 needs a process group,
so the guard is checked on a single-process run with ``RANK=1`` and no ``WORLD_SIZE`` (train
runs alone, the command still takes itself for rank 1), on the embedded Digits dataset.
"""

from __future__ import annotations

import argparse

import pytest
import torch

from nettrain.cli import main
from nettrain.cli.commands import _device_text, _resume_from, _train_options
from nettrain.cli.common import is_rank_zero
from nettrain.cli.main import _parser


@pytest.fixture(autouse=True)
def _offline_in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NETTRAIN_OFFLINE", "1")
    monkeypatch.setenv("NETTRAIN_DATA", str(tmp_path / "data"))  # empty: only Digits exists
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _device(*flag: str) -> object:
    return _parser().parse_args(["train", "Digits", *flag]).device


# ---- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        ("cpu", "cpu"),
        ("GPU", "gpu"),
        ("cuda", "cuda"),
        ("cuda:1", "cuda:1"),
        ("gpu:2", "cuda:2"),  # one GPU by number, as ("gpu", 2) means in train
        ("cpu:2", ("cpu", 2)),
        ("CPU:16", ("cpu", 16)),
        ("gpu:all", ("gpu", "all")),
        ("gpu:ALL", ("gpu", "all")),
        ("gpu:0,1", ("gpu", [0, 1])),
        ("gpu:3, 1", ("gpu", [3, 1])),  # the order given is the ranks' order
    ],
)
def test_device_spellings(text, expected) -> None:
    assert _device("--device", text) == expected


def test_no_device_flag_leaves_the_choice_to_train() -> None:
    args = _parser().parse_args(["train", "Digits"])
    assert args.device is None and "target_device" not in _train_options(args)


def test_the_parsed_device_is_train_s_target_device() -> None:
    args = _parser().parse_args(["train", "Digits", "--device", "gpu:0,1"])
    assert _train_options(args)["target_device"] == ("gpu", [0, 1])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("cpu", "cpu"),
        ("cuda:1", "cuda:1"),
        (("cpu", 2), "cpu:2"),
        (("gpu", "all"), "gpu:all"),
        (("gpu", [0, 1]), "gpu:0,1"),
    ],
)
def test_the_summary_spells_the_device_as_the_flag_does(value, text) -> None:
    assert _device_text(value) == text
    assert _device("--device", text) == value  # and back


@pytest.mark.parametrize(
    "text",
    [
        *("tpu", "", "cpu:0", "cpu:-1", "cpu:+2", "cpu:x", "cpu:1,2", "cpu:all"),
        *("gpu:", "gpu:0,0", "gpu:-1", "gpu:1.5", "gpu:all,0", "cuda:all", "cuda:0,1"),
    ],
)
def test_bad_devices_exit_2_naming_the_flag(capsys, text) -> None:
    assert main(["train", "Digits", "--device", text]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("usage: nettrain train")
    assert "argument --device: expected auto, cpu, gpu, cuda:N, cpu:N" in err
    assert repr(text) in err and out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpus_on_a_machine_without_one_fail_before_training(capsys) -> None:
    assert main(["train", "Digits", "--device", "gpu:all"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("nettrain train: error: --device")
    assert "no GPU is available" in err
    assert "parameters" not in out  # reported before anything was built or announced


# ---- rank 0 alone speaks -------------------------------------------------------------------------


@pytest.mark.parametrize(("rank", "zero"), [(None, True), ("0", True), ("1", False), ("3", False)])
def test_is_rank_zero_reads_torchrun_s_rank(monkeypatch, rank, zero) -> None:
    if rank is not None:
        monkeypatch.setenv("RANK", rank)
    assert is_rank_zero() is zero


def test_a_rank_other_than_0_trains_silently_and_writes_nothing(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "1")
    args = ["train", "Digits", "--rounds", "1", "--reporting", "none", "--report", "run.html"]
    assert main([*args, "--output", "out/net.safetensors"]) == 0
    assert capsys.readouterr() == ("", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no net, summary, report, folder


def test_a_rank_other_than_0_keeps_the_new_run_notice_to_itself(capsys, tmp_path) -> None:
    args = argparse.Namespace(resume=True, checkpoint=str(tmp_path / "none-yet"))
    assert _resume_from(args, speaks=False) is None
    assert capsys.readouterr() == ("", "")
    assert _resume_from(args) is None
    assert "no checkpoint in" in capsys.readouterr().err


def test_the_seed_repeats_a_run_net_weights_included(capsys, monkeypatch, tmp_path) -> None:
    # the net's first weights come from --seed too: two runs give the same trained net
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        args = ["train", "Digits", "--rounds", "1", "--reporting", "none", "--seed", "3"]
        assert main([*args, "--output", f"{name}.safetensors"]) == 0
    capsys.readouterr()
    from safetensors.torch import load_file

    first, second = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
