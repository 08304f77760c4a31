"""Sample grids as PNG (row = digit), shared by training and export."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from digits.files import atomic_path


def grid_image(images: np.ndarray, rows: int, pad: int = 2) -> Image.Image:
    """Tile [rows*cols, 1, 28, 28] images in [0,1] as MNIST shows them: white ink on black."""
    n, _, h, w = images.shape
    cols = n // rows
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 0.35, dtype=np.float32)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top:top + h, left:left + w] = images[i, 0]
    return Image.fromarray(np.round(canvas * 255).astype(np.uint8), mode="L")


def save_grid(images: np.ndarray, path: Path, rows: int = 10) -> None:
    with atomic_path(path) as tmp:
        grid_image(np.clip(images, 0.0, 1.0), rows).save(tmp, format="PNG")
