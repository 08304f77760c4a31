"""The CVAE's fitted mixture prior: it must find where the latents are and sample by the weights."""
from __future__ import annotations

import pytest
import torch

from training.prior import MixturePrior


def two_blobs(n_small: int, n_large: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    small = torch.randn(n_small, 3, generator=g) * 0.1 + torch.tensor([5.0, 0, 0])
    large = torch.randn(n_large, 3, generator=g) * 0.1 - torch.tensor([5.0, 0, 0])
    return torch.cat([small, large]).double(), torch.full((n_small + n_large, 3), 0.01).double()


def test_fit_finds_both_clusters_with_their_weights():
    prior = MixturePrior(latent_dim=3, components=2)
    mu, var = two_blobs(250, 750)
    digits = torch.full((1000,), 4)
    prior.fit(mu, var, digits)
    means = sorted(prior.mean[4, :, 0].tolist())
    assert abs(means[0] + 5) < 0.05 and abs(means[1] - 5) < 0.05
    assert torch.allclose(prior.cumulative[4, -1], torch.tensor(1.0))
    weight_of_left = prior.cumulative[4, 0] if prior.mean[4, 0, 0] < 0 else 1 - prior.cumulative[4, 0]
    assert abs(float(weight_of_left) - 0.75) < 1e-6
    untouched = MixturePrior(3, 2)
    assert torch.equal(prior.mean[3], untouched.mean[3]), "digits without data keep their prior"


def test_sampling_follows_the_weights_and_the_spread():
    prior = MixturePrior(latent_dim=3, components=2)
    mu, var = two_blobs(250, 750)
    prior.fit(mu, var, torch.full((1000,), 4))
    noise = torch.randn(20000, 4, generator=torch.Generator().manual_seed(1))
    z = prior(torch.full((20000,), 4), noise)
    left = (z[:, 0] < 0).float().mean()
    assert abs(float(left) - 0.75) < 0.02
    assert 0.08 < float(z[z[:, 0] < 0, 1].std()) < 0.16  # cov(mu) + mean(var): 0.1^2 + 0.01


@pytest.mark.slow
def test_style_basis_holds_each_digits_mean_and_the_shared_spread():
    """Per digit, the mixture's samples have the basis mean; within digits, its scale's square is their covariance."""
    prior = MixturePrior(latent_dim=3, components=2)
    g = torch.Generator().manual_seed(1)
    for d in range(10):
        mu, var = two_blobs(100 + 20 * d, 400)
        prior.fit(mu + d, var, torch.full((len(mu),), d))
    digits = torch.arange(10).repeat_interleave(20000)
    samples = prior(digits, torch.randn(len(digits), 4, generator=g)).view(10, 20000, 3)
    means, scale = prior.style_basis()
    torch.testing.assert_close(means, samples.mean(1), atol=0.05, rtol=0)
    within = torch.stack([torch.cov(s.T) for s in samples]).mean(0)
    torch.testing.assert_close(scale @ scale.T, within, atol=0.15, rtol=0.02)
    torch.testing.assert_close(scale, scale.T)  # symmetric: no axis is favoured, unlike a Cholesky factor
