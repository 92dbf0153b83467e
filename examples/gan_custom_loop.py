"""A GAN trained by a hand-written loop with two ``adam_update`` states (MATLAB's GAN example).

MATLAB's "Train Generative Adversarial Network" example keeps one Adam state per player
(``trailingAvgG``/``trailingAvgSqG`` and ``trailingAvgD``/``trailingAvgSqD``) and updates both
every iteration with ``adamupdate(..., learnRate, gradientDecayFactor=0.5,
squaredGradientDecayFactor=0.999)``. Here the same loop is written with
:mod:`nettrain.functional`: ``value_and_grad`` for each player's loss, ``adam_update`` with two
states. The data is a 2-D Gaussian at (2, -1) with standard deviation 0.3 (the target of
``examples/gan.py``, which trains the same game with one ``nettrain.train`` call), so it runs in
seconds; the losses are the non-saturating ones of the MATLAB example, written on logits:

    discriminator: -mean(log D(real)) - mean(log(1 - D(fake)))
    generator:     -mean(log D(fake))

    python examples/gan_custom_loop.py                  # 1,500 iterations, a few seconds
    python examples/gan_custom_loop.py --iterations 3000 --seed 2
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nettrain.functional import adam_update, value_and_grad

TARGET_MEAN = torch.tensor([2.0, -1.0])
TARGET_STD = 0.3
NOISE = 2
BATCH = 128


def players(seed: int) -> tuple[nn.Module, nn.Module]:
    """A generator (noise -> point) and a discriminator (point -> logit of "real")."""
    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(NOISE, 16), nn.ReLU(), nn.Linear(16, 2))
    discriminator = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    return generator, discriminator


def discriminator_loss(d: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    # softplus(-z) = -log(sigmoid(z)) and softplus(z) = -log(1 - sigmoid(z)), without overflow
    return F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()


def generator_loss(g: nn.Module, d: nn.Module, noise: Tensor) -> Tensor:
    return F.softplus(-d(g(noise))).mean()


def statistics(generator: nn.Module, seed: int, n: int = 4000) -> dict[str, float]:
    """How far the generated points are from the target: mean distance and mean std."""
    with torch.no_grad():
        points = generator(torch.randn(n, NOISE, generator=torch.Generator().manual_seed(seed)))
    return {
        "mean_distance": float((points.mean(0) - TARGET_MEAN).norm()),
        "std": float(points.std(0).mean()),
    }


def train_gan(
    iterations: int = 1500, *, seed: int = 0, learning_rate: float = 2e-3, report_every: int = 0
) -> tuple[nn.Module, dict[str, float], dict[str, float]]:
    """Train; return the generator and its statistics before and after."""
    generator, discriminator = players(seed)
    before = statistics(generator, seed)
    data = torch.Generator().manual_seed(seed + 1)
    state_g = state_d = None  # one Adam state per player, as MATLAB's example keeps
    hyper = {"learning_rate": learning_rate, "gradient_decay": 0.5}
    for iteration in range(1, iterations + 1):
        real = TARGET_MEAN + TARGET_STD * torch.randn(BATCH, 2, generator=data)
        noise = torch.randn(BATCH, NOISE, generator=data)
        fake = generator(noise).detach()  # the discriminator's step does not train G
        loss_d, grads_d = value_and_grad(discriminator_loss, discriminator, real, fake)
        discriminator, state_d = adam_update(discriminator, grads_d, state_d, **hyper)
        # differentiated with respect to the generator only: D's weights are not touched
        loss_g, grads_g = value_and_grad(generator_loss, generator, discriminator, noise)
        generator, state_g = adam_update(generator, grads_g, state_g, **hyper)
        if report_every and iteration % report_every == 0:
            now = statistics(generator, seed)
            print(
                f"iteration {iteration:5d}  loss D {loss_d.item():.4f}  loss G "
                f"{loss_g.item():.4f}  distance {now['mean_distance']:.3f}  std {now['std']:.3f}"
            )
    return generator, before, statistics(generator, seed)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description="A GAN with two adam_update states.")
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-every", type=int, default=250)
    args = parser.parse_args(argv)
    _, before, after = train_gan(args.iterations, seed=args.seed, report_every=args.report_every)
    print(
        f"generated mean {before['mean_distance']:.3f} -> {after['mean_distance']:.3f} from the "
        f"target, std {before['std']:.3f} -> {after['std']:.3f} (target {TARGET_STD})"
    )
    return after


if __name__ == "__main__":
    main()
