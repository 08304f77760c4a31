"""Generated digits are placed as MNIST placed its own: centre of mass within half a pixel of (14, 14)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from digits.generators import load_generators
from digits.handwriting import hands, write
from digits.idx import load_split
from digits.images import CENTRE, mnist_centred, png_bytes

GRID = np.arange(28)


def centres(images: np.ndarray) -> np.ndarray:
    """Centres of mass [N, 2] (row, column)."""
    mass = images.sum((1, 2))[:, None]
    return np.stack([images.sum(2) @ GRID, images.sum(1) @ GRID], axis=1) / mass


def test_a_digit_off_centre_is_moved_by_whole_pixels_and_keeps_its_ink():
    images = np.zeros((2, 28, 28), np.float32)
    images[0, 8:14, 10:13] = 1.0  # centre (10.5, 11): 3 and 3 pixels to go, rounded
    moved = mnist_centred(images)
    assert np.abs(centres(moved[:1]) - CENTRE).max() <= 0.5
    assert moved[0].sum() == images[0].sum() and set(np.unique(moved[0])) == {0.0, 1.0}
    assert not moved[1].any()  # a blank image stays blank


def test_mnist_digits_are_already_placed_so(mnist):
    test, _ = load_split(mnist, "test")
    digits = test[:2000] / 255.0
    assert (mnist_centred(digits) == digits).all(axis=(1, 2)).mean() > 0.99


@pytest.fixture(scope="module")
def committed(root):
    return load_generators(root / "artifacts", 1)


@pytest.mark.parametrize("model", ["cvae", "cgan"])
def test_every_generated_and_written_digit_is_centred(committed, model):
    generator = committed[model]
    samples = generator.images(np.repeat(np.arange(10), 20), np.random.default_rng(0).standard_normal(
        (200, generator.latent_dim)).astype(np.float32))
    written = write(generator.style, "0123456789", hands(3, 20, generator.style.style_dim)).reshape(-1, 28, 28)
    for images in (samples, written):
        assert np.abs(centres(images) - CENTRE).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("shape", [(1, 1), (28, 28), (84, 336), (300, 7)])
def test_png_bytes_decode_to_the_same_pixels_in_any_reader(shape):
    """The direct writer (unfiltered rows, deflate level 1) gives a valid 8-bit grey PNG: Pillow reads back
    every pixel, and its own checks (CRCs, chunk order) pass."""
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = png_bytes(pixels)
    Image.open(io.BytesIO(data)).verify()
    image = Image.open(io.BytesIO(data))
    assert image.mode == "L" and image.size == shape[::-1]
    assert np.array_equal(np.asarray(image), pixels)


def test_png_bytes_refuses_what_is_not_uint8_grey():
    with pytest.raises(ValueError, match="uint8 pixels"):
        png_bytes(np.zeros((28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="uint8 pixels"):
        png_bytes(np.zeros((28, 28, 3), dtype=np.uint8))
