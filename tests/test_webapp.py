"""The real Flask app over the committed ONNX artifacts, through Flask's test client."""
from __future__ import annotations

import base64
import html
import io
import itertools
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.webapp_helpers import assert_security_headers, decode_png, page_pngs


def pixels(png: bytes) -> np.ndarray:
    image = decode_png(png)
    assert image.size == (28, 28) and image.mode == "L"
    return np.asarray(image)


def assert_distinct(pngs: list[bytes]) -> None:
    arrays = [pixels(p) for p in pngs]
    for a, b in itertools.combinations(arrays, 2):
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0, "two samples are (near) identical"


def test_form_page(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<label for="digit">' in html and html.count("<option value=") >= 10
    assert "<script" not in html and "style=" not in html, "inline script/style would break the CSP"


def test_generate_without_seed_redirects_to_a_seeded_url(client):
    response = client.get("/?digit=3")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "digit=3" in location and "seed=" in location and "model=cvae" in location
    followed = client.get(location)
    assert followed.status_code == 200 and len(page_pngs(followed.get_data(as_text=True))) == 5


def test_result_page_shows_five_distinct_digits_with_seed(client):
    response = client.get("/?digit=7&seed=1234")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<option value="7" selected>' in html
    assert 'id="seed">1234<' in html
    assert html.count('alt="Generated handwritten digit 7') == 5
    pngs = page_pngs(html)
    assert len(pngs) == 5
    assert_distinct(pngs)
    assert "/api/v1/generate.png?digit=7&amp;seed=1234" in html


def test_same_url_same_images_and_new_seed_new_images(client):
    first = page_pngs(client.get("/?digit=4&seed=99").get_data(as_text=True))
    again = page_pngs(client.get("/?digit=4&seed=99").get_data(as_text=True))
    other = page_pngs(client.get("/?digit=4&seed=100").get_data(as_text=True))
    assert first == again
    assert first != other


@pytest.mark.parametrize("count", [1, 5, 64])
def test_api_generate(client, count):
    response = client.get(f"/api/v1/generate?digit=2&count={count}&seed=7")
    body = response.get_json()
    assert response.status_code == 200
    assert (body["digit"], body["model"], body["seed"], body["count"]) == (2, "cvae", 7, count)
    pngs = [base64.b64decode(b) for b in body["images"]]
    assert len(pngs) == count
    assert_distinct(pngs[:5])


def test_api_generate_is_reproducible_and_draws_a_seed(client):
    a = client.get("/api/v1/generate?digit=5&seed=42").get_data()
    b = client.get("/api/v1/generate?digit=5&seed=42").get_data()
    assert a == b
    drawn = client.get("/api/v1/generate?digit=5").get_json()
    assert 0 <= drawn["seed"] <= 2**32 - 1 and len(drawn["images"]) == 5


def test_png_strip_download(client):
    response = client.get("/api/v1/generate.png?digit=8&seed=3")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert 'attachment; filename="digit-8-cvae-seed-3.png"' == response.headers["Content-Disposition"]
    strip = decode_png(response.get_data())
    assert strip.size == (5 * 28 + 4 * 2, 28)
    page = [pixels(p) for p in page_pngs(client.get("/?digit=8&seed=3").get_data(as_text=True))]
    assert np.array_equal(np.asarray(strip)[:, :28], page[0]), "download differs from the page"


def test_favicon_is_the_static_file_at_the_root_cached_like_every_static_file(client):
    """Browsers and crawlers ask for /favicon.ico whatever the page links: a real icon, never a 404."""
    icon, style = client.get("/favicon.ico"), client.get("/static/style.css")
    assert icon.status_code == 200 and icon.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    image = Image.open(io.BytesIO(icon.get_data()))
    assert image.format == "ICO" and {(16, 16), (32, 32)} <= image.info["sizes"]
    assert icon.headers["Cache-Control"] == style.headers["Cache-Control"] and icon.headers["Last-Modified"]
    assert client.get("/favicon.ico", headers={"If-None-Match": icon.headers["ETag"]}).status_code == 304
    page = client.get("/").get_data(as_text=True)
    for link in re.findall(r'<link rel="icon" href="([^"]+)"', page):
        assert client.get(link).status_code == 200, link


def test_models_and_health(client):
    models = client.get("/api/v1/models").get_json()
    assert models["default"] == "cvae"
    cvae = next(m for m in models["models"] if m["name"] == "cvae")
    assert cvae["file"] == "cvae_decoder.onnx"
    for key in ("latent_dim", "model", "dataset", "train_images", "epochs"):
        assert key in cvae["metadata"]
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["models"]["cvae"] == "loaded"


BAD_QUERIES = [
    ("digit=x", "digit must be an integer"),
    ("digit=10", "digit must be an integer from 0 to 9"),
    ("digit=-1", "digit must be an integer from 0 to 9"),
    ("digit=3.5", "digit must be an integer"),
    ("digit=", "digit is required"),
    ("digit=1&digit=2", "digit is given 2 times"),
    ("digit=1&seed=-1", "seed must be an integer from 0 to 4294967295"),
    ("digit=1&seed=4294967296", "seed must be an integer from 0 to 4294967295"),
    ("digit=1&seed=abc", "seed must be an integer"),
    ("digit=1&seed=1e3", "seed must be an integer"),
    ("digit=1&seed=99999999999999999999999999", "seed must be an integer"),
    ("digit=1&model=nope", "model must be one of"),
    ("digit=1&model=../artifacts/cvae_decoder.onnx", "model must be one of"),
    ("digit=1&model=%2Fetc%2Fpasswd", "model must be one of"),
    ("digit=%D9%A3", "digit must be an integer"),
    ("digit=%2B-5", "digit must be an integer"),
    ("digit=--5", "digit must be an integer"),
]


@pytest.mark.parametrize("query,message", BAD_QUERIES)
def test_bad_input_api(client, query, message):
    response = client.get(f"/api/v1/generate?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("query,message", BAD_QUERIES)
def test_bad_input_page_keeps_the_form(client, query, message):
    response = client.get(f"/?{query}&seed=1" if "seed" not in query else f"/?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    alert = re.search(r'role="alert">(.*?)</p>', page, re.S)
    assert alert and html.escape(message) in alert.group(1) and '<select id="digit"' in page
    assert "Traceback" not in page


@pytest.mark.parametrize("query,message", [
    ("digit=1&count=0", "count must be an integer from 1 to 64"),
    ("digit=1&count=65", "count must be an integer from 1 to 64"),
    ("digit=1&count=abc", "count must be an integer"),
])
def test_bad_count(client, query, message):
    assert message in client.get(f"/api/v1/generate?{query}").get_json()["error"]
    assert client.get(f"/api/v1/generate.png?{query}").status_code == 400


def test_missing_digit_api(client):
    response = client.get("/api/v1/generate?seed=3")
    assert response.status_code == 400 and "digit is required" in response.get_json()["error"]


def test_oversize_query(client):
    for url in ("/?digit=1&pad=" + "a" * 2000, "/api/v1/generate?digit=1&pad=" + "a" * 2000):
        response = client.get(url)
        assert response.status_code == 414
        assert "longer than 1024 bytes" in response.get_data(as_text=True)


def test_unknown_route_and_method(client):
    page = client.get("/no/such/page")
    assert page.status_code == 404 and '<select id="digit"' in page.get_data(as_text=True)
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and "error" in api.get_json()
    page_post = client.post("/")
    assert page_post.status_code == 405 and "GET" in page_post.headers["Allow"]
    posted = client.post("/api/v1/generate?digit=1")
    assert posted.status_code == 405 and "error" in posted.get_json() and "GET" in posted.headers["Allow"]


def test_unexpected_failure_is_a_clean_500(app, monkeypatch):
    generator = app.extensions["generators"]["cvae"]
    monkeypatch.setattr(generator, "sample", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    client = app.test_client()
    api = client.get("/api/v1/generate?digit=1&seed=1")
    assert api.status_code == 500 and "boom" not in api.get_data(as_text=True)
    page = client.get("/?digit=1&seed=1")
    assert page.status_code == 500 and "Traceback" not in page.get_data(as_text=True)
    assert_security_headers(api)
    assert_security_headers(page)


OVERSIZE = "pad=" + "a" * 2000
# Every status the app answers with itself (its 413s, for uploads, are in tests/test_style_api.py; nginx's
# refusals are checked in tests/test_hardening.py).
STATUSES = [("GET", "/?digit=1&seed=1", 200), ("GET", "/api/v1/generate?digit=1&seed=1", 200),
            ("GET", "/?digit=3", 302), ("GET", "/api//v1/models", 308),
            ("GET", "/?digit=x", 400), ("GET", "/api/v1/generate?digit=x", 400),
            ("GET", "/nope", 404), ("GET", "/api/v1/nothing", 404), ("POST", "/", 405),
            ("POST", "/api/v1/generate?digit=1", 405), ("GET", f"/?{OVERSIZE}", 414),
            ("GET", f"/api/v1/generate?{OVERSIZE}", 414)]


def test_security_headers_on_every_route(app, client):
    """Every route the app has, today's and any added later (static: a file that exists)."""
    rules = list(app.url_map.iter_rules())
    assert len(rules) >= 6
    for rule in rules:
        url = "/static/style.css" if rule.endpoint == "static" else rule.rule
        assert_security_headers(client.get(url))


@pytest.mark.parametrize("method,url,status", STATUSES)
def test_security_headers_on_every_status(client, method, url, status):
    response = client.open(url, method=method)
    assert response.status_code == status
    assert_security_headers(response)


def test_every_model_serves_the_page_and_api(client):
    names = [m["name"] for m in client.get("/api/v1/models").get_json()["models"]]
    for name in names:
        html = client.get(f"/?digit=5&seed=11&model={name}").get_data(as_text=True)
        assert_distinct(page_pngs(html))
        assert f'<option value="{name}" selected>' in html or len(names) == 1
        body = client.get(f"/api/v1/generate?digit=5&seed=11&model={name}").get_json()
        assert body["model"] == name and len(body["images"]) == 5


REFLECTED = {"model": "model must be one of cgan, cvae", "digit": "digit must be an integer from 0 to 9",
             "seed": "seed must be an integer from 0 to 4294967295", "count": "count must be an integer from 1 to 64"}


@pytest.mark.parametrize("route,name", [(route, name) for route in ("/", "/api/v1/generate", "/api/v1/generate.png")
                                        for name in REFLECTED
                                        if (route, name) != ("/", "count")])  # no count on the page
def test_refusals_list_the_allowed_values_and_never_reflect_the_input(client, route, name):
    response = client.get(route, query_string={"digit": "3", "seed": "1", name: "<script>xq"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and html.escape(REFLECTED[name]) in body
    assert "xq" not in body, "the refused value (or its escaped form) came back"


# --- behind a proxy (FLASK_PROXY_FIX=1): a client's X-Forwarded-Prefix never takes a link off the site ---

LINK = re.compile(r'\b(?:href|action|src)="([^"]*)"')
# One "/" then anything but "/" or "\\" (which browsers read as "//": another host), no space or control
# character anywhere (browsers drop tabs and newlines from a URL, so "/\t/evil" would be "//evil").
ON_SITE = re.compile(r"/(?![/\\])[^\\\x00-\x20\x7f]*")
PAGES = ["/", "/?digit=3&seed=1", "/draw", "/write?text=42&seed=1", "/morph?digit=1&to_digit=7&seed=1&to_seed=2",
         "/steer?text=42&seed=1&slant=1", "/no/such/page"]
HOSTILE_PREFIXES = ["//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
                    "https://evil.example", "javascript:alert(1)", "/%2F/evil.example", "/%5Cevil.example",
                    "/..//evil.example", "/./", "/.", "/..", " //evil.example", "/\t/evil.example",
                    "/digits, //evil.example", '"//evil.example"', "/a//evil.example", "/a b", "evil.example",
                    "/a?x=//evil.example", "/a#//evil.example", "/@evil.example:80"]


def page_links(client, route: str, prefix: str | None) -> list[str]:
    headers = {"Host": "localhost"} | ({"X-Forwarded-Prefix": prefix} if prefix is not None else {})
    response = client.get(route, headers=headers)
    assert response.status_code in (200, 404)
    return [html.unescape(link) for link in LINK.findall(response.get_data(as_text=True))
            if not link.startswith("data:image/png;base64,")]


@pytest.mark.parametrize("route", PAGES)
def test_a_plain_forwarded_prefix_starts_every_link(proxied_client, route):
    links = page_links(proxied_client, route, "/digits")
    assert links and all(link.startswith("/digits/") for link in links), links


@pytest.mark.parametrize("prefix", HOSTILE_PREFIXES)
def test_a_hostile_forwarded_prefix_is_ignored(proxied_client, prefix):
    for route in PAGES:
        assert page_links(proxied_client, route, prefix) == page_links(proxied_client, route, None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(PAGES), prefix=st.one_of(
    st.sampled_from(HOSTILE_PREFIXES),
    st.text(st.sampled_from("/\\:.%@?#, \t\"abe~-_5"), max_size=24),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xff), max_size=24)))
@pytest.mark.slow
def test_every_link_stays_on_site_whatever_prefix_is_forwarded(proxied_client, route, prefix):
    for link in page_links(proxied_client, route, prefix):
        assert ON_SITE.fullmatch(link), (prefix, link)
