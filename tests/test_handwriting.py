"""One hand, many digits: digits/handwriting.py on constructed cases, the /write and /morph pages and
their API, and the main page comparing the models, through Flask's test client over the committed
generators and their style files."""
from __future__ import annotations

import base64
import html
import io
import re
import urllib.parse

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digits import handwriting
from tests.webapp_helpers import assert_documented, decode_png, page_pngs
from webapp.imaging import STRIP_GAP, to_uint8

# --- digits/handwriting.py on constructed cases -----------------------------------------------------


class Recorder:
    """A stand-in style interface: each image is filled with 100 * its label weights' argmax plus its
    style's first coordinate, so a test can read back which (digit, hand) drew every cell."""

    style_dim = 3

    def images(self, label: np.ndarray, style: np.ndarray) -> np.ndarray:
        self.label, self.style = label, style
        value = 100 * label.argmax(axis=1) + style[:, 0]
        return np.broadcast_to(value[:, None, None], (len(label), 28, 28)).astype(np.float32)


def test_write_draws_every_digit_of_a_row_in_that_rows_hand():
    styles = np.array([[1, 0, 0], [2, 0, 0]], dtype=np.float32)
    written = handwriting.write(Recorder(), "907", styles)
    assert written.shape == (2, 3, 28, 28)
    assert [[cell[0, 0] for cell in row] for row in written] == [[901, 1, 701], [902, 2, 702]]


def test_rows_puts_a_numbers_digits_side_by_side():
    written = np.arange(2 * 3 * 28 * 28, dtype=np.float32).reshape(2, 3, 28, 28)
    laid_out = handwriting.rows(written)
    assert laid_out.shape == (2, 28, 84)
    for row in range(2):
        for column in range(3):
            assert np.array_equal(laid_out[row, :, 28 * column:28 * (column + 1)], written[row, column])


def test_slerp_keeps_its_ends_and_stays_on_the_sphere():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(8), rng.standard_normal(8)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = handwriting.slerp(a, b, np.linspace(0, 1, 9))
    assert np.allclose(path[0], a, atol=1e-6) and np.allclose(path[-1], b, atol=1e-6)
    assert np.allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-5)
    straight = np.linalg.norm((a + b) / 2)
    assert np.linalg.norm(path[4]) > straight + 0.1, "the middle must not shrink like a straight line's"


def test_slerp_between_equal_ends_stays_put():
    a = np.array([0.5, -1.0, 2.0])
    assert np.allclose(handwriting.slerp(a, a.copy(), np.linspace(0, 1, 5)), a)


def test_morph_blends_labels_and_walks_from_one_hand_to_the_other():
    recorder = Recorder()
    handwriting.morph(recorder, 3, 8, 11, 12, 5)
    label, path = recorder.label, recorder.style
    assert np.allclose(label.sum(axis=1), 1.0) and set(np.flatnonzero(label.any(axis=0))) == {3, 8}
    assert np.array_equal(label[0], np.eye(10)[3]) and np.array_equal(label[-1], np.eye(10)[8])
    assert np.all(np.diff(label[:, 8]) > 0), "the weight moves towards to_digit at every step"
    assert np.array_equal(path[0], handwriting.hands(11, 1, 3)[0])
    assert np.array_equal(path[-1], handwriting.hands(12, 1, 3)[0])


# --- the web app -------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["cvae", "cgan"])
def model(request, app) -> str:
    assert app.extensions["generators"][request.param].style is not None, f"{request.param} has no style file"
    return request.param


def style_of(app, model: str):
    return app.extensions["generators"][model].style


def pixels(png: bytes) -> np.ndarray:
    image = decode_png(png)
    assert image.mode == "L"
    return np.asarray(image)


def b64_pixels(body: dict) -> list[np.ndarray]:
    return [pixels(base64.b64decode(b64)) for b64 in body["images"]]


def assert_same_image(got: np.ndarray, expected: np.ndarray) -> None:
    """One grey level of slack: onnxruntime may pick another kernel for another batch size."""
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("text,count", [("0", 1), ("2026", 5), ("0123456789012345", 16)])
def test_number_api_writes_count_rows_of_the_numbers_size(client, model, text, count):
    response = client.get(f"/api/v1/number?text={text}&count={count}&seed=3&model={model}")
    body = response.get_json()
    assert response.status_code == 200
    assert (body["text"], body["model"], body["seed"], body["count"]) == (text, model, 3, count)
    assert (body["width"], body["height"]) == (28 * len(text), 28)
    rows = b64_pixels(body)
    assert len(rows) == count and all(row.shape == (28, 28 * len(text)) for row in rows)
    assert len({row.tobytes() for row in rows}) == count, "every row is its own hand"


