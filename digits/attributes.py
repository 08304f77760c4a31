"""What a hand looks like, measured on its images: slant, stroke weight and width.

The consistency metric (evaluate/style.py), the steering directions (digits/steer.py) and their
evaluation all measure a hand the same way, here.
"""
from __future__ import annotations

import numpy as np

NAMES = ("slant", "weight", "width")
_YS, _XS = np.mgrid[0:28, 0:28].astype(np.float64)


def attributes(images: np.ndarray) -> np.ndarray:
    """[N, 3] per image [N,28,28] in [0,1]: slant = the shear -mu11/mu02 around the ink's centre (pixels
    to the right per pixel up: > 0 leans right, as italics), weight = the ink mass, width = the
    horizontal standard deviation of the ink in pixels, sqrt(mu20 / mass)."""
    x = images.astype(np.float64)
    mass = x.sum((1, 2))
    safe = np.maximum(mass, 1e-9)
    cx = (x * _XS).sum((1, 2)) / safe
    cy = (x * _YS).sum((1, 2)) / safe
    dx, dy = _XS - cx[:, None, None], _YS - cy[:, None, None]
    mu11, mu02, mu20 = (x * dx * dy).sum((1, 2)), (x * dy * dy).sum((1, 2)), (x * dx * dx).sum((1, 2))
    return np.stack([-mu11 / np.maximum(mu02, 1e-9), mass, np.sqrt(mu20 / safe)], axis=1)
