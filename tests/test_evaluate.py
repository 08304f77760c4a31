"""The quality instrument itself, on real digits: it must tell real, copied and collapsed samples apart."""
from __future__ import annotations

import numpy as np
import pytest

from evaluate.metrics import GROUP, Reference, all_distinct, fid, groups_of, nearest_distance, score
from training.mnist import load_split
from digits.generators import open_session


@pytest.fixture(scope="module")
def reference(root, mnist) -> Reference:
    train, _ = load_split(mnist, "train")
    test, labels = load_split(mnist, "test")
    return Reference.build(open_session(root / "artifacts" / "judge.onnx", 2), train / 255.0, test / 255.0, labels)


@pytest.fixture(scope="module")
def judge(root):
    return open_session(root / "artifacts" / "judge.onnx", 2)


def test_fid_is_zero_for_identical_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 8))
    assert abs(fid(a, a)) < 1e-6
    assert fid(a, a + 0.5) == pytest.approx(8 * 0.25, rel=0.05)


def test_real_test_digits_score_as_real(reference, judge):
    """Scoring the test digits themselves: judge accuracy, FID 0, diversity 1, all groups distinct."""
    result = score(reference.test, reference.test_labels, judge, reference)
    assert result["accuracy"] >= 0.993
    assert result["fid"] < 1e-4
    assert result["diversity_ratio"] == pytest.approx(1.0)
    assert result["distinct_groups"] == 1.0
    assert result["novelty_ratio"] == pytest.approx(1.0)


def test_copies_of_training_digits_have_no_novelty(reference):
    assert np.median(nearest_distance(reference.train[:500], reference.train)) < 0.05  # float32 round-off
    assert reference.test_novelty > 3.0


def test_collapsed_groups_are_not_distinct(reference):
    group = groups_of(reference.test, reference.test_labels, 3)[:4]
    collapsed = np.repeat(group[:, :1], GROUP, axis=1)
    assert not all_distinct(collapsed).any()
    assert all_distinct(group).all()
