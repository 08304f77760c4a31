"""Security headers on every response, and errors as JSON (API) or a page (HTML): never a 500 page."""
from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError, RequestURITooLarge

from webapp import pages
from webapp.params import InvalidParameter

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_response(status: int, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=message, status=status), status
    return pages.render(error=message, status=status, digit=pages.preselected_digit())


def init_app(app: Flask) -> None:
    @app.before_request
    def limit_query() -> None:
        limit = app.config["MAX_QUERY_BYTES"]
        if len(request.query_string) > limit:
            raise RequestURITooLarge(f"the query string is longer than {limit} bytes")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.update(HEADERS)
        return response

    @app.errorhandler(InvalidParameter)
    def invalid_parameter(exc: InvalidParameter):
        return error_response(400, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if isinstance(exc, InternalServerError):
            return internal_error(exc)
        body, status = error_response(exc.code or 400, exc.description or exc.name)
        response = app.make_response((body, status))
        if getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return error_response(500, "internal error: the request could not be completed")
