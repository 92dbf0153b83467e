"""Regressions of the engine on the nets people write (issue 9): each asserts the right value.

Final Softmax/Sigmoid/LogSoftmax layers through the all-defaults call, decoders that read what
the module outputs, scalar inputs, measurements with validation, the learning rate actually
used, divergence that stays finite, checks before training, user code that raises, streams
that bring their own batches, class labels for a one-output net.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nettrain
from conftest import QUIET, assert_same_weights, make_classification, weights
from nettrain import NetTrainError, NetTrainWarning
from nettrain.runtime.modules import copy_module, library_hooks
from nettrain.train import _train


def two_classes(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] < x[:, 1]).long()


class FastClock:
    """Simulated time: each reading is 50 ms after the last, so the automatic ~20 s of training
    (and the timing before it) takes a few hundred steps instead of 20 real seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.05
        return self.now


FINAL_LAYERS = {
    "none": lambda: nn.Identity(),
    "softmax": lambda: nn.Softmax(dim=-1),
    "log_softmax": lambda: nn.LogSoftmax(dim=-1),
}


# ---- 1. final layers through the all-defaults call --------------------------------------------


@pytest.mark.parametrize("final", [*FINAL_LAYERS, "sigmoid"])
def test_every_final_layer_trains_through_the_all_defaults_call(final):
    x, y = two_classes()
    if final == "sigmoid":
        net = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
        data = (x, y.bool()[:, None])
    else:
        net = nn.Sequential(nn.Linear(2, 2), FINAL_LAYERS[final]())
        data = (x, y)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the automatic thread timing copies the net: it must be safe
    try:
        r = _train(net, data, "all", {}, FastClock())
    finally:
        torch.set_num_threads(threads)
    assert r.reason_training_stopped == "max_training_rounds"
    assert r.round_loss < r.round_loss_list[0]
    assert library_hooks(net) == 0  # nothing the library attached stays on the net
    copy.deepcopy(net)  # and the net can be copied as the user likes


def test_the_logit_tap_keeps_no_tensor_between_calls():
    x, y = two_classes(64)
    net = nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1))
    seen = []

    def copy_during_training(live):
        taps = [hook.function.__self__ for hook in live["net"][1]._forward_hooks.values()]
        assert taps and all(tap.logits is None for tap in taps)  # nothing held between calls
        twin = copy.deepcopy(live["net"])  # the user copies the net mid-run: it works
        seen.append(torch.equal(twin(x), live["net"](x)))

    nettrain.train(
        net, (x, y), training_progress_function=copy_during_training, max_training_rounds=2, **QUIET
    )
    assert len(seen) >= 2 and all(seen)


def test_copy_module_drops_library_hooks_and_detaches_graph_tensors():
    class Keeps(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 2)
            self.last = None

        def forward(self, x):
            self.last = self.layer(x)  # a tensor with an autograd graph, kept in an attribute
            return self.last

    net = Keeps()
    net(torch.ones(1, 2))
    user_calls = []
    net.register_forward_hook(lambda m, i, o: user_calls.append(1))
    with pytest.raises(RuntimeError):
        copy.deepcopy(net)
    twin = copy_module(net)
    assert twin.last.grad_fn is None and torch.equal(twin.last, net.last.detach())
    twin(torch.ones(1, 2))
    assert user_calls == [1]  # the user's own hook is copied


@pytest.mark.slow
def test_the_issues_softmax_net_trains_with_every_option_left_out():
    """The exact call that crashed: automatic batch size, rounds (about 20 s) and threads."""
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] < x[:, 1]).long()
    net = nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1))
    r = nettrain.train(net, (x, y), "all")  # as in the issue, but asking for every property
    assert r.trained_net is net and r.reason_training_stopped == "max_training_rounds"
    assert r.round_measurements["error_rate"] < 0.1
    assert library_hooks(net) == 0


# ---- 2. decoders read what the module outputs ------------------------------------------------


def _labelled(n=120, seed=1):
    x, y = two_classes(n, seed)
    names = ["left", "right"]
    return [(xi, names[int(yi)]) for xi, yi in zip(x, y, strict=True)], x


