"""The HTML page: a GET form, and the five samples of the chosen digit at a seeded URL, from one
model or (``compare=1``) from every model side by side."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from webapp import params
from webapp.imaging import pngs_base64

bp = Blueprint("pages", __name__)


def render_index(query: params.Query | None = None, samples: dict[str, list[str]] | None = None,
           error: str | None = None, status: int = 200, digit: int | None = None, compare: bool = False):
    """The one template; the form stays usable next to results or an error. ``samples``: model -> PNGs."""
    generators = current_app.extensions["generators"]
    selected_model = query.model if query else request.args.get("model", current_app.config["DEFAULT_MODEL"])
    return render_template(
        "index.html", query=query, samples=samples, compare=compare, error=error,
        digit=query.digit if query else digit,
        models=list(generators),
        selected_model=selected_model if selected_model in generators else current_app.config["DEFAULT_MODEL"],
    ), status


def preselected_digit() -> int | None:
    """The digit to preselect after an error, when the URL has a valid one."""
    try:
        return params.integer(request.args, "digit", 0, 9)
    except params.InvalidParameter:
        return None


def compare_flag() -> bool:
    """``compare=1`` or nothing: one spelling, so every comparison has one URL."""
    raw = params.single(request.args, "compare")
    if raw is None or raw == "":
        return False
    if raw != "1":
        raise params.InvalidParameter("compare must be 1 (every model side by side) or left out")
    return True


@bp.get("/favicon.ico")
def favicon():
    """Browsers and crawlers ask for it at the root whatever a page links: the static file, cached like one."""
    return current_app.send_static_file("favicon.ico")


@bp.get("/")
def index():
    if "digit" not in request.args:
        return render_index()
    generators = current_app.extensions["generators"]
    query = params.parse(request.args, list(generators), current_app.config["DEFAULT_MODEL"])
    compare = compare_flag()
    if not request.args.get("seed"):
        # A fresh draw gets its own URL, so every result page can be bookmarked and reproduced.
        return redirect(url_for("pages.index", digit=query.digit, seed=query.seed, model=query.model,
                                compare=1 if compare else None))
    names = list(generators) if compare else [query.model]
    samples = {name: pngs_base64(generators[name].sample(query.digit, query.count, query.seed)) for name in names}
    return render_index(query, samples, compare=compare)
