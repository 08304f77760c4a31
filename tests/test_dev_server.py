"""``make serve`` (``flask run``): what Flask's development server answers by itself, before the app sees
the request, carries the app's security headers and never quotes the request."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.paths import ROOT
from tests.prod_helpers import server_process
from tests.webapp_helpers import free_port
from webapp.errors import HEADERS

pytestmark = pytest.mark.slow

FLASK = ROOT / ".venv-serve" / "bin" / "flask"


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory) -> Iterator[int]:
    """``make serve`` as the Makefile runs it, on a free port; its port."""
    assert FLASK.exists(), "the serve venv is missing: run `make test` (it builds .venv-serve)"
    port = free_port()
    command = [str(FLASK), "--app", "webapp", "run", "--host", "127.0.0.1", "--port", str(port)]
    with server_process(command, port, tmp_path_factory.mktemp("flask-run") / "stderr.log"):
        yield port


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, headers and body of the answer (the server closes after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    assert status.startswith("HTTP/1."), data[:200]
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status.split()[1]), headers, body


@pytest.mark.parametrize("request_bytes,status", [
    (b"GARBAGE<script>xq\r\n\r\n", 400),
    (b"GET /<script>xq HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /<script>xq HTTP/9.x\r\n\r\n", 400),
    (b"POST /<script>xq\r\n\r\n", 400),
    (b"GET /<script>xq HTTP/2.0\r\n\r\n", 505),
    (b"GET /<script>xq?" + b"a" * 70000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
    (b"GET /<script>xq HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n",
     431),
    (b"GET /<script>xq HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n", 431),
])
def test_the_servers_own_refusals_carry_the_headers_and_never_quote_the_request(dev_server, request_bytes, status):
    got, headers, body = exchange(dev_server, request_bytes)
    assert got == status
    for name, value in HEADERS.items():
        assert headers.get(name.lower()) == value, name
    assert b"xq" not in body and b"script" not in body, body


def test_the_app_still_answers_through_it(dev_server):
    got, headers, body = exchange(dev_server, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert got == 200 and b'"status":"ok"' in body.replace(b" ", b"")
    assert headers["content-security-policy"] == HEADERS["Content-Security-Policy"]
