"""``weights_averaging``: the moving average of the weights against
``torch.optim.swa_utils.AveragedModel`` updated after each step of the same hand-written loop,
its interplay with the validation set's best net, divergence, result files, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import nettrain
from conftest import QUIET
from nettrain.data.batching import round_permutation
from nettrain.errors import NetTrainError

SEED, N, ROUNDS = 1234, 84, 4  # 84 examples: an uneven last batch in every round
X = torch.randn(N, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
Y = torch.sin(X).sum(1, keepdim=True)
TIGHT = {"rtol": 1e-12, "atol": 1e-12}  # float64: what summation order can change, no more


def _net(batchnorm: bool = True) -> nn.Module:
    """float64, with BatchNorm: its running statistics are buffers, which are not averaged
    (without it for gradient accumulation, whose batches normalise over fewer examples)."""
    torch.manual_seed(3)
    norm = nn.BatchNorm1d(8) if batchnorm else nn.Identity()
    return nn.Sequential(nn.Linear(3, 8), norm, nn.Tanh(), nn.Linear(8, 1)).double()


def _hand_loop(
    decay: float, batch: int, group: int = 1, batchnorm: bool = True
) -> tuple[nn.Module, AveragedModel]:
    """torch.optim.SGD on the engine's data order (round r visits round_permutation(seed, r, n)
    in batches), one step per ``group`` batches on their concatenation, and AveragedModel with
    the EMA averaging function updated after each step."""
    net = _net(batchnorm)
    average = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for r in range(1, ROUNDS + 1):
        order = round_permutation(SEED, r, N)
        for begin in range(0, N, batch * group):
            index = order[begin : begin + batch * group]
            opt.zero_grad()
            F.mse_loss(net(X[index]), Y[index]).backward()
            opt.step()
            average.update_parameters(net)
    return net, average


def _train(batchnorm: bool = True, **options: object) -> tuple[nn.Module, object]:
    net = _net(batchnorm)
    options = {"batch_size": 8, "method": ("sgd", {"learning_rate": 0.05, "momentum": 0.9}),
               "max_training_rounds": ROUNDS, **options}  # fmt: skip
    result = nettrain.train(net, (X, Y), "all", loss_function="mean_squared", **QUIET, **options)
    return net, result


def _close(a: nn.Module, b: nn.Module) -> None:
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(ta, tb, **TIGHT, msg=name)


def test_the_averaged_weights_are_averaged_models_and_replace_the_trained_net():
    decay = 0.9
    hand, average = _hand_loop(decay, batch=8)
    net, result = _train(weights_averaging=decay)
    # the trained net (the module passed in) holds AveragedModel's averages, and the buffers
    # of the net when training stopped (AveragedModel copies them at every update)
    assert result["trained_net"] is net and result["averaged_net"] is net
    _close(net, average.module)
    _close(result["final_net"], hand)  # the last weights stay the final net
    assert result["weights_averaging"] == {"decay": 0.9, "trained_net": "averaged"}
    recorded = "weights_averaging={'decay': 0.9, 'trained_net': 'averaged'}"
    assert recorded in result["train_input_form"]


def test_the_first_update_is_copied_as_averaged_model_does():
    """One update in all: the average is the updated weights, not a mix with the initial."""
    net, result = _train(weights_averaging=0.5, batch_size=N, max_training_rounds=1)
    _close(net, result["final_net"])
    untrained = _net()
    assert not torch.equal(net[0].weight, untrained[0].weight)


def test_trained_net_last_keeps_the_last_weights_and_gives_the_average():
    hand, average = _hand_loop(0.8, batch=8)
    net, result = _train(weights_averaging={"decay": 0.8, "trained_net": "last"})
    _close(net, hand)
    assert result["final_net"] is net and result["averaged_net"] is not net
    _close(result["averaged_net"], average.module)
    assert not result["averaged_net"].training


def test_with_gradient_accumulation_it_averages_once_per_update():
    _, average = _hand_loop(0.7, batch=8, group=4, batchnorm=False)
    sgd = ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "gradient_accumulation": 4})
    net, _ = _train(False, weights_averaging=0.7, method=sgd)
    _close(net, average.module)


def test_validation_measures_the_weights_trained_and_the_average_replaces_the_best():
    """Validation sees the weights the optimizer is at (as Keras' fit with use_ema): its
    losses, best round and final net are those of the same run without averaging. With
    "averaged" the average replaces the best validation net (with the final net's buffers);
    with "last" the trained net is the best one, as without averaging."""
    validation = {"validation_set": (X[:20], Y[:20])}
    plain_net, plain = _train(**validation)
    net, averaged = _train(weights_averaging=0.9, **validation)
    last_net, last = _train(weights_averaging={"decay": 0.9, "trained_net": "last"}, **validation)
    for result in (averaged, last):
        assert result["validation_loss_list"] == plain["validation_loss_list"]
        assert result["best_validation_round"] == plain["best_validation_round"]
        _close(result["final_net"], plain["final_net"])
    assert plain["best_validation_round"] < ROUNDS  # the best net differs from the final one
    _close(last_net, plain_net)  # "last": the best validation net, as without averaging
    _close(net, last["averaged_net"])  # "averaged": the average, and the final buffers
    for name, buffer in net.named_buffers():
        assert torch.equal(buffer, dict(averaged["final_net"].named_buffers())[name]), name


def test_after_divergence_the_average_is_not_applied():
    sgd = ("sgd", {"learning_rate": 1e8, "momentum": 0.0})
    with pytest.warns(nettrain.NetTrainWarning, match="weights_diverged"):
        net, result = _train(weights_averaging=0.9, method=sgd)
    assert result["reason_training_stopped"] == "weights_diverged"
    assert all(math.isfinite(v) for v in net.state_dict()["0.weight"].flatten().tolist())
    assert result["averaged_net"] is not net  # a copy holding the averages, for inspection


def test_without_averaging_there_is_no_averaged_net():
    _, result = _train()
    assert result["averaged_net"] is None and result["weights_averaging"] is None


def test_a_saved_result_keeps_the_averaged_net(tmp_path):
    for spec in (0.9, {"decay": 0.9, "trained_net": "last"}):
        _, result = _train(weights_averaging=spec, max_training_rounds=1)
        path = result.save(tmp_path / "run.safetensors")
        loaded = nettrain.TrainResult.load(path)
        same = result["averaged_net"] is result["trained_net"]
        assert (loaded["averaged_net"] is loaded["trained_net"]) == same
        _close(loaded["averaged_net"], result["averaged_net"].cpu())
        assert loaded["weights_averaging"] == result["weights_averaging"]


@pytest.mark.parametrize(
    ("value", "argument", "words"),
    [
        (1.0, "weights_averaging", "between 0 and 1"),
        (0, "weights_averaging", "between 0 and 1"),
        ("0.999", "weights_averaging", "cannot read"),
        (True, "weights_averaging", "cannot read"),
        ({"decay": 0.9, "trained": "last"}, "weights_averaging", "did you mean 'trained_net'"),
        ({"trained_net": "last"}, "weights_averaging", "the decay is missing"),
        ({"decay": 0.9, "trained_net": "best"}, "weights_averaging['trained_net']", '"last"'),
        ({"decay": -1}, "weights_averaging['decay']", "in (0, 1)"),
    ],
)
def test_bad_values_are_refused_before_training(value, argument, words):
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(NetTrainError) as info:
        nettrain.train(net, (X, Y), weights_averaging=value, max_training_rounds=1, **QUIET)
    error = info.value
    assert error.argument == argument and words in str(error)
    assert error.expected and error.received  # what was expected, what came
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
