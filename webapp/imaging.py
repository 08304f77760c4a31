"""PNG encoding of generated digits with Pillow (grayscale, white ink on black, as MNIST)."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

STRIP_GAP = 2


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """Level 1: for 28x28 digits about 4% larger than level 6 and 25% cheaper to encode."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def pngs_base64(images: np.ndarray) -> list[str]:
    """One 28x28 PNG per image, base64 text for JSON and data: URIs."""
    return [base64.b64encode(png_bytes(to_uint8(image))).decode("ascii") for image in images]


def strip_png(images: np.ndarray, axis: int = 1) -> bytes:
    """All images in one PNG, side by side (axis 1) or stacked (axis 0), with a thin grey gap between."""
    gap_shape = (images.shape[1], STRIP_GAP) if axis == 1 else (STRIP_GAP, images.shape[2])
    gap = np.full(gap_shape, 90, dtype=np.uint8)
    tiles = [to_uint8(image) for image in images]
    parts = [part for tile in tiles for part in (tile, gap)][:-1]
    return png_bytes(np.concatenate(parts, axis=axis))


def gif_bytes(frames: np.ndarray, frame_ms: int = 120) -> bytes:
    """An animated GIF that loops forever, holding the first and last frame a little longer."""
    images = [Image.fromarray(to_uint8(frame), mode="L") for frame in frames]
    durations = [frame_ms] * len(images)
    durations[0] = durations[-1] = 4 * frame_ms
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buffer.getvalue()
