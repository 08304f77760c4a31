"""A real headless Chromium (Debian's) drives the real page served on localhost."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.webapp_helpers import decode_png

pytestmark = pytest.mark.browser


def loaded_images(page, selector: str = ".samples img") -> list[dict]:
    page.wait_for_function(f"[...document.querySelectorAll('{selector}')].every(i => i.complete)")
    return page.eval_on_selector_all(
        selector, "imgs => imgs.map(i => ({w: i.naturalWidth, h: i.naturalHeight, src: i.src, alt: i.alt}))")


def test_pick_a_digit_get_five_images_and_reproduce_them(browser, base_url, tmp_path):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    page.goto(base_url)
    page.select_option("#digit", "7")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/?digit=7&seed=*")
    images = loaded_images(page)
    assert len(images) == 5
    assert all(i["w"] == 28 and i["h"] == 28 for i in images)
    assert len({i["src"] for i in images}) == 5
    assert all("digit 7" in i["alt"] for i in images)
    seed = page.inner_text("#seed")
    assert f"seed={seed}" in page.url
    page.screenshot(path=str(tmp_path / "result.png"), full_page=True)

    page.goto(page.url)
    assert [i["src"] for i in loaded_images(page)] == [i["src"] for i in images]
    assert page.input_value("#digit") == "7"

    page.click("#new-samples")
    page.wait_for_url("**/?digit=7&seed=*")
    assert [i["src"] for i in loaded_images(page)] != [i["src"] for i in images]
    assert not problems, f"console errors (CSP violations?): {problems}"
    assert (tmp_path / "result.png").stat().st_size > 5000


def test_error_page_keeps_a_usable_form(browser, base_url):
    page = browser.new_page()
    response = page.goto(f"{base_url}/?digit=12&seed=1")
    assert response.status == 400
    assert "digit must be an integer from 0 to 9" in page.inner_text("[role=alert]")
    page.select_option("#digit", "2")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/?digit=2&seed=*")
    assert len(loaded_images(page)) == 5


def watched_page(browser) -> tuple[object, list[str]]:
    """A page and the console errors and exceptions it reports (a CSP violation is one)."""
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return page, problems


def test_write_a_number_in_five_hands_and_reproduce_them(browser, base_url):
    page, problems = watched_page(browser)
    page.goto(f"{base_url}/write")
    page.fill("#text", "31415")
    page.get_by_role("button", name="Write it").click()
    page.wait_for_url("**/write?text=31415&seed=*")
    rows = loaded_images(page, ".rows img")
    assert len(rows) == 5 and len({r["src"] for r in rows}) == 5
    assert all((r["w"], r["h"]) == (28 * 5, 28) for r in rows), "each row: five 28x28 digits side by side"
    assert f"seed={page.inner_text('#seed')}" in page.url

    page.click("#permalink")
    page.wait_for_url("**/write?text=31415&seed=*")
    assert [r["src"] for r in loaded_images(page, ".rows img")] == [r["src"] for r in rows]

    page.click("#all-digits")
    page.wait_for_url("**/write?text=0123456789&seed=*")
    ten = loaded_images(page, ".rows img")
    assert len(ten) == 5 and all((r["w"], r["h"]) == (280, 28) for r in ten)
    assert page.input_value("#text") == "0123456789"
    assert not problems, f"console errors (CSP violations?): {problems}"


def test_morph_page_shows_the_frames(browser, base_url):
    page, problems = watched_page(browser)
    page.goto(f"{base_url}/morph")
    page.select_option("#digit", "1")
    page.select_option("#to_digit", "7")
    page.fill("#frames", "6")
    page.get_by_role("button", name="Morph").click()
    page.wait_for_url("**/morph?digit=1&to_digit=7&seed=*&to_seed=*&frames=6*")
    frames = loaded_images(page, ".frames img")
    assert len(frames) == 6 and all((f["w"], f["h"]) == (28, 28) for f in frames)
    assert frames[0]["src"] != frames[-1]["src"]
    assert "/api/v1/morph.gif?" in page.get_attribute("#download", "href")
    assert not problems, f"console errors (CSP violations?): {problems}"


def test_compare_shows_both_models_for_the_same_seed(browser, base_url):
    page, problems = watched_page(browser)
    page.goto(f"{base_url}/?digit=7&seed=5&model=cvae")
    single = loaded_images(page)
    page.click("#compare")
    page.wait_for_url("**/?digit=7&seed=5&model=cvae&compare=1")
    both = loaded_images(page, ".compare .samples img")
    assert len(both) == 10 and all((i["w"], i["h"]) == (28, 28) for i in both)
    assert {i["alt"].split(",")[0] for i in both} == {"Generated handwritten digit 7 by the CVAE",
                                                       "Generated handwritten digit 7 by the CGAN"}
    cvae = [i["src"] for i in both if "CVAE" in i["alt"]]
    assert cvae == [i["src"] for i in single], "the CVAE's column is the one-model page's five samples"
    columns = page.eval_on_selector_all(".compare > section", "s => s.map(e => e.getBoundingClientRect().top)")
    assert len(columns) == 2 and columns[0] == columns[1], "side by side on a wide screen"
    assert not problems, f"console errors (CSP violations?): {problems}"


def test_steer_sliders_move_the_row_and_the_download_follows(browser, base_url):
    """Real key presses on a slider: the row changes while it moves, the address and PNG follow."""
    page, problems = watched_page(browser)
    page.goto(f"{base_url}/steer?text=0123456789&seed=4&model=cvae")
    before = loaded_images(page, ".rows img")[0]
    assert (before["w"], before["h"]) == (280, 28)
    page.focus("#weight")
    for _ in range(6):  # 0.25 a press: to 1.5
        page.keyboard.press("ArrowRight")
    page.wait_for_url("**weight=1.5**")
    page.wait_for_function("src => document.getElementById('row').src !== src", arg=before["src"])
    after = loaded_images(page, ".rows img")[0]
    assert page.inner_text("#weight-value") == "1.5" and (after["w"], after["h"]) == (280, 28)
    download = page.get_attribute("#download", "href")
    assert "weight=1.5" in download and "seed=4" in download
    png = page.request.get(base_url + download)
    assert png.status == 200 and png.headers["content-type"] == "image/png"
    page.reload()
    assert loaded_images(page, ".rows img")[0]["src"] == after["src"], "the address gives the steered row"
    assert not problems, f"console errors (CSP violations?): {problems}"


def test_steer_follows_a_changed_number_and_model(browser, base_url):
    """Number and model changed in the form, then a slider moved by key: the row's request carries all of it,
    and the row, the heading, the address and every download follow."""
    page, problems = watched_page(browser)
    page.goto(f"{base_url}/steer?text=0123456789&seed=4&model=cvae")
    before = loaded_images(page, ".rows img")[0]
    page.fill("#text", "2026")
    page.select_option("#model", "cgan")
    page.focus("#slant")
    with page.expect_request(lambda r: "/api/v1/steer?" in r.url and "slant=0.25" in r.url) as sent:
        page.keyboard.press("ArrowRight")
    asked = parse_qs(urlsplit(sent.value.url).query)
    assert (asked["text"], asked["model"], asked["seed"]) == (["2026"], ["cgan"], ["4"])
    page.wait_for_url("**/steer?text=2026&seed=4&model=cgan&slant=0.25**")
    page.wait_for_function("src => document.getElementById('row').src !== src", arg=before["src"])
    after = loaded_images(page, ".rows img")[0]
    assert (after["w"], after["h"]) == (4 * 28, 28)
    assert (page.inner_text("#shown-text"), page.inner_text("#shown-model")) == ("2026", "CGAN")
    larger = page.get_attribute("#download-sizes a[data-scale='4']", "href")
    assert parse_qs(urlsplit(larger).query) == parse_qs(urlsplit(page.get_attribute("#download", "href")).query) | {
        "scale": ["4"]}
    png = page.request.get(base_url + larger)
    assert png.status == 200 and decode_png(png.body()).size == (4 * 4 * 28, 4 * 28)
    page.reload()
    assert loaded_images(page, ".rows img")[0]["src"] == after["src"], "the address gives the row shown"
    assert not problems, f"console errors (CSP violations?): {problems}"


def test_steer_without_javascript_is_a_form(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/steer?text=42&seed=8&model=cgan")
    before = loaded_images(page, ".rows img")[0]["src"]
    page.fill("#slant", "-1.5")
    page.get_by_role("button", name="Write it").click()
    page.wait_for_url("**/steer?text=42*slant=-1.5*")
    assert "seed=8" in page.url and loaded_images(page, ".rows img")[0]["src"] != before
    context.close()
