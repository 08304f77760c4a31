"""The quality instrument itself: FID against closed forms, diversity and novelty on constructed images
whose answers are known in advance, and real digits told apart from copied and collapsed ones."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from digits.generators import open_session
from digits.idx import load_split
from digits.measures import fid, real_sample
from evaluate.__main__ import main as evaluate_main
from evaluate.__main__ import two_sample
from evaluate.metrics import GROUP, Reference, all_distinct, groups_of, nearest_distance, score


@pytest.fixture(scope="module")
def reference(root, mnist) -> Reference:
    train, _ = load_split(mnist, "train")
    test, labels = load_split(mnist, "test")
    return Reference.build(open_session(root / "artifacts" / "judge.onnx", 2), train / 255.0, test / 255.0, labels)


@pytest.fixture(scope="module")
def judge(root):
    return open_session(root / "artifacts" / "judge.onnx", 2)


# --- FID against formulas computed another way -----------------------------------------------------

def with_moments(rng: np.random.Generator, n: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``n`` samples whose sample mean and covariance (np.cov's) are exactly ``mean`` and ``cov``,
    so the Gaussians FID fits to them are known in advance."""
    x = rng.standard_normal((n, len(mean)))
    x -= x.mean(0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T  # sample covariance now I
    return mean + x @ np.linalg.cholesky(cov).T


def random_cov(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fid_of_diagonal_gaussians_is_the_closed_form():
    """Diagonal covariances: FID = |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2. A FID blind to the
    covariances gets only the first term."""
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.standard_normal(8), rng.standard_normal(8)
    sd_a, sd_b = rng.uniform(0.5, 2.0, 8), rng.uniform(0.5, 2.0, 8)
    a = with_moments(rng, 3000, mu_a, np.diag(sd_a ** 2))
    b = with_moments(rng, 2000, mu_b, np.diag(sd_b ** 2))
    assert fid(a, b) == pytest.approx(((mu_a - mu_b) ** 2).sum() + ((sd_a - sd_b) ** 2).sum(), rel=1e-9)


def test_fid_agrees_with_a_second_formula_for_any_covariances():
    """tr (A^1/2 B A^1/2)^1/2 is the sum of the square roots of the eigenvalues of A B (a similar
    matrix): another matrix, and a general eigensolver instead of a symmetric one."""
    rng = np.random.default_rng(1)
    mu_a, mu_b = rng.standard_normal(16), rng.standard_normal(16)
    cov_a, cov_b = random_cov(rng, 16), random_cov(rng, 16)
    a, b = with_moments(rng, 4000, mu_a, cov_a), with_moments(rng, 3000, mu_b, cov_b)
    cross = np.sqrt(np.linalg.eigvals(cov_a @ cov_b)).real.sum()
    want = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert fid(a, b) == pytest.approx(want, rel=1e-9)


# --- diversity and novelty on constructed images ----------------------------------------------------

BLOCK = 4     # pixels per block; no two images light the same block, so every distance is known
SAMPLES = 50  # 5 of each digit: one group of five per digit


def lit(*blocks: tuple[int, float]) -> np.ndarray:
    """A 28x28 image lighting each (block index, intensity)."""
    image = np.zeros(28 * 28)
    for index, value in blocks:
        image[index * BLOCK:(index + 1) * BLOCK] = value
    return image.reshape(28, 28)


@pytest.fixture(scope="module")
def constructed(judge) -> Reference:
    """Training image t lights block t. Test image t adds block 50 + t: its nearest training image is t,
    2.0 away (4 pixels at 1), and any two test images are 4.0 apart (16 pixels)."""
    train = np.stack([lit((t, 1.0)) for t in range(SAMPLES)])
    test = np.stack([lit((t, 1.0), (SAMPLES + t, 1.0)) for t in range(SAMPLES)])
    return Reference.build(judge, train, test, np.arange(SAMPLES) % 10)


@pytest.mark.parametrize("offset", [0.0, 0.5, 1.0])
def test_diversity_and_novelty_of_known_offsets_of_training_images(judge, constructed, offset):
    """Sample t is training image t plus block 100 + t at ``offset``: 2 * offset from its nearest
    training image (novelty ratio = offset), and sqrt(8 + 8 offset^2) from any other sample
    (diversity ratio = sqrt((1 + offset^2) / 2))."""
    samples = np.stack([lit((t, 1.0), (2 * SAMPLES + t, offset)) for t in range(SAMPLES)])
    result = score(samples, np.arange(SAMPLES) % 10, judge, constructed)
    assert constructed.test_novelty == pytest.approx(2.0)
    assert result["novelty_ratio"] == pytest.approx(offset, abs=1e-3)  # float32 distances
    assert result["diversity_ratio"] == pytest.approx(np.sqrt((1 + offset ** 2) / 2))
    assert result["distinct_groups"] == 1.0  # every pair >= sqrt(8), over the visible distance


# --- real digits ------------------------------------------------------------------------------------


def test_real_test_digits_score_as_real(reference, judge):
    """Scoring the test digits themselves: judge accuracy, FID 0, diversity 1, all groups distinct."""
    result = score(reference.test, reference.test_labels, judge, reference)
    assert result["accuracy"] >= 0.993
    assert result["fid"] < 1e-4
    assert result["diversity_ratio"] == pytest.approx(1.0)
    assert result["distinct_groups"] == 1.0
    assert result["novelty_ratio"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def random_training_digits(reference, mnist) -> tuple[np.ndarray, np.ndarray]:
    """300 training digits of each class drawn at random: what a perfect generator's samples look like."""
    _, labels = load_split(mnist, "train")
    images, digits, _ = real_sample(reference.train, labels, 300, seed=7)
    return images, digits


def test_random_training_digits_are_as_diverse_as_the_test_digits(reference, judge, random_training_digits):
    """The test file holds runs of one writer's digits: groups of five consecutive ones are ~10% less
    varied than five independent draws, so the reference must shuffle them before it groups them."""
    result = score(*random_training_digits, judge, reference)
    assert result["diversity_ratio"] == pytest.approx(1.0, abs=0.03)


def test_fid_measures_the_samples_against_the_test_digits(reference, judge, random_training_digits):
    """Real digits sit near the floor; the same digits shifted two pixels right sit far above it."""
    images, digits = random_training_digits
    assert 0.5 < score(images, digits, judge, reference)["fid_ratio"] < 3
    assert score(np.roll(images, 2, axis=2), digits, judge, reference)["fid_ratio"] > 5


def test_the_c2st_is_against_the_test_digits_never_the_training_digits(reference):
    """Test digits as samples, beside training digits moved two pixels right: against the test digits they cannot
    be told apart (0.5); against those training digits they would be at once (1.0). 500 a side."""
    ref = dataclasses.replace(reference, test=reference.test[:500], train=np.roll(reference.train[:500], 2, axis=2))
    assert two_sample(ref, reference.test[500:1000], seed=0)["c2st"] < 0.6


def test_copies_of_training_digits_have_no_novelty(reference):
    assert np.median(nearest_distance(reference.train[:500], reference.train)) < 0.05  # float32 round-off
    assert reference.test_novelty > 3.0


def test_collapsed_groups_are_not_distinct(reference):
    group = groups_of(reference.test, reference.test_labels, 3)[:4]
    collapsed = np.repeat(group[:, :1], GROUP, axis=1)
    assert not all_distinct(collapsed).any()
    assert all_distinct(group).all()


# --- the command line ---------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, named", [
    (["--seed", "-1"], "--seed: must be a whole number from 0 to 4294967295"),
    (["--seed", "٣"], "--seed: must be a whole number from 0"),
    (["--per-digit", "9"], "--per-digit: must be a whole number from 10 to 5000"),
    (["--per-digit", "99999999999999"], "--per-digit: must be a whole number from 10 to 5000"),
])
def test_bad_arguments_are_one_line_naming_the_range(argv, named, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and named in err
    assert argv[1] not in err


def test_missing_data_names_the_flags_that_exist(tmp_path, capsys):
    assert evaluate_main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --data-dir" in err and "python -m training --download" in err
