"""One noise, one hand: a training term that asks a generator to give one noise the same slant and
ink mass whatever the digit, measured the way the quality instrument measures a hand.

The instrument (evaluate/style.py, digits/attributes.py) z-scores slant and ink mass per digit over the
generator's own images and compares their spread inside a row of one style with the spread across
styles. This term does the same in training: pairs of images of two different digits from one noise,
their attributes z-scored by running per-digit statistics of the generator's images, and the gap
between the pair. Z-scoring by the generator's own spread leaves it nothing to gain by narrowing
the spread of hands: only agreeing across digits helps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_GRID = torch.arange(28, dtype=torch.float32)


def slant_and_mass(images: torch.Tensor) -> torch.Tensor:
    """[N, 2] for images [N,1,28,28]: slant = -mu11/mu02 around the ink's centre, and the ink mass;
    the same numbers as digits.attributes.attributes' first two columns, differentiable."""
    x = images.float().flatten(0, 1)
    ys, xs = _GRID.to(x.device)[:, None], _GRID.to(x.device)[None, :]
    mass = x.sum((1, 2))
    safe = mass.clamp_min(1e-6)
    dx = xs - ((x * xs).sum((1, 2)) / safe)[:, None, None]
    dy = ys - ((x * ys).sum((1, 2)) / safe)[:, None, None]
    mu11, mu02 = (x * dx * dy).sum((1, 2)), (x * dy * dy).sum((1, 2)).clamp_min(1e-6)
    return torch.stack([-mu11 / mu02, mass], dim=1)


class HandConsistency(nn.Module):
    """Running per-digit mean and variance of the generator's slant and ink (buffers, so they are
    saved and resumed with the recipe) and the pair loss that uses them."""

    def __init__(self, momentum: float = 0.01) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(10, 2))
        self.register_buffer("var", torch.ones(10, 2))
        self.register_buffer("seen", torch.zeros(10))

    @torch.no_grad()
    def update(self, attrs: torch.Tensor, digit: torch.Tensor) -> None:
        """Fold one batch's per-digit statistics in (no host syncs); a digit's first batches set them
        nearly outright, so the statistics are usable from the first steps. Under DDP the batch is the
        union of the ranks' (as SyncBatchNorm does): every rank keeps the same statistics, so the one
        that rank 0 saves resumes every rank."""
        a = attrs.double()
        sums = torch.stack([torch.zeros(10, 2, dtype=a.dtype, device=a.device).index_add_(0, digit, a ** p)
                            for p in (0, 1, 2)])
        if torch.distributed.is_initialized():
            torch.distributed.all_reduce(sums)
        count = sums[0]
        mean = sums[1] / count.clamp_min(1)
        var = (sums[2] - count * mean ** 2) / (count - 1).clamp_min(1)
        present = (count[:, 0] >= 2).to(self.seen.dtype)
        rate = (torch.maximum(1.0 / (1.0 + self.seen), torch.full_like(self.seen, self.momentum)) * present)[:, None]
        self.mean.lerp_(mean.float(), rate)
        self.var.lerp_(var.float().clamp_min(0), rate)
        self.seen += present

    def forward(self, images: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        """images [2K,1,28,28]: rows i and K+i share a noise and differ in digit. The mean gap between
        their z-scored slant and ink, squared up to 1 and linear beyond (Huber), so an early generator
        whose hands barely vary cannot blow it up (about 1 for unrelated hands, 0 for one hand)."""
        attrs = slant_and_mass(images)
        self.update(attrs.detach(), digit)
        z = (attrs - self.mean[digit]) / self.var[digit].clamp_min(1e-8).sqrt()
        k = len(images) // 2
        return 2 * F.smooth_l1_loss(z[:k], z[k:])
