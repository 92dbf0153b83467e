"""MATLAB's "Train Network Using Custom Training Loop", with nettrain.functional.

The MATLAB example trains an image classifier with a learning-rate schedule that
``trainingOptions`` does not offer, time-based decay::

    learnRate = initialLearnRate / (1 + decay * iteration)

in a loop of its own: a ``minibatchqueue`` of the images, ``dlfeval(@modelLoss, ...)`` for the
loss and gradients, ``sgdmupdate`` with momentum 0.9, and a ``trainingProgressMonitor`` showing
the loss, the epoch and the learning rate, with a Stop button. The same loop here, line for
line: ``MiniBatchQueue("Digits", 128)`` (the 8x8 UCI digits embedded in the package, through
the same encoders ``nettrain.train`` uses), ``value_and_grad``, ``sgdm_update`` and a
``ProgressMonitor`` (Ctrl-C is the Stop button: the loop ends after the current iteration and
keeps what it learnt). MATLAB's settings: 10 epochs, batches of 128, initial rate 0.01, decay
0.01, momentum 0.9.

    python examples/custom_schedule.py                 # about 10 s on 2 cores
    python examples/custom_schedule.py --epochs 20 --quiet
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import nettrain
from nettrain.functional import MiniBatchQueue, ProgressMonitor, sgdm_update, value_and_grad

INITIAL_LEARN_RATE = 0.01
DECAY = 0.01
MOMENTUM = 0.9


def classifier(seed: int) -> nn.Module:
    """A small convolutional net for 8x8 grey images (conv, batch norm, ReLU, fully connected)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )


def model_loss(net: nn.Module, x: Tensor, t: Tensor) -> Tensor:
    """MATLAB's modelLoss: the cross-entropy of the net's predictions."""
    return F.cross_entropy(net(x), t)


def test_accuracy(net: nn.Module) -> float:
    queue = MiniBatchQueue("Digits", 512, split="test", shuffle="never", device="cpu")
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(x).argmax(1) == t).sum()) for x, t in queue)
    net.train()
    return correct / queue.num_examples


def train(
    epochs: int = 10, *, seed: int = 0, reporting: object = "auto"
) -> tuple[nn.Module, nettrain.TrainResult, list[float]]:
    """The custom loop; returns the net, the monitor's result and the rate of every iteration."""
    net = classifier(seed)
    queue = MiniBatchQueue("Digits", 128, seed=seed, device="cpu")
    monitor = ProgressMonitor(
        metrics=["loss"], info=["epoch", "learning_rate"], x_label="iteration", reporting=reporting
    )
    state, iteration, rates = None, 0, []
    with monitor:
        for epoch in range(1, epochs + 1):
            monitor.update_info(epoch=epoch)
            for x, t in queue:  # shuffled every epoch
                iteration += 1
                loss, grads = value_and_grad(model_loss, net, x, t)
                learn_rate = INITIAL_LEARN_RATE / (1 + DECAY * iteration)  # time-based decay
                net, state = sgdm_update(
                    net, grads, state, learning_rate=learn_rate, momentum=MOMENTUM
                )
                rates.append(learn_rate)
                monitor.record_metrics(iteration, loss=loss)
                monitor.update_info(learning_rate=learn_rate)
                monitor.progress = 100 * epoch / epochs
                if monitor.stop:
                    break
            if monitor.stop:
                break
    return net, monitor.result(), rates


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="A custom loop with time-based decay.")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    net, result, _ = train(args.epochs, seed=args.seed, reporting=None if args.quiet else "auto")
    accuracy = test_accuracy(net)
    print(result)
    print(
        f"round losses: {', '.join(f'{v:.3f}' for v in result.round_loss_list)}\n"
        f"learning rate {result.initial_learning_rate:.5f} -> {result.final_learning_rate:.5f}; "
        f"test accuracy {accuracy:.1%}"
    )
    return accuracy


if __name__ == "__main__":
    main()
