"""JSON API (``/api/v1``), the PNG strip behind the page's download link, and the health check."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from digits.generators import OnnxGenerator
from webapp import params
from webapp.imaging import attachment, pngs_base64, strip_png

bp = Blueprint("api", __name__)


def generators() -> dict[str, OnnxGenerator]:
    return current_app.extensions["generators"]


def requested_images():
    query = params.parse(request.args, list(generators()), current_app.config["DEFAULT_MODEL"], with_count=True)
    return query, generators()[query.model].sample(query.digit, query.count, query.seed)


@bp.get("/api/v1/generate")
def generate_json():
    query, images = requested_images()
    return jsonify(digit=query.digit, model=query.model, seed=query.seed, count=query.count,
                   width=28, height=28, format="png", images=pngs_base64(images))


@bp.get("/api/v1/generate.png")
def generate_png():
    scale = params.scale(request.args)
    query, images = requested_images()
    return attachment(strip_png(images, scale=scale), "image/png",
                      f"digit-{query.digit}-{query.model}-seed-{query.seed}", scale)


@bp.get("/api/v1/models")
def models():
    return jsonify(default=current_app.config["DEFAULT_MODEL"],
                   models=[g.describe() for g in generators().values()])


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok", models={name: "loaded" for name in generators()})