@pytest.mark.parametrize("final", FINAL_LAYERS)
def test_class_decoder_properties_match_the_modules_output(final):
    data, x = _labelled()
    torch.manual_seed(0)
    net = nettrain.train(
        nn.Sequential(nn.Linear(2, 2), FINAL_LAYERS[final]()), data, max_training_rounds=30, **QUIET
    )
    with torch.no_grad():
        out = net.module(x[:10]).double()
    p = {"none": out.softmax(-1), "softmax": out, "log_softmax": out.exp()}[final]
    probabilities = net(list(x[:10]), "probabilities")
    for row, answer in zip(p.tolist(), probabilities, strict=True):
        assert answer == {"left": row[0], "right": row[1]}  # exact: the module's own numbers
    assert net(list(x[:10])) == [["left", "right"][i] for i in p.argmax(-1).tolist()]
    assert net(list(x[:10]), ("probability", "right")) == p[:, 1].tolist()
    entropy = torch.special.entr(p).sum(-1).tolist()
    assert net(list(x[:10]), "entropy") == pytest.approx(entropy, rel=1e-12)
    top = net(list(x[:1]), ("top_probabilities", 1))[0]
    assert top == [(["left", "right"][int(p[0].argmax())], float(p[0].max()))]
    order = p.sort(dim=-1, descending=True, stable=True).indices.tolist()
    assert net(list(x[:10]), ("top_decisions", 2)) == [
        [["left", "right"][i] for i in o] for o in order
    ]
    assert net(list(x[:10]), ("random_sample", 0)) == net(list(x[:10]))  # temperature 0: argmax
    samples = net(list(x[:10]), "random_sample", generator=torch.Generator().manual_seed(5))
    expected = torch.multinomial(p, 1, generator=torch.Generator().manual_seed(5))[:, 0]
    assert samples == [["left", "right"][i] for i in expected.tolist()]
    torch.testing.assert_close(net(x[:10], None), net.module(x[:10]).detach())  # raw output


def test_softmax_probabilities_are_the_modules_even_when_extreme():
    data, _ = _labelled()
    net = nettrain.train(
        nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1)), data, max_training_rounds=1, **QUIET
    )
    with torch.no_grad():  # weights that make the module answer [1.0, ~4e-25]
        net.module[0].weight.copy_(torch.tensor([[28.0, 0.0], [-28.0, 0.0]]))
        net.module[0].bias.zero_()
    with torch.no_grad():
        out = net.module(torch.tensor([[1.0, 0.0]]))[0].double()
    answer = net(torch.tensor([1.0, 0.0]), "probabilities")
    assert answer == {"left": float(out[0]), "right": float(out[1])}
    assert answer["left"] == 1.0 and answer["right"] < 1e-20


@pytest.mark.parametrize("final", ["sigmoid", "none"])
def test_boolean_decoder_properties_match_the_modules_output(final):
    data = [([1.0], False), ([2.0], False), ([3.0], True), ([4.0], True)]
    torch.manual_seed(0)
    layers = [nn.Linear(1, 1)] + ([nn.Sigmoid()] if final == "sigmoid" else [])
    net = nettrain.train(
        nn.Sequential(*layers), data, max_training_rounds=300, learning_rate=0.1, **QUIET
    )
    probe = torch.tensor([[0.5], [2.4], [2.6], [3.5]])
    with torch.no_grad():
        out = net.module(probe)[:, 0].double()
    p = out if final == "sigmoid" else out.sigmoid()
    assert net(list(probe), "probability") == p.tolist()
    assert net(list(probe)) == (p >= 0.5).tolist()
    assert net(torch.tensor([0.5])) is False  # its own output there is far below 0.5
    entropy = (torch.special.entr(p) + torch.special.entr(1 - p)).tolist()
    assert net(list(probe), "entropy") == pytest.approx(entropy, rel=1e-12)
    samples = net(list(probe), "random_sample", generator=torch.Generator().manual_seed(3))
    draws = torch.rand(p.shape, generator=torch.Generator().manual_seed(3), dtype=p.dtype)
    assert samples == (draws < p).tolist()


