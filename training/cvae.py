"""Class-conditional VAE-GAN: conv encoder and decoder, Bernoulli likelihood with KL warm-up, and a
projection critic on the decoder's reconstructions and prior samples (CVAE-GAN, Bao et al., 2017).

The ELBO alone gives Bernoulli means: soft, evenly blurred strokes that a classifier tells from
real handwriting nearly every time (docs/experiments.md). The critic asks the decoder for strokes that look drawn; the
reconstruction keeps every code meaning the image it came from (the encoder and the style
interface rely on that)."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from training.conditioning import ClassShift, embed, one_hot
from training.discriminator import Discriminator, critic_step, generator_score
from training.ema import averaged, averaged_weights
from training.precision import Precision
from training.prior import MixturePrior
from training.settings import AT_LEAST_1, NON_NEGATIVE, POSITIVE, TrainConfig, model_flags, setting


@dataclass(frozen=True)
class Config(TrainConfig):
    """The CVAE-GAN's settings: the shared ones at their defaults (TrainConfig), and its own."""
    LEGACY: ClassVar[dict[str, Any]] = {"fine": 0, "feature_recon": 0.0, "balance_max": 1e4}  # as trained before

    kl_warmup: float = setting(2.0, NON_NEGATIVE, "epochs over which the KL weight rises from 0 to --beta")
    beta: float = setting(0.1, NON_NEGATIVE, "final KL weight; below 1 gives sharper digits, the fitted prior "
                                             "keeps samples on-manifold")
    prior_components: int = setting(8, AT_LEAST_1, "Gaussian components per digit in the fitted prior")
    adversarial: float = setting(2.0, NON_NEGATIVE, "weight of the critic's loss relative to the reconstruction's, "
                                                    "balanced by gradient norm at the decoder's last layer (0 = the "
                                                    "plain CVAE)")
    balance_max: float = setting(10.0, POSITIVE, "the most the balance may weigh the critic's gradient against "
                                                "the reconstruction's: saturated pixels pass the critic almost no "
                                                "gradient, and an unbounded balance then feeds on itself")
    fine: int = setting(16, NON_NEGATIVE, "channels of the decoder's 28x28 feature maps (0 = none: 14x14 "
                                         "features straight to pixels)")
    feature_recon: float = setting(1.0, NON_NEGATIVE, "weight of the reconstruction measured in the critic's "
                                                      "features, beside the pixels' (0 = pixels only)")

ARTIFACT = "cvae_decoder.onnx"
TITLE = "CVAE generator"
ABOUT = """`z` is the latent code and, last, 1 coordinate that picks the component of the fitted mixture
prior. Pixels are the decoder's Bernoulli means, trained against a critic as well (a CVAE-GAN): strokes
may still be softer than real ink (docs/quality.md). Beside the style interface ships the style encoder,
which reads a drawn digit's hand."""

# Styles are drawn at this fraction of the within-digit spread: measured on a 60,000-digit model,
# full spread wrote 89% of digits legibly (worst digit 73%), half of it 99.6% with the same
# consistency of slant and ink (docs/handwriting.md).
STYLE_TEMPERATURE = 0.5


