"""The measures the quality instrument (evaluate/) and the epoch chooser (export/choose.py) share,
numpy and onnxruntime only: samples of every digit, a real-digit sample drawn the same way, FID, and the
consistency of a hand across the digits of a row."""
from __future__ import annotations

import numpy as np

from digits.attributes import attributes
from digits.generators import OnnxGenerator, noise


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


def consistency(feature: np.ndarray, seed: int = 0) -> float:
    """feature [rows, digits]: mean within-row std of per-digit z-scores over the same with shuffled columns."""
    z = (feature - feature.mean(0)) / np.maximum(feature.std(0), 1e-12)
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(z[:, j]) for j in range(z.shape[1])], axis=1)
    return float(z.std(1).mean() / shuffled.std(1).mean())


def row_consistency(rows: np.ndarray) -> dict[str, float]:
    """rows [R, 10, 28, 28]: each row the digits 0-9 written in one style."""
    measured = attributes(rows.reshape(-1, 28, 28))
    slant, ink, shape = measured[:, 0], measured[:, 1], rows.shape[:2]
    return {"style_slant": consistency(slant.reshape(shape)), "style_ink": consistency(ink.reshape(shape))}
