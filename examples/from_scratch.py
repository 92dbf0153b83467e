"""Seed 003's lesson, with nettrain.functional: a two-layer net from scratch, checked, trained.

The lesson ("deep learning from scratch", chapter 4) builds ``TwoLayerNet`` by hand: parameters
in a dict ``{"W1", "b1", "W2", "b2"}`` (weights drawn with standard deviation 0.01, biases 0),
``predict`` = affine, sigmoid, affine, softmax, the loss the cross-entropy of the softmax, and
gradients first by central differences (``numerical_gradient``, h = 1e-4) and then by
backpropagation. It checks the two against each other, then trains with mini-batch SGD
(learning rate 0.1, batches of 100) and prints ``train acc, test acc`` once per epoch.

Here the same steps, each with a nettrain.functional piece:

1. the net is a *model function* ``predict(params, x)`` over the lesson's dict, in its layout
   (``x @ W1 + b1``), made with ``initialize_gaussian``;
2. ``gradient_check`` compares autograd's gradients (``value_and_grad``) with the lesson's
   central differences on three examples in float64, and prints the error per parameter (the
   lesson prints the mean absolute difference; both are shown);
3. a ``MiniBatchQueue`` hands out shuffled batches of 100; ``dl_update`` applies the lesson's
   ``params[key] -= learning_rate * grad[key]``; a ``ProgressMonitor`` records the loss and
   accuracies and gives a ``TrainResult`` at the end.

The lesson uses MNIST (about 94% after 16 epochs); this machine has Fashion-MNIST (the same
format, harder: about 84%). Without it, the UCI digits embedded in the package are used (8x8
images, hidden layer 50 as well); with 15 batches per epoch instead of 600 they need a larger
step, e.g. ``--learning-rate 1 --epochs 30`` (about 95%).

    python examples/from_scratch.py                         # ../shared/datasets/fashion-mnist
    python examples/from_scratch.py digits --learning-rate 1 --epochs 30
    python examples/from_scratch.py PATH --epochs 5         # a folder with the four IDX files
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import nettrain
from nettrain.datasets import load, load_fashion_mnist
from nettrain.functional import (
    MiniBatchQueue,
    ProgressMonitor,
    dl_update,
    gradient_check,
    initialize_gaussian,
    initialize_zeros,
    value_and_grad,
)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "fashion-mnist"
Params = dict[str, Tensor]


def load_data(where: str | Path) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Train and test images as float32 [n, pixels] in [0, 1] and labels as class indices."""
    if str(where) == "digits":
        splits = {
            s: (load("Digits", s).inputs, load("Digits", s).labels) for s in ("train", "test")
        }
    else:
        splits = load_fashion_mnist(Path(where))

    def prepare(images: Any, labels: Any) -> tuple[Tensor, Tensor]:
        x = torch.from_numpy(images).reshape(len(images), -1).to(torch.float32) / 255
        return x, torch.from_numpy(labels).to(torch.int64)

    return (*prepare(*splits["train"]), *prepare(*splits["test"]))


def two_layer_net(input_size: int, hidden_size: int, output_size: int, seed: int) -> Params:
    """The lesson's ``TwoLayerNet.__init__`` (weight_init_std=0.01), in its layout."""
    return {
        "W1": initialize_gaussian([input_size, hidden_size], standard_deviation=0.01, seed=seed),
        "b1": initialize_zeros(hidden_size),
        "W2": initialize_gaussian(
            [hidden_size, output_size], standard_deviation=0.01, seed=seed + 1
        ),
        "b2": initialize_zeros(output_size),
    }


def predict(p: Params, x: Tensor) -> Tensor:
    """affine -> sigmoid -> affine -> softmax, as the lesson's ``predict``."""
    a1 = x @ p["W1"] + p["b1"]
    z1 = torch.sigmoid(a1)
    a2 = z1 @ p["W2"] + p["b2"]
    return torch.softmax(a2, dim=1)


