"""Class-conditional VAE: conv encoder and decoder, Bernoulli likelihood, KL warm-up."""
from __future__ import annotations

import argparse
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from training.conditioning import ClassShift, embed, one_hot
from training.precision import Precision
from training.prior import MixturePrior

DEFAULTS = {"epochs": 30, "batch_size": 128, "lr": 1e-3, "latent_dim": 16, "width": 32,
            "beta": 0.1, "kl_warmup": 2.0, "prior_components": 8}

# Styles are drawn at this fraction of the within-digit spread: measured on a 60,000-digit model,
# full spread wrote 89% of digits legibly (worst digit 73%), half of it 99.6% with the same
# consistency of slant and ink (README, One hand, many digits).
STYLE_TEMPERATURE = 0.5


class Decoder(nn.Module):
    """p(x | code, digit). ``forward`` is the shipped generator: noise ~ N(0, I) of size
    ``noise_dim`` goes through the fitted prior (training/prior.py) to a code of size ``code_dim``,
    then to Bernoulli means in [0,1]. ``noise_dim`` is the contract's latent_dim (17 by default),
    ``code_dim`` the command line's --latent-dim (16)."""

    def __init__(self, code_dim: int, width: int, components: int) -> None:
        super().__init__()
        self.width = width
        self.noise_dim = code_dim + 1  # one extra coordinate picks the mixture component
        self.style_dim = code_dim      # the style interface's style: an offset in the code space
        self.prior = MixturePrior(code_dim, components)
        self.embed = nn.Embedding(10, 32)
        self.fc = nn.Sequential(nn.Linear(code_dim + 32, 2 * width * 7 * 7), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * width, width, 4, 2, 1)                 # 7 -> 14
        self.shift = ClassShift(width)                                          # the digit again, at 14x14
        self.out = nn.Sequential(  # no 28x28 feature maps: they made it 6x slower to run (README, Benchmarks)
            nn.ReLU(), nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1))                           # 14 -> 28, straight to one channel

    def logits(self, label: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of the image for label weights [N,10] and latent codes [N, latent_dim]."""
        h = self.fc(torch.cat([z, embed(self.embed, label)], dim=1))
        return self.out(self.shift(self.up(h.view(-1, 2 * self.width, 7, 7)), label))

    def forward(self, digit: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.render(one_hot(digit), self.prior(digit, noise))

    def render(self, label: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(label, code))

    def style_map(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Code = the digit's mean + STYLE_TEMPERATURE x the shared within-digit scale @ style: one
        style is one offset from every digit's mean, the same hand whatever the digit."""
        means, scale = self.prior.style_basis()
        return means, STYLE_TEMPERATURE * scale


class CVAE(nn.Module):
    """q(z | x, digit) and p(x | z, digit); the digit enters the encoder as an extra image channel."""

    def __init__(self, code_dim: int = 16, width: int = 32, components: int = 8) -> None:
        super().__init__()
        self.label_map = nn.Embedding(10, 28 * 28)
        self.encoder = nn.Sequential(
            nn.Conv2d(2, width, 4, 2, 1), nn.LeakyReLU(0.2),                 # 28 -> 14
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),         # 14 -> 7
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 2 * code_dim))
        self.decoder = Decoder(code_dim, width, components)

    def encode(self, x: torch.Tensor, digit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        label = self.label_map(digit).view(-1, 1, 28, 28)
        mu, logvar = self.encoder(torch.cat([x, label], dim=1)).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor, digit: torch.Tensor):
        mu, logvar = self.encode(x, digit)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder.logits(one_hot(digit), z), mu, logvar

    @torch.no_grad()
    def fit_prior(self, images: torch.Tensor, digits: torch.Tensor) -> None:
        """Fit the sampling prior to where the encoder puts the training images."""
        stats = [self.encode(x.float() / 255, d) for x, d in zip(images.split(1000), digits.split(1000))]
        mu = torch.cat([m for m, _ in stats]).double()
        var = torch.cat([lv for _, lv in stats]).double().exp()
        self.decoder.prior.fit(mu, var, digits)


class StyleEncoder(nn.Module):
    """(image [N,1,28,28], digit [N]) -> style [N, code_dim]: the posterior mean as an offset from its
    digit's mean, in the units of the decoder's style interface, so writing any digit with it
    reproduces this hand (README, The encoder contract)."""

    def __init__(self, model: CVAE) -> None:
        super().__init__()
        self.model = model
        means, scale = model.decoder.style_map()
        self.register_buffer("means", means.detach().clone())
        self.register_buffer("unscale", torch.linalg.inv(scale.double()).float().T.contiguous())

    def forward(self, image: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        mu, _ = self.model.encode(image, digit)
        return (mu - one_hot(digit) @ self.means) @ self.unscale


class Recipe:
    """How the shared training loop trains a CVAE: one optimizer, ELBO with a linear KL warm-up."""

    loss_names = ("loss", "recon", "kl")

    def __init__(self, args: argparse.Namespace, device: torch.device,
                 wrap: Callable[[nn.Module], nn.Module], precision: Precision) -> None:
        self.model = CVAE(args.latent_dim, args.width, args.prior_components).to(device)
        self.train_model = wrap(self.model)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr)
        self.kl_warmup, self.beta = args.kl_warmup, args.beta
        self.precision = precision

    def train_step(self, x: torch.Tensor, digit: torch.Tensor, progress: float) -> dict[str, torch.Tensor]:
        """One ELBO step; ``progress`` is fractional epochs done, driving the KL weight."""
        beta = self.beta * (min(1.0, progress / self.kl_warmup) if self.kl_warmup > 0 else 1.0)
        with self.precision.autocast():
            logits, mu, logvar = self.train_model(x, digit)
        recon = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar.float() - mu.float() ** 2 - logvar.float().exp()) / len(x)
        loss = recon + beta * kl
        self.opt.zero_grad(set_to_none=True)
        self.precision.step(loss, self.opt)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    def end_epoch(self, data) -> None:
        """Refit the sampling prior to this epoch's encoder (every rank alike: same data, same weights)."""
        self.model.eval()
        self.model.fit_prior(data.images, data.labels)
        self.model.train()

    def generator(self) -> nn.Module:
        return self.model.decoder

    def style_encoder(self) -> nn.Module:
        return StyleEncoder(self.model)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cvae")
    group.add_argument("--kl-warmup", type=float,
                       help="epochs over which the KL weight rises linearly from 0 to --beta (default 2)")
    group.add_argument("--beta", type=float, help="final KL weight (default 0.1); below 1 gives sharper digits, "
                                                  "the fitted prior keeps samples on-manifold")
    group.add_argument("--prior-components", type=int,
                       help="Gaussian components per digit in the fitted sampling prior (default 8)")
