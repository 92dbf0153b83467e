"""A small GAN on a 2-D toy distribution, trained with one ``nettrain.train`` call, NetTrain-style.

The target is a Gaussian at (2, -1) with standard deviation 0.3 in each coordinate. The net is
one module with two submodules, ``generator`` (2-D noise -> point) and ``discriminator``
(point -> logit); its ``forward(real, noise)`` returns ``{"loss": ...}``, the discriminator's
binary cross-entropy on real points (label 1) and generated points (label 0), which nettrain
trains on directly. As in Wolfram's GAN examples, two options turn this single loss into the
adversarial game:

- ``learning_rate_multipliers={"generator.*": -1}`` reverses the generator's gradient, so the
  generator *ascends* the loss the discriminator descends;
- ``training_update_schedule=["discriminator.*", "generator.*"]`` alternates the two: one step
  updates the discriminator, the next the generator, each with its own Adam state.

With plain gradient reversal the generator minimises ``-BCE`` (the saturating minimax form,
``log(1 - D(G(z)))``), not the non-saturating ``-log D(G(z))`` usually preferred for large
GANs; on a toy problem like this one it converges well enough.

The data are port columns named after ``forward``'s parameters: 2048 real points and 2048
noise vectors, reshuffled every round (a fresh-sample generator ``(f, {"round_length": n})``
would do as well; see :func:`sample_batch`).

    python examples/gan.py               # 30 rounds of 32 batches, about 6 s on 2 cores
    python examples/gan.py --rounds 60 --report-every 10
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

import nettrain

TARGET_MEAN = (2.0, -1.0)
TARGET_STD = 0.3
HIDDEN = 32
BATCH_SIZE = 64
EXAMPLES = 2048  # per round: 32 batches, 16 updates of each player
LEARNING_RATE = 1e-3
# beta1 = 0.5, the usual GAN choice (Radford et al., DCGAN): with the default 0.9 the stale
# momentum of each player overshoots the other's moves and the game oscillates for longer.
METHOD = ("adam", {"beta1": 0.5})
SEED = 7


class GAN(nn.Module):
    """Generator and discriminator in one module; ``forward`` returns the discriminator loss."""

    def __init__(self, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.generator = nn.Sequential(
            nn.Linear(2, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )
        self.discriminator = nn.Sequential(
            nn.Linear(2, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, real: Tensor, noise: Tensor) -> dict[str, Tensor]:
        real_logit = self.discriminator(real)
        fake_logit = self.discriminator(self.generator(noise))
        # Logit form: numerically stable, unlike log(sigmoid(x)).
        loss = functional.binary_cross_entropy_with_logits(
            real_logit, torch.ones_like(real_logit)
        ) + functional.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
        return {"loss": loss}


def sample_batch(batch_size: int, round: int = 0, seed: int = SEED) -> dict[str, Tensor]:
    """``batch_size`` real points from the target and as many noise vectors for the generator.

    Usable directly as the generator data form (``f(batch_size, round)``); each round draws
    from its own seeded stream, so a run is repeatable.

    >>> batch = sample_batch(3)
    >>> {name: tuple(column.shape) for name, column in batch.items()}
    {'real': (3, 2), 'noise': (3, 2)}
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + round)
    real = torch.randn(batch_size, 2, generator=g) * TARGET_STD + torch.tensor(TARGET_MEAN)
    return {"real": real, "noise": torch.randn(batch_size, 2, generator=g)}


def generated_statistics(net: GAN, n: int = 2000) -> dict[str, float]:
    """Mean, per-coordinate std (averaged) and the distance of the mean from the target mean.

    Uses its own seeded generator for the noise, so measuring does not move the training
    stream's random state and every measurement sees the same noise.
    """
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        points = net.generator(noise)
    mean = points.mean(0)
    return {
        "mean_x": float(mean[0]),
        "mean_y": float(mean[1]),
        "std": float(points.std(0).mean()),
        "mean_distance": float(torch.linalg.vector_norm(mean - torch.tensor(TARGET_MEAN))),
    }


def train_gan(
    rounds: int, *, seed: int = SEED, report_every: int | None = None
) -> tuple[GAN, dict[str, float], dict[str, float]]:
    """Build a GAN, train it for ``rounds`` rounds, return it with its statistics before/after.

    Args:
        rounds: training rounds, each a pass over ``EXAMPLES`` examples.
        seed: the ``random_seeding`` option; also seeds the initial weights.
        report_every: print the generated statistics every this many rounds (None: quiet).
    """
    torch.manual_seed(seed)
    net = GAN()
    before = generated_statistics(net)
    options: dict[str, Any] = {}
    if report_every is not None:

        def report(live: dict[str, Any]) -> None:
            if live["event"] != "round_complete":
                return  # also called at the start and the end, which main() reports itself
            s = generated_statistics(live["net"])
            print(
                f"round {live['round']:4d}  generated mean ({s['mean_x']:+.3f}, "
                f"{s['mean_y']:+.3f})  std {s['std']:.3f}  loss {live['round_loss']:.3f}"
            )

        options["training_progress_function"] = (report, {"interval": f"{report_every} rounds"})
    nettrain.train(
        net,
        sample_batch(EXAMPLES, seed=seed),
        method=METHOD,
        learning_rate=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        max_training_rounds=rounds,
        learning_rate_multipliers={"generator.*": -1},
        training_update_schedule=["discriminator.*", "generator.*"],
        training_progress_reporting=None,
        random_seeding=seed,
        **options,
    )
    return net, before, generated_statistics(net)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--report-every", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"target mean ({TARGET_MEAN[0]:+.3f}, {TARGET_MEAN[1]:+.3f})  std {TARGET_STD:.3f}")
    start = time.perf_counter()
    _, before, after = train_gan(args.rounds, report_every=args.report_every)
    seconds = time.perf_counter() - start
    for label, s in (("before", before), ("after", after)):
        print(
            f"{label:6s}  generated mean ({s['mean_x']:+.3f}, {s['mean_y']:+.3f})  "
            f"std {s['std']:.3f}  distance of mean from target {s['mean_distance']:.3f}"
        )
    print(f"{seconds:.1f} s")


if __name__ == "__main__":
    main()
