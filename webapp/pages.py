"""The HTML page: a GET form, and the five samples of the chosen digit at a seeded URL."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from webapp import params
from webapp.imaging import pngs_base64

bp = Blueprint("pages", __name__)


def render(query: params.Query | None = None, images: list[str] | None = None,
           error: str | None = None, status: int = 200, digit: int | None = None):
    """The one template; the form stays usable next to results or an error."""
    generators = current_app.extensions["generators"]
    selected_model = query.model if query else request.args.get("model", current_app.config["DEFAULT_MODEL"])
    return render_template(
        "index.html", query=query, images=images, error=error,
        digit=query.digit if query else digit,
        models=list(generators.values()),
        selected_model=selected_model if selected_model in generators else current_app.config["DEFAULT_MODEL"],
    ), status


def preselected_digit() -> int | None:
    """The digit to preselect after an error, when the URL has a valid one."""
    try:
        return params.integer(request.args, "digit", 0, 9)
    except params.InvalidParameter:
        return None


@bp.get("/")
def index():
    if "digit" not in request.args:
        return render()
    generators = current_app.extensions["generators"]
    query = params.parse(request.args, list(generators), current_app.config["DEFAULT_MODEL"])
    if not request.args.get("seed"):
        # A fresh draw gets its own URL, so every result page can be bookmarked and reproduced.
        return redirect(url_for("pages.index", digit=query.digit, seed=query.seed, model=query.model))
    images = generators[query.model].generate(query.digit, query.count, query.seed)
    return render(query, pngs_base64(images))
