"""One hand, many digits: numbers written in one style per row, and morphs between two (digit, hand) pairs.

A hand is a style vector drawn from a seed; the generator's style interface draws any digit in
it (docs/contracts.md, The style interface). The web app, the evaluation and the tests all write through here.
"""
from __future__ import annotations

import numpy as np

from digits.generators import Style, noise
from digits.images import mnist_centred

MAX_TEXT = 16  # digits in one written number
# A hand read from a real digit sits at about twice the spread the style interface draws from (the
# CVAE's styles are drawn at half the within-digit spread). Other digits are written at this fraction
# of its offset from the average hand: measured on 2,000 test digits, 0123456789 in the full read hand
# was legible 91% of the time, at 0.6 of it 98.7%, with the same slant and ink consistency.
READ_HAND = 0.6
EYE = np.eye(10, dtype=np.float32)


def hands(seed: int, count: int, style_dim: int) -> np.ndarray:
    """``count`` styles [count, style_dim] from one seed: row i of a page is hand i."""
    return noise(seed, count, style_dim)


def read_hand(style: np.ndarray) -> np.ndarray:
    """The hand to write other digits in, for a style an encoder read from a drawing."""
    return READ_HAND * style


def write(style: Style, text: str, styles: np.ndarray) -> np.ndarray:
    """``text`` (digits only) written once per style: [rows, len(text), 28, 28], each digit placed as MNIST's."""
    digits = [int(c) for c in text]
    label = np.tile(EYE[digits], (len(styles), 1))
    images = mnist_centred(style.images(label, np.repeat(styles, len(digits), axis=0)))
    return images.reshape(len(styles), len(digits), 28, 28)


def rows(written: np.ndarray) -> np.ndarray:
    """[rows, L, 28, 28] -> [rows, 28, 28 * L]: each number's digits side by side, as on a form."""
    return written.transpose(0, 2, 1, 3).reshape(written.shape[0], 28, -1)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation [len(t), D]: the path between two N(0, I) draws stays as typical as its
    ends (a straight line would pass through the unusually small middle); equal ends stay put."""
    cos = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-4:
        return ((1 - t)[:, None] * a + t[:, None] * b).astype(np.float32)
    wa, wb = np.sin((1 - t) * omega) / np.sin(omega), np.sin(t * omega) / np.sin(omega)
    return (wa[:, None] * a + wb[:, None] * b).astype(np.float32)


def morph(style: Style, digit: int, to_digit: int, seed: int, to_seed: int, frames: int) -> np.ndarray:
    """[frames, 28, 28]: first (digit, hand of seed), last (to_digit, hand of to_seed), the label
    weights and the hand moving together in equal steps."""
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)
    label = (1 - t)[:, None] * EYE[digit] + t[:, None] * EYE[to_digit]
    path = slerp(hands(seed, 1, style.style_dim)[0], hands(to_seed, 1, style.style_dim)[0], t)
    return style.images(label, path)
