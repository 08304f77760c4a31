"""Quality metrics of generated digits, with numpy and onnxruntime only (what users get).

Every generator is scored through its ONNX file by the judge (artifacts/judge.onnx),
an independent classifier that never saw generated images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digits.generators import OnnxGenerator, noise
from digits.judge import judge

GROUP = 5
# Two images are "visibly different" when their pixel distance (L2, ink in 0..1) is at least this:
# e.g. four pixels turned from black to white. The closest pair of same-digit real test digits
# in a group of five (two 1s) is 1.43 apart; a near-copy is well below 1.
VISIBLE_DISTANCE = 1.0


def samples_per_digit(generator: OnnxGenerator, per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_digit`` samples of each digit, z ~ N(0, I) from a fixed seed: images [N,28,28], digits [N]."""
    labels = np.repeat(np.arange(10, dtype=np.int64), per_digit)
    return generator.images(labels, noise(seed, len(labels), generator.latent_dim)), labels


def real_sample(images: np.ndarray, labels: np.ndarray, per_digit: int,
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``per_digit`` real digits of each class, drawn without replacement in the layout ``generate`` returns.

    Scored like a generator's samples, they show what a perfect generator would score on every
    column. Returns the images, their digits and their indices (to leave them out of novelty).
    """
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.choice(np.flatnonzero(labels == d), per_digit, replace=False) for d in range(10)])
    return images[picks], labels[picks], picks


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (numpy only, no scipy)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    sqrt_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


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
