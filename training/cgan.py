"""Class-conditional GAN: DCGAN-style generator, projection discriminator with spectral norm,
hinge loss, Adam(beta1=0.5), a mode-seeking term against "one image for every noise"
(Mao et al., 2019), a hand-consistency term for "one noise, one hand whatever the digit"
(training/consistency.py), an auxiliary classifier on the discriminator (Odena et al., 2017)
and an exponential moving average of the generator's weights."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from training.conditioning import ClassShift, embed, one_hot
from training.consistency import HandConsistency
from training.discriminator import Discriminator, critic_step, generator_score
from training.ema import averaged, averaged_weights
from training.precision import Precision
from training.settings import NON_NEGATIVE, TrainConfig, model_flags, override, setting


@dataclass(frozen=True)
class Config(TrainConfig):
    """The CGAN's settings: its own defaults of the shared ones, and its own."""
    batch_size: int = override(TrainConfig, "batch_size", 64)
    lr: float = override(TrainConfig, "lr", 2e-4)
    latent_dim: int = override(TrainConfig, "latent_dim", 64)
    ema_decay: float = override(TrainConfig, "ema_decay", 0.999)
    mode_seeking: float = setting(0.05, NON_NEGATIVE, "weight of the mode-seeking term that keeps samples apart for "
                                                      "different noise")
    consistency: float = setting(1.0, NON_NEGATIVE, "weight of the term that asks one noise for the same slant and "
                                                    "ink in every digit (0 = off)")
    classify: float = setting(0.5, NON_NEGATIVE, "weight of an auxiliary classifier on the discriminator: it learns "
                                                 "the digits of real images, and the generator is asked to make its "
                                                 "digits read as asked (0 = no classifier)")

ARTIFACT = "cgan_generator.onnx"
TITLE = "CGAN generator"
ABOUT = """`z` is the generator's noise. Pixels are the generator's sigmoid outputs; the weights are the
exponential moving average of the trained generator's, trained to keep one noise's slant and ink in
every digit and to draw digits that its critic's classifier reads as asked, and the epoch was chosen
by the instrument on training digits the run held back (docs/models.md). A GAN has no way back from
an image to its noise, so no style encoder ships with it."""

# The style interface draws at 0.8 of the noise's spread (the truncation trick): measured on an early
# 60,000-digit run, digits written in one hand were legible 97.4% of the time at full spread and
# 99.2% at 0.8, with the same slant and ink consistency (docs/handwriting.md).
STYLE_TRUNCATION = 0.8


