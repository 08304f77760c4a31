"""A real headless Chromium (Debian's) drives the real page served on localhost."""
from __future__ import annotations

import shutil
import threading

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from webapp import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def base_url():
    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert shutil.which(CHROMIUM), "Chromium is missing: make test installs it (tools/system-packages.sh)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def loaded_images(page) -> list[dict]:
    page.wait_for_function("[...document.querySelectorAll('.samples img')].every(i => i.complete)")
    return page.eval_on_selector_all(
        ".samples img", "imgs => imgs.map(i => ({w: i.naturalWidth, h: i.naturalHeight, src: i.src, alt: i.alt}))")


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