def test_number_rows_are_what_the_style_interface_writes(app, client, model):
    style = style_of(app, model)
    rows = b64_pixels(client.get(f"/api/v1/number?text=407&count=3&seed=21&model={model}").get_json())
    expected = handwriting.rows(handwriting.write(style, "407", handwriting.hands(21, 3, style.style_dim)))
    for got, want in zip(rows, expected, strict=True):
        assert_same_image(got, to_uint8(want))


def test_one_hand_writes_a_digit_the_same_in_two_numbers(client, model):
    """The same hand draws the same '1' wherever it stands: the digit is the only thing that changes."""
    twelve = b64_pixels(client.get(f"/api/v1/number?text=12&count=4&seed=8&model={model}").get_json())
    twenty_one = b64_pixels(client.get(f"/api/v1/number?text=21&count=4&seed=8&model={model}").get_json())
    for a, b in zip(twelve, twenty_one, strict=True):
        assert_same_image(a[:, :28], b[:, 28:])
        assert_same_image(a[:, 28:], b[:, :28])
    assert np.abs(twelve[0][:, :28].astype(int) - twelve[1][:, :28]).mean() > 1.0, "two hands, two different 1s"


def test_number_png_stacks_the_rows(client):
    response = client.get("/api/v1/number.png?text=2026&count=3&seed=4&model=cvae")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == 'attachment; filename="number-2026-cvae-seed-4.png"'
    stacked = pixels(response.get_data())
    assert stacked.shape == (3 * 28 + 2 * STRIP_GAP, 4 * 28)
    rows = b64_pixels(client.get("/api/v1/number?text=2026&count=3&seed=4&model=cvae").get_json())
    for i, row in enumerate(rows):
        assert np.array_equal(stacked[i * (28 + STRIP_GAP):i * (28 + STRIP_GAP) + 28], row)


@pytest.mark.parametrize("frames", [2, 8, 64])
def test_morph_api_goes_from_one_digit_and_hand_to_the_other(app, client, model, frames):
    response = client.get(f"/api/v1/morph?digit=3&to_digit=8&seed=5&to_seed=6&frames={frames}&model={model}")
    body = response.get_json()
    assert response.status_code == 200
    assert (body["digit"], body["to_digit"], body["seed"], body["to_seed"], body["frames"]) == (3, 8, 5, 6, frames)
    images = b64_pixels(body)
    assert len(images) == frames and all(image.shape == (28, 28) for image in images)
    style = style_of(app, model)
    # The ends are the style interface's own drawings of (digit, hand): frames are not re-centred one by one
    # (digits.images.mnist_centred), so the animation never jumps by a pixel.
    first = style.images(handwriting.EYE[[3]], handwriting.hands(5, 1, style.style_dim))[0]
    last = style.images(handwriting.EYE[[8]], handwriting.hands(6, 1, style.style_dim))[0]
    assert_same_image(images[0], to_uint8(first))
    assert_same_image(images[-1], to_uint8(last))


def test_morph_gif_has_every_frame_and_loops(client, model):
    url = f"/api/v1/morph.gif?digit=3&to_digit=8&seed=5&to_seed=6&frames=8&model={model}"
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.headers["Content-Disposition"] == f'attachment; filename="morph-3-to-8-{model}-seed-5-6.gif"'
    gif = Image.open(io.BytesIO(response.get_data()))
    assert gif.format == "GIF" and gif.n_frames == 8 and gif.info.get("loop") == 0  # 3 -> 8: no two frames alike
    frames = b64_pixels(client.get(url.replace("morph.gif", "morph")).get_json())
    for index in (0, 7):
        gif.seek(index)
        assert np.array_equal(np.asarray(gif.convert("L")), frames[index])


@pytest.mark.parametrize("url", [
    "/api/v1/number?text=2026&seed=77", "/api/v1/number.png?text=2026&seed=77",
    "/api/v1/morph?digit=1&to_digit=7&seed=77&to_seed=78", "/api/v1/morph.gif?digit=1&to_digit=7&seed=77&to_seed=78",
    "/write?text=2026&seed=77", "/morph?digit=1&to_digit=7&seed=77&to_seed=78",
])
def test_seeded_urls_give_the_same_bytes(client, url):
    first = client.get(url)
    assert first.status_code == 200
    assert client.get(url).get_data() == first.get_data()


def test_seedless_api_draws_a_seed_and_says_which(client):
    body = client.get("/api/v1/morph?digit=2&to_digit=2").get_json()
    assert 0 <= body["seed"] <= 2**32 - 1 and 0 <= body["to_seed"] <= 2**32 - 1
    again = client.get(f"/api/v1/morph?digit=2&to_digit=2&seed={body['seed']}&to_seed={body['to_seed']}")
    assert again.get_json()["images"] == body["images"]


