"""A drawing, photo or scan of one digit -> the 28x28 MNIST digit a model sees, as MNIST's makers did it.

Decode (PNG, JPEG or WebP; the size is checked from the header before any pixel is decoded),
turn upright (EXIF), lay transparency on white, go grey; tell the ink from the paper by the
border; crop to the ink; scale the longer side to 20 pixels, antialiased; put the centre of
mass at the centre of 28x28. The web app, the evaluation and the tests all call ``normalise``.
"""
from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from digits.images import CENTRE

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 2048
FORMATS = ("PNG", "JPEG", "WEBP")
BOX, SIZE = 20, 28  # MNIST: the digit fits a 20x20 box, centred by mass in 28x28
NOISE = 0.05  # ink weaker than this (about 13 of 255 grey levels: paper texture, JPEG noise) is background
MIN_CONTRAST = 0.1  # less than this between paper and darkest ink: nothing drawn
MAX_INK_SHARE = 0.5  # a digit covers far less of its page; more is a filled or inverted picture
# Each scan of a progressive JPEG is one more pass over every block of the image, however few bytes it
# takes: a 2048x2048 file can repeat a 16-byte scan 120,000 times, minutes of CPU for 2 MB. libjpeg's own
# progressive scripts have 6 scans (grey), 10 (colour) and 18 (CMYK), mozjpeg's about 12: 24 leaves room for
# them. Each scan of a 2048x2048 image costs about 3 ms: the costliest accepted upload (24 scans of CMYK, with
# what follows the decoding) costs about 0.17 s of CPU (docs/deployment.md), where 64 scans cost 0.27 s.
MAX_SCANS = 24
SOS, EOI = 0xDA, 0xD9
STANDALONE = (0x01, 0xD8)  # TEM and SOI: markers without a length
# The frame headers of Huffman-coded JPEGs (baseline, extended, progressive, lossless; SOF4 is DHT). Each of their
# 8x8 blocks takes at least one bit (its DC code) of the scans' coded data. Arithmetic coding (SOF9 on) can take
# less, so its files are not held to that.
HUFFMAN_FRAMES = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7)
# 0xFF and a marker code; not 0x00 (a 0xFF byte of entropy-coded data, stuffed), RST0-7 (a restart within
# the scan) nor 0xFF (fill before a marker): the search skips a scan's data to the marker that ends it.
MARKER = re.compile(rb"\xff([^\x00\xd0-\xd7\xff])")


class DrawingError(ValueError):
    """An upload that is not a usable drawing of a digit; the message never quotes the upload."""


def normalise(data: bytes) -> np.ndarray:
    """Image file bytes -> [28, 28] float32, ink = 1, background = 0; DrawingError if unusable."""
    ink = ink_of(grey(decode(data)))
    return centred(scaled(cropped(ink)))