def test_multilabel_decoder_with_a_final_sigmoid_reads_probabilities():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(90, 3, generator=g)
    labels = [tuple(n for n, v in zip("abc", row > 0, strict=True) if v) for row in x]
    torch.manual_seed(0)
    net = nettrain.train(
        nn.Sequential(nn.Linear(3, 3), nn.Sigmoid()),
        (x, labels),
        max_training_rounds=60,
        learning_rate=0.05,
        **QUIET,
    )
    with torch.no_grad():
        p = net.module(x[:5]).double()
    answers = net(list(x[:5]), "probabilities")
    assert answers == [dict(zip("abc", row, strict=True)) for row in p.tolist()]
    assert net(list(x[:5])) == [
        [c for c, v in zip("abc", row, strict=True) if v >= 0.5] for row in p
    ]


# ---- 3. scalar inputs ---------------------------------------------------------------------------


def test_the_seeds_perceptron_on_scalars():
    data = [(1.0, False), (2.0, False), (3.0, True), (4.0, True)]
    torch.manual_seed(0)
    net, encoders = nettrain.train(
        nn.Sequential(nn.Linear(1, 1), nn.Sigmoid()),
        data,
        ["trained_net", "encoders"],
        max_training_rounds=500,
        learning_rate=0.1,
        **QUIET,
    )
    assert net(3.7) is True and net(1.2) is False
    assert net([1.0, 3.7]) == [False, True]
    assert "feature axis" in encoders["input"]  # the choice is recorded
    with torch.no_grad():
        assert net(3.7, None).item() == net.module(torch.tensor([[3.7]])).item()


def test_a_column_of_scalars_regresses_like_a_column_vector():
    x = torch.linspace(-1, 1, 32)
    torch.manual_seed(0)
    a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    b.load_state_dict(a.state_dict())
    opts = {"max_training_rounds": 5, "batch_size": 8, "learning_rate": 0.05, **QUIET}
    net_a = nettrain.train(a, (x, 3 * x + 1), **opts)  # [n] scalars
    nettrain.train(b, (x[:, None], 3 * x[:, None] + 1), **opts)  # [n, 1]
    assert_same_weights(a, b)
    assert net_a(0.5, None).shape == (1,)


def test_a_net_that_takes_scalars_itself_keeps_them():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            assert x.ndim == 1  # this net wants [n]
            return self.a * x

    x = torch.linspace(-1, 1, 16)
    r = nettrain.train(Scale(), (x, 2 * x), "all", max_training_rounds=3, batch_size=4, **QUIET)
    assert r.encoders == {}


# ---- 4. a measurement without the loss, with validation ------------------------------------------


def test_accuracy_alone_with_a_validation_set_measures_the_loss_too():
    x, y = two_classes()
    r = nettrain.train(
        nn.Linear(2, 2),
        (x, y),
        "all",
        training_progress_measurements="accuracy",
        validation_set=0.25,
        max_training_rounds=4,
        **QUIET,
    )
    assert r.measurements == ["loss", "accuracy"]
    accuracies = r.validation_measurements_lists["accuracy"]
    # the best net is the most accurate validation (accuracy ranks as the error rate would)
    best = max(range(len(accuracies)), key=lambda i: (accuracies[i], -r.validation_loss_list[i]))
    assert r.best_validation_round == best + 1


# ---- 5. the learning rate actually used ------------------------------------------------------


def test_final_learning_rate_is_the_rate_of_the_last_update():
    x, y = two_classes(2)
    r = nettrain.train(
        nn.Linear(2, 2),
        (x, y),
        "all",
        method=("sgd", {"learning_rate_schedule": lambda b, t: 1 - b / t}),
        learning_rate=0.1,
        batch_size=1,
        max_training_rounds=1,
        **QUIET,
    )
    assert r.total_batches == 2
    assert r.final_learning_rate == pytest.approx(0.05)


@pytest.mark.parametrize("value", [1.5, -0.1, math.nan])
def test_a_schedule_value_outside_0_1_is_refused_before_training(value):
    x, y = two_classes(20)
    net = nn.Linear(2, 2)
    before = weights(net)
    with pytest.raises(NetTrainError, match="from 0 to 1") as info:
        nettrain.train(
            net,
            (x, y),
            method=("sgd", {"learning_rate_schedule": lambda b, t: value}),
            max_training_rounds=1,
            **QUIET,
        )
    assert "learning_rate_schedule" in info.value.argument
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