class Decoder(nn.Module):
    """p(x | code, digit). ``forward`` is the shipped generator: noise ~ N(0, I) of size
    ``noise_dim`` goes through the fitted prior (training/prior.py) to a code of size ``code_dim``,
    then to Bernoulli means in [0,1]. ``noise_dim`` is the contract's latent_dim (17 by default),
    ``code_dim`` the command line's --latent-dim (16)."""

    def __init__(self, code_dim: int, width: int, components: int, fine: int = 0) -> None:
        super().__init__()
        self.width = width
        self.noise_dim = code_dim + 1  # one extra coordinate picks the mixture component
        self.style_dim = code_dim      # the style interface's style: an offset in the code space
        self.prior = MixturePrior(code_dim, components)
        self.embed = nn.Embedding(10, 32)
        self.fc = nn.Sequential(nn.Linear(code_dim + 32, 2 * width * 7 * 7), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * width, width, 4, 2, 1)                 # 7 -> 14
        self.shift = ClassShift(width)                                          # the digit again, at 14x14
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(), *(
            (nn.ConvTranspose2d(width, fine, 4, 2, 1), nn.ReLU(),              # 14 -> 28: `fine` feature maps,
             nn.Conv2d(fine, fine, 3, 1, 1), nn.ReLU(), nn.Conv2d(fine, 1, 3, 1, 1))  # then pixels from them
            if fine else (nn.ConvTranspose2d(width, 1, 4, 2, 1),)))             # 14 -> 28 straight to pixels

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

    def __init__(self, code_dim: int = 16, width: int = 32, components: int = 8, fine: int = 0) -> None:
        super().__init__()
        self.label_map = nn.Embedding(10, 28 * 28)
        self.encoder = nn.Sequential(
            nn.Conv2d(2, width, 4, 2, 1), nn.LeakyReLU(0.2),                 # 28 -> 14
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),         # 14 -> 7
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 2 * code_dim))
        self.decoder = Decoder(code_dim, width, components, fine)

    def encode(self, x: torch.Tensor, digit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        label = self.label_map(digit).view(-1, 1, 28, 28)
        mu, logvar = self.encoder(torch.cat([x, label], dim=1)).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor, digit: torch.Tensor, noise: torch.Tensor):
        """Logits of the reconstructions and of prior samples of the same digits (one decoder pass)."""
        mu, logvar = self.encode(x, digit)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        codes = torch.cat([z, self.decoder.prior(digit, noise)])
        logits = self.decoder.logits(one_hot(digit).repeat(2, 1), codes)
        return logits[:len(x)], logits[len(x):], mu, logvar

    @torch.no_grad()
    def fit_prior(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Fit the sampling prior to where the encoder puts the training images."""
        stats = [self.encode(x.float() / 255, d) for x, d in zip(images.split(1000), labels.split(1000), strict=True)]
        mu = torch.cat([m for m, _ in stats]).double()
        var = torch.cat([lv for _, lv in stats]).double().exp()
        self.decoder.prior.fit(mu, var, labels)


class StyleEncoder(nn.Module):
    """(image [N,1,28,28], digit [N]) -> style [N, code_dim]: the posterior mean as an offset from its
    digit's mean, in the units of the decoder's style interface, so writing any digit with it
    reproduces this hand (docs/contracts.md)."""

    def __init__(self, model: CVAE) -> None:
        super().__init__()
        self.model = model
        means, scale = model.decoder.style_map()
        self.register_buffer("means", means.detach().clone())
        self.register_buffer("unscale", torch.linalg.inv(scale.double()).float().T.contiguous())

    def forward(self, image: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        mu, _ = self.model.encode(image, digit)
        return (mu - one_hot(digit) @ self.means) @ self.unscale


def feature_distance(D: Discriminator, precision: Precision, reconstruction: torch.Tensor,
                     x: torch.Tensor) -> torch.Tensor:
    """Squared distance of reconstructions from their originals in the critic's features, summed per image
    (VAE/GAN, Larsen et al., 2016): a likelihood that cares about what makes a stroke look drawn rather
    than about each pixel's grey. Through the bare, frozen critic, as the adversarial loss."""
    D.requires_grad_(False)
    try:
        with precision.autocast():
            have, want = D.features(torch.cat([reconstruction, x]) * 2 - 1).float().chunk(2)
        return (have - want.detach()).pow(2).sum() / len(x)
    finally:
        D.requires_grad_(True)


def adaptive_weight(reconstruction: torch.Tensor, adversarial: torch.Tensor, last: torch.Tensor,
                    most: float) -> torch.Tensor:
    """The adversarial weight that gives both losses the same gradient norm at the decoder's last layer
    (Esser et al., 2021): the balance holds whatever the loss scales, through the whole run. Under DDP
    the gradients are averaged over ranks first: autograd.grad bypasses DDP's own all-reduce."""
    grads = torch.stack([torch.autograd.grad(loss, last, retain_graph=True)[0]
                         for loss in (reconstruction, adversarial)])
    if torch.distributed.is_initialized():  # the union batch's gradients, so every rank uses one weight
        torch.distributed.all_reduce(grads)
        grads /= torch.distributed.get_world_size()
    return (grads[0].norm() / (grads[1].norm() + 1e-4)).clamp(max=most).detach()


class Recipe:
    """How the shared training loop trains the CVAE-GAN: per batch one critic step on real digits
    against reconstructions and prior samples, then one ELBO + adversarial step of the VAE. What ships
    is the weight average (EMA) of the whole CVAE, encoder included, where --ema-decay asks for one
    (by default none: the average that was tried bought C2ST with FID, docs/quality.md)."""

    loss_names = ("loss", "recon", "kl", "d_loss", "adv_weight")

    def __init__(self, args: Config, device: torch.device,
                 wrap: Callable[[nn.Module], nn.Module], precision: Precision) -> None:
        self.model = new_model(args).to(device)
        self.D = Discriminator(args.width).to(device)
        self.train_model, self.train_D = wrap(self.model), wrap(self.D)
        # Its prior is fitted, not averaged. Without an average what ships is the trained CVAE itself.
        self.ema = averaged(self.model, args.ema_decay, buffers=False) if args.ema_decay else None
        self.shipped = self.ema.module if self.ema else self.model
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=args.lr, betas=(0.5, 0.999))
        self.optimizers = {"vae": self.opt, "critic": self.opt_D}  # for the learning-rate curves
        self.kl_warmup, self.beta, self.adversarial = args.kl_warmup, args.beta, args.adversarial
        self.feature_recon, self.balance_max = args.feature_recon, args.balance_max
        self.precision = precision

    def train_step(self, x: torch.Tensor, digit: torch.Tensor, progress: float) -> dict[str, torch.Tensor]:
        """``progress`` is fractional epochs done: it drives the KL weight and the critic's ramp-in."""
        ramp = min(1.0, progress / self.kl_warmup) if self.kl_warmup > 0 else 1.0
        noise = torch.randn(len(x), self.model.decoder.noise_dim, device=x.device)
        with self.precision.autocast():
            logits, prior_logits, mu, logvar = self.train_model(x, digit, noise)
        fake = torch.sigmoid(torch.cat([logits, prior_logits]))
        fake_digit = digit.repeat(2)
        d_loss = critic_step(self.train_D, self.opt_D, self.precision, x, digit, fake, fake_digit)

        recon = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / len(x)
        if self.feature_recon:
            recon = recon + self.feature_recon * feature_distance(self.D, self.precision, fake[:len(x)], x)
        kl = -0.5 * torch.sum(1 + logvar.float() - mu.float() ** 2 - logvar.float().exp()) / len(x)
        adversarial, _ = generator_score(self.D, self.precision, fake, fake_digit)
        weight = (self.adversarial * ramp * adaptive_weight(recon, adversarial, self.model.decoder.out[-1].weight,
                                                                   self.balance_max)
                  if self.adversarial else torch.zeros((), device=x.device))  # 0: the plain CVAE, no grads to take
        loss = recon + self.beta * ramp * kl + weight * adversarial
        self.opt.zero_grad(set_to_none=True)
        self.precision.step(loss, self.opt)
        if self.ema:
            self.ema.update_parameters(self.model)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach(), "d_loss": d_loss,
                "adv_weight": weight}

    def end_epoch(self, data) -> None:
        """Refit the sampling priors, the trained CVAE's (for the critic's prior samples) and the average's
        (what ships), each to its own encoder (every rank alike: same data, same weights)."""
        for model in {self.model, self.shipped}:
            model.eval()
            model.fit_prior(data.images, data.labels)
        self.model.train()

    def generator(self) -> nn.Module:
        return self.shipped.decoder

    def shipped_state(self) -> dict:
        """The epoch file's weights: the whole (averaged) CVAE, so an epoch exports with its encoder."""
        return {"model": self.shipped.state_dict()}

    def state_dict(self) -> dict:
        average = {"ema": self.ema.state_dict()} if self.ema else {}
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), **average,
                "D": self.D.state_dict(), "opt_D": self.opt_D.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        if self.ema and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        elif self.ema:  # a run from before the average starts one from its current weights
            self.ema.module.load_state_dict(state["model"])
        if "D" in state:  # a checkpoint of the plain CVAE resumes with a fresh critic
            self.D.load_state_dict(state["D"])
            self.opt_D.load_state_dict(state["opt_D"])


def shipped(state: dict) -> dict[str, nn.Module]:
    """The exported modules rebuilt from what a checkpoint records, with no optimizer or critic: the
    decoder and its style encoder (the weight average's, where the run kept one), from a full or an
    epoch file (only the decoder from an epoch file written before those kept the encoder)."""
    model = new_model(Config.from_saved(state["config"]))
    if "recipe" not in state and "model" not in state:
        model.decoder.load_state_dict(state["generator"])
        return {"generator": model.decoder.eval()}
    if "recipe" in state:
        recipe = state["recipe"]
        model.load_state_dict(averaged_weights(recipe["ema"]) if "ema" in recipe else recipe["model"])
    else:
        model.load_state_dict(state["model"])
    return {"generator": model.decoder.eval(), "encoder": StyleEncoder(model.eval())}


def new_model(config: Config) -> CVAE:
    return CVAE(config.latent_dim, config.width, config.prior_components, config.fine)


def new_generator(config: Config) -> Decoder:
    """A fresh shipped generator of these settings (its weights are loaded after)."""
    return new_model(config).decoder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model_flags(parser, "cvae", Config)
