"""The CGAN's hand-consistency term: it measures a hand as the instrument does, and it rewards only
agreement across digits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from digits.attributes import attributes
from digits.idx import load_split
from tests.training_helpers import cgan_step, cpu_recipe
from training.consistency import HandConsistency, slant_and_mass


@pytest.mark.mnist
def test_slant_and_mass_are_the_instruments_numbers(mnist):
    images, _ = load_split(mnist, "test")
    x = images[:500].astype(np.float32) / 255
    ours = slant_and_mass(torch.from_numpy(x)[:, None]).double().numpy()
    np.testing.assert_allclose(ours, attributes(x)[:, :2], rtol=1e-4, atol=1e-4)


def strokes(slants: np.ndarray, masses: np.ndarray) -> torch.Tensor:
    """Upright bars sheared by ``slants`` with ``masses`` of ink: images whose slant and mass are known."""
    ys, xs = np.mgrid[0:28, 0:28]
    bars = [(np.abs(xs - 14 - s * (14 - ys)) < 1.5) & (np.abs(ys - 14) < 9) for s in slants]
    images = np.stack([b * m / b.sum() for b, m in zip(bars, masses, strict=True)]).astype(np.float32)
    return torch.from_numpy(images)[:, None]


def warmed(term: HandConsistency, images: torch.Tensor, digit: torch.Tensor) -> HandConsistency:
    for _ in range(50):
        term.update(slant_and_mass(images), digit)
    return term


@pytest.mark.training
def test_one_hand_in_two_digits_costs_nothing_and_unrelated_hands_cost_about_one():
    rng = np.random.default_rng(0)
    slants, masses = rng.uniform(-0.4, 0.4, 64), rng.uniform(60, 140, 64)
    # Digit 1's hands are digit 0's, thinner: the same z-scores, so the same hand.
    images = torch.cat([strokes(slants, masses), strokes(slants, masses / 2)])
    digit = torch.tensor([0] * 64 + [1] * 64)
    term = warmed(HandConsistency(), images, digit)
    same = term(images, digit)
    assert same.item() < 1e-2
    shuffled = torch.cat([images[:64], images[64:][torch.from_numpy(rng.permutation(64))]])
    assert 0.6 < term(shuffled, digit).item() < 1.6


@pytest.mark.training
def test_narrowing_the_spread_of_hands_gains_nothing():
    """Z-scored by the generator's own spread: hands half as varied, still unrelated, cost the same."""
    rng = np.random.default_rng(1)
    slants, masses, other = rng.uniform(-0.4, 0.4, 64), rng.uniform(60, 140, 64), rng.permutation(64)
    wide = torch.cat([strokes(slants, masses), strokes(slants[other], masses[other])])
    narrow = torch.cat([strokes(slants / 2, 100 + (masses - 100) / 2),
                        strokes(slants[other] / 2, 100 + (masses[other] - 100) / 2)])
    digit = torch.tensor([0] * 64 + [1] * 64)
    wide_cost = warmed(HandConsistency(), wide, digit)(wide, digit).item()
    narrow_cost = warmed(HandConsistency(), narrow, digit)(narrow, digit).item()
    assert narrow_cost == pytest.approx(wide_cost, rel=0.1)


@pytest.mark.training
def test_the_term_pulls_the_pair_together():
    """Its gradient moves each image's attributes towards its partner's: a step shrinks the gap."""
    rng = np.random.default_rng(2)
    images = torch.cat([strokes(rng.uniform(-0.4, 0.4, 32), rng.uniform(60, 140, 32)) for _ in range(2)])
    digit = torch.tensor([3] * 32 + [7] * 32)
    term = warmed(HandConsistency(), images, digit)
    term.momentum = 0.0  # hold the statistics still while stepping
    images = images.clone().requires_grad_(True)
    before = term(images, digit)
    (grad,) = torch.autograd.grad(before, images)
    after = term(images - 0.01 * grad / grad.abs().max(), digit)
    assert after.item() < before.item()


@pytest.mark.training
def test_the_cgan_pays_the_term_after_its_first_epoch_and_not_when_it_is_off():
    torch.manual_seed(0)  # the pairs' digits are drawn; with this seed a digit comes twice, as the statistics need
    x, digit = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    on, off = cpu_recipe("cgan"), cpu_recipe("cgan", "--consistency", "0")
    assert on.train_step(x, digit, 1.5)["hand_gap"] > 0
    assert off.train_step(x, digit, 1.5)["hand_gap"] == 0
    assert "hands" in on.state_dict() and on.hands.seen.sum() > 0


@pytest.mark.training
@pytest.mark.parametrize("progress,ramp", [(0.5, 0.0), (1.0, 0.0), (1.5, 0.5), (2.5, 1.0)])
def test_the_term_is_off_in_the_first_epoch_and_ramps_in_over_the_second(progress, ramp):
    """With the critic held still, raising --consistency from 1 to 2 adds the ramp's share of the hand gap to the
    generator's loss: none in the first epoch, half half-way through the second, all of it after."""
    once, twice = (cgan_step(progress, "--consistency", weight) for weight in ("1", "2"))
    assert once["hand_gap"] > 0 and torch.equal(once["hand_gap"], twice["hand_gap"])
    torch.testing.assert_close(twice["g_loss"] - once["g_loss"], ramp * once["hand_gap"])
