"""Draw every latent first, then run the generator in batches: the bytes never depend on the batch size."""
from __future__ import annotations

from typing import Callable

import numpy as np

from digits.generators import Generator
from digits.images import to_uint8


def latents(counts: dict[int, int], latent_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(digits int64 [N], z float32 [N, latent_dim]) in a seeded shuffled order, as MNIST's files are.

    Each digit draws from its own stream ``default_rng([seed, digit])``: the k-th sample of a digit
    does not change when another digit's count does.
    """
    digits = np.concatenate([np.full(n, d, dtype=np.int64) for d, n in sorted(counts.items())])
    z = np.concatenate([np.random.default_rng([seed, d]).standard_normal((n, latent_dim), dtype=np.float32)
                        for d, n in sorted(counts.items())])
    order = np.random.default_rng(seed).permutation(len(digits))
    return digits[order], z[order]


def render(generator: Generator, digits: np.ndarray, z: np.ndarray, batch_size: int,
           advance: Callable[[int], object] = lambda n: None) -> np.ndarray:
    """uint8 images [N,28,28] (0 background, 255 ink) from batched runs; ``advance(n)`` after each batch."""
    images = np.empty((len(digits), 28, 28), dtype=np.uint8)
    for start in range(0, len(digits), batch_size):
        part = slice(start, start + batch_size)
        images[part] = to_uint8(generator.images(digits[part], z[part]))
        advance(len(images[part]))
    return images
