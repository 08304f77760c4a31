"""In your handwriting, measured: the real test digits as drawings, through the path an upload takes.

Each test digit is scaled up 8x (each pixel an 8x8 block), dark ink on white, saved as a PNG
and normalised by digits.drawn_digit; the generator's encoder reads its style; the style
interface draws the digit back (the reconstruction) and writes 0123456789 in that style.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from digits import handwriting
from digits.drawn_digit import normalise
from digits.generators import OnnxGenerator
from digits.images import png_bytes
from digits.judging import judge
from digits.measures import row_consistency

SCALE = 8
TEXT = "0123456789"
BEATEN = 0.95  # a good reconstruction is closer to its input than this share of random samples of its digit


def as_drawing(digit: np.ndarray) -> bytes:
    """A uint8 MNIST digit [28,28] (ink 255) as a 224x224 PNG of dark ink on white paper."""
    big = Image.fromarray(255 - digit).resize((28 * SCALE, 28 * SCALE), Image.Resampling.NEAREST)
    return png_bytes(np.asarray(big))


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixel L2 between every image of a [n,28,28] and every image of b [k,28,28]: [n, k]."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    squared = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.clip(squared, 0, None))


def closer_than_samples(inputs: np.ndarray, reconstructions: np.ndarray, labels: np.ndarray,
                        samples: np.ndarray, sample_digits: np.ndarray) -> np.ndarray:
    """Per input: is its reconstruction closer (pixel L2) than BEATEN of the random samples of its digit?"""
    beaten = np.zeros(len(inputs), dtype=bool)
    for d in range(10):
        mine, theirs = inputs[labels == d], samples[sample_digits == d]
        own = np.linalg.norm((reconstructions[labels == d] - mine).reshape(len(mine), -1), axis=1)
        beaten[labels == d] = own < np.quantile(distances(mine, theirs), 1 - BEATEN, axis=1)
    return beaten


def drawing_scores(generator: OnnxGenerator, judge_session, drawn: np.ndarray, labels: np.ndarray,
                   samples: np.ndarray, sample_labels: np.ndarray) -> dict[str, float]:
    """The "in your handwriting" columns for a generator with an encoder: reconstruction, legibility, consistency."""
    inputs = np.stack([normalise(as_drawing(digit)) for digit in drawn])
    styles = generator.encoder.styles(inputs, labels)
    written = handwriting.write(generator.style, TEXT, handwriting.read_hand(styles))
    reconstructions = generator.style.images(handwriting.EYE[labels], styles)  # each digit in the style read from it
    probs, _ = judge(judge_session, written.reshape(-1, 28, 28))
    legible = probs.argmax(1) == np.tile(np.arange(10), len(drawn))
    consistency = row_consistency(written)
    beaten = closer_than_samples(inputs, reconstructions, labels, samples, sample_labels)
    return {"drawn_reconstruction": float(beaten.mean()),
            "drawn_legibility": float(legible.mean()),
            "drawn_slant": consistency["style_slant"], "drawn_ink": consistency["style_ink"]}
