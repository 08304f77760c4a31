"""Digit pixels: placed as MNIST placed its digits, and as files ([0,1] floats to MNIST's uint8, 0 background,
255 ink, and PNG bytes)."""
from __future__ import annotations

import struct
import zlib

import numpy as np

CENTRE = 14  # MNIST's makers moved each digit's centre of mass to pixel (14, 14) by a whole-pixel shift
MAX_SHIFT = 4  # a generated digit is never further off; the 20x20 ink box leaves a 4-pixel margin


def mnist_centred(images: np.ndarray) -> np.ndarray:
    """Digits [N,28,28] shifted by whole pixels (zeros filled in) so each centre of mass lands within half
    a pixel of (14, 14), as in MNIST itself: a generator's centres spread wider (the CGAN's by +-0.43 px
    against MNIST's +-0.29), which a position-aware classifier sees. Every generated digit the product
    shows or writes goes through here (digits/generators.py, digits/handwriting.py); morph frames do not,
    so an animation never jumps by a pixel between two frames."""
    mass = images.sum((1, 2))
    grid = np.arange(28)
    safe = np.where(mass > 0, mass, 1.0)
    shift = [np.where(mass > 0, np.rint(CENTRE - images.sum(axis) @ grid / safe), 0) for axis in (2, 1)]
    dy, dx = (np.clip(s, -MAX_SHIFT, MAX_SHIFT).astype(np.int64) for s in shift)
    padded = np.zeros((len(images), 28 + 2 * MAX_SHIFT, 28 + 2 * MAX_SHIFT), dtype=images.dtype)
    padded[:, MAX_SHIFT:-MAX_SHIFT, MAX_SHIFT:-MAX_SHIFT] = images  # as np.pad, without its generic overhead
    rows = (MAX_SHIFT - dy)[:, None, None] + grid[None, :, None]
    cols = (MAX_SHIFT - dx)[:, None, None] + grid[None, None, :]
    return padded[np.arange(len(images))[:, None, None], rows, cols]


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit grey PNG of uint8 pixels [H,W], written directly: every row unfiltered, deflated at level 1.
    Pillow filters each row adaptively, which on digits makes the file larger, not smaller, and costs
    three times the time (docs/benchmarks.md); every PNG reader decodes the same pixels from both."""
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError(f"png_bytes takes uint8 pixels [H,W], got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # a 0 before each row: filter type None
    rows[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, not interlaced
    pixels_chunk = chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
    return PNG_SIGNATURE + chunk(b"IHDR", header) + pixels_chunk + chunk(b"IEND", b"")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