@pytest.mark.parametrize("url,keeps", [
    ("/write?text=2026&model=cgan", ["text=2026", "model=cgan"]),
    ("/morph?digit=3&to_digit=8&frames=5", ["digit=3", "to_digit=8", "frames=5", "to_seed="]),
    ("/morph?digit=3&to_digit=8&seed=9", ["seed=9", "to_seed="]),
])
def test_seedless_pages_redirect_to_a_relative_seeded_url(client, url, keeps):
    response = client.get(url)
    location = response.headers["Location"]
    assert response.status_code == 302 and location.startswith(url.split("?")[0] + "?")
    assert re.search(r"(^|&|\?)seed=\d+", location) and all(part in location for part in keeps)
    assert client.get(location).status_code == 200


def link(page: str, element_id: str) -> str:
    return html.unescape(re.search(rf'id="{element_id}" href="([^"]*)"', page).group(1))


def test_write_page_shows_count_rows(client, model):
    response = client.get(f"/write?text=2026&seed=12&count=3&model={model}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    rows = [pixels(png) for png in page_pngs(page)]
    assert len(rows) == 3 and all(row.shape == (28, 4 * 28) for row in rows)
    api = b64_pixels(client.get(f"/api/v1/number?text=2026&seed=12&count=3&model={model}").get_json())
    assert all(np.array_equal(a, b) for a, b in zip(rows, api, strict=True)), "the page and the API differ"
    assert page.count('width="336" height="84"') == 3, "shown at three times its pixels, where the page has room"


def test_write_page_links_to_its_rows_their_png_and_all_ten_digits(client):
    page = client.get("/write?text=2026&seed=12&model=cgan&count=3").get_data(as_text=True)
    assert link(page, "permalink") == "/write?text=2026&seed=12&model=cgan&count=3"
    assert link(page, "download") == "/api/v1/number.png?text=2026&seed=12&model=cgan&count=3"
    assert link(page, "all-digits") == "/write?text=0123456789&model=cgan"
    assert link(page, "new-hands") == "/write?text=2026&model=cgan&count=3"


def test_morph_page_shows_the_frames_and_the_gif_link(client):
    page = client.get("/morph?digit=0&to_digit=6&seed=1&to_seed=2&frames=6").get_data(as_text=True)
    frames = [pixels(png) for png in page_pngs(page)]
    assert len(frames) == 6 and all(frame.shape == (28, 28) for frame in frames)
    assert link(page, "download").startswith("/api/v1/morph.gif?digit=0&to_digit=6&seed=1&to_seed=2&frames=6")


def test_forms_without_a_query_are_blank_and_script_free(client):
    for url in ("/write", "/morph", "/steer"):
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert 'class="controls"' in page and not page_pngs(page)
        assert "<script" not in page and "style=" not in page, "inline script/style would break the CSP"


def test_compare_redirects_to_a_seeded_url_that_keeps_comparing(client):
    response = client.get("/?digit=7&compare=1")
    location = response.headers["Location"]
    assert response.status_code == 302 and location.startswith("/?") and "compare=1" in location
    assert re.search(r"[?&]seed=\d+", location) and client.get(location).status_code == 200


def test_compare_shows_every_models_samples_for_the_same_digit_and_seed(client):
    page = client.get("/?digit=7&seed=5&compare=1").get_data(as_text=True)
    names = re.findall(r'<h3 id="model-([a-z0-9_-]+)">', page)
    assert sorted(names) == ["cgan", "cvae"]
    shown = [base64.b64encode(png).decode() for png in page_pngs(page)]
    served = [b64 for name in names for b64 in client.get(f"/api/v1/generate?digit=7&seed=5&model={name}")
              .get_json()["images"]]
    assert shown == served, "each model's column is that model's five samples for this digit and seed"
    for name in names:
        assert page.count(f'alt="Generated handwritten digit 7 by the {name.upper()}, sample') == 5
    assert link(page, "permalink") == "/?digit=7&seed=5&model=cvae&compare=1"
    assert link(page, "one-model") == "/?digit=7&seed=5&model=cvae"
    assert link(page, "new-samples") == "/?digit=7&model=cvae&compare=1"


def test_one_model_page_links_to_the_comparison(client):
    page = client.get("/?digit=4&seed=9&model=cgan").get_data(as_text=True)
    assert link(page, "compare") == "/?digit=4&seed=9&model=cgan&compare=1"
    assert len(page_pngs(page)) == 5


@pytest.mark.parametrize("query", ["compare=2", "compare=<script>xq", "compare=1&compare=1", "compare=true"])
def test_compare_takes_one_spelling(client, query):
    message = "compare is given 2 times" if query.count("compare") == 2 else "compare must be 1"
    assert_refused(client.get(f"/?digit=3&seed=1&{query}"), message)


MARK = "<script>xq"  # a value no message or page contains: if it, or its escaped form, comes back, input leaks
BAD_NUMBER = [
    ("text=", "text is required: a number of 1 to 16 digits, 0-9 only"),
    ("text=12345678901234567", "text must be a number of 1 to 16 digits, 0-9 only"),
    (f"text={MARK}", "text must be a number of 1 to 16 digits, 0-9 only"),
    ("text=12a", "0-9 only"),
    ("text=%D9%A3", "0-9 only"),  # '٣', an Arabic-Indic three
    ("text=%EF%BC%91", "0-9 only"),  # '１', a fullwidth one
    ("text=%2012", "0-9 only"),
    ("text=12&text=34", "text is given 2 times; give it once"),
    ("text=12&count=0", "count must be an integer from 1 to 16"),
    ("text=12&count=17", "count must be an integer from 1 to 16"),
    (f"text=12&count={MARK}", "count must be an integer from 1 to 16"),
    ("text=12&seed=4294967296", "seed must be an integer from 0 to 4294967295"),
    (f"text=12&model={MARK}", "model must be one of cgan, cvae"),
    ("text=12&model=../artifacts/cvae_style.onnx", "model must be one of cgan, cvae"),
    ("text=12&model=cvae&model=cgan", "model is given 2 times"),
]
BAD_MORPH = [
    ("digit=3", "to_digit is required: an integer from 0 to 9"),
    (f"digit={MARK}&to_digit=3", "digit must be an integer from 0 to 9"),
    ("digit=3&to_digit=10", "to_digit must be an integer from 0 to 9"),
    (f"digit=3&to_digit={MARK}", "to_digit must be an integer from 0 to 9"),
    ("digit=3&to_digit=%D9%A3", "to_digit must be an integer from 0 to 9"),
    ("digit=3&to_digit=8&frames=1", "frames must be an integer from 2 to 64"),
    ("digit=3&to_digit=8&frames=65", "frames must be an integer from 2 to 64"),
    (f"digit=3&to_digit=8&frames={MARK}", "frames must be an integer from 2 to 64"),
    ("digit=3&to_digit=8&to_seed=-1", "to_seed must be an integer from 0 to 4294967295"),
    ("digit=3&to_digit=8&frames=4&frames=5", "frames is given 2 times"),
    (f"digit=3&to_digit=8&model={MARK}", "model must be one of cgan, cvae"),
]


def assert_refused(response, message: str) -> None:
    """A 400 that names the parameter and what is allowed, and returns nothing of what was sent."""
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    if response.is_json:
        assert message in response.get_json()["error"]
    else:
        alert = re.search(r'role="alert">(.*?)</p>', body, re.S)
        assert alert and html.escape(message) in alert.group(1) and 'class="controls"' in body
    assert "xq" not in body and "artifacts/" not in body


@pytest.mark.parametrize("route,query,message", [
    ("/api/v1/number", "count=1", "text is required"), ("/api/v1/number.png", "seed=1", "text is required"),
    ("/api/v1/morph", "to_digit=3", "digit is required: an integer from 0 to 9"),
    ("/api/v1/morph.gif", "to_digit=3", "digit is required: an integer from 0 to 9"),
])
def test_the_api_refuses_a_missing_parameter(client, route, query, message):
    """The pages show their blank form instead (test_forms_without_a_query_are_blank_and_script_free)."""
    assert_refused(client.get(f"{route}?{query}"), message)


@pytest.mark.parametrize("query,message", BAD_NUMBER)
@pytest.mark.parametrize("route", ["/api/v1/number", "/api/v1/number.png", "/write"])
def test_bad_number_queries_are_refused_without_echo(client, route, query, message):
    assert_refused(client.get(f"{route}?{query}"), message)


@pytest.mark.parametrize("query,message", BAD_MORPH)
@pytest.mark.parametrize("route", ["/api/v1/morph", "/api/v1/morph.gif", "/morph"])
def test_bad_morph_queries_are_refused_without_echo(client, route, query, message):
    assert_refused(client.get(f"{route}?{query}"), message)


ROUTES = ["/", "/write", "/morph", "/api/v1/number", "/api/v1/number.png", "/api/v1/morph", "/api/v1/morph.gif"]
KEYS = ["text", "digit", "to_digit", "seed", "to_seed", "count", "frames", "model", "compare", "x", ""]
VALUES = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.text(alphabet="0123456789", min_size=0, max_size=20),
    st.text(max_size=30),
    st.sampled_from(["cvae", "cgan", "../artifacts/cvae_style.onnx", "٣", "１", " 7", "+1", "1e3", "0x1", "\x00",
                     MARK]))


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), pairs=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=7))
def test_parameter_soup_on_the_new_routes_never_5xx(client, route, pairs):
    response = client.get(route + "?" + urllib.parse.urlencode(pairs))
    assert_documented(response, route)
    if response.status_code >= 400:  # not in answers: base64 pixels may hold any two letters
        assert "xq" not in response.get_data(as_text=True)
