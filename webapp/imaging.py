"""Generated digits as the web serves them: base64 PNGs, strips of several, animated GIFs."""
from __future__ import annotations

import base64
import io

import numpy as np
from flask import Response
from PIL import Image

from digits.images import png_bytes, to_uint8

STRIP_GAP = 2
PAGE_SCALES = (2, 4, 8, 16)  # the larger sizes each page offers beside its native download


def pngs_base64(images: np.ndarray) -> list[str]:
    """One 28x28 PNG per image, base64 text for JSON and data: URIs (the pixels converted in one call)."""
    return [base64.b64encode(png_bytes(pixels)).decode("ascii") for pixels in to_uint8(images)]


def enlarged(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel as a scale x scale block (nearest neighbour): a download people can use, as sharp as the digit."""
    return pixels.repeat(scale, axis=-2).repeat(scale, axis=-1)


def strip_png(images: np.ndarray, axis: int = 1, scale: int = 1) -> bytes:
    """All images in one PNG, side by side (axis 1) or stacked (axis 0), with a thin grey gap between."""
    gap_shape = (images.shape[1], STRIP_GAP) if axis == 1 else (STRIP_GAP, images.shape[2])
    gap = np.full(gap_shape, 90, dtype=np.uint8)
    parts = [part for tile in to_uint8(images) for part in (tile, gap)][:-1]
    return png_bytes(enlarged(np.concatenate(parts, axis=axis), scale))


def gif_bytes(frames: np.ndarray, scale: int = 1, frame_ms: int = 120) -> bytes:
    """An animated GIF that loops forever, holding the first and last frame a little longer."""
    images = [Image.fromarray(enlarged(to_uint8(frame), scale), mode="L") for frame in frames]
    durations = [frame_ms] * len(images)
    durations[0] = durations[-1] = 4 * frame_ms
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buffer.getvalue()


def attachment(data: bytes, mimetype: str, stem: str, scale: int = 1) -> Response:
    """A download: the browser saves it as ``stem`` (built from validated values only), ``-x4`` for scale 4,
    and the type's extension."""
    name = f"{stem}-x{scale}" if scale > 1 else stem
    disposition = f'attachment; filename="{name}.{mimetype.split("/")[1]}"'
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": disposition})
