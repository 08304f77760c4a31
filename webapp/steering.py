"""Steer the hand: one number written in one hand, moved along slant, stroke weight and width.

The directions come from each model's ``<model>_steer.json`` (digits/steer.py); a model without
one is refused with the list of models that have it.
"""
from __future__ import annotations

import numpy as np
from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from digits import handwriting
from digits.attributes import NAMES
from digits.generators import OnnxGenerator
from digits.steer import LIMIT, steered
from webapp import params
from webapp.imaging import attachment, pngs_base64, strip_png
from webapp.writing import default_among, required

bp = Blueprint("steering", __name__)


def steerable() -> dict[str, OnnxGenerator]:
    return required("steer", "steering directions (<model>_steer.json)")


def steer_query() -> params.Steered:
    models = steerable()
    return params.parse_steer(request.args, list(models), default_among(models), NAMES)


def steered_row(query: params.Steered) -> np.ndarray:
    """[1, 28, 28 * len(text)]: the text in the hand of the seed, moved by the controls."""
    generator = steerable()[query.model]
    hand = handwriting.hands(query.seed, 1, generator.style.style_dim)
    styles = steered(hand, generator.steer.directions, np.array(query.controls))
    return handwriting.rows(handwriting.write(generator.style, query.text, styles))


def settings(query: params.Steered) -> dict[str, str | int]:
    """Everything that makes the row, as its address spells it."""
    return {"text": query.text, "seed": query.seed, "model": query.model,
            **dict(zip(NAMES, (f"{c:g}" for c in query.controls), strict=True))}


def links(query: params.Steered) -> dict[str, str]:
    """The row's own address, its PNG, and the same settings in a new hand."""
    row = settings(query)
    return {"permalink": url_for("steering.steer_page", **row), "download": url_for("steering.steer_png", **row),
            "new_hand": url_for("steering.steer_page", **{k: v for k, v in row.items() if k != "seed"})}


def render_page(status: int = 200, **context):
    models, query = steerable(), context.get("query")
    return render_template("steer.html", models=list(models), controls=NAMES, limit=LIMIT,
                           selected_model=query.model if query else default_among(models), **context), status


@bp.get("/steer")
def steer_page():
    if "text" not in request.args:  # the blank form, as on every other page
        return render_page()
    try:
        query = steer_query()
    except params.InvalidParameter as exc:
        return render_page(400, error=str(exc))
    if not request.args.get("seed"):  # a new hand gets its own address, so it can be kept
        return redirect(links(query)["permalink"])
    return render_page(query=query, row=pngs_base64(steered_row(query))[0], settings=settings(query), **links(query))


@bp.get("/api/v1/steer")
def steer_json():
    query = steer_query()
    return jsonify(text=query.text, model=query.model, seed=query.seed, count=1,
                   controls=dict(zip(NAMES, query.controls, strict=True)), width=28 * len(query.text), height=28,
                   format="png", images=pngs_base64(steered_row(query)), **links(query))


@bp.get("/api/v1/steer.png")
def steer_png():
    scale = params.scale(request.args)
    query = steer_query()
    settings = "-".join(f"{name}{c:g}" for name, c in zip(NAMES, query.controls, strict=True))
    return attachment(strip_png(steered_row(query), axis=0, scale=scale), "image/png",
                      f"steer-{query.text}-{query.model}-seed-{query.seed}-{settings}", scale)
