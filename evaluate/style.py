"""Handwriting metrics: does one style mean one hand for every digit, and do morphs move smoothly?

Slant and ink mass are the two features of a hand that survive any digit's shape: the
shear of the ink's second moments and how much ink there is. Consistency compares how much
they vary inside rows written in one style with how much they vary when the same images are
shuffled across styles (1.0 = no shared style, 0 = identical style in every digit).
"""
from __future__ import annotations

import numpy as np

from digits import handwriting
from digits.generators import Style
from digits.judging import judge
from digits.measures import row_consistency

MORPH_FRAMES = 8


def style_scores(style: Style, judge_session, rows: int, morphs: int, seed: int) -> dict[str, float]:
    """The handwriting columns of the quality table for one generator's style interface."""
    written = handwriting.write(style, "0123456789", handwriting.hands(seed, rows, style.style_dim))
    probs, _ = judge(judge_session, written.reshape(-1, 28, 28))
    legible = probs.argmax(1) == np.tile(np.arange(10), rows)
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, 10, (morphs, 2))
    seeds = rng.integers(0, 2**32, (morphs, 2))
    frames = np.stack([handwriting.morph(style, int(a), int(b), int(s), int(t), MORPH_FRAMES)
                       for (a, b), (s, t) in zip(pairs, seeds, strict=True)])
    ends, _ = judge(judge_session, frames[:, [0, -1]].reshape(-1, 28, 28))
    ends_read = (ends.argmax(1).reshape(morphs, 2) == pairs).all(1)
    steps = np.linalg.norm(np.diff(frames, axis=1).reshape(morphs, MORPH_FRAMES - 1, -1), axis=-1)
    smooth = steps.max(1) <= 2 * steps.mean(1)
    return {"legibility": float(legible.mean()),
            "legibility_min_digit": float(legible.reshape(rows, 10).mean(0).min()),
            **row_consistency(written), "morph_ends": float(ends_read.mean()), "morph_smooth": float(smooth.mean())}
