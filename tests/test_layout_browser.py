"""Every page in a real headless Chromium, at a desktop width and a phone's: nothing scrolls sideways, every
generated image keeps its shape (a row may be shown smaller than its pixels, never squashed), each nav link
stays on one line, the Number box shows all 16 digits, and a dark colour scheme is readable."""
from __future__ import annotations

import re

import pytest

from tests.drawing_helpers import encoded, stroke_picture

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 390, "height": 844}}
REFUSED = "/?digit=12&seed=1"  # a 400: its page, with the form, is a page too (the browser logs the status)
PAGES = ["/", "/?digit=7&seed=5&model=cvae", "/?digit=7&seed=5&model=cvae&compare=1", REFUSED,
         "/write", "/write?text=0123456789&seed=3&model=cvae", "/write?text=0123456789012345&seed=3&model=cgan",
         "/morph", "/morph?digit=3&to_digit=8&seed=1&to_seed=2&frames=16",
         "/steer", "/steer?text=0123456789&seed=4&model=cvae", "/steer?text=0123456789012345&seed=4&model=cgan",
         "/draw"]
SIXTEEN = "0123456789012345"
# What a person sees, measured: the page's width against the window's, each image's shown shape against its
# pixels', each nav link's height against its line's, and the Number box's text against the box.
MEASURE = """() => {
  const line = (a) => parseFloat(getComputedStyle(a).lineHeight);
  const text = document.getElementById("text");
  if (text) text.value = "SIXTEEN";
  return {
    scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
    images: [...document.images].map((i) => ({alt: i.alt, w: i.getBoundingClientRect().width,
      h: i.getBoundingClientRect().height, nw: i.naturalWidth, nh: i.naturalHeight})),
    nav: [...document.querySelectorAll("nav a")].map((a) => a.getBoundingClientRect().height / line(a)),
    text: text ? [text.scrollWidth, text.clientWidth] : null,
  };
}""".replace("SIXTEEN", SIXTEEN)


def problems(page) -> list[str]:
    """Everything on the shown page that a person would see as broken, in words."""
    page.wait_for_function("[...document.images].every(i => i.complete)")
    seen = page.evaluate(MEASURE)
    found = []
    if seen["scroll"] > seen["client"]:
        found.append(f"scrolls sideways: {seen['scroll']} px in a {seen['client']} px window")
    for image in seen["images"]:
        assert image["nw"] and image["h"], f"an image did not load or is not shown: {image['alt']}"
        ratio = (image["w"] / image["h"]) / (image["nw"] / image["nh"])
        if abs(ratio - 1) > 0.01:
            found.append(f"{image['alt']}: shown {image['w']:.0f}x{image['h']:.0f} for {image['nw']}x{image['nh']} "
                         f"pixels, {ratio:.2f} of its width")
    found += [f"a nav link takes {lines:.1f} lines" for lines in seen["nav"] if lines > 1.5]
    if seen["text"] and seen["text"][0] > seen["text"][1]:
        found.append(f"16 digits need {seen['text'][0]} px in a {seen['text'][1]} px Number box")
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_window_and_keeps_every_image_in_shape(browser, base_url, tmp_path, width):
    context = browser.new_context(viewport=WIDTHS[width])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    found = {}
    for route in PAGES:
        page.goto(base_url + route)
        found[route] = problems(page)
    upload = tmp_path / "one.png"  # /draw's answer: the pad left empty, a photo of a 1 chosen instead
    upload.write_bytes(encoded(stroke_picture()))
    page.goto(f"{base_url}/draw")
    page.set_input_files("#image", str(upload))
    page.select_option("#digit", "1")
    page.fill("#text", SIXTEEN)
    page.get_by_role("button", name="Write it in this hand").click()
    page.wait_for_selector(".rows")
    found["/draw (its answer)"] = problems(page)
    context.close()
    assert not {route: said for route, said in found.items() if said}
    errors = [error for error in errors if not error.startswith(base_url + REFUSED)]
    assert not errors, f"console errors (CSP violations?): {errors}"


def luminance(colour: str) -> float:
    """WCAG relative luminance of a computed ``rgb(r, g, b)``."""
    channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


COLOURS = """() => {
  const style = (selector) => getComputedStyle(document.querySelector(selector));
  return {paper: getComputedStyle(document.documentElement).backgroundColor, ink: style("h2").color,
          muted: style(".meta").color, link: style("#permalink").color, card: style(".controls").backgroundColor,
          label: style("label").color, select: style("select").backgroundColor, option: style("select").color,
          button: style("#new-samples").color, button_paper: style("#new-samples").backgroundColor};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_follows_the_system_colour_scheme_and_stays_readable(browser, base_url, scheme):
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    page.goto(f"{base_url}/?digit=7&seed=5&model=cvae")
    colours = page.evaluate(COLOURS)
    context.close()
    assert (luminance(colours["paper"]) < 0.05) == (scheme == "dark"), colours["paper"]
    for ink, paper in [("ink", "paper"), ("muted", "paper"), ("link", "paper"), ("label", "card"),
                       ("option", "select"), ("button", "button_paper")]:
        assert contrast(colours[ink], colours[paper]) >= 4.5, (ink, paper, colours)
