"""Crafted JPEGs shared by the drawing tests and the production-path test."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from digits.drawn_digit import MAX_SCANS, MAX_SIDE

SCAN_BOMB_BYTES = 2_000_000  # under the 2 MB upload limit, with room for the multipart envelope


def repeated_scans(extra: int) -> bytes:
    """A white 2048x2048 grey progressive JPEG (6 scans) whose last scan, 16 bytes, is sent ``extra`` more
    times: every copy is one more pass of the decoder over all 65,536 blocks, each header field within limits."""
    buffer = io.BytesIO()
    Image.new("L", (MAX_SIDE, MAX_SIDE), 255).save(buffer, format="JPEG", progressive=True)
    data = buffer.getvalue()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * extra + data[end:]


def scan_bomb() -> bytes:
    """As many repeated scans as fit in SCAN_BOMB_BYTES: about 123,000."""
    return repeated_scans((SCAN_BOMB_BYTES - len(repeated_scans(0))) // 16)


def cmyk_stroke(scans: int) -> bytes:
    """A 2048x2048 CMYK progressive JPEG of a thick stroke on blank paper (a 1): libjpeg writes 18 scans, the most
    of any colour space; its last scan is repeated up to ``scans``."""
    ink = np.zeros((MAX_SIDE, MAX_SIDE, 4), np.uint8)
    ink[500:1500, 900:1100, 3] = 255  # black in the K plane
    buffer = io.BytesIO()
    Image.fromarray(ink, "CMYK").save(buffer, format="JPEG", progressive=True, quality=95)
    data = buffer.getvalue()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * (scans - data.count(b"\xff\xda")) + data[end:]


def heaviest_accepted() -> bytes:
    """The costliest upload the app accepts: the CMYK stroke at MAX_SCANS scans."""
    return cmyk_stroke(MAX_SCANS)
