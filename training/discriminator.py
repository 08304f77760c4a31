"""The critic both generators train against: a projection discriminator with spectral norm and the hinge loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from training.precision import Precision


class Discriminator(nn.Module):
    """Real/fake score with a class projection term (Miyato & Koyama, 2018)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            spectral_norm(nn.Conv2d(1, width, 4, 2, 1)), nn.LeakyReLU(0.2),              # 14
            spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),      # 7
            spectral_norm(nn.Conv2d(2 * width, 2 * width, 3, 1, 1)), nn.LeakyReLU(0.2),
            nn.Flatten())
        self.score = spectral_norm(nn.Linear(2 * width * 7 * 7, 1))
        self.project = spectral_norm(nn.Embedding(10, 2 * width * 7 * 7))

    def forward(self, x: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        h = self.features(x * 2 - 1)
        return self.score(h).squeeze(1) + (self.project(digit) * h).sum(dim=1)


def critic_step(train_D: nn.Module, opt: torch.optim.Optimizer, precision: Precision, real: torch.Tensor,
                real_digit: torch.Tensor, fake: torch.Tensor, fake_digit: torch.Tensor) -> torch.Tensor:
    """One hinge-loss step of D; real and fake go through it in one forward (one DDP reduction)."""
    with precision.autocast():
        scores = train_D(torch.cat([real, fake.detach()]), torch.cat([real_digit, fake_digit])).float()
    n = len(real)
    loss = F.relu(1 - scores[:n]).mean() + F.relu(1 + scores[n:]).mean()
    opt.zero_grad(set_to_none=True)
    precision.step(loss, opt)
    return loss.detach()


def generator_score(D: nn.Module, precision: Precision, fake: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss through the bare, frozen D: D's gradients would only be thrown
    away, and under DDP all-reduced first; its weights are the same on every rank, so no sync is needed."""
    D.requires_grad_(False)
    try:
        with precision.autocast():
            return -D(fake, digit).float().mean()
    finally:
        D.requires_grad_(True)
