"""The critic both generators train against: a projection discriminator with spectral norm and the hinge loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from training.precision import Precision


class Discriminator(nn.Module):
    """Real/fake score with a class projection term (Miyato & Koyama, 2018); optionally also class
    logits from the same features, an auxiliary classifier (Odena et al., 2017) trained on real digits."""

    def __init__(self, width: int, classify: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            spectral_norm(nn.Conv2d(1, width, 4, 2, 1)), nn.LeakyReLU(0.2),              # 14
            spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),      # 7
            spectral_norm(nn.Conv2d(2 * width, 2 * width, 3, 1, 1)), nn.LeakyReLU(0.2),
            nn.Flatten())
        self.score = spectral_norm(nn.Linear(2 * width * 7 * 7, 1))
        self.project = spectral_norm(nn.Embedding(10, 2 * width * 7 * 7))
        self.classifier = nn.Linear(2 * width * 7 * 7, 10) if classify else None

    def forward(self, x: torch.Tensor, digit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scores [N] and, with the classifier, class logits [N,10]: one forward, one DDP reduction."""
        h = self.features(x * 2 - 1)
        score = self.score(h).squeeze(1) + (self.project(digit) * h).sum(dim=1)
        return score, None if self.classifier is None else self.classifier(h)


def critic_step(train_D: nn.Module, opt: torch.optim.Optimizer, precision: Precision, real: torch.Tensor,
                real_digit: torch.Tensor, fake: torch.Tensor, fake_digit: torch.Tensor,
                classify: float = 0.0) -> torch.Tensor:
    """One hinge-loss step of D; real and fake go through it in one forward (one DDP reduction). Its
    classifier, if any, learns from real digits only, so it never learns to read the fakes' flaws."""
    with precision.autocast():
        scores, logits = train_D(torch.cat([real, fake.detach()]), torch.cat([real_digit, fake_digit]))
    n = len(real)
    loss = F.relu(1 - scores[:n].float()).mean() + F.relu(1 + scores[n:].float()).mean()
    if logits is not None:
        loss = loss + classify * F.cross_entropy(logits[:n].float(), real_digit)
    opt.zero_grad(set_to_none=True)
    precision.step(loss, opt)
    return loss.detach()


def generator_score(D: nn.Module, precision: Precision, fake: torch.Tensor,
                    digit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's adversarial loss and, with D's classifier, the cross-entropy of the digit it was
    asked for (else 0), through the bare, frozen D: D's gradients would only be thrown away, and under
    DDP all-reduced first; its weights are the same on every rank, so no sync is needed."""
    D.requires_grad_(False)
    try:
        with precision.autocast():
            scores, logits = D(fake, digit)
        misread = torch.zeros((), device=fake.device) if logits is None else F.cross_entropy(logits.float(), digit)
        return -scores.float().mean(), misread
    finally:
        D.requires_grad_(True)
