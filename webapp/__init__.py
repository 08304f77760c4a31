"""Flask web app serving class-conditional MNIST generators through onnxruntime (no torch).

    flask --app webapp run                       # development server
    make serve-prod                              # production: nginx in front of gunicorn (deploy/)

Configuration by environment (``FLASK_`` prefix) or ``create_app(overrides)``: ARTIFACTS_DIR
(folder of ``*.onnx`` generators), DEFAULT_MODEL, INTRA_OP_THREADS, MAX_QUERY_BYTES,
TRUSTED_HOSTS, PROXY_FIX (webapp/settings.py checks each one).
"""
from __future__ import annotations

import sys
from pathlib import Path

from flask import Flask

from digits.generators import ModelError, load_generators
from webapp import api, draw, errors, handwriting, pages, proxy, settings

APP_LOAD_ERROR = 4  # gunicorn's exit status for "app failed to load": the arbiter stops, no respawn loop


def create_app(overrides: dict | None = None) -> Flask:
    """Open and check every generator; a bad file or setting stops start-up with one line naming it."""
    app = Flask(__name__)
    try:
        settings.load(app, overrides)
        generators = load_generators(Path(app.config["ARTIFACTS_DIR"]), app.config["INTRA_OP_THREADS"])
        settings.check_default_model(app, list(generators))
    except (ModelError, settings.SettingError) as exc:
        print(f"webapp: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(APP_LOAD_ERROR) from None
    app.extensions["generators"] = generators
    app.wsgi_app = proxy.wrap(app.wsgi_app, app.config["PROXY_FIX"])

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(handwriting.bp)
    app.register_blueprint(draw.bp)
    errors.init_app(app)
    return app
