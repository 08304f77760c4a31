"""Pictures shared by the drawing, upload and browser tests: a hand-drawn 1, encoded files, hostile files."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from digits.drawn_digit import MAX_BYTES


def encoded(pixels: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def stroke_picture(height: int = 300, width: int = 240) -> np.ndarray:
    """A dark, slanted stroke with a hook on white paper: a hand-drawn 1, uint8 grey."""
    paper = np.full((height, width), 255, np.uint8)
    for y in range(60, 250):
        x = 150 - (y - 60) // 4
        paper[y, x - 9:x + 9] = 0
    paper[60:80, 110:150] = 0
    return paper


def png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and header claiming a size, then a few bytes of pixels: what a bomb looks like."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def claiming_2048(fmt: str, **options) -> bytes:
    """A 64x64 drawing whose header was patched to say 2048x2048: its data holds a 64th of the pixels it claims."""
    data = bytearray(encoded(np.asarray(Image.fromarray(stroke_picture()).resize((64, 64))), fmt, **options))
    if fmt == "JPEG":  # the frame header: marker, length, precision, then height and width
        at = data.index(b"\xff\xc2" if options.get("progressive") else b"\xff\xc0") + 5
        data[at:at + 4] = struct.pack(">HH", 2048, 2048)
    elif fmt == "PNG":  # IHDR's width and height, then its CRC
        data[16:24] = struct.pack(">II", 2048, 2048)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    else:  # WebP (VP8): after the key frame's start code, width and height
        at = data.index(b"\x9d\x01\x2a") + 3
        data[at:at + 4] = struct.pack("<HH", 2048, 2048)
    return bytes(data)


def animated(fmt: str) -> bytes:
    frames = [Image.fromarray(stroke_picture()), Image.fromarray(255 - stroke_picture())]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def filled_page() -> bytes:
    return encoded(np.pad(np.zeros((200, 200), np.uint8), 4, constant_values=255))


HOSTILE = {
    "20000x20000 header": (lambda: png_header(20000, 20000), "larger than 2048x2048 pixels"),
    "10000x10000 header": (lambda: png_header(10000, 10000), "larger than 2048x2048 pixels"),
    "3000x20 header": (lambda: png_header(3000, 20), "larger than 2048x2048 pixels"),
    "truncated PNG": (lambda: encoded(stroke_picture())[:400], "truncated or damaged"),
    "truncated JPEG": (lambda: encoded(stroke_picture(), "JPEG")[:600], "truncated or damaged"),
    # Refused from the header and the length of the data alone: libjpeg would decode the rest as grey padding.
    "64x64 JPEG with a 2048x2048 header": (lambda: claiming_2048("JPEG"), "truncated or damaged"),
    "64x64 progressive JPEG with a 2048x2048 header": (lambda: claiming_2048("JPEG", progressive=True),
                                                       "truncated or damaged"),
    "64x64 PNG claiming 2048x2048": (lambda: claiming_2048("PNG"), "truncated or damaged"),
    "64x64 WebP claiming 2048x2048": (lambda: claiming_2048("WEBP"), "truncated or damaged"),
    "animated PNG": (lambda: animated("PNG"), "animated"),
    "animated WebP": (lambda: animated("WEBP"), "animated"),
    "animated GIF": (lambda: animated("GIF"), "not a PNG, JPEG or WebP image"),
    "BMP": (lambda: encoded(stroke_picture(), "BMP"), "not a PNG, JPEG or WebP image"),
    "text file": (lambda: b"<svg><script>alert(1)</script></svg>\n", "not a PNG, JPEG or WebP image"),
    "empty file": (lambda: b"", "not a PNG, JPEG or WebP image"),
    "blank page": (lambda: encoded(np.full((200, 200), 255, np.uint8)), "blank"),
    "one colour, all ink": (lambda: encoded(np.zeros((200, 200), np.uint8)), "blank"),
    "filled page": (filled_page, "mostly ink"),
    "over 2 MB": (lambda: encoded(stroke_picture()) + b"\0" * MAX_BYTES, "larger than 2 MB"),
}