def decode(data: bytes) -> Image.Image:
    """An upright, fully decoded still image, refused before decoding if it is too big or not one frame."""
    if len(data) > MAX_BYTES:
        raise DrawingError(f"the image file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DrawingError(f"the image is larger than {MAX_SIDE}x{MAX_SIDE} pixels") from None
    except Exception:  # Pillow raises many types for a file that is not an image it reads
        raise DrawingError("the file is not a PNG, JPEG or WebP image") from None
    if max(image.size) > MAX_SIDE:
        raise DrawingError(f"the image is larger than {MAX_SIDE}x{MAX_SIDE} pixels")
    if getattr(image, "n_frames", 1) > 1:
        raise DrawingError("the image is animated: send a single still image")
    if image.format == "JPEG":
        check_jpeg(jpeg_layout(data, MAX_SCANS + 1))
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except Exception:  # truncated data, a corrupt chunk or EXIF block: each decoder has its own error
        raise DrawingError("the image file is truncated or damaged") from None


@dataclass(frozen=True)
class JpegLayout:
    """What a JPEG's segments say before any pixel is decoded."""

    scans: int  # counted up to the limit asked for
    blocks: int  # 8x8 blocks of all components, from a Huffman-coded frame's header; 0 for any other
    coded: int  # bytes of coded data after the scan headers counted


def jpeg_layout(data: bytes, limit: int) -> JpegLayout:
    """The JPEG's scans (up to ``limit``), blocks and coded bytes. Its segments are walked by their lengths, as libjpeg
    reads them, so bytes inside metadata (an EXIF thumbnail's own scans) are never counted; a scan's coded data
    runs from its header to the next marker."""
    scans = blocks = coded = 0
    at, scan_start = 2, None  # after SOI
    while scans < limit and (marker := MARKER.search(data, at)):
        code, at = marker[1][0], marker.end()
        if scan_start is not None:
            coded, scan_start = coded + marker.start() - scan_start, None
        if code == EOI:
            break
        if code in STANDALONE:
            continue
        length = int.from_bytes(data[at:at + 2], "big")
        if code in HUFFMAN_FRAMES and not blocks:
            blocks = frame_blocks(data[at + 2:at + length])
        at += length
        if code == SOS:
            scans, scan_start = scans + 1, at
    if scan_start is not None and scans < limit:  # no marker after the last scan: its data runs to the end
        coded += len(data) - scan_start
    return JpegLayout(scans, blocks, coded)


def frame_blocks(header: bytes) -> int:
    """8x8 blocks in all components of a frame header (precision, height, width, then each component's sampling
    factors), each component subsampled from the largest factors; 0 if the header is short or malformed."""
    height, width = int.from_bytes(header[1:3], "big"), int.from_bytes(header[3:5], "big")
    factors = [(byte >> 4, byte & 15) for byte in header[7:6 + 3 * header[5]:3]] if len(header) > 5 else []
    if not factors or len(header) < 6 + 3 * len(factors) or min(min(pair) for pair in factors) == 0:
        return 0
    h_max, v_max = max(h for h, _ in factors), max(v for _, v in factors)
    return sum(math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
               for h, v in factors)


def check_jpeg(layout: JpegLayout) -> None:
    """Refuse what would cost too much to decode, and what holds too little data for its size: a truncated file
    (or a header patched to claim more pixels than it holds) that libjpeg would decode as grey padding."""
    if layout.scans > MAX_SCANS:
        raise DrawingError(f"the JPEG has too many scans to decode: more than {MAX_SCANS} "
                           "(a progressive JPEG has about 10)")
    if layout.coded * 8 < layout.blocks:
        raise DrawingError("the image file is truncated or damaged")


def grey(image: Image.Image) -> np.ndarray:
    """Brightness [H, W] in [0, 1]; transparent parts count as white paper."""
    if image.mode.startswith("I"):  # 16-bit greyscale PNG: Pillow cannot lay it on white itself
        levels = np.asarray(image)
        brightness = levels.astype(np.float32) / 65535.0
        if "transparency" in image.info:  # tRNS: the one grey level that is see-through
            brightness[levels == image.info["transparency"]] = 1.0
        return brightness
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def ink_of(brightness: np.ndarray) -> np.ndarray:
    """Ink [H, W] in [0, 1], whichever way round it was drawn: the border is paper, the ink differs from it."""
    border = np.concatenate([brightness[0], brightness[-1], brightness[:, 0], brightness[:, -1]])
    paper = float(np.median(border))
    dark_ink = paper >= float(brightness.mean())
    ink = np.clip(paper - brightness if dark_ink else brightness - paper, 0.0, None)
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise DrawingError("the image is blank: no digit found")
    ink /= contrast
    if (ink > 0.5).mean() > MAX_INK_SHARE:
        raise DrawingError("the image is mostly ink: draw one digit on a plain background")
    ink[ink < NOISE] = 0.0
    return ink


def cropped(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def scaled(ink: np.ndarray) -> np.ndarray:
    """The longer side to 20 pixels, aspect kept; BOX averages every source pixel (antialiased, no ringing)."""
    h, w = ink.shape
    size = (max(1, round(w * BOX / max(h, w))), max(1, round(h * BOX / max(h, w))))
    return np.asarray(Image.fromarray(ink, mode="F").resize(size, Image.Resampling.BOX), dtype=np.float32)


def centred(box: np.ndarray) -> np.ndarray:
    """The box in 28x28, shifted by whole pixels so its centre of mass lands on (14, 14), kept inside."""
    h, w = box.shape
    mass = box.sum()
    cy = (box.sum(1) * np.arange(h)).sum() / mass
    cx = (box.sum(0) * np.arange(w)).sum() / mass
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - h))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top:top + h, left:left + w] = np.clip(box, 0.0, 1.0)
    return out
