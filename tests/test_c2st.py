"""The classifier two-sample test: its hand-written backward against finite differences, and its
verdicts on real digits (near chance) and on real digits made to look generated (well above it)."""
from __future__ import annotations

import numpy as np
import pytest

from digits.c2st import TwoSampleCNN, c2st, c2st_runs
from digits.idx import load_split

SIDE = 2000  # digits on each side: 1,000 train the classifier, 1,000 are scored


@pytest.fixture(scope="module")
def digits(mnist) -> tuple[np.ndarray, np.ndarray]:
    """Real training digits and real test digits, ink in [0, 1], drawn at random (fixed seed)."""
    rng = np.random.default_rng(1)
    train, _ = load_split(mnist, "train")
    test, _ = load_split(mnist, "test")
    return tuple(x[rng.choice(len(x), SIDE, replace=False)] / 255.0 for x in (train, test))


def blurred(x: np.ndarray) -> np.ndarray:
    """A 3x3 binomial blur: soft, evenly blurred strokes, as the ELBO's Bernoulli means draw them."""
    k = np.array([1.0, 2.0, 1.0]) / 4
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    rows = sum(k[i] * padded[:, i:i + 28, :] for i in range(3))
    return sum(k[j] * rows[:, :, j:j + 28] for j in range(3))


def test_backward_matches_finite_differences():
    """Central differences in float64, one coordinate of every parameter."""
    rng = np.random.default_rng(0)
    net = TwoSampleCNN(rng)
    net.params = {k: v.astype(np.float64) for k, v in net.params.items()}
    x = rng.random((6, 28, 28))
    y = np.array([0, 1, 0, 1, 1, 0], np.float64)
    grads = net.gradients(x, y)
    for name, index in [("w1", (3, 5)), ("b1", (2,)), ("w2", (40, 7)), ("b2", (11,)), ("w3", (500,)), ("b3", ())]:
        moved = []
        for step in (1e-5, -2e-5):  # to +1e-5, then to -1e-5
            net.params[name][index] += step
            moved.append(net.loss(x, y))
        net.params[name][index] += 1e-5
        numeric = (moved[0] - moved[1]) / 2e-5
        assert grads[name][index] == pytest.approx(numeric, rel=1e-3, abs=1e-8), name


def test_real_digits_against_real_digits_score_near_chance(digits):
    train, test = digits
    assert abs(c2st(test, train, seed=0) - 0.5) < 0.05


def test_it_is_deterministic_from_its_seed(digits):
    train, test = digits
    assert c2st(test, blurred(train), seed=3, repeats=1) == c2st(test, blurred(train), seed=3, repeats=1)


def test_its_score_is_the_mean_of_repeats_each_with_its_own_seed(digits):
    train, test = digits
    runs = c2st_runs(test, blurred(train), seed=3, repeats=2)
    assert runs[1] == c2st_runs(test, blurred(train), seed=4, repeats=1)[0]
    assert runs[0] != runs[1]  # other halves, another start
    assert c2st(test, blurred(train), seed=3, repeats=2) == pytest.approx(np.mean(runs))


@pytest.mark.parametrize("fake", [blurred, lambda x: 0.8 * x], ids=["blurred", "ink squashed towards grey"])
def test_real_digits_made_to_look_generated_are_told_apart(digits, fake):
    train, test = digits
    assert c2st(test, fake(train), seed=0, repeats=1) > 0.8
