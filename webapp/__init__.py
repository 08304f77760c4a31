"""Flask web app serving class-conditional MNIST generators through onnxruntime (no torch).

    flask --app webapp run                       # development server
    gunicorn -w 2 'webapp:create_app()'          # production (each worker opens its own sessions)

Configuration by environment (``FLASK_`` prefix) or ``create_app(overrides)``:
ARTIFACTS_DIR (folder of ``*.onnx`` generators), DEFAULT_MODEL, INTRA_OP_THREADS,
MAX_QUERY_BYTES.
"""
from __future__ import annotations

import sys
from pathlib import Path

from flask import Flask

from webapp import api, errors, pages
from digits.generators import ModelError, load_generators

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
APP_LOAD_ERROR = 4  # gunicorn's exit status for "app failed to load": the arbiter stops, no respawn loop


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(ARTIFACTS_DIR=str(ARTIFACTS), DEFAULT_MODEL="cvae", INTRA_OP_THREADS=1,
                      MAX_QUERY_BYTES=1024)
    app.config.from_prefixed_env()
    app.config.update(overrides or {})

    try:
        for key in ("INTRA_OP_THREADS", "MAX_QUERY_BYTES"):
            if not isinstance(app.config[key], int) or app.config[key] < 1:
                raise ValueError(f"FLASK_{key}={app.config[key]!r} must be a positive integer")
        generators = load_generators(Path(app.config["ARTIFACTS_DIR"]), app.config["INTRA_OP_THREADS"])
    except (ModelError, ValueError) as exc:
        print(f"webapp: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(APP_LOAD_ERROR) from None
    app.extensions["generators"] = generators
    default = app.config["DEFAULT_MODEL"]
    app.config["DEFAULT_MODEL"] = default if default in generators else next(iter(generators))

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    errors.init_app(app)
    return app
