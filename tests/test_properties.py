"""Every property of S1.5 that issue 2 covers returns its documented type and value."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

import nettrain
from conftest import QUIET, make_classification, make_net
from nettrain.data.batching import round_permutation
from nettrain.errors import NetTrainError

N, B, R = 50, 8, 3


@pytest.fixture(scope="module")
def run():
    x, y = make_classification(N)
    net = make_net()
    result = nettrain.train(net, (x, y), "all", batch_size=B, max_training_rounds=R, **QUIET)
    return net, x, y, result


TYPES = {
    "trained_net": nn.Module,
    "final_net": nn.Module,
    "averaged_net": type(None),  # a module with weights_averaging (test_weights_averaging)
    "weights_averaging": type(None),
    "training_net": nn.Module,
    "batch_size": int,
    "batches_per_round": int,
    "batch_loss_list": list,
    "batch_permutation": list,
    "example_losses": torch.Tensor,
    "examples_processed": int,
    "initial_learning_rate": float,
    "final_learning_rate": float,
    "input_form": str,
    "train_input_form": str,
    "loss_function": dict,
    "mean_batches_per_second": float,
    "mean_examples_per_second": float,
    "optimization_method": dict,
    "properties": list,
    "random_seed": int,
    "reason_training_stopped": str,
    "round_loss": float,
    "round_loss_list": list,
    "round_positions": list,
    "target_device": str,
    "cpu_threads": int,
    "processes": int,
    "total_batches": int,
    "total_rounds": int,
    "total_training_time": float,
    "training_examples": int,
    "weights_learning_rate_multipliers": dict,
    "working_precision": str,
    "memory_format": str,
    "performance_goal": list,
    "activation_checkpointing": int,
    "best_validation_round": (int, type(None)),
    "measurements": list,
    "round_measurements": dict,
    "round_measurements_lists": dict,
    "stopping_criterion": (dict, type(None)),
    "validation_examples": (int, type(None)),
    "validation_loss": (float, type(None)),
    "validation_loss_list": list,
    "validation_measurements": (dict, type(None)),
    "validation_measurements_lists": dict,
    "validation_positions": list,
    "batch_measurements_lists": dict,
    "encoders": dict,
    "skipped_training_data": dict,
    "training_update_schedule": (list, type(None)),
    "loss_plot": Figure,
    "checkpointing_files": list,
    "final_plots": dict,
    "learning_rate_finder": type(None),  # a dict with learning_rate="find" (test_lr_find)
    "learning_rate_finder_plot": Figure,
}


def test_every_property_has_its_documented_type(run):
    _, _, _, result = run
    assert set(TYPES) == set(nettrain.PROPERTIES)
    for name, kind in TYPES.items():
        if name in ("batch_measurements_lists", "example_losses"):
            # kept per batch only when named: "all" alone says how to ask for it
            with pytest.raises(NetTrainError, match="asked for by name"):
                result[name]
            continue
        if name == "learning_rate_finder_plot":  # only for a run with learning_rate="find"
            with pytest.raises(NetTrainError, match='learning_rate="find"'):
                result[name]
            continue
        assert isinstance(result[name], kind), name


def test_counts_and_histories_add_up(run):
    net, _, _, r = run
    per_round = math.ceil(N / B)
    assert r.trained_net is net and r.final_net is net
    assert (r.batches_per_round, r.total_batches, r.total_rounds) == (per_round, R * per_round, R)
    assert r.examples_processed == R * N and r.training_examples == N
    assert len(r.batch_loss_list) == R * per_round
    assert r.round_positions == [per_round * (i + 1) for i in range(R)]
    # a round's loss is the example-weighted mean of its batch losses (the last batch is short)
    sizes = [B] * (per_round - 1) + [N - B * (per_round - 1)]
    first = r.batch_loss_list[:per_round]
    expected = sum(v * s for v, s in zip(first, sizes, strict=True)) / N
    assert r.round_loss_list[0] == pytest.approx(expected, rel=1e-6)
    assert r.round_loss == r.round_loss_list[-1]
    assert r.mean_examples_per_second == pytest.approx(R * N / r.total_training_time)
    assert r.reason_training_stopped == "max_training_rounds"
    assert r.input_form == "inputs_targets" and r.target_device == "cpu"
    assert r.working_precision == "float32" and r.random_seed == 1234
    assert r.optimization_method["method"] == "adam"
    assert r.initial_learning_rate == r.final_learning_rate == pytest.approx(1e-3)
    assert set(r.weights_learning_rate_multipliers) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert r.properties == sorted(nettrain.PROPERTIES)


def test_batch_permutation_is_each_rounds_order(run):
    _, _, _, r = run
    assert len(r.batch_permutation) == R
    for i, perm in enumerate(r.batch_permutation):
        assert torch.equal(perm, round_permutation(1234, i + 1, N))


def test_example_losses_are_each_examples_loss_when_last_trained_on():
    """NetTrain's ExampleLosses: the loss each example had in the step that last trained it,
    in data order. Every example is trained once a round, so after the last round the mean of
    each batch's examples is that batch's loss."""
    x, y = make_classification(N)
    opts = {"batch_size": B, "max_training_rounds": R, **QUIET}
    r, losses = nettrain.train(make_net(), (x, y), ["all", "example_losses"], **opts)
    assert losses.shape == (N,) and bool(torch.isfinite(losses).all())
    per_round = math.ceil(N / B)
    order = round_permutation(1234, R, N)
    last_round = r.batch_loss_list[-per_round:]
    for b in range(per_round):
        examples = losses[order[b * B : (b + 1) * B]]
        assert float(examples.mean()) == pytest.approx(last_round[b], rel=1e-6)


def test_example_losses_of_one_full_batch_step_are_the_initial_nets_losses():
    x, y = make_classification(N)
    reference = make_net()
    with torch.no_grad():
        expected = F.cross_entropy(reference(x), y, reduction="none")
    losses = nettrain.train(
        make_net(), (x, y), "example_losses", batch_size=N, max_training_rounds=1, **QUIET
    )
    torch.testing.assert_close(losses, expected)


def test_example_losses_per_round_give_the_rounds_by_examples_matrix():
    x, y = make_classification(N)
    opts = {"batch_size": B, "max_training_rounds": R, **QUIET}
    history, final = nettrain.train(
        make_net(),
        (x, y),
        [{"property": "example_losses", "interval": "round"}, "example_losses"],
        **opts,
    )
    matrix = torch.stack(history)
    assert matrix.shape == (R, N)
    assert torch.equal(matrix[-1], final)
    assert float(matrix[-1].mean()) < float(matrix[0].mean())  # the net learnt between rounds


def test_example_losses_are_refused_for_a_stream():
    x, y = make_classification(N)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=B)
    with pytest.raises(NetTrainError, match="examples nettrain orders itself") as info:
        nettrain.train(make_net(), loader, "example_losses", max_training_rounds=1, **QUIET)
    assert info.value.argument == "prop"


def test_training_net_returns_the_loss(run):
    net, x, y, r = run
    with torch.no_grad():
        torch.testing.assert_close(
            r.training_net({"input": x, "target": y}), F.cross_entropy(net(x), y)
        )


def test_one_name_a_list_and_a_custom_history():
    x, y = make_classification(N)
    opts = {"batch_size": B, "max_training_rounds": R, **QUIET}
    assert nettrain.train(make_net(), (x, y), "total_rounds", **opts) == R
    rounds, losses = nettrain.train(make_net(), (x, y), ["total_rounds", "round_loss_list"], **opts)
    assert rounds == R and len(losses) == R
    per_batch = nettrain.train(
        make_net(), (x, y), {"property": "batch_loss", "interval": "batch"}, **opts
    )
    assert per_batch == nettrain.train(make_net(), (x, y), "batch_loss_list", **opts)
    pairs = nettrain.train(
        make_net(),
        (x, y),
        {
            "property": lambda live: (live["round"], live["round_loss"]),
            "interval": "round",
            "form": "transposed_list",
        },
        **opts,
    )
    assert pairs[0] == [1, 2, 3]
    assert pairs[1] == nettrain.train(make_net(), (x, y), "round_loss_list", **opts)


def test_result_object_shows_itself():
    x, y = make_classification(N)
    r = nettrain.train(make_net(), (x, y), "all", max_training_rounds=1, **QUIET)
    text = repr(r)
    assert "max_training_rounds" in text and "cross_entropy" in text
    assert "<table>" in r._repr_html_()
    assert "round_loss" in r.keys()  # noqa: SIM118 (TrainResult is not a dict)


def test_unknown_and_planned_property_names():
    x, y = make_classification(N)
    with pytest.raises(NetTrainError, match=r"unknown property 'round_los'.*'round_loss'"):
        nettrain.train(make_net(), (x, y), "round_los", **QUIET)
    # NetTrain's CamelCase name of a property works (no checkpoints: an empty list)
    assert nettrain.train(make_net(), (x, y), "CheckpointingFiles", **QUIET) == []
    with pytest.raises(NetTrainError, match="unknown property") as info:
        nettrain.train(make_net(), (x, y), "inputform", **QUIET)
    assert "input_form" in info.value.hint  # a close name still suggested
    from nettrain.results import check_property_name

    assert check_property_name("net_train_input_form") == "train_input_form"  # NetTrain's name
    with pytest.raises(NetTrainError, match=r"not a live property.*did you mean 'batch_loss'"):
        nettrain.train(make_net(), (x, y), {"property": "batch_los"}, **QUIET)


def test_the_hardest_examples_example(capsys):
    """examples/hardest_examples.py (seed 000's hardest examples) on the embedded Digits."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "hardest_examples.py"
    spec = importlib.util.spec_from_file_location("hardest_examples", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    matrix = example.main(["--rounds", "3", "--show", "2"])
    assert matrix.shape == (3, 1438) and bool(torch.isfinite(matrix).all())
    assert float(matrix[-1].mean()) < float(matrix[0].mean())
    out = capsys.readouterr().out
    assert "3 rounds x 1438 examples" in out and out.count("final loss") == 2
