"""digits/drawn_digit.py: real digits drawn large come back as themselves; every way round gives one digit;
hostile files are refused by name of the problem, before their pixels are decoded."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageFile

from digits.drawn_digit import MAX_SCANS, DrawingError, normalise
from digits.idx import load_split
from evaluate.drawn_scores import as_drawing
from tests.drawing_helpers import HOSTILE, encoded, stroke_picture
from tests.jpeg_helpers import SCAN_BOMB_BYTES, cmyk_stroke, repeated_scans, scan_bomb


@pytest.fixture(scope="module")
def test_digits(mnist) -> np.ndarray:
    return load_split(mnist, "test")[0][:500]


def test_a_real_digit_drawn_8x_larger_comes_back_as_itself(test_digits):
    errors = np.array([np.linalg.norm(normalise(as_drawing(d)) - d / 255.0) for d in test_digits])
    # Two different real digits are about 10 apart; a pixel of ink moved by one place is about 1.4.
    assert np.median(errors) < 0.1 and (errors < 0.5).mean() >= 0.98, np.percentile(errors, [50, 98, 100])


def test_light_on_dark_and_dark_on_light_give_the_same_digit(test_digits):
    for digit in test_digits[:20]:
        dark_on_light = as_drawing(digit)
        light_on_dark = encoded(255 - np.asarray(Image.open(io.BytesIO(dark_on_light))))
        np.testing.assert_allclose(normalise(light_on_dark), normalise(dark_on_light), rtol=0, atol=1e-6)


def test_transparency_lies_on_white_and_exif_turns_the_image_upright():
    picture = stroke_picture()
    want = normalise(encoded(picture))
    ink_only = np.dstack([np.zeros(picture.shape + (3,), np.uint8), 255 - picture])  # black ink, clear paper
    np.testing.assert_array_equal(normalise(encoded(ink_only)), want)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the stored pixels must turn 90 degrees clockwise to be seen upright
    turned = Image.fromarray(picture).transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    turned.save(buffer, format="PNG", exif=exif)
    np.testing.assert_array_equal(normalise(buffer.getvalue()), want)


@pytest.mark.parametrize("fmt,options", [("JPEG", {"quality": 90}), ("JPEG", {"quality": 90, "progressive": True}),
                                         ("JPEG", {"quality": 90, "progressive": True, "mode": "RGB"}),
                                         ("WEBP", {"quality": 80}), ("PNG", {"mode": "I;16"}),
                                         ("PNG", {"mode": "RGB"})])
def test_jpeg_webp_and_other_pixel_modes_give_nearly_the_same_digit(fmt, options):
    picture = stroke_picture()
    mode = options.pop("mode", "L")
    if mode == "I;16":
        image = Image.fromarray(picture.astype(np.uint16) * 257)
    else:
        image = Image.fromarray(picture).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    got, want = normalise(buffer.getvalue()), normalise(encoded(picture))
    assert np.linalg.norm(got - want) < 0.5  # one pixel turned from ink to paper is 1


@pytest.mark.parametrize("bits", [8, 16])
def test_ink_marked_transparent_is_paper_at_any_bit_depth(bits):
    """A grey PNG's tRNS names one level as see-through: the white paper changes nothing, the black ink
    leaves nothing drawn."""
    picture = stroke_picture()
    levels = picture.astype(np.uint16) * 257 if bits == 16 else picture
    want = normalise(encoded(picture))
    np.testing.assert_array_equal(normalise(encoded(levels)), want)
    np.testing.assert_array_equal(normalise(encoded(levels, transparency=int(levels.max()))), want)
    with pytest.raises(DrawingError, match="blank"):
        normalise(encoded(levels, transparency=0))


def test_a_jpeg_of_endless_scans_is_refused_before_its_pixels_are_decoded(monkeypatch):
    bomb = scan_bomb()
    assert len(bomb) <= SCAN_BOMB_BYTES and bomb.count(b"\xff\xda") > 120_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels decoded"))
    start = time.perf_counter()
    with pytest.raises(DrawingError, match=f"the JPEG has too many scans to decode: more than {MAX_SCANS}"):
        normalise(bomb)
    assert time.perf_counter() - start < 0.5


def test_a_jpeg_of_up_to_the_most_scans_is_decoded():
    """A grey progressive JPEG has 6 scans: topped up to MAX_SCANS it decodes (white: blank), one more is refused."""
    with pytest.raises(DrawingError, match="blank"):
        normalise(repeated_scans(MAX_SCANS - 6))
    with pytest.raises(DrawingError, match="too many scans"):
        normalise(repeated_scans(MAX_SCANS - 5))


def test_the_scan_limit_leaves_room_for_every_encoder_and_no_more():
    """Counted here, not read from MAX_SCANS: libjpeg's CMYK progressive file (18 scans, the most of any of its
    scripts) decodes; 25 scans (about 75 ms of decoding at 2048x2048, the pixels after it more) are refused."""
    assert cmyk_stroke(0).count(b"\xff\xda") == 18 and normalise(cmyk_stroke(18)).max() == 1.0
    with pytest.raises(DrawingError, match="too many scans"):
        normalise(repeated_scans(25 - 6))


def test_scan_markers_inside_metadata_are_not_counted():
    """A comment segment is skipped by its length, as the decoder skips it: its bytes are never scans."""
    comment = b"\xff\xda" * (MAX_SCANS * 2)
    np.testing.assert_allclose(normalise(encoded(stroke_picture(), "JPEG", comment=comment)),
                               normalise(encoded(stroke_picture(), "JPEG")), rtol=0, atol=1e-6)


def test_the_longer_side_becomes_20_pixels_and_the_centre_of_mass_the_centre():
    paper = np.full((1000, 800), 255, np.uint8)
    paper[100:600, 650:750] = 0  # a 500 x 100 bar far from the middle
    out = normalise(encoded(paper))
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert (len(rows), len(cols)) == (20, 4)
    ys, xs = np.mgrid[0:28, 0:28]
    assert abs((out * ys).sum() / out.sum() - 14) <= 0.5 and abs((out * xs).sum() / out.sum() - 14) <= 0.5
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_files_are_refused_by_their_problem_without_quoting_them(case, monkeypatch):
    make, message = HOSTILE[case]
    data = make()
    if "header" in case:  # refused from the header alone: decoding its pixels would be a test failure
        monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels decoded"))
    with pytest.raises(DrawingError) as refused:
        normalise(data)
    assert message in str(refused.value)
    assert "script" not in str(refused.value) and "\\x" not in str(refused.value)
