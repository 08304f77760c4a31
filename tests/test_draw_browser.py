"""A real headless Chromium on /draw: a digit drawn with pointer events on the canvas, and the same page
without JavaScript through its file-upload form."""
from __future__ import annotations

import base64

import pytest
from PIL import Image

from tests.drawing_helpers import encoded, stroke_picture

pytestmark = pytest.mark.browser


def watch(page) -> list[str]:
    """Console errors and page errors (a CSP violation shows up here)."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def rows_loaded(page) -> list[dict]:
    page.wait_for_function("[...document.querySelectorAll('.rows img, .drawn img')].every(i => i.complete)")
    return page.eval_on_selector_all(".rows img", "imgs => imgs.map(i => ({w: i.naturalWidth, h: i.naturalHeight}))")


def draw_a_seven(page) -> None:
    """Mouse down, move in small steps along two strokes, up: the pointer events a hand makes."""
    box = page.locator("#canvas").bounding_box()

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * box["width"], box["y"] + y * box["height"]

    for stroke in [[(0.25, 0.2), (0.75, 0.2)], [(0.75, 0.2), (0.45, 0.85)]]:
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        page.mouse.move(*at(*stroke[1]), steps=12)
        page.mouse.up()


def test_draw_a_digit_on_the_canvas_and_see_the_number_written_in_that_hand(browser, base_url, tmp_path):
    page = browser.new_page(viewport={"width": 1000, "height": 1100})
    problems = watch(page)
    page.goto(f"{base_url}/draw")
    assert page.is_visible("#canvas"), "draw.js shows the pad"
    draw_a_seven(page)
    page.select_option("#digit", "7")
    page.fill("#text", "2026")
    page.get_by_role("button", name="Write it in this hand").click()
    page.wait_for_selector(".rows")
    rows = rows_loaded(page)
    assert len(rows) == 5 and all(r == {"w": 4 * 28, "h": 28} for r in rows)
    assert page.eval_on_selector("#input", "i => i.naturalWidth") == 28
    ink = page.eval_on_selector("#input", "i => i.src")
    assert len(base64.b64decode(ink.split(",")[1])) > 100, "the drawing reached the server as an image"
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "2026-in-your-hand.png"
    with page.expect_download() as larger:
        page.click("#download-sizes a[data-scale='8']")
    assert larger.value.suggested_filename == "2026-in-your-hand-x8.png"
    native, enlarged = (Image.open(d.value.path()) for d in (download, larger))
    assert enlarged.size == (8 * native.width, 8 * native.height) == (8 * (4 * 28), 8 * (5 * 28 + 4 * 2))
    page.screenshot(path=str(tmp_path / "draw.png"), full_page=True)
    assert not problems, f"console errors (CSP violations?): {problems}"


INK = """() => {
  const canvas = document.getElementById("canvas");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i] < 128) ink += 1;
  return ink;
}"""


def test_the_drawing_stays_on_the_pad_after_submitting_until_cleared(browser, base_url):
    """Kept in the tab (sessionStorage), never on the server: one more stroke, not a new drawing."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    problems = watch(page)
    page.goto(f"{base_url}/draw")
    draw_a_seven(page)
    drawn = page.evaluate(INK)
    page.select_option("#digit", "7")
    page.get_by_role("button", name="Write it in this hand").click()
    page.wait_for_selector(".rows")
    first = page.get_attribute("#input", "src")
    page.wait_for_function(f"() => ({INK})() > 0", timeout=5000)
    assert page.evaluate(INK) == drawn, "the same drawing, pixel for pixel, is back on the pad"
    with page.expect_navigation():
        page.get_by_role("button", name="Write it in this hand").click()  # sent again as it is
    assert page.get_attribute("#input", "src") == first
    page.wait_for_function(f"() => ({INK})() > 0", timeout=5000)
    page.click("#clear")
    assert page.evaluate(INK) == 0
    page.goto(f"{base_url}/draw")
    assert page.evaluate("sessionStorage.length") == 0 and page.evaluate(INK) == 0, "a cleared pad stays clear"
    assert not problems, f"console errors (CSP violations?): {problems}"
    context.close()


def test_without_javascript_the_upload_form_does_the_same(browser, base_url, tmp_path):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/draw")
    assert not page.is_visible("#canvas"), "without JavaScript the pad stays hidden"
    upload = tmp_path / "one.png"
    upload.write_bytes(encoded(stroke_picture()))
    page.set_input_files("#image", str(upload))
    page.select_option("#digit", "1")
    page.get_by_role("button", name="Write it in this hand").click()
    page.wait_for_selector(".rows")
    assert len(rows_loaded(page)) == 5 and "0123456789, in the hand of your 1" in page.inner_text("h2")
    context.close()
