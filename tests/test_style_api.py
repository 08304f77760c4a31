"""POST /api/v1/style and the /draw page through Flask's test client over the committed models: the answer
is the encoder's style drawn by the style interface; every bad upload is a 4xx that never quotes it."""
from __future__ import annotations

import base64
import io
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from digits import handwriting
from digits.drawn_digit import normalise
from digits.images import mnist_centred, to_uint8
from tests.drawing_helpers import HOSTILE, encoded, stroke_picture
from tests.webapp_helpers import assert_security_headers, decode_png, page_pngs
from webapp.draw import UPLOAD_LIMIT, VARIATION

MARK = "<script>xq"  # in a file name or a field: if it, or its escaped form, comes back, input leaks


@pytest.fixture(scope="module")
def drawing() -> bytes:
    return encoded(stroke_picture())


def post(client, fields: dict, image: bytes | None = None, name: str = "one.png", route: str = "/api/v1/style"):
    data = dict(fields)
    if image is not None:
        data["image"] = (io.BytesIO(image), name)
    return client.post(route, data=data, content_type="multipart/form-data")


def pixels(b64: str) -> np.ndarray:
    image = decode_png(base64.b64decode(b64))
    assert image.mode == "L"
    return np.asarray(image)


def test_the_answer_is_the_style_the_encoder_reads_written_by_the_style_interface(app, client, drawing):
    response = post(client, {"digit": "1", "text": "2026", "count": "3", "seed": "7"}, drawing)
    body = response.get_json()
    assert response.status_code == 200 and body["model"] == "cvae" and body["digit"] == 1
    assert (body["text"], body["count"], body["seed"], body["width"], body["height"]) == ("2026", 3, 7, 112, 28)
    generator = app.extensions["generators"]["cvae"]
    seen = normalise(drawing)
    np.testing.assert_array_equal(pixels(body["input"]), to_uint8(seen))
    style = generator.encoder.styles(seen[None], np.array([1]))
    np.testing.assert_array_equal(pixels(body["reconstruction"]),  # placed as MNIST's, as every written digit
                                  to_uint8(mnist_centred(generator.style.images(np.eye(10)[[1]], style))[0]))
    hand = handwriting.read_hand(style)
    styles = np.concatenate([hand, hand + VARIATION * handwriting.hands(7, 2, style.shape[1])])
    want = handwriting.rows(handwriting.write(generator.style, "2026", styles))
    assert len(body["images"]) == 3
    for row, expected in zip(body["images"], want, strict=True):
        np.testing.assert_array_equal(pixels(row), to_uint8(expected))
    assert len(set(body["images"])) == 3, "the variations differ from the hand and from each other"


def test_defaults_write_all_ten_digits_five_times_and_the_seed_only_moves_the_variations(client, drawing):
    first = post(client, {"digit": "1"}, drawing).get_json()
    again = post(client, {"digit": "1", "text": ""}, drawing).get_json()
    other = post(client, {"digit": "1", "seed": "8"}, drawing).get_json()
    assert first["text"] == "0123456789" and first["count"] == 5 and first["seed"] == 0
    assert first == again
    assert other["images"][0] == first["images"][0] and other["images"][1:] != first["images"][1:]
    assert all(decode_png(base64.b64decode(r)).size == (280, 28) for r in first["images"])


def test_the_digit_read_and_the_digit_drawn_are_told_apart(client, drawing):
    """The same drawing read as another digit is another style: the digit is an input of the encoder."""
    as_one = post(client, {"digit": "1"}, drawing).get_json()
    as_seven = post(client, {"digit": "7"}, drawing).get_json()
    assert as_one["input"] == as_seven["input"] and as_one["images"][0] != as_seven["images"][0]


BAD_FIELDS = [
    ({}, "digit is required: an integer from 0 to 9"),
    ({"digit": "10"}, "digit must be an integer from 0 to 9"),
    ({"digit": MARK}, "digit must be an integer from 0 to 9"),
    ({"digit": ["1", "2"]}, "digit is given 2 times"),
    ({"digit": "1", "text": "12a"}, "text must be a number of 1 to 16 digits, 0-9 only"),
    ({"digit": "1", "text": "1" * 17}, "text must be a number of 1 to 16 digits, 0-9 only"),
    ({"digit": "1", "text": MARK}, "text must be a number of 1 to 16 digits, 0-9 only"),
    ({"digit": "1", "count": "17"}, "count must be an integer from 1 to 16"),
    ({"digit": "1", "count": "0"}, "count must be an integer from 1 to 16"),
    ({"digit": "1", "seed": "-1"}, "seed must be an integer from 0 to 4294967295"),
    ({"digit": "1", "model": "cgan"}, "model must be one of cvae"),
    ({"digit": "1", "model": MARK}, "model must be one of cvae"),
]


