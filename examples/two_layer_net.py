"""The two-layer net of the from-scratch introduction (seed 003), trained with one call.

The book's ``TwoLayerNet`` (784-50-10, sigmoid hidden layer, softmax output, weights drawn with
standard deviation 0.01, biases 0) learns by plain mini-batch SGD with learning rate 0.1 and
batches of 100, and prints the train and test accuracy once per epoch. Here the same net is an
``nn.Sequential`` and the whole loop is one ``nettrain.train`` call; the accuracies come from a
custom history that nettrain calls at the end of every round. nettrain sees the final Softmax
and computes the cross-entropy from the logits before it, which is the numerically stable form
of the book's ``cross_entropy_error(softmax(a))``.

The book trains on MNIST; the machines here hold Fashion-MNIST (same format, harder), so expect
about 85% rather than the book's 94%.

    python examples/two_layer_net.py                    # ../shared/datasets/fashion-mnist
    python examples/two_layer_net.py PATH --rounds 5    # a folder with the four IDX files
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import nettrain
from nettrain.datasets import load_fashion_mnist

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "fashion-mnist"
# The book runs 10,000 iterations of batch 100 on 60,000 images: 16 2/3 epochs, printing a row
# at iterations 0, 600, ..., 9600, i.e. before training and after each of 16 whole epochs.
BOOK_ROUNDS = 16


def load(directory: Path) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Train and test images as float32 [n, 784] in [0, 1] (the book's normalize=True), and
    labels as class indices (nettrain needs no one-hot labels)."""
    splits = load_fashion_mnist(directory)

    def prepare(images: Any, labels: Any) -> tuple[Tensor, Tensor]:
        x = torch.from_numpy(images).reshape(len(images), -1).to(torch.float32) / 255
        return x, torch.from_numpy(labels).to(torch.int64)

    return (*prepare(*splits["train"]), *prepare(*splits["test"]))


def two_layer_net(input_size: int = 784, hidden_size: int = 50, output_size: int = 10) -> nn.Module:
    affine1, affine2 = nn.Linear(input_size, hidden_size), nn.Linear(hidden_size, output_size)
    # The book's initialisation (weight_init_std=0.01), not PyTorch's default.
    for layer in (affine1, affine2):
        nn.init.normal_(layer.weight, std=0.01)
        nn.init.zeros_(layer.bias)
    return nn.Sequential(affine1, nn.Sigmoid(), affine2, nn.Softmax(dim=-1))


@torch.no_grad()
def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((net(x).argmax(1) == y).float().mean())


def main(argv: list[str] | None = None) -> tuple[float, float]:
    """Train, print one row per round, and return the final (train, test) accuracy."""
    parser = argparse.ArgumentParser(description="The book's two-layer net, trained by nettrain.")
    parser.add_argument(
        "data",
        nargs="?",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder with the four Fashion-MNIST IDX files (default {DEFAULT_DATA})",
    )
    parser.add_argument("--rounds", type=int, default=BOOK_ROUNDS, help="epochs (default 16)")
    parser.add_argument("--seed", type=int, default=1234, help="initialisation and data order")
    args = parser.parse_args(argv)

    try:
        x, y, test_x, test_y = load(args.data)
    except nettrain.NetTrainError as error:
        parser.error(str(error))  # a clear message and exit status 2, not a traceback
    torch.manual_seed(args.seed)
    net = two_layer_net()

    def row(round_: int, model: nn.Module) -> tuple[float, float]:
        # Inside training the net is in train mode; measure in eval mode, then hand it back.
        was_training = model.training
        model.eval()
        accuracies = accuracy(model, x, y), accuracy(model, test_x, test_y)
        model.train(was_training)
        print(f"{round_:>5}  {accuracies[0]:>9.4f}  {accuracies[1]:>8.4f}", flush=True)
        return accuracies

    print("round  train acc  test acc")
    row(0, net)
    history = nettrain.train(
        net,
        (x, y),
        {"property": lambda live: row(live["round"], live["net"]), "interval": "round"},
        method=("sgd", {"momentum": 0.0}),
        learning_rate=0.1,
        batch_size=100,
        max_training_rounds=args.rounds,
        random_seeding=args.seed,
        training_progress_reporting=None,
    )
    train_acc, test_acc = history[-1]
    print(f"final: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}")
    return train_acc, test_acc


if __name__ == "__main__":
    main()
