"""``scale=`` on every PNG and GIF route, through the real app and models: each pixel becomes a scale x scale
block, nothing else changes, and a bad value is refused naming the range, never echoing it."""
from __future__ import annotations

import io
from urllib.parse import parse_qsl

import numpy as np
import pytest
from PIL import Image, ImageSequence

DOWNLOADS = {  # route -> a query it answers; the page links to each of them
    "/api/v1/generate.png": "digit=8&seed=3&model=cgan",
    "/api/v1/number.png": "text=2026&seed=5&count=3",
    "/api/v1/steer.png": "text=42&seed=9&slant=1&model=cvae",
    "/api/v1/morph.gif": "digit=3&to_digit=8&seed=1&to_seed=2&frames=4",
}
MARK = "<script>xq"  # if it, or its escaped form, comes back, the input was reflected


def frames(data: bytes) -> list[tuple[Image.Image, int | None]]:
    """Every frame of a PNG or GIF, as 8-bit grey, and how long it shows (a GIF's frames only)."""
    return [(frame.convert("L"), frame.info.get("duration"))
            for frame in ImageSequence.Iterator(Image.open(io.BytesIO(data)))]


def nearest(image: Image.Image, scale: int) -> Image.Image:
    """PIL's own nearest-neighbour resize: the reference the server's enlargement must match exactly."""
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


@pytest.mark.parametrize("route", DOWNLOADS)
@pytest.mark.parametrize("scale", [4, 16])
def test_a_scaled_download_is_the_native_one_enlarged_pixel_for_pixel(client, route, scale):
    query = DOWNLOADS[route]
    native, scaled = client.get(f"{route}?{query}"), client.get(f"{route}?{query}&scale={scale}")
    assert native.status_code == scaled.status_code == 200 and native.mimetype == scaled.mimetype
    small, large = frames(native.get_data()), frames(scaled.get_data())
    assert len(small) == len(large) >= 1
    for (a, a_ms), (b, b_ms) in zip(small, large, strict=True):
        assert b.size == (a.width * scale, a.height * scale) and a_ms == b_ms
        assert np.array_equal(np.asarray(b), np.asarray(nearest(a, scale)))
    stem, extension = native.headers["Content-Disposition"].rsplit(".", 1)
    assert scaled.headers["Content-Disposition"] == f"{stem}-x{scale}.{extension}"


@pytest.mark.parametrize("route", DOWNLOADS)
def test_scale_1_is_the_default_so_existing_links_keep_their_bytes(client, route):
    query = DOWNLOADS[route]
    plain, one = client.get(f"{route}?{query}"), client.get(f"{route}?{query}&scale=1")
    assert plain.get_data() == one.get_data() and plain.headers == one.headers
    assert frames(plain.get_data())[0][0].height in (28, 3 * 28 + 2 * 2), "native: 28 pixels a digit"


BAD_SCALES = ["0", "17", "-1", "+4", "04", "4.0", "1e1", " 4", "\uff14", "x", MARK, "99999999999999999999"]


@pytest.mark.parametrize("route", DOWNLOADS)
@pytest.mark.parametrize("raw", BAD_SCALES)
def test_a_bad_scale_is_a_400_naming_the_range_never_the_value(client, route, raw):
    answer = client.get(route, query_string={**dict(parse_qsl(DOWNLOADS[route])), "scale": raw})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("scale must be an integer from 1 to 16, written in ASCII digits")
    assert "xq" not in body and "99999" not in body


@pytest.mark.parametrize("route", DOWNLOADS)
def test_scale_is_given_once(client, route):
    answer = client.get(f"{route}?{DOWNLOADS[route]}&scale=2&scale=2")
    assert answer.status_code == 400 and answer.get_json()["error"] == "scale is given 2 times; give it once"