class Generator(nn.Module):
    """(digit, z) -> image in [0,1]; the digit is embedded and joined to the noise."""

    def __init__(self, latent_dim: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.noise_dim = latent_dim
        self.style_dim = latent_dim  # the style interface takes the noise itself
        self.embed = nn.Embedding(10, 32)
        self.fc = nn.Sequential(nn.Linear(latent_dim + 32, 2 * width * 7 * 7, bias=False),
                                nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width))
        self.shift = ClassShift(width)                                          # the digit again, at 14x14
        self.out = nn.Sequential(  # no 28x28 feature maps: they made it 1.6x slower to run (docs/benchmarks.md)
            nn.ReLU(), nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Sigmoid())                      # 28, straight to one channel

    def forward(self, digit: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.render(one_hot(digit), z)

    def render(self, label: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Label weights [N,10] (a blend of two digits for morphs) and noise -> image."""
        h = self.fc(torch.cat([z, embed(self.embed, label)], dim=1))
        return self.out(self.shift(self.up(h.view(-1, 2 * self.width, 7, 7)), label))

    def style_map(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The style is the noise itself, z ~ N(0, I) whatever the digit, shrunk by STYLE_TRUNCATION."""
        return torch.zeros(10, self.noise_dim), STYLE_TRUNCATION * torch.eye(self.noise_dim)


class Recipe:
    """How the shared training loop trains the CGAN: one D step, then one G step, per batch."""

    # spread: mean image distance per unit of noise distance between paired fakes; towards 0 = collapse;
    # hand_gap: the consistency term, about 1 for unrelated hands, 0 for one hand; misread: cross-entropy
    # of the asked-for digit under D's classifier (0 without one)
    loss_names = ("d_loss", "g_loss", "spread", "hand_gap", "misread")

    def __init__(self, args: Config, device: torch.device,
                 wrap: Callable[[nn.Module], nn.Module], precision: Precision) -> None:
        self.latent_dim = args.latent_dim
        self.G = new_generator(args).to(device)
        self.D = Discriminator(args.width, classify=args.classify > 0).to(device)
        self.train_G, self.train_D = wrap(self.G), wrap(self.D)
        self.ema = averaged(self.G, args.ema_decay, buffers=True)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=args.lr, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=args.lr, betas=(0.5, 0.999))
        self.optimizers = {"G": self.opt_G, "D": self.opt_D}  # for the learning-rate curves
        self.precision = precision
        self.mode_seeking, self.consistency, self.classify = args.mode_seeking, args.consistency, args.classify
        self.hands = HandConsistency().to(device)

    def train_step(self, x: torch.Tensor, digit: torch.Tensor, progress: float) -> dict[str, torch.Tensor]:
        """``progress`` (fractional epochs done) keeps the consistency term off in the first epoch, while
        the generator learns digits and the statistics it z-scores by settle, and ramps it in over the second."""
        half = max(1, len(x) // 2)
        pairs = half // 2 if self.consistency else 0
        # Fakes come in pairs: the same digit with two noises (mode seeking), then one noise with two
        # different digits (hand consistency). All go through G in one forward, one batch norm.
        fake_digit = torch.randint(0, 10, (half,), device=x.device).repeat(2)
        first = torch.randint(0, 10, (pairs,), device=x.device)
        second = (first + torch.randint(1, 10, (pairs,), device=x.device)) % 10
        z = torch.randn(2 * half + pairs, self.latent_dim, device=x.device)
        fake_digit, z = torch.cat([fake_digit, first, second]), torch.cat([z, z[2 * half:]])
        with self.precision.autocast():
            fake = self.train_G(fake_digit, z)
        d_loss = critic_step(self.train_D, self.opt_D, self.precision, x, digit, fake, fake_digit, self.classify)

        adversarial, misread = generator_score(self.D, self.precision, fake, fake_digit)
        image_gap = (fake[:half] - fake[half:2 * half]).float().abs().mean(dim=(1, 2, 3))
        spread = (image_gap / (z[:half] - z[half:2 * half]).abs().mean(dim=1)).mean()
        hand_gap = (self.hands(fake[2 * half:], fake_digit[2 * half:]) if pairs
                    else torch.zeros((), device=x.device))
        g_loss = (adversarial + self.mode_seeking / (spread + 1e-5) + self.classify * misread
                  + self.consistency * min(1.0, max(0.0, progress - 1)) * hand_gap)
        self.opt_G.zero_grad(set_to_none=True)
        self.precision.step(g_loss, self.opt_G)
        self.ema.update_parameters(self.G)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "spread": spread.detach(),
                "hand_gap": hand_gap.detach(), "misread": misread.detach()}

    def end_epoch(self, data) -> None:
        """Nothing to refit: the generator samples from N(0, I) as trained."""

    def generator(self) -> nn.Module:
        return self.ema.module

    def shipped_state(self) -> dict:
        """The epoch file's weights: the exported generator's (the EMA)."""
        return {"generator": self.ema.module.state_dict()}

    def state_dict(self) -> dict:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "ema": self.ema.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "hands": self.hands.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.ema.load_state_dict(state["ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if "hands" in state:  # a run from before the consistency term resumes with fresh statistics
            self.hands.load_state_dict(state["hands"])


def shipped(state: dict) -> dict[str, nn.Module]:
    """The exported generator (the EMA weights) rebuilt from what a checkpoint records, with no optimizer
    or discriminator."""
    generator = new_generator(Config.from_saved(state["config"]))
    generator.load_state_dict(averaged_weights(state["recipe"]["ema"]) if "recipe" in state else state["generator"])
    return {"generator": generator.eval()}


def new_generator(config: Config) -> Generator:
    """A fresh shipped generator of these settings (its weights are loaded after)."""
    return Generator(config.latent_dim, config.width)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model_flags(parser, "cgan", Config)
