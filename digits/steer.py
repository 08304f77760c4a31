"""Steer the hand: directions in a model's style space that move slant, stroke weight and width.

Found from the model itself (``find``): many hands from the style prior write every digit, each
image is measured (digits/attributes.py), and a least-squares fit says how each attribute moves
with the style. For each attribute the direction is the shortest style step that moves it by one
standard deviation of the model's own hands while, to first order, not moving the other two.
So a control of 1 is one standard deviation of that attribute, and -2..2 spans nearly all natural
hands. The export stores them beside the style file as ``<model>_steer.json`` (docs/contracts.md).
"""
from __future__ import annotations

import json

import numpy as np

from digits import handwriting
from digits.attributes import NAMES, attributes
from digits.generators import Style

HANDS = 2000
TEXT = "0123456789"
LIMIT = 2.0  # controls are in -LIMIT..LIMIT


def measure(written: np.ndarray) -> np.ndarray:
    """[hands, digits, 3]: the attributes of every digit of rows written by handwriting.write."""
    return attributes(written.reshape(-1, 28, 28)).reshape(*written.shape[:2], len(NAMES))


def find(style: Style, hands: int = HANDS, seed: int = 0) -> dict:
    """The three directions [3, style_dim] in units of one standard deviation among the hands (a hand's
    attribute is its mean over the ten digits), with that deviation and how much of it the linear
    fit explains (r2)."""
    styles = handwriting.hands(seed, hands, style.style_dim).astype(np.float64)
    per_hand = measure(handwriting.write(style, TEXT, styles)).mean(1)
    sd = per_hand.std(0)
    centred_s, centred_a = styles - styles.mean(0), per_hand - per_hand.mean(0)
    slopes, *_ = np.linalg.lstsq(centred_s, centred_a, rcond=None)  # [style_dim, 3]: attribute per unit style
    r2 = 1 - ((centred_a - centred_s @ slopes) ** 2).sum(0) / (centred_a ** 2).sum(0)
    directions = (np.linalg.pinv(slopes.T) * sd).T  # row k: slopes.T @ row = sd_k * e_k, the shortest such step
    return {"hands": hands, "seed": seed, "text": TEXT,
            "controls": {name: {"direction": [float(v) for v in directions[k]], "sd": float(sd[k]),
                                "r2": float(r2[k])} for k, name in enumerate(NAMES)}}


def file_bytes(found: dict, model: str, style_name: str, style_sha256: str, style_dim: int) -> bytes:
    """The steering file, paired with its style file by name and hash like every extension file
    (ValueError for a non-finite number: an attribute that never varied)."""
    record = {"role": "steer", "model": model, "style": style_name, "style_sha256": style_sha256,
              "style_dim": style_dim, "units": "1 = one standard deviation of the attribute among the model's hands",
              **found}
    return (json.dumps(record, indent=1, allow_nan=False) + "\n").encode()


def steered(styles: np.ndarray, directions: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """Styles [N, D] moved by controls [3] (slant, weight, width) along directions [3, D]."""
    return (styles + np.asarray(controls, dtype=np.float64) @ directions).astype(np.float32)
