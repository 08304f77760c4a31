"""Draw every latent first, then run the generator in batches: the bytes never depend on the batch size."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from digits.generators import OnnxGenerator
from digits.images import to_uint8


def latents(counts: dict[int, int], latent_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(digits int64 [N], z float32 [N, latent_dim]) in a seeded shuffled order, as MNIST's files are.

    Each digit draws from its own stream ``default_rng([seed, digit])``: the k-th sample of a digit
    does not change when another digit's count does.
    """
    labels = np.concatenate([np.full(n, d, dtype=np.int64) for d, n in sorted(counts.items())])
    z = np.concatenate([np.random.default_rng([seed, d]).standard_normal((n, latent_dim), dtype=np.float32)
                        for d, n in sorted(counts.items())])
    order = np.random.default_rng(seed).permutation(len(labels))
    return labels[order], z[order]


def images_in_batches(generator: OnnxGenerator, labels: np.ndarray, z: np.ndarray, batch_size: int, workers: int,
           advance: Callable[[int], object] = lambda n: None) -> np.ndarray:
    """uint8 images [N,28,28] (0 background, 255 ink); ``advance(n)`` after each batch.

    ``workers`` batches run side by side (onnxruntime releases the GIL), each session call on one
    core: on 2 cores that beats one call spread over two threads, whose batches are too small to split.
    """
    images = np.empty((len(labels), 28, 28), dtype=np.uint8)

    def one_batch(start: int) -> int:
        part = slice(start, start + batch_size)
        images[part] = to_uint8(generator.images(labels[part], z[part]))
        return len(images[part])

    with ThreadPoolExecutor(workers) as pool:
        for done in pool.map(one_batch, range(0, len(labels), batch_size)):
            advance(done)
    return images