# ---- 6. divergence that stays finite ------------------------------------------------------------


def test_a_loss_that_explodes_but_stays_finite_is_divergence():
    x, y = two_classes()
    net = nn.Linear(2, 2)
    first_round = copy.deepcopy(net)
    opts = {"learning_rate": 5.0, "method": ("sgd", {"momentum": 0.0}), "batch_size": 200}
    nettrain.train(first_round, (x, y), max_training_rounds=1, **opts, **QUIET)
    with pytest.warns(NetTrainWarning, match=r"exploded.*end of round 1"):
        r = nettrain.train(
            net,
            (x * 1e4, y),  # unnormalised inputs: the loss grows a thousandfold a step
            "all",
            max_training_rounds=20,
            learning_rate=5.0,
            method=("sgd", {"momentum": 0.0}),
            batch_size=200,
            **QUIET,
        )
    losses = r.round_loss_list
    assert r.reason_training_stopped == "weights_diverged"
    assert all(math.isfinite(v) for v in losses) and losses[-1] > 1e4 * r.batch_loss_list[0]
    # the net holds the weights of the last round whose loss was sane
    assert r.total_rounds < 20


def test_adam_with_a_huge_rate_stops_as_diverged_and_keeps_sane_weights():
    x, y = two_classes()
    net = nn.Linear(2, 2)
    before = weights(net)
    with pytest.warns(NetTrainWarning, match="lower learning_rate"):
        r = nettrain.train(
            net, (x, y), "all", learning_rate=1e6, batch_size=16, max_training_rounds=5, **QUIET
        )
    assert r.reason_training_stopped == "weights_diverged"
    assert r.total_rounds <= 2
    if r.total_rounds == 1:  # exploded in round 1: the weights from before training
        assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    with torch.no_grad():
        assert float(F.cross_entropy(net(x), y)) < 1e4 * r.batch_loss_list[0]


def test_a_loss_that_rises_a_little_is_not_divergence():
    x, y = two_classes()
    r = nettrain.train(
        nn.Linear(2, 2), (x, y), "all", learning_rate=0.5, max_training_rounds=5, **QUIET
    )
    assert r.reason_training_stopped == "max_training_rounds"


# ---- 7. checked before training ------------------------------------------------------------------


def test_a_validation_set_that_does_not_fit_is_refused_before_training():
    x, y = two_classes()
    net = nn.Linear(2, 2)
    before = weights(net)
    with pytest.raises(NetTrainError) as info:
        nettrain.train(
            net, (x, y), validation_set=(torch.randn(10, 3), y[:10]), max_training_rounds=2, **QUIET
        )
    assert info.value.argument == "validation_set"
    assert "shape (2,)" in info.value.expected and "shape (3,)" in info.value.received
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_validation_targets_the_loss_cannot_compare_are_refused_before_training():
    x, y = two_classes()
    net = nn.Linear(2, 2)
    before = weights(net)
    with pytest.raises(NetTrainError) as info:
        nettrain.train(
            net, (x, y), validation_set=(x[:10], torch.randn(10, 4)), max_training_rounds=2, **QUIET
        )
    assert info.value.argument == "validation_set"
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_a_misspelt_measurement_costs_no_time():
    x, y = two_classes()
    clock = FastClock()
    with pytest.raises(NetTrainError, match="did you mean 'accuracy'") as info:
        _train(nn.Linear(2, 2), (x, y), None, {"training_progress_measurements": "acuracy"}, clock)
    assert info.value.argument == "training_progress_measurements"
    assert clock.now < 0.5  # no batch-cost measurement or step timing ran (they read the clock)


@pytest.mark.parametrize(
    "net",
    [nn.ReLU(), nn.Linear(2, 2).requires_grad_(False)],
    ids=["no parameters", "all frozen"],
)
def test_a_net_with_nothing_to_train_is_refused(net):
    x, y = two_classes()
    with pytest.raises(NetTrainError, match="nothing to train") as info:
        nettrain.train(net, (x, y), max_training_rounds=1, **QUIET)
    assert info.value.argument == "net"