def assert_refused(response, status: int, message: str) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[-300:]
    assert message in body
    assert "xq" not in body and "one.png" not in body
    assert_security_headers(response)


@pytest.mark.parametrize("fields,message", BAD_FIELDS)
def test_bad_fields_are_refused_naming_what_is_allowed(client, drawing, fields, message):
    assert_refused(post(client, fields, drawing), 400, message)


@pytest.mark.parametrize("case", HOSTILE)
def test_bad_images_are_refused_by_their_problem(client, case):
    make, message = HOSTILE[case]
    status = 413 if len(make()) > UPLOAD_LIMIT - 1024 else 400
    response = post(client, {"digit": "3"}, make(), name=f"{MARK}.png")
    assert_refused(response, status, message if status == 400 else "the upload is too large")


def test_a_missing_or_empty_or_repeated_image_is_refused(client, drawing):
    required = "image is required: a PNG, JPEG or WebP file"
    assert_refused(post(client, {"digit": "3"}), 400, required)
    assert_refused(post(client, {"digit": "3"}, b"", name=""), 400, required)  # a form sent with no file chosen
    twice = {"digit": "3", "image": [(io.BytesIO(drawing), "a.png"), (io.BytesIO(drawing), "b.png")]}
    assert_refused(client.post("/api/v1/style", data=twice), 400, "image is given 2 times")
    assert client.get("/api/v1/style").status_code == 405


def refusals(client, reason: str) -> float:
    """digits_refused_total for ``reason``, as /metrics says it now."""
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == "digits_refused_total" and sample.labels == {"reason": reason}:
                return sample.value
    return 0.0


@pytest.mark.parametrize("route", ["/api/v1/style", "/draw"])
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "application/json",
                                          "multipart/mixed; boundary=b", None])
def test_a_body_that_is_not_multipart_is_refused_unparsed(client, route, content_type):
    """415, JSON on the API and the page with its form elsewhere, counted once: a url-encoded form is never
    parsed (2 MB of empty fields cost Werkzeug seconds of CPU, with no limit on their number)."""
    before = refusals(client, "not_multipart")
    response = client.post(route, data=b"digit=3&image=xq&" + b"a&" * 1_000_000,
                           headers={"Content-Type": content_type} if content_type else {})
    assert_refused(response, 415, "send the drawing as multipart/form-data: an image file and a few short fields")
    assert response.is_json == (route == "/api/v1/style")
    if route == "/draw":
        assert 'role="alert"' in response.get_data(as_text=True) and 'id="draw-form"' in response.get_data(as_text=True)
    assert refusals(client, "not_multipart") == before + 1


def test_only_the_uploads_take_a_post_and_every_other_route_refuses_one_unread(app, client):
    """Nowhere else can a form be parsed: every other route answers a url-encoded POST with a 405."""
    posting = sorted(rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods)
    assert posting == ["/api/v1/style", "/draw"]
    for rule in app.url_map.iter_rules():
        if rule.rule not in posting and "<" not in rule.rule:
            response = client.post(rule.rule, data=b"a&" * 1_000, content_type="application/x-www-form-urlencoded")
            assert response.status_code == 405, rule.rule


class Unreadable(io.BytesIO):
    """A request body that fails the test if anyone reads it."""

    def read(self, *_args) -> bytes:
        pytest.fail("the body was read")

    readline = readinto = read


@pytest.mark.parametrize("route", ["/api/v1/style", "/draw"])
@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded"])
def test_an_oversize_body_is_refused_before_it_is_read_and_counted_once(client, route, content_type):
    before = refusals(client, "oversize_body")
    response = client.post(route, input_stream=Unreadable(), content_type=content_type,
                           environ_overrides={"CONTENT_LENGTH": str(UPLOAD_LIMIT + 1)})
    assert_refused(response, 413, "the upload is too large: send one image of up to 2 MB")
    assert refusals(client, "oversize_body") == before + 1
    if route == "/draw":
        assert 'role="alert"' in response.get_data(as_text=True) and 'id="draw-form"' in response.get_data(as_text=True)


