"""Every response: security headers, on-site redirects; every refusal: one log line and a clear 4xx.

Error messages come from this code, never from the request: a refused value is answered
with the allowed ones, so nothing the client sent is reflected back.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, SecurityError

from webapp import monitoring, pages
from webapp.params import InvalidParameter

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HOST_REFUSED = "this server does not answer to the host name in the request (see FLASK_TRUSTED_HOSTS)"
Reply = tuple[Response | str, int]


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def on_site(location: str) -> str:
    """Path and query only: a redirect can never name another host, whatever Host or path was sent."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/\\")  # "//x" and "/\x" would be read as another host
    return f"{path}?{parts.query}" if parts.query else path


def error_response(status: int, message: str) -> Reply:
    """JSON for the API; the page with its form, or a bare page when no link can be built (Host refused)."""
    if wants_json():
        return jsonify(error=message, status=status), status
    if request_ctx.url_adapter is None:
        return render_template("refused.html", error=message), status
    return pages.render_index(error=message, status=status, digit=pages.preselected_digit())


# The refusal reason (a metrics label) of each HTTP error the framework raises.
REASONS = {403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "oversize_body", 414: "oversize_query"}
# What nginx refuses for its size before any of it reaches a worker (deploy/nginx.conf.template), then hands to
# the app to answer and count: (status, message, metrics reason), by the internal path's last part.
NGINX_REFUSALS = {
    "request-line": (414, "the request line is longer than 8 KB", "oversize_request_line"),
    "headers": (400, "a header field is longer than 8 KB, or the headers are longer than 32 KB in all",
                "oversize_headers"),
}


def refuse(status: int, message: str, reason: str) -> Reply:
    """A client error: one log line (the path repr'd, so it stays one line), counted by reason, no traceback."""
    monitoring.count_refusal(reason)
    current_app.logger.warning("refused %d %s %r: %s", status, request.method, request.path[:200], message)
    return error_response(status, message)


def init_app(app: Flask) -> None:
    @app.before_request
    def limit_query() -> Reply | None:
        limit = app.config["MAX_QUERY_BYTES"]
        if len(request.query_string) > limit:
            return refuse(414, f"the query string is longer than {limit} bytes", "oversize_query")
        return None

    @app.get("/_refused/<kind>")
    @app.get("/api/v1/_refused/<kind>")
    def refused_by_nginx(kind: str) -> Reply:
        """Reached only from nginx, over its unix socket (no peer address): to anyone else it does not exist."""
        if request.remote_addr or kind not in NGINX_REFUSALS:
            raise NotFound()
        return refuse(*NGINX_REFUSALS[kind])

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(HEADERS)
        if response.location:
            response.location = on_site(response.location)
        return response

    @app.errorhandler(InvalidParameter)
    def invalid_parameter(exc: InvalidParameter) -> Reply:
        return refuse(400, str(exc), "bad_parameter")

    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError) -> Reply:
        return refuse(400, HOST_REFUSED, "bad_host")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if isinstance(exc, InternalServerError):
            return internal_error(exc)
        # The class's own text: an instance's description may quote the request.
        code = exc.code or 400
        response = app.make_response(refuse(code, type(exc).description or exc.name, REASONS.get(code, "bad_request")))
        if getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Reply:
        app.logger.exception("unhandled error on %r", request.path[:200])
        return error_response(500, "internal error: the request could not be completed")
