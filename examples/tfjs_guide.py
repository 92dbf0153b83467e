"""The TensorFlow.js training guide (seed 002), step by step, with nettrain.keras.

The guide builds a two-layer model (784 -> 32 relu -> 10 softmax), prints its weights and its
summary, overwrites a weight, compiles it with "sgd", "categoricalCrossentropy" and
"accuracy", trains it with ``model.fit`` (an ``onBatchEnd`` callback) and with
``model.fitDataset`` over a generator, predicts on three new examples, and then trains the same
model written with the Core API: four variables and ``optimizer.minimize``. The guide uses
random data; so does this script (100 examples of 784 features, random one-hot labels), so the
numbers show the mechanics, not a learnt task.

    python examples/tfjs_guide.py            # a few seconds
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import nettrain
from nettrain.keras import optimizers


def make_data(seed: int = 0) -> tuple[Tensor, Tensor]:
    """The guide's ``tf.randomNormal([100, 784])`` and random one-hot labels for 10 classes."""
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(100, 784, generator=g)
    labels = F.one_hot(torch.randint(0, 10, (100,), generator=g), 10).float()
    return data, labels


def layers_api(data: Tensor, labels: Tensor, *, epochs: int = 5) -> dict[str, object]:
    torch.manual_seed(0)
    model = nettrain.Model(
        nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10), nn.Softmax(dim=1)),
        input_shape=(784,),
    )
    # "Model parameters": the four weights (two per dense layer), their names and shapes
    for weight in model.weights:
        print(weight.name, list(weight.shape))
    table = model.summary()
    # a weight can be overwritten, as the guide does with assign()
    model.weights[1].assign(torch.zeros(32))

    model.compile(optimizer="sgd", loss="categoricalCrossentropy", metrics=["accuracy"])
    batch_losses: list[float] = []
    history = model.fit(
        data,
        labels,
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks={"onBatchEnd": lambda batch, logs: batch_losses.append(logs["loss"])},
    )
    print("fit: accuracy per epoch", [round(a, 3) for a in history.history["accuracy"]])

    def batches():  # the guide's generator: 3 batches of 32 a epoch (TF.js's tf.data.generator)
        for i in range(0, 96, 32):
            yield data[i : i + 32], labels[i : i + 32]

    dataset_history = model.fit_dataset(batches, epochs=epochs, verbose=0)
    print("fit_dataset: loss per epoch", [round(v, 4) for v in dataset_history.history["loss"]])
    predictions = model.predict(torch.randn(3, 784, generator=torch.Generator().manual_seed(1)))
    print("predict on 3 new examples:", predictions.argmax(1).tolist())
    return {
        "summary": table,
        "history": history,
        "dataset_history": dataset_history,
        "batch_losses": batch_losses,
        "predictions": predictions,
        "model": model,
    }


def core_api(data: Tensor, labels: Tensor, *, epochs: int = 5) -> list[float]:
    """The same model as four variables and a function; ``optimizer.minimize`` per batch."""
    g = torch.Generator().manual_seed(2)
    w1 = (torch.randn(784, 32, generator=g) * 0.05).requires_grad_()
    b1 = torch.zeros(32, requires_grad=True)
    w2 = (torch.randn(32, 10, generator=g) * 0.05).requires_grad_()
    b2 = torch.zeros(10, requires_grad=True)

    def model(x: Tensor) -> Tensor:
        return torch.softmax(torch.relu(x @ w1 + b1) @ w2 + b2, dim=1)

    optimizer = optimizers.sgd(0.1)  # TF.js's tf.train.sgd(0.1)
    costs = []
    for _ in range(epochs):
        for i in range(0, 96, 32):  # the dataset's batches, as forEachAsync gives them
            xs, ys = data[i : i + 32], labels[i : i + 32]
            cost = optimizer.minimize(
                lambda xs=xs, ys=ys: -(ys * torch.log(model(xs))).sum(1).mean(),
                return_cost=True,
                var_list=[w1, b1, w2, b2],
            )
            assert cost is not None
            costs.append(float(cost))
    print(f"Core API: cost {costs[0]:.4f} -> {costs[-1]:.4f}")
    return costs


def main() -> None:
    data, labels = make_data()
    layers_api(data, labels)
    core_api(data, labels)


if __name__ == "__main__":
    main()
