"""The ``method`` sub-option ``gradient_accumulation``: k batches per update give the update of
one batch of all their examples (against the engine without accumulation and against
torch.optim on the concatenated batches), the schedule counts updates, and bad values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from conftest import QUIET
from nettrain.data.batching import round_permutation
from nettrain.errors import NetTrainError

SEED, ROUNDS = 1234, 4
TIGHT = {"rtol": 1e-10, "atol": 1e-12}  # float64: the order of the sums differs, no more


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x, torch.sin(x).sum(1, keepdim=True)


def _net() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _train(n: int, batch: int, method: object, **options: object) -> tuple[nn.Module, object]:
    net = _net()
    result = nettrain.train(net, _data(n), "all", batch_size=batch, max_training_rounds=ROUNDS,
                            method=method, loss_function="mean_squared", **QUIET,
                            **options)  # fmt: skip
    return net, result


def _close(a: nn.Module, b: nn.Module) -> None:
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(ta, tb, **TIGHT, msg=name)


def _with(method: tuple[str, dict], k: int) -> tuple[str, dict]:
    return method[0], {**method[1], "gradient_accumulation": k}


METHODS = {
    "adam": ("adam", {"learning_rate": 0.01}),
    "sgd, momentum, gradient clipping": (
        "sgd", {"learning_rate": 0.05, "momentum": 0.9, "gradient_clipping": 0.05}
    ),
    "adamw, a cosine schedule": (
        "adamw", {"learning_rate": 0.01, "learning_rate_schedule": "cosine"}
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize(
    "n",
    [
        96,  # 12 batches of 8: three full groups of 4 a round
        84,  # 10 of 8 and one of 4: the last group is 3 batches of 20 examples
        100,  # 12 of 8 and one of 4: the last group is that one batch
    ],
)
def test_four_batches_of_8_update_as_one_batch_of_32(name, n):
    """The same rounds visit the same examples in the same order whatever the batch size, so
    with groups starting at each round the groups are exactly the batches of 32."""
    method = METHODS[name]
    accumulated, result = _train(n, 8, _with(method, 4))
    plain, reference = _train(n, 32, method)
    _close(accumulated, plain)
    per_round = math.ceil(n / 32)
    assert result["optimization_method"]["total_steps"] == ROUNDS * per_round  # updates
    assert result["optimization_method"]["gradient_accumulation"] == 4
    assert result["total_batches"] == ROUNDS * math.ceil(n / 8)  # batches: still all of them
    assert result["final_learning_rate"] == reference["final_learning_rate"]


def test_sgd_equals_torch_optim_on_the_concatenated_batches():
    n, x, y = 84, *_data(84)
    net, _ = _train(n, 8, ("sgd", {"learning_rate": 0.05, "momentum": 0.9,
                                   "gradient_accumulation": 4}))  # fmt: skip
    reference = _net()
    opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    for r in range(1, ROUNDS + 1):
        order = round_permutation(SEED, r, n)
        for begin in range(0, n, 32):  # 32, 32, and the last group's 20 examples
            index = order[begin : begin + 32]
            opt.zero_grad()
            F.mse_loss(reference(x[index]), y[index]).backward()
            opt.step()
    _close(net, reference)


def test_a_stop_within_a_group_drops_that_group():
    """Stopped after batch 6 (2 batches into the second group of 4): the net holds the first
    group's update, as does a hand loop that made just that one step."""
    n, x, y = 96, *_data(96)

    def stop(live: dict) -> str | None:
        return "stop_training" if live["absolute_batch"] == 6 else None

    net, result = _train(n, 8, ("sgd", {"learning_rate": 0.05, "momentum": 0.0,
                                        "gradient_accumulation": 4}),
                         training_progress_function=(stop, {"interval": "batch"}))  # fmt: skip
    assert result["reason_training_stopped"] == "progress_function"
    assert result["total_batches"] == 6
    reference = _net()
    index = round_permutation(SEED, 1, n)[:32]
    opt = torch.optim.SGD(reference.parameters(), lr=0.05)
    F.mse_loss(reference(x[index]), y[index]).backward()
    opt.step()
    _close(net, reference)


def test_one_is_every_batch_and_the_default():
    default, _ = _train(40, 8, ("adam", {}))
    one, result = _train(40, 8, ("adam", {"gradient_accumulation": 1}))
    _close(default, one)
    assert "gradient_accumulation" not in result["optimization_method"]


@pytest.mark.parametrize(
    ("method", "words"),
    [
        (("adam", {"gradient_accumulation": 0}), "an int >= 1"),
        (("adam", {"gradient_accumulation": 2.0}), "an int >= 1"),
        (("adam", {"gradient_accumulation": "4"}), "an int >= 1"),
        (("adam", {"gradient_accumulation": True}), "an int >= 1"),
        (("lbfgs", {"gradient_accumulation": 2}), "line search"),
    ],
)
def test_bad_values_are_refused_naming_the_sub_option(method, words):
    with pytest.raises(NetTrainError) as info:
        nettrain.train(_net(), _data(16), method=method, max_training_rounds=1, **QUIET)
    assert info.value.argument == "method['gradient_accumulation']"
    assert words in str(info.value) and info.value.received and info.value.hint


def test_loose_tensor_steps_refuse_it():
    from nettrain.optim.tensors import build_tensor_updater

    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(NetTrainError, match="loose steps update at every call"):
        build_tensor_updater([w], ("sgd", {"gradient_accumulation": 2}))