# ---- 8. user code that raises during training ---------------------------------------------------


def _reference_after(rounds, x, y, opts):
    torch.manual_seed(0)
    net = nn.Linear(2, 2)
    nettrain.train(net, (x, y), max_training_rounds=rounds, **opts, **QUIET)
    return net


def test_a_progress_function_that_raises_propagates_with_a_note():
    x, y = two_classes(64)
    opts = {"batch_size": 16}

    def boom(live):
        if live["event"] == "round_complete" and live["round"] == 2:
            raise ValueError("boom")

    torch.manual_seed(0)
    net = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="boom") as info:
        nettrain.train(
            net, (x, y), training_progress_function=boom, max_training_rounds=5, **opts, **QUIET
        )
    notes = "\n".join(info.value.__notes__)
    assert "training_progress_function" in notes and "end of round 2" in notes
    assert_same_weights(net, _reference_after(2, x, y, opts))
    assert library_hooks(net) == 0


class FailsAtCall(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.layer, self.calls, self.k = nn.Linear(2, 2), 0, k

    def forward(self, x):
        self.calls += self.training  # the probes before training run in eval mode
        if self.calls == self.k:
            raise RuntimeError("bad forward")
        return self.layer(x)


def test_a_forward_that_raises_at_batch_k_leaves_the_last_complete_update():
    x, y = two_classes(64)
    opts = {"max_training_rounds": 5, "batch_size": 16, **QUIET}
    torch.manual_seed(0)
    net = FailsAtCall(k=6)  # batch 6: round 2, batch 2
    with pytest.raises(RuntimeError, match="bad forward") as info:
        nettrain.train(net, (x, y), **opts)
    notes = "\n".join(info.value.__notes__)
    assert "the net's forward()" in notes and "round 2, after 1 of its batches" in notes
    # the same run stopped right after its 5th update holds the same weights
    torch.manual_seed(0)
    reference = FailsAtCall(k=-1)
    stop_at_5 = (
        lambda live: "stop_training" if live["absolute_batch"] == 5 else None,
        {"interval": "batch"},
    )
    nettrain.train(reference, (x, y), training_progress_function=stop_at_5, **opts)
    assert_same_weights(net, reference)


def test_a_loss_function_that_raises_has_a_note():
    x, y = two_classes(32)
    calls = itertools.count()

    def loss(out, target):
        if next(calls) == 5:
            raise ArithmeticError("loss broke")
        return F.cross_entropy(out, target)

    with pytest.raises(ArithmeticError) as info:
        nettrain.train(
            nn.Linear(2, 2),
            (x, y),
            loss_function=loss,
            batch_size=8,
            max_training_rounds=3,
            **QUIET,
        )
    assert any("the loss function" in n for n in info.value.__notes__)


def test_a_generator_that_raises_has_a_note():
    def batches(batch_size, round):
        if round == 2:
            raise OSError("disk gone")
        return torch.randn(batch_size, 2), torch.randint(0, 2, (batch_size,))

    with pytest.raises(OSError, match="disk gone") as info:
        nettrain.train(nn.Linear(2, 2), batches, max_training_rounds=3, batch_size=8, **QUIET)
    notes = "\n".join(info.value.__notes__)
    assert "reading the training data" in notes and "round 2" in notes


def test_a_stopping_criterion_that_raises_has_a_note():
    x, y = two_classes(64)

    def criterion(values):
        raise LookupError("no such key")

    with pytest.raises(LookupError) as info:
        nettrain.train(
            nn.Linear(2, 2),
            (x, y),
            training_stopping_criterion=criterion,
            validation_set=0.25,
            max_training_rounds=3,
            **QUIET,
        )
    assert any("training_stopping_criterion" in n for n in info.value.__notes__)


def test_a_dataloader_collate_that_raises_has_a_note():
    x, y = two_classes(64)

    def collate(items):
        raise TypeError("cannot collate")

    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=8, collate_fn=collate
    )
    with pytest.raises(TypeError, match="cannot collate") as info:
        nettrain.train(nn.Linear(2, 2), loader, max_training_rounds=1, **QUIET)
    assert any("reading the training data's first batch" in n for n in info.value.__notes__)


