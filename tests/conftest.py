"""Shared helpers for the tests: tiny seeded problems and nets."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def make_classification(n: int = 50, features: int = 5, classes: int = 3, seed: int = 0):
    """Float inputs [n, features] and int64 labels [n] from a fixed linear rule."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, classes, generator=g)
    y = (x @ w).argmax(1)
    return x, y


def make_net(features: int = 5, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, classes))


def weights(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs"


QUIET = {"training_progress_reporting": None}


@pytest.fixture
def problem():
    return make_classification()
