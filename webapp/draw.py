"""In your handwriting: one drawn digit -> its style (the model's encoder) -> any number written in that hand.

``POST /api/v1/style`` and the ``/draw`` page share one path. The upload is parsed in memory
(Werkzeug would spool a file over 500 KB to a temporary file) and is never stored or logged;
digits.drawn_digit turns it into an MNIST digit. Only models with an encoder can read a style.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from flask import Blueprint, current_app, jsonify, render_template, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.formparser import FormDataParser

from digits import handwriting
from digits.drawn_digit import MAX_BYTES, DrawingError, normalise
from digits.generators import OnnxGenerator
from webapp import errors, monitoring, params
from webapp.imaging import PAGE_SCALES, pngs_base64, strip_png
from webapp.writing import default_among, served_with

bp = Blueprint("draw", __name__)

UPLOAD_LIMIT = MAX_BYTES + 64 * 1024  # the image, the multipart envelope and a few short fields
VARIATION = 0.3  # rows after the first: the inferred style plus N(0, VARIATION^2 I) noise
DEFAULT_TEXT = "0123456789"
TOO_LARGE = "the upload is too large: send one image of up to 2 MB and a few short fields"
NO_IMAGE = "image is required: a PNG, JPEG or WebP file (up to 2 MB, 2048x2048) of one digit"
NOT_MULTIPART = "send the drawing as multipart/form-data: an image file and a few short fields"


class NotMultipart(UnsupportedMediaType):
    """An upload route reads multipart/form-data only: Werkzeug bounds no other form's parts or parsing time."""

    description = NOT_MULTIPART


# The upload's own refusals, by status: the message and the metrics reason.
REFUSALS = {413: (TOO_LARGE, "oversize_body"), 415: (NOT_MULTIPART, "not_multipart")}


@dataclass(frozen=True)
class Drawn:
    """What to write, in the hand of the uploaded digit."""

    digit: int
    text: str
    model: str
    count: int
    seed: int


@dataclass
class Written:
    """The normalised drawing, its reconstruction, and the rows: all images in [0, 1]."""

    input: np.ndarray
    reconstruction: np.ndarray
    rows: np.ndarray


def readers() -> dict[str, OnnxGenerator]:
    """The served models that can read a style from a drawing: an encoder beside their style interface."""
    return served_with("encoder")


def default_reader() -> str:
    return default_among(readers())


def in_memory(*_args, **_kwargs) -> BinaryIO:
    return io.BytesIO()


def discard_rest() -> None:
    """Read what is left of a body within the limit to its end, parsing none of it (2 MB: about a millisecond). A
    worker that answers with a body unread closes the connection while nginx may still be sending that body, which
    nginx then answers with a 502. A body over the limit (never sent on by nginx) is left unread."""
    if request.content_length is not None and request.content_length <= UPLOAD_LIMIT:
        while request.stream.read(64 * 1024):
            pass


def upload() -> tuple[MultiDict, bytes]:
    """The form fields and the image bytes. Refused before any of the body is parsed: one over UPLOAD_LIMIT (413,
    before it is read) or not multipart (415: Werkzeug bounds neither the parts nor the time of a url-encoded form,
    seconds of CPU for 2 MB of ``a&a&...``)."""
    request.max_content_length = UPLOAD_LIMIT
    stream = request.stream  # a body over the limit: 413 here, from Content-Length, before a byte is read
    if request.mimetype != "multipart/form-data":
        raise NotMultipart()
    parser = FormDataParser(in_memory, max_content_length=UPLOAD_LIMIT, max_form_parts=16)
    _, form, files = parser.parse(stream, request.mimetype, request.content_length, request.mimetype_params)
    image = params.single(files, "image")
    if image is None or not image.filename:
        raise params.InvalidParameter(NO_IMAGE)
    return form, image.stream.read()


def parse(form: MultiDict) -> Drawn:
    models = list(readers())
    if not models:
        raise params.InvalidParameter("none of the served models has a style encoder "
                                      "(<model>_encoder.onnx): run make export")
    digit = params.integer(form, "digit", 0, 9)
    text = params.number_text(form) if params.single(form, "text") else DEFAULT_TEXT
    return Drawn(digit, text, params.model_name(form, models, default_reader()),
                 params.integer(form, "count", 1, params.MAX_ROWS, default=params.PAGE_COUNT),
                 params.integer(form, "seed", 0, params.MAX_SEED, default=0))


def in_your_hand(drawn: Drawn, pixels: np.ndarray) -> Written:
    """The reconstruction is the drawn digit in exactly the inferred style; row 0 writes the number in
    that hand (handwriting.read_hand), the other rows vary it a little, from the seed."""
    generator = readers()[drawn.model]
    style = generator.encoder.styles(pixels[None], np.array([drawn.digit]))
    hand = handwriting.read_hand(style)
    varied = hand + VARIATION * handwriting.hands(drawn.seed, drawn.count - 1, style.shape[1])
    written = handwriting.write(generator.style, drawn.text, np.concatenate([hand, varied]))
    reconstruction = handwriting.write(generator.style, str(drawn.digit), style)[0, 0]
    return Written(pixels, reconstruction, handwriting.rows(written))


def read() -> tuple[Drawn, Written]:
    """The request's fields checked, then its image: InvalidParameter, DrawingError or a 413."""
    form, data = upload()
    drawn = parse(form)
    return drawn, in_your_hand(drawn, normalise(data))


def pngs(result: Written) -> dict[str, str | list[str]]:
    """The answer's images as base64 PNGs: the page shows the same ones the API returns."""
    input_png, reconstruction_png = pngs_base64(np.stack([result.input, result.reconstruction]))
    return {"input": input_png, "reconstruction": reconstruction_png, "images": pngs_base64(result.rows)}


@bp.post("/api/v1/style")
def style_json():
    drawn, result = read()
    return jsonify(digit=drawn.digit, text=drawn.text, model=drawn.model, seed=drawn.seed, count=drawn.count,
                   width=28 * len(drawn.text), height=28, format="png", **pngs(result))


def render_page(status: int = 200, **context):
    """The page: the canvas and upload form, which models can read a style and why the others cannot."""
    served = current_app.extensions["generators"]
    return render_template("draw.html", models=list(readers()),
                           selected_model=context.pop("selected_model", default_reader()),
                           without_encoder=[name for name in served if name not in readers()], **context), status


@bp.get("/draw")
def draw_page():
    return render_page()


@bp.post("/draw")
def draw_result():
    try:
        drawn, result = read()
    except (params.InvalidParameter, DrawingError) as exc:
        monitoring.count_refusal("bad_upload" if isinstance(exc, DrawingError) else "bad_parameter")
        return render_page(400, error=str(exc))
    downloads = {scale: base64.b64encode(strip_png(result.rows, axis=0, scale=scale)).decode("ascii")
                 for scale in (1, *PAGE_SCALES)}
    return render_page(drawn=drawn, selected_model=drawn.model, downloads=downloads, **pngs(result))


@bp.errorhandler(DrawingError)
def bad_drawing(exc: DrawingError):
    return errors.refuse(400, str(exc), "bad_upload")


@bp.errorhandler(RequestEntityTooLarge)
@bp.errorhandler(NotMultipart)
def refused_upload(exc: HTTPException):
    """JSON on the API, the drawing page with its form elsewhere; counted once either way."""
    discard_rest()
    message, reason = REFUSALS[exc.code]
    if errors.wants_json():
        return errors.refuse(exc.code, message, reason)
    monitoring.count_refusal(reason)
    return render_page(exc.code, error=message)