def test_uploads_are_neither_logged_nor_quoted(client, drawing, caplog):
    with caplog.at_level(logging.DEBUG):
        post(client, {"digit": "1", "text": "42"}, drawing, name=f"{MARK}.png")
        post(client, {"digit": "1", "text": MARK}, b"xq" * 100, name=f"{MARK}.png")
        post(client, {"digit": "1"}, b"xq" * 100, name=f"{MARK}.png", route="/draw")
    assert caplog.records, "the refusals are logged, as every refusal is"
    assert all("xq" not in record.getMessage() for record in caplog.records)


# --- the page ---------------------------------------------------------------------------------------

def test_the_page_has_a_canvas_an_upload_form_and_says_why_the_cgan_is_not_offered(client):
    response = client.get("/draw")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<canvas id="canvas"' in page and '<input id="image" name="image" type="file"' in page
    assert 'enctype="multipart/form-data" action="/draw"' in page and 'value="0123456789"' in page
    assert "The CGAN is not offered here: it has no encoder." in page
    assert '<script src="/static/draw.js" defer></script>' in page and page.count("<script") == 1
    assert "style=" not in page and "onclick" not in page.lower()
    assert client.get("/static/draw.js").status_code == 200


def test_every_page_links_to_the_drawing_page_and_marks_its_own_tab(client):
    for route in ["/", "/write", "/morph", "/draw", "/steer?text=1&seed=1"]:
        page = client.get(route).get_data(as_text=True)
        assert 'href="/draw">In your handwriting</a>' in page and 'href="/write">Write a number</a>' in page, route
        assert 'href="/steer">Steer the hand</a>' in page, route
        path = route.split("?")[0]
        assert page.count('aria-current="page"') == 1 and f'<a aria-current="page" href="{path}">' in page, route


def test_the_page_posts_and_shows_the_input_its_reconstruction_rows_and_a_download(client, drawing):
    api = post(client, {"digit": "1", "text": "73"}, drawing).get_json()
    response = post(client, {"digit": "1", "text": "73"}, drawing, route="/draw")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    shown = [base64.b64encode(png).decode() for png in page_pngs(page)]
    assert shown == [api["input"], api["reconstruction"], *api["images"]]
    download = page.split('id="download" download="73-in-your-hand.png" href="data:image/png;base64,')[1]
    strip = decode_png(base64.b64decode(download.split('"')[0]))
    assert strip.size == (56, 5 * 28 + 4 * 2)  # the five rows stacked, a thin gap between
    assert '<option value="1" selected>' in page and 'value="73"' in page


@pytest.mark.parametrize("fields,image,message", [
    ({"digit": "1"}, None, "image is required"),
    ({"digit": "1"}, b"GIF89a" + b"\0" * 20, "not a PNG, JPEG or WebP image"),
    ({"digit": "12"}, "drawing", "digit must be an integer from 0 to 9"),
])
def test_the_page_shows_a_bad_upload_next_to_a_usable_form(client, drawing, fields, image, message):
    response = post(client, fields, drawing if image == "drawing" else image, name=f"{MARK}.png", route="/draw")
    assert_refused(response, 400, message)
    assert 'role="alert"' in response.get_data(as_text=True) and 'id="draw-form"' in response.get_data(as_text=True)


# --- hypothesis: anything at the upload -------------------------------------------------------------

def assert_answered(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[-300:]
    if response.status_code >= 400:
        assert response.get_json()["error"]
    assert_security_headers(response)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), digit=st.sampled_from(["0", "9", "x", ""]))
def test_random_bytes_never_5xx(client, data, digit):
    assert_answered(post(client, {"digit": digit}, data))


@st.composite
def small_images(draw) -> bytes:
    """Any pixels of any small size, in any format the upload takes and a few it does not."""
    height, width = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "1", "P", "LA"]))
    fmt = draw(st.sampled_from(["PNG", "JPEG", "WEBP", "GIF", "BMP"]))
    if fmt in ("JPEG", "BMP") and mode not in ("L", "RGB"):
        mode = "RGB"
    channels = {"L": 1, "1": 1, "P": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    raw = draw(st.binary(min_size=height * width * channels, max_size=height * width * channels))
    image = Image.frombytes("L" if mode in ("1", "P") else mode, (width, height), raw)
    buffer = io.BytesIO()
    (image.convert(mode) if mode in ("1", "P") else image).save(buffer, format=fmt)
    data = buffer.getvalue()
    return data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=small_images(), digit=st.integers(0, 9), text=st.text("0123456789", max_size=3))
def test_random_small_images_never_5xx(client, data, digit, text):
    assert_answered(post(client, {"digit": str(digit), "text": text}, data))
