"""One hand, many digits: the pages and API that write numbers and morph between digits.

Both go through the generators' style interface (``<model>_style.onnx``); a model without
one is refused with the list of models that have it.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

from digits import handwriting
from digits.generators import OnnxGenerator, Style
from webapp import params
from webapp.imaging import attachment, gif_bytes, pngs_base64, strip_png

bp = Blueprint("writing", __name__)


def served_with(part: str) -> dict[str, OnnxGenerator]:
    """The served models that have ``part`` (``style`` or ``encoder``) beside their generator."""
    return {name: g for name, g in current_app.extensions["generators"].items() if getattr(g, part) is not None}


def default_among(models: dict[str, OnnxGenerator]) -> str:
    """The configured default model where it is among ``models``, else the first of them."""
    default = current_app.config["DEFAULT_MODEL"]
    return default if default in models else next(iter(models), default)


def required(part: str, what: str) -> dict[str, OnnxGenerator]:
    """The served models with ``part``; none at all is a deployment without those files, refused naming them."""
    models = served_with(part)
    if not models:
        raise params.InvalidParameter(f"none of the served models has {what}: run make export")
    return models


def styled() -> dict[str, OnnxGenerator]:
    return required("style", "a style interface (<model>_style.onnx)")


def style_of(model: str) -> Style:
    return styled()[model].style


def default_model() -> str:
    return default_among(styled())


def number_query() -> params.Number:
    return params.parse_number(request.args, list(styled()), default_model())


def morph_query() -> params.Morph:
    return params.parse_morph(request.args, list(styled()), default_model())


def written_rows(query: params.Number):
    styles = handwriting.hands(query.seed, query.count, style_of(query.model).style_dim)
    return handwriting.rows(handwriting.write(style_of(query.model), query.text, styles))


def morph_frames(query: params.Morph):
    return handwriting.morph(style_of(query.model), query.digit, query.to_digit, query.seed, query.to_seed,
                             query.frames)


def render_page(template: str, status: int = 200, **context):
    """A page whose form stays usable next to results or an error."""
    return render_template(template, models=list(styled()), selected_model=context.pop("model", default_model()),
                           **context), status


@bp.get("/write")
def write_page():
    if "text" not in request.args:
        return render_page("write.html")
    try:
        query = number_query()
    except params.InvalidParameter as exc:
        return render_page("write.html", 400, error=str(exc))
    if not request.args.get("seed"):  # a fresh draw gets its own URL, so the rows can be bookmarked
        return redirect(url_for("writing.write_page", text=query.text, seed=query.seed, model=query.model,
                                count=query.count))
    return render_page("write.html", query=query, model=query.model, rows=pngs_base64(written_rows(query)))


@bp.get("/morph")
def morph_page():
    if "digit" not in request.args:
        return render_page("morph.html")
    try:
        query = morph_query()
    except params.InvalidParameter as exc:
        return render_page("morph.html", 400, error=str(exc))
    if not request.args.get("seed") or not request.args.get("to_seed"):
        return redirect(url_for("writing.morph_page", digit=query.digit, to_digit=query.to_digit,
                                seed=query.seed, to_seed=query.to_seed, frames=query.frames, model=query.model))
    return render_page("morph.html", query=query, model=query.model, frames=pngs_base64(morph_frames(query)))


@bp.get("/api/v1/number")
def number_json():
    query = number_query()
    return jsonify(text=query.text, model=query.model, seed=query.seed, count=query.count,
                   width=28 * len(query.text), height=28, format="png", images=pngs_base64(written_rows(query)))


@bp.get("/api/v1/number.png")
def number_png():
    scale = params.scale(request.args)
    query = number_query()
    return attachment(strip_png(written_rows(query), axis=0, scale=scale), "image/png",
                      f"number-{query.text}-{query.model}-seed-{query.seed}", scale)


@bp.get("/api/v1/morph")
def morph_json():
    query = morph_query()
    return jsonify(digit=query.digit, to_digit=query.to_digit, seed=query.seed, to_seed=query.to_seed,
                   frames=query.frames, model=query.model, width=28, height=28, format="png",
                   images=pngs_base64(morph_frames(query)))


@bp.get("/api/v1/morph.gif")
def morph_gif():
    scale = params.scale(request.args)
    query = morph_query()
    name = f"morph-{query.digit}-to-{query.to_digit}-{query.model}-seed-{query.seed}-{query.to_seed}"
    return attachment(gif_bytes(morph_frames(query), scale), "image/gif", name, scale)

