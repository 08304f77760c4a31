"""Prometheus metrics for operators: ``GET /metrics``, served to FLASK_METRICS_ALLOW addresses only.

Under ``make serve-prod`` every gunicorn worker writes its numbers to files in
PROMETHEUS_MULTIPROC_DIR (a folder of the instance's private run folder) and a scrape of any
worker adds up all of them; without it (``make serve``, one process) the process's own registry
answers. Labels only ever take the route's template, the status code, a model's name or a fixed
reason: nothing a client writes can make a new time series.
"""
from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Sequence

import numpy as np
from flask import Blueprint, Flask, Response, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import Forbidden

from digits.generators import OnnxGenerator

bp = Blueprint("monitoring", __name__)

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
REQUESTS = Counter("digits_requests_total", "Requests answered, by route template and status code",
                   ["route", "status"])
LATENCY = Histogram("digits_request_seconds", "Time from request to response, by route template", ["route"],
                    buckets=LATENCY_BUCKETS)
ONNX_SECONDS = Histogram("digits_onnxruntime_seconds", "Time spent in onnxruntime, by model and graph",
                         ["model", "graph"], buckets=LATENCY_BUCKETS)
IMAGES = Counter("digits_images_total", "Images generated, by model and route template", ["model", "route"])
REFUSED = Counter("digits_refused_total", "Requests refused with a 4xx, by reason", ["reason"])
LOAD_FAILURES = Counter("digits_model_load_failures_total", "Start-ups stopped by a model file or setting")
UNMATCHED = "(unmatched)"  # the route label of a request that matched no route: never its path


class MetricsForbidden(Forbidden):
    description = "metrics are served to the addresses in FLASK_METRICS_ALLOW only (default: this machine)"


def route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


class TimedSession:
    """An onnxruntime session that reports its time, and the images it makes during a request."""

    def __init__(self, session, model: str, graph: str) -> None:
        self.session, self.model, self.graph = session, model, graph

    def run(self, outputs: Sequence[str] | None, feed: dict[str, np.ndarray], *args):
        start = time.perf_counter()
        result = self.session.run(outputs, feed, *args)
        ONNX_SECONDS.labels(self.model, self.graph).observe(time.perf_counter() - start)
        if self.graph != "encoder" and has_request_context():
            IMAGES.labels(self.model, route()).inc(len(result[0]))
        return result

    def __getattr__(self, name: str):
        return getattr(self.session, name)


def time_sessions(generators: dict[str, OnnxGenerator]) -> None:
    for generator in generators.values():
        generator.session = TimedSession(generator.session, generator.name, "generator")
        for graph in ("style", "encoder"):
            part = getattr(generator, graph)
            if part is not None:
                part.session = TimedSession(part.session, generator.name, graph)


def allowed(remote: str | None) -> bool:
    """A unix-socket peer (empty address) is nginx, which applies the same list itself."""
    if not remote:
        return True
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in current_app.config["METRICS_ALLOW"])


@bp.get("/metrics")
def scrape() -> Response:
    if not allowed(request.remote_addr):
        raise MetricsForbidden()
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)  # it names its charset already


def count_refusal(reason: str) -> None:
    if current_app.config["METRICS"]:
        REFUSED.labels(reason).inc()


def init_app(app: Flask) -> None:
    """Registered before every other hook: a request refused by one of them is still counted and timed.
    FLASK_METRICS=0 leaves all of it out (no /metrics route): what `make bench` compares against."""
    if not app.config["METRICS"]:
        return
    time_sessions(app.extensions["generators"])
    app.register_blueprint(bp)

    @app.before_request
    def start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        REQUESTS.labels(route(), str(response.status_code)).inc()
        LATENCY.labels(route()).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response
