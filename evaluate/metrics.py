"""Quality metrics of generated digits, with numpy and onnxruntime only (what users get).

Every generator is scored through its ONNX file by the judge (artifacts/judge.onnx),
an independent classifier that never saw generated images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digits.judging import judge
from digits.measures import fid

GROUP = 5
# Two images are "visibly different" when their pixel distance (L2, ink in 0..1) is at least this:
# e.g. four pixels turned from black to white. The closest pair of same-digit real test digits
# in a group of five (two 1s) is 1.43 apart; a near-copy is well below 1.
VISIBLE_DISTANCE = 1.0


def groups_of(images: np.ndarray, labels: np.ndarray, digit: int) -> np.ndarray:
    """Consecutive groups of 5 images of one digit: [G, 5, 784]."""
    chosen = images[labels == digit].reshape(-1, 28 * 28)
    usable = len(chosen) - len(chosen) % GROUP
    return chosen[:usable].reshape(-1, GROUP, 28 * 28)


def pairwise(groups: np.ndarray) -> np.ndarray:
    """Pairwise pixel distances inside each group: [G, 5, 5]."""
    return np.linalg.norm(groups[:, :, None] - groups[:, None], axis=-1)


def all_distinct(groups: np.ndarray) -> np.ndarray:
    """Per group: are all five visibly different from each other?"""
    off_diagonal = ~np.eye(GROUP, dtype=bool)
    return (pairwise(groups)[:, off_diagonal] >= VISIBLE_DISTANCE).all(axis=1)


def nearest_distance(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean pixel distance from each query to its nearest reference image."""
    q = queries.reshape(len(queries), -1).astype(np.float32)
    r = reference.reshape(len(reference), -1).astype(np.float32)
    r_sq = (r ** 2).sum(1)
    best = np.concatenate([
        ((chunk ** 2).sum(1)[:, None] + r_sq[None] - 2 * chunk @ r.T).min(1)
        for chunk in np.array_split(q, max(1, len(q) // 500))])
    return np.sqrt(np.clip(best, 0, None))


@dataclass
class Reference:
    """Real digits and the judge's view of them: the yardstick for every generator."""

    train: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    test_features: np.ndarray
    floor_fid: float
    test_novelty: float

    @classmethod
    def build(cls, judge_session, train, test, test_labels) -> Reference:
        """The test digits are shuffled once (fixed seed): MNIST's test file holds runs of one writer's
        digits, and groups of five from such runs are less varied than five independent draws."""
        order = np.random.default_rng(0).permutation(len(test))
        test, test_labels = test[order], test_labels[order]
        _, train_features = judge(judge_session, train)
        _, test_features = judge(judge_session, test)
        novelty = float(np.median(nearest_distance(test, train)))
        return cls(train, test, test_labels, test_features, fid(train_features, test_features), novelty)


def score(images: np.ndarray, labels: np.ndarray, judge_session, ref: Reference,
          novelty_pool: np.ndarray | None = None) -> dict:
    """Every number of the quality table for one generator's samples.

    Novelty is measured against ``novelty_pool`` (default: all training digits); real training
    digits scored as samples pass the training digits without themselves.
    """
    probs, features = judge(judge_session, images)
    predicted = probs.argmax(1)
    per_digit = {str(d): float((predicted[labels == d] == d).mean()) for d in range(10)}
    diversity, distinct = [], []
    for d in range(10):
        gen_groups = groups_of(images, labels, d)
        real_groups = groups_of(ref.test, ref.test_labels, d)
        off = ~np.eye(GROUP, dtype=bool)
        diversity.append(pairwise(gen_groups)[:, off].mean() / pairwise(real_groups)[:, off].mean())
        distinct.append(all_distinct(gen_groups))
    generated_fid = fid(features, ref.test_features)
    novelty = float(np.median(nearest_distance(images, ref.train if novelty_pool is None else novelty_pool)))
    return {
        "samples": int(len(images)),
        "accuracy": float((predicted == labels).mean()),
        "accuracy_min_digit": min(per_digit.values()),
        "accuracy_per_digit": per_digit,
        "confidence": float(probs[np.arange(len(labels)), labels].mean()),
        "fid": generated_fid,
        "fid_ratio": generated_fid / ref.floor_fid,
        "diversity_ratio": float(np.mean(diversity)),
        "distinct_groups": float(np.concatenate(distinct).mean()),
        "novelty_ratio": novelty / ref.test_novelty,
    }
