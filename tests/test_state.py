"""A run stopped anywhere (mid-round included) and resumed from its saved TrainState ends with
bitwise the same weights as an uninterrupted run."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from conftest import assert_same_weights, make_classification
from nettrain.data.forms import normalize
from nettrain.loop import LoopPlan, run
from nettrain.losses import resolve_loss
from nettrain.optim import build_updater, parse_method
from nettrain.runtime.seed import seeded
from nettrain.state import TrainState
from nettrain.step import make_step

X, Y = make_classification(45)
ROUNDS, B = 3, 8  # 6 batches a round, the last one short


def fresh_net():
    torch.manual_seed(3)
    # Dropout makes the run depend on the random stream, which the state must carry too.
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def session(net, method):
    source = normalize((X, Y), seed=7)
    plan = resolve_loss("auto", net, ("input",), ("target",), source.sample(B))
    updater = build_updater(net, parse_method(method), total_steps=ROUNDS * 6)
    state = TrainState(net=net, updater=updater, seed=7, batch_size=B, max_rounds=ROUNDS)
    return state, source, plan, updater


def train(net, method, stop_after=None, resume=None):
    state, source, plan, updater = session(net, method)
    if resume is not None:
        state.load_state_dict(resume)

    def stop():
        if stop_after is not None and state.absolute_batch >= stop_after:
            return "stopped_by_user"
        return None

    loop_plan = LoopPlan(source, make_step(net, ("input",), plan, updater), stop_reason=stop)
    if resume is None:
        with seeded(11):
            run(state, loop_plan)
            saved = state.state_dict()
    else:
        run(state, loop_plan)
        saved = state.state_dict()
    return state, saved


@pytest.mark.parametrize(
    "method", ["adam", ("sgd", {"learning_rate_schedule": "cosine"}), "rmsprop"]
)
@pytest.mark.parametrize("stop_after", [1, 4, 6, 7, 13])
def test_resume_mid_round_is_bitwise_identical(method, stop_after):
    full_net = fresh_net()
    full, _ = train(full_net, method)
    assert full.reason == "max_training_rounds"

    first_net = fresh_net()
    first, saved = train(first_net, method, stop_after=stop_after)
    assert first.reason == "stopped_by_user"
    assert first.absolute_batch == stop_after
    # the saved state goes through bytes, as a checkpoint would
    buffer = io.BytesIO()
    torch.save(copy.deepcopy(saved), buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=True)

    resumed_net = fresh_net()  # different object, initial weights: the state overwrites them
    resumed, _ = train(resumed_net, method, resume=restored)
    assert resumed.reason == "max_training_rounds"
    assert_same_weights(resumed_net, full_net)
    assert resumed.batch_losses == full.batch_losses
    assert resumed.round_losses == full.round_losses
    assert resumed.examples_processed == full.examples_processed == ROUNDS * 45


def test_state_dict_is_plain_data():
    net = fresh_net()
    _, saved = train(net, "adam", stop_after=3)
    progress = saved["progress"]
    assert (progress["round"], progress["batch_in_round"], progress["absolute_batch"]) == (1, 3, 3)
    assert isinstance(saved["rng"], torch.Tensor)
    assert set(saved["net"]) == set(net.state_dict())
