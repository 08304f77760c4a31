"""The CVAE's sampling prior: per digit, a Gaussian mixture fitted to the aggregate posterior.

A VAE decoder is trained on latents the encoder produces, and those do not fill N(0, I):
sampling the standard normal lands in holes between styles and gives ambiguous digits.
Fitting a mixture to where each digit's training images actually sit keeps samples on
the decoder's training manifold. The exported model still takes plain N(0, I) noise:
noise[:, 0] picks the component (through the normal CDF, by the mixture weights) and
noise[:, 1:] is shaped by that component's mean and Cholesky factor.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def kmeans(x: torch.Tensor, k: int, generator: torch.Generator, steps: int = 30) -> torch.Tensor:
    """Cluster labels of the rows of x (Lloyd's algorithm from k distinct random rows)."""
    centers = x[torch.randperm(len(x), generator=generator)[:k]].clone()
    for _ in range(steps):
        labels = torch.cdist(x, centers).argmin(1)
        for j in range(k):
            if (labels == j).any():
                centers[j] = x[labels == j].mean(0)
    return torch.cdist(x, centers).argmin(1)


class MixturePrior(nn.Module):
    def __init__(self, latent_dim: int, components: int) -> None:
        super().__init__()
        self.components = components
        self.register_buffer("mean", torch.zeros(10, components, latent_dim))
        self.register_buffer("scale", torch.eye(latent_dim).repeat(10, components, 1, 1))
        self.register_buffer("cumulative", (torch.arange(1, components + 1) / components).repeat(10, 1))

    def forward(self, digit: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        u = 0.5 * (1 + torch.erf(noise[:, 0] / math.sqrt(2)))  # uniform in (0, 1)
        k = (u.unsqueeze(1) > self.cumulative[digit]).sum(1).clamp(max=self.components - 1)
        return self.mean[digit, k] + (self.scale[digit, k] @ noise[:, 1:].unsqueeze(2)).squeeze(2)

    def style_basis(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each digit's mean [10, D] and one shared within-digit scale [D, D] (the symmetric root of the
        digits' average covariance), derived from the fitted mixture, nothing stored: the LDA view,
        where the digit sets the mean and a style is the whitened offset from it, the same for all."""
        weights = torch.diff(self.cumulative, dim=1, prepend=torch.zeros_like(self.cumulative[:, :1])).double()
        means, scales = self.mean.double(), self.scale.double()
        digit_mean = (weights[:, :, None] * means).sum(1)
        outer = scales @ scales.transpose(-1, -2) + means[..., None] * means[..., None, :]
        second = (weights[:, :, None, None] * outer).sum(1)
        within = (second - digit_mean[:, :, None] * digit_mean[:, None]).mean(0)
        values, vectors = torch.linalg.eigh(within)
        return digit_mean.float(), ((vectors * values.clamp_min(0).sqrt()) @ vectors.T).float()

    @torch.no_grad()
    def fit(self, mu: torch.Tensor, var: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> None:
        """Per digit: k-means on the posterior means, then each cluster's cov(mu) + mean(sigma^2)."""
        generator = torch.Generator().manual_seed(seed)
        eye = torch.eye(mu.shape[1], dtype=mu.dtype, device=mu.device)
        for d in range(10):
            x, v = mu[labels == d], var[labels == d]
            if len(x) < 2 * self.components:
                continue  # too few images of this digit: keep the current prior
            clusters = kmeans(x, self.components, generator)
            weights = torch.bincount(clusters, minlength=self.components).to(mu.dtype)
            for j in range(self.components):
                chosen = clusters == j
                if chosen.sum() < 2:
                    weights[j] = 0
                    continue
                cov = torch.cov(x[chosen].T) + torch.diag(v[chosen].mean(0)) + 1e-6 * eye
                scale, info = torch.linalg.cholesky_ex(cov)
                if info != 0 or not torch.isfinite(scale).all():
                    weights[j] = 0
                    continue
                self.mean[d, j], self.scale[d, j] = x[chosen].mean(0).float(), scale.float()
            self.cumulative[d] = (weights.cumsum(0) / weights.sum()).float()
