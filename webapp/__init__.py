"""Flask web app serving class-conditional MNIST generators through onnxruntime (no torch).

    flask --app webapp run                       # development server
    make serve-prod                              # production: nginx in front of gunicorn (deploy/)

Configuration by environment (``FLASK_`` prefix) or ``create_app(overrides)``: ARTIFACTS_DIR
(folder of ``*.onnx`` generators), DEFAULT_MODEL, INTRA_OP_THREADS, MAX_QUERY_BYTES,
TRUSTED_HOSTS, PROXY_FIX (webapp/settings.py checks each one).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import Flask
from werkzeug import serving

from digits.generators import ModelError, load_generators
from webapp import api, draw, errors, imaging, monitoring, pages, proxy, settings, steering, writing

APP_LOAD_ERROR = 4  # gunicorn's exit status for "app failed to load": the arbiter stops, no respawn loop


class DevRequestHandler(serving.WSGIRequestHandler):
    """``flask run`` answers a request it cannot read (400, 414, 431, 505) itself, before the app sees it:
    here with the app's security headers and the status's standard words, never the request line."""

    default_request_version = "HTTP/1.0"  # an unreadable request line gets a status line and headers, not a bare body

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The message and explanation passed in quote the request: the status's own reason instead."""
        reason = self.responses.get(code, ("Error", ""))[0]
        body = f"{code} {reason}: the server could not read this request.\n".encode()
        self.send_response(code)
        for name, value in {**errors.HEADERS, "Connection": "close", "Content-Type": "text/plain; charset=utf-8",
                            "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def create_app(overrides: dict | None = None) -> Flask:
    """Open and check every generator; a bad file or setting stops start-up with one line naming it."""
    app = Flask(__name__)
    try:
        settings.load(app, overrides)
        generators = load_generators(Path(app.config["ARTIFACTS_DIR"]), app.config["INTRA_OP_THREADS"])
        settings.check_default_model(app, list(generators))
    except (ModelError, settings.SettingError) as exc:
        monitoring.LOAD_FAILURES.inc()
        print(f"webapp: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(APP_LOAD_ERROR) from None
    app.extensions["generators"] = generators
    app.wsgi_app = proxy.wrap(app.wsgi_app, app.config["PROXY_FIX"])
    app.jinja_env.globals["download_scales"] = imaging.PAGE_SCALES

    monitoring.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(writing.bp)
    app.register_blueprint(draw.bp)
    app.register_blueprint(steering.bp)
    errors.init_app(app)
    if os.environ.get("FLASK_RUN_FROM_CLI") == "true":  # set by the flask command, which calls run_simple next
        serving.WSGIRequestHandler = DevRequestHandler  # run_simple offers no other way to choose it
    return app