def test_a_keyboard_interrupt_during_the_stop_events_keeps_the_result():
    x, y = two_classes(64)

    def interrupt_at_the_end(live):
        if live["event"] == "training_complete":
            raise KeyboardInterrupt

    net = nn.Linear(2, 2)
    before = weights(net)
    r = nettrain.train(
        net,
        (x, y),
        "all",
        training_progress_function=interrupt_at_the_end,
        max_training_rounds=2,
        **QUIET,
    )
    assert r.reason_training_stopped == "max_training_rounds" and r.total_rounds == 2
    assert any(not torch.equal(v, before[k]) for k, v in net.state_dict().items())


# ---- 10, 11: streams' own batch sizes, class labels for one output ------------------------


def test_a_dataloader_with_another_batch_size_is_refused():
    x, y = two_classes(64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    with pytest.raises(NetTrainError, match="brings its own batches, of 32") as info:
        nettrain.train(nn.Linear(2, 2), loader, batch_size=8, max_training_rounds=1, **QUIET)
    assert info.value.argument == "batch_size"
    r = nettrain.train(nn.Linear(2, 2), loader, "batch_size", max_training_rounds=1, **QUIET)
    assert r == 32


def test_string_labels_for_a_one_output_net_are_refused_with_what_to_do():
    x, y = two_classes(40)
    labels = ["cat" if v else "dog" for v in y.tolist()]
    net = nn.Linear(2, 1)
    before = weights(net)
    with pytest.raises(NetTrainError, match=r"one output per class") as info:
        nettrain.train(net, (x, labels), max_training_rounds=1, **QUIET)
    assert info.value.argument == "net"
    assert "nn.Linear(..., 2)" in str(info.value) and "True/False" in str(info.value)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


# ---- 14, 16: histories, the input form, the results object ------------------------------------


def test_every_live_property_can_be_collected_with_every_interval():
    x, y = two_classes(64)
    seen = []

    def record(live):
        seen.append(sorted(k for k in live if k != "event"))

    r, val_loss, measures, per_two, per_8, pct = nettrain.train(
        nn.Linear(2, 2),
        (x, y),
        [
            "all",
            {"Property": "ValidationLoss", "Interval": "Round"},
            {"property": "round_measurements", "interval": "round"},
            {"property": "round_loss", "interval": "2 rounds"},
            {"property": "absolute_batch", "interval": "8 batches"},
            {"property": "progress_fraction", "interval": "25 percent"},
        ],
        validation_set=0.25,
        training_progress_function=record,
        max_training_rounds=4,
        batch_size=8,
        **QUIET,
    )
    assert val_loss == r.validation_loss_list[:4]
    lists = r.round_measurements_lists
    assert measures == [{k: v[i] for k, v in lists.items()} for i in range(4)]
    assert per_two == [r.round_loss_list[1], r.round_loss_list[3]]
    assert per_8 == [8, 16, 24] and r.total_batches == 24
    assert pct == pytest.approx([0.25, 0.5, 0.75, 1.0], abs=1 / 24)
    from nettrain.progress.history import LIVE_PROPERTIES

    assert set(seen[0]) - {"example_losses"} <= set(LIVE_PROPERTIES)
    for name in set(seen[0]):
        nettrain.train(
            nn.Linear(2, 2),
            (x, y),
            {"property": name, "interval": "round"},
            max_training_rounds=1,
            **QUIET,
        )


def test_train_input_form_is_the_call_with_every_choice_resolved():
    x, y = two_classes(64)
    r = nettrain.train(nn.Linear(2, 2), (x, y), "all", max_training_rounds=2, **QUIET)
    form = r.train_input_form
    assert form.startswith("nettrain.train(net, data, ")
    for part in (
        "batch_size=64",
        "learning_rate=0.001",
        "loss_function='cross_entropy'",
        "max_training_rounds=2",
        "method=('adam', {",
        "random_seeding=1234",
        "target_device='cpu'",
        "working_precision='float32'",
    ):
        assert part in form, part
    # it is Python: running it again gives the same net
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.load_state_dict(a.state_dict())
    nettrain.train(a, (x, y), max_training_rounds=2, **QUIET)
    eval(form, {"nettrain": nettrain, "net": b, "data": (x, y)})  # our own text: safe
    assert_same_weights(a, b)
    assert r.input_form == "inputs_targets"


def test_results_object_and_netrain_names_are_property_names():
    x, y = two_classes(32)
    opts = {"max_training_rounds": 1, **QUIET}
    r = nettrain.train(nn.Linear(2, 2), (x, y), "results_object", **opts)
    assert isinstance(r, nettrain.TrainResult)
    assert isinstance(nettrain.train(nn.Linear(2, 2), (x, y), "ResultsObject", **opts), type(r))
    torch.manual_seed(0)
    camel = nettrain.train(nn.Linear(2, 2), (x, y), "RoundLoss", **opts)
    torch.manual_seed(0)
    assert camel == nettrain.train(nn.Linear(2, 2), (x, y), "round_loss", **opts)
    form = nettrain.train(nn.Linear(2, 2), (x, y), "NetTrainInputForm", **opts)
    assert form.startswith("nettrain.train(")


def test_a_generator_validation_set_takes_round_length():
    calls = []

    def validation(batch_size, round):
        calls.append(batch_size)
        g = torch.Generator().manual_seed(len(calls))
        x = torch.randn(batch_size, 2, generator=g)
        return x, (x[:, 0] < x[:, 1]).long()

    x, y = two_classes(64)
    r = nettrain.train(
        nn.Linear(2, 2),
        (x, y),
        "all",
        validation_set=(validation, {"round_length": 100}),
        max_training_rounds=2,
        batch_size=16,
        **QUIET,
    )
    assert r.validation_examples == 100 and len(r.validation_loss_list) == 2
    # each validation calls the generator ceil(100 / its batch size) times
    per_validation = calls[1:]  # the first call only told the ports and shapes
    assert sum(per_validation) >= 2 * 100


def test_no_warning_for_a_plain_run():
    x, y = make_classification(40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nettrain.train(nn.Linear(5, 3), (x, y), max_training_rounds=2, **QUIET)


# ---- more hostile and everyday forms ---------------------------------------------------------


def test_class_indices_as_a_column_train_like_a_vector():
    x, y = two_classes(64)
    torch.manual_seed(0)
    a = nn.Linear(2, 2)
    b = copy.deepcopy(a)
    opts = {"max_training_rounds": 3, "batch_size": 16, **QUIET}
    ra = nettrain.train(a, (x, y), "all", **opts)
    rb = nettrain.train(b, (x, y[:, None]), "all", validation_set=(x[:8], y[:8, None]), **opts)
    assert ra.loss_function["output"]["loss"] == rb.loss_function["output"]["loss"]
    assert_same_weights(a, b)
    assert "error_rate" in rb.validation_measurements


def test_a_dict_output_needs_string_port_names():
    class IntKeys(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 2)

        def forward(self, x):
            return {1: self.layer(x)}

    x, y = two_classes(16)
    with pytest.raises(NetTrainError, match="named by strings") as info:
        nettrain.train(IntKeys(), (x, y), max_training_rounds=1, **QUIET)
    assert info.value.argument == "net"


def test_an_iterator_of_single_examples_says_to_pass_a_list():
    x, y = two_classes(16)
    with pytest.raises(NetTrainError, match="look like single examples") as info:
        pairs = (p for p in zip(x, y, strict=True))
        nettrain.train(nn.Linear(2, 2), pairs, max_training_rounds=1, **QUIET)
    assert info.value.argument == "data" and "list(...)" in str(info.value)


def test_a_refused_call_gives_back_every_bit_of_a_net_it_converted():
    x, y = two_classes(16)
    net = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    with torch.no_grad():
        net[0].weight.add_(1e-12)  # bits a float32 round trip would lose
    before = weights(net)
    bad = y.clone()
    bad[3] = 7  # a class index the net has no output for
    with pytest.raises(NetTrainError, match="class index"):
        nettrain.train(net, (x, bad), working_precision="float32", max_training_rounds=1, **QUIET)
    after = net.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
