"""The hardest examples, as in NetTrain's documentation (seed 000): each training example's loss
round by round, then the examples the net still finds hardest.

``example_losses`` is each example's loss in the step that last trained it, in data order; a
custom history collects it at the end of every round, which gives a rounds x examples matrix.
Trained on the UCI digits embedded in the package (no network needed).

    python examples/hardest_examples.py               # 30 rounds of the built-in MLP
    python examples/hardest_examples.py --rounds 5 --show 3
"""

from __future__ import annotations

import argparse

import torch

import nettrain


def hardest(rounds: int, show: int) -> tuple[torch.Tensor, list[tuple[int, str, float]]]:
    """Train the Digits MLP; return the rounds x examples loss matrix and the ``show`` hardest
    examples as (index, true class, final loss), hardest first."""
    train = nettrain.datasets.load("Digits", "train")
    torch.manual_seed(0)
    net = nettrain.nets.make("mlp", "Digits")
    history, final = nettrain.train(
        net,
        train,
        [{"property": "example_losses", "interval": "round"}, "example_losses"],
        max_training_rounds=rounds,
        validation_set=None,
        training_progress_reporting=None,
    )
    matrix = torch.stack(history)
    order = final.argsort(descending=True)[:show].tolist()
    names = train.class_names
    return matrix, [(i, names[int(train.labels[i])], float(final[i])) for i in order]


def main(argv: list[str] | None = None) -> torch.Tensor:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--show", type=int, default=5, help="how many hardest examples to list")
    args = parser.parse_args(argv)
    matrix, worst = hardest(args.rounds, args.show)
    print(f"example losses: {matrix.shape[0]} rounds x {matrix.shape[1]} examples")
    print("mean loss by round: " + ", ".join(f"{v:.3f}" for v in matrix.mean(1).tolist()[:10]))
    for index, label, loss in worst:
        curve = " ".join(f"{v:.2f}" for v in matrix[:, index].tolist()[-5:])
        print(f"example {index:4d}  class {label}  final loss {loss:.3f}  last rounds: {curve}")
    return matrix


if __name__ == "__main__":
    main()
