"""Where the app sits: what it believes about its own address comes from the operator, not the client.

A WSGI server may take ``SCRIPT_NAME`` from a request header (gunicorn does, for peers in
``forwarded_allow_ips``), and URLs built under it would then point wherever the client wished.
So the app always starts from the whole path at the root; a mount prefix, the client's
address and scheme come only from ``X-Forwarded-*``, and only when the operator sets
``FLASK_PROXY_FIX`` to the number of proxies in front that set them. Even then a proxy may pass
on the client's own ``X-Forwarded-Prefix``, and every link on the page starts with it: only a
plain path is kept.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from werkzeug.middleware.proxy_fix import ProxyFix

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
# One or more "/segment" of RFC 3986's unreserved characters, none of them "." or "..", and at most a
# trailing "/": never "//host", a backslash, a scheme, a space or a %-escape a browser would decode.
PREFIX = re.compile(r"(/(?!\.\.?(/|\Z))[A-Za-z0-9._~-]+)+/?", re.ASCII)


class RootPath:
    """Fold any server-set ``SCRIPT_NAME`` back into ``PATH_INFO``: the request is routed as it was sent."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        environ["PATH_INFO"] = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        environ["SCRIPT_NAME"] = ""
        return self.app(environ, start_response)


class PlainPrefix:
    """Drop a forwarded mount prefix (``SCRIPT_NAME``, set by ProxyFix) that is not a plain on-site path."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not PREFIX.fullmatch(environ.get("SCRIPT_NAME", "")):
            environ["SCRIPT_NAME"] = ""
        return self.app(environ, start_response)


def wrap(app: WSGIApp, proxies: int) -> WSGIApp:
    """The app behind ``proxies`` trusted proxies (0: none, every ``X-Forwarded-*`` header is ignored)."""
    if proxies:
        app = ProxyFix(PlainPrefix(app), x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies,
                       x_prefix=proxies)
    return RootPath(app)
