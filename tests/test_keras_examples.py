"""examples/tfjs_guide.py: seed 002's steps, each checked for what it is meant to show."""

from __future__ import annotations

import torch

from conftest import load_example


def test_the_layers_api_steps(capsys):
    guide = load_example("tfjs_guide")
    data, labels = guide.make_data()
    out = guide.layers_api(data, labels, epochs=5)
    assert "Total params: 25,450" in out["summary"] and "25,120" in out["summary"]
    printed = capsys.readouterr().out
    assert "0.weight [32, 784]" in printed and "2.bias [10]" in printed
    history = out["history"]
    assert history.epoch == [0, 1, 2, 3, 4] and set(history.history) == {"loss", "accuracy"}
    assert len(out["batch_losses"]) == 5 * 4  # onBatchEnd: 4 batches of 32 for 100 examples
    assert history.history["loss"][-1] < history.history["loss"][0]
    dataset_losses = out["dataset_history"].history["loss"]
    assert len(dataset_losses) == 5 and dataset_losses[-1] < dataset_losses[0]
    predictions = out["predictions"]
    assert predictions.shape == (3, 10)
    assert torch.allclose(predictions.sum(1), torch.ones(3))  # softmax outputs


def test_the_core_api_steps():
    guide = load_example("tfjs_guide")
    data, labels = guide.make_data()
    costs = guide.core_api(data, labels, epochs=5)
    assert len(costs) == 15 and costs[-1] < 0.8 * costs[0]