def loss(p: Params, x: Tensor, t: Tensor) -> Tensor:
    """The lesson's ``cross_entropy_error(predict(x), t)`` with class-index labels."""
    y = predict(p, x)
    return -torch.log(y[torch.arange(len(t)), t] + 1e-7).mean()


def accuracy(p: Params, x: Tensor, t: Tensor) -> float:
    with torch.no_grad():
        return float((predict(p, x).argmax(1) == t).float().mean())


def check_gradients(
    params: Params, x: Tensor, t: Tensor
) -> nettrain.functional.GradientCheckReport:
    """The lesson's gradient_check.py: three examples, autograd against central differences."""
    as_double = {k: v.double() for k, v in params.items()}
    report = gradient_check(loss, as_double, x[:3].double(), t[:3])
    for name in as_double:
        difference = (report.autograd[name] - report.numerical[name]).abs().mean()
        print(
            f"{name}: mean |autograd - numerical| {float(difference):.3e}, "
            f"max relative error {report.errors[name]:.3e}"
        )
    return report


def train(
    params: Params,
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    *,
    epochs: int,
    learning_rate: float = 0.1,
    batch_size: int = 100,
    seed: int = 1234,
) -> tuple[Params, list[tuple[float, float]], nettrain.TrainResult]:
    """Mini-batch SGD; a (train, test) accuracy row before training and after each epoch."""
    x, t, test_x, test_t = data
    queue = MiniBatchQueue((x, t), batch_size, seed=seed, device="cpu")
    monitor = ProgressMonitor(
        metrics=["loss", "train_accuracy", "test_accuracy"], info=["epoch"], reporting=None
    )
    rows = [(accuracy(params, x, t), accuracy(params, test_x, test_t))]
    print(f"train acc, test acc | {rows[0][0]:.4f}, {rows[0][1]:.4f}")
    iteration = 0
    for epoch in range(1, epochs + 1):
        monitor.update_info(epoch=epoch)
        for xb, tb in queue:  # one epoch, in a new order every epoch
            iteration += 1
            value, grads = value_and_grad(loss, params, xb, tb)
            params = dl_update(lambda w, g: w - learning_rate * g, params, grads)
            monitor.record_metrics(iteration, loss=value)
        rows.append((accuracy(params, x, t), accuracy(params, test_x, test_t)))
        monitor.record_metrics(iteration, train_accuracy=rows[-1][0], test_accuracy=rows[-1][1])
        print(f"train acc, test acc | {rows[-1][0]:.4f}, {rows[-1][1]:.4f}")
        if monitor.stop:  # Ctrl-C ends the loop after this epoch, keeping what was learnt
            break
    return params, rows, monitor.result()


def main(argv: list[str] | None = None) -> list[tuple[float, float]]:
    parser = argparse.ArgumentParser(description="The two-layer net of the lesson, by hand.")
    parser.add_argument(
        "data",
        nargs="?",
        default=str(DEFAULT_DATA),
        help="a folder with the four Fashion-MNIST IDX files, or 'digits'",
    )
    parser.add_argument("--epochs", type=int, default=16, help="epochs (the lesson's 16)")
    parser.add_argument("--learning-rate", type=float, default=0.1, help="the lesson's 0.1")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    where = args.data
    if where != "digits" and not Path(where).is_dir():
        print(f"{where} not found: using the UCI digits embedded in nettrain")
        where = "digits"
    try:
        data = load_data(where)
    except nettrain.NetTrainError as error:
        parser.error(str(error))
    params = two_layer_net(data[0].shape[1], 50, 10, args.seed)
    report = check_gradients(params, data[0], data[1])
    print(f"gradient check: {'ok' if report.ok else 'FAILED'}\n")
    _, rows, result = train(
        params, data, epochs=args.epochs, learning_rate=args.learning_rate, seed=args.seed
    )
    print(f"\n{result.total_batches} updates in {result.total_training_time:.1f} s")
    return rows


if __name__ == "__main__":
    main()
