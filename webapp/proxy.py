"""Where the app sits: what it believes about its own address comes from the operator, not the client.

A WSGI server may take ``SCRIPT_NAME`` from a request header (gunicorn does, for peers in
``forwarded_allow_ips``), and URLs built under it would then point wherever the client wished.
So the app always starts from the whole path at the root; a mount prefix, the client's
address and scheme come only from ``X-Forwarded-*``, and only when the operator sets
``FLASK_PROXY_FIX`` to the number of proxies in front that set them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from werkzeug.middleware.proxy_fix import ProxyFix

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class RootPath:
    """Fold any server-set ``SCRIPT_NAME`` back into ``PATH_INFO``: the request is routed as it was sent."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        environ["PATH_INFO"] = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        environ["SCRIPT_NAME"] = ""
        return self.app(environ, start_response)


def wrap(app: WSGIApp, proxies: int) -> WSGIApp:
    """The app behind ``proxies`` trusted proxies (0: none, every ``X-Forwarded-*`` header is ignored)."""
    if proxies:
        app = ProxyFix(app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies, x_prefix=proxies)
    return RootPath(app)
