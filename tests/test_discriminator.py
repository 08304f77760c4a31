"""The critic both generators train against, and the CGAN's optional auxiliary classifier on it: it
learns digits from real images only, and asks the generator for digits that read as asked."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.training_helpers import cgan_step, cpu_recipe
from training.discriminator import Discriminator, critic_step, generator_score
from training.precision import Precision

CPU = Precision(torch.device("cpu"))


def batch(seed: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def classifier_step(fake_digit: torch.Tensor) -> dict[str, torch.Tensor]:
    """The classifier's weights after one critic step from a fixed start on fixed images."""
    torch.manual_seed(0)
    D = Discriminator(4, classify=True)
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    (real, digit), (fake, _) = batch(1), batch(2)
    critic_step(D, opt, CPU, real, digit, fake, fake_digit, classify=1.0)
    return {k: v.clone() for k, v in D.classifier.state_dict().items()}


@pytest.mark.training
def test_the_classifier_learns_from_real_digits_only():
    """Which digits the fakes were asked for never reaches the classifier: it cannot learn their flaws."""
    first, second = classifier_step(torch.zeros(16, dtype=torch.long)), classifier_step(torch.arange(16) % 10)
    for name in first:
        assert torch.equal(first[name], second[name])


@pytest.mark.training
def test_the_classifier_learns_the_real_digits():
    torch.manual_seed(0)
    D = Discriminator(4, classify=True)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)
    (real, digit), (fake, fake_digit) = batch(1), batch(2)
    before = F.cross_entropy(D(real, digit)[1], digit).item()
    for _ in range(100):
        critic_step(D, opt, CPU, real, digit, fake, fake_digit, classify=1.0)
    assert F.cross_entropy(D(real, digit)[1], digit).item() < 0.5 * before


def test_the_generator_pays_for_digits_the_classifier_misreads():
    torch.manual_seed(0)
    D = Discriminator(4, classify=True).eval()  # in training, each forward moves spectral norm's estimate
    fake, digit = batch(3)
    adversarial, misread = generator_score(D, CPU, fake, digit)
    scores, logits = D(fake, digit)
    assert adversarial.item() == pytest.approx(-scores.mean().item())
    assert misread.item() == pytest.approx(F.cross_entropy(logits, digit).item())
    _, without = generator_score(Discriminator(4).eval(), CPU, fake, digit)
    assert without.item() == 0


def test_the_cgan_has_a_classifier_only_when_asked():
    """Without one, the critic's weights are the same as before the flag, so older runs resume."""
    off, on = cpu_recipe("cgan", "--classify", "0"), cpu_recipe("cgan", "--classify", "0.5")
    assert not any(k.startswith("classifier") for k in off.D.state_dict())
    assert {"classifier.weight", "classifier.bias"} <= set(on.D.state_dict())
    x, digit = batch(4)
    assert off.train_step(x, digit, 1.5)["misread"] == 0
    assert on.train_step(x, digit, 1.5)["misread"] > 0


@pytest.mark.training
def test_the_generator_loss_carries_the_classifiers_term_at_its_weight():
    """With the critic held still, doubling --classify from 0.5 to 1 adds half the misread cross-entropy to the
    generator's loss and changes nothing else: the term is in the loss the generator steps on."""
    half, whole = (cgan_step(0.5, "--classify", weight, "--consistency", "0") for weight in ("0.5", "1"))
    assert half["misread"] > 0 and torch.equal(half["misread"], whole["misread"])
    torch.testing.assert_close(whole["g_loss"] - half["g_loss"], 0.5 * half["misread"])
