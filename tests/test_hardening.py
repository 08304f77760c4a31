"""Production serving under attack: slow clients, hostile headers, loose numbers, bad configuration.

The app is tried through Flask's test client and, with fewer cases, through ``make serve-prod``
itself (nginx in front of gunicorn) on loopback.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.serve import NGINX_ERROR
from tests.drawing_helpers import encoded, stroke_picture
from tests.paths import ROOT, SERVE_PYTHON
from tests.prod_helpers import (
    ask,
    end_session,
    masters,
    nginx_folder,
    parent,
    parse_head,
    read_until_closed,
    running,
    secured,
    serve_env,
    serving_prod,
    session_processes,
    start_serve_prod,
    stop_group,
)
from tests.webapp_helpers import free_port, multipart, wait_for
from webapp import create_app
from webapp.draw import UPLOAD_LIMIT
from webapp.errors import HEADERS

ARTIFACT = ROOT / "artifacts" / "cvae_decoder.onnx"
ROUTES = ["/", "/?digit=7", "/?digit=7&seed=1", "/api/v1/generate?digit=3", "/api/v1/generate.png?digit=3",
          "/api/v1/models", "/api//v1/models", "/healthz", "/static/style.css", "/static//style.css",
          "//evil.example/?digit=7", "/no/such/page"]
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
HOSTS = st.one_of(
    st.sampled_from(["a..b", ".", "evil.example", "x" * 64 + ".example", "localhost", "127.0.0.1", "[::1]",
                     "localhost:99999", "localhost:0", "localhost.", "LOCALHOST", "évil.example", "a b",
                     "evil.example@localhost", "localhost/evil", "//evil.example", "-", ""]),
    st.text(LATIN1, max_size=80))
PATHS = st.sampled_from(["/", "//evil.example", "/\\evil.example", "http://evil.example", "/api", "/x/../.."])


@st.composite
def hostile_headers(draw, max_pad: int = 150, max_big: int = 20000) -> dict[str, str]:
    """A Host value and any of SCRIPT_NAME, X-Forwarded-*, many headers, one huge header."""
    headers = {"Host": draw(HOSTS)}
    optional = {"SCRIPT_NAME": PATHS, "X-Forwarded-Host": HOSTS, "X-Forwarded-Prefix": PATHS,
                "X-Forwarded-Proto": st.sampled_from(["https", "gopher", "javascript", ""]),
                "X-Forwarded-For": st.text(LATIN1, max_size=40), "X-Forwarded-Port": st.text(LATIN1, max_size=8)}
    for name, values in optional.items():
        if draw(st.booleans()):
            headers[name] = draw(values)
    for i in range(draw(st.integers(0, max_pad))):
        headers[f"X-Pad-{i}"] = "p"
    if draw(st.booleans()):
        headers["X-Big"] = "b" * draw(st.integers(1, max_big))
    return headers


def assert_safe(status: int, headers: dict[str, str]) -> None:
    """Never a 5xx; the security headers, once each; a Location only ever to a path on this site."""
    assert status < 500, status
    for name, value in HEADERS.items():
        assert headers.get(name.lower()) == value, (status, name, headers.get(name.lower()))
    location = headers.get("location")
    if location is not None:
        parts = urlsplit(location)
        assert not parts.scheme and not parts.netloc, location
        assert location.startswith("/") and location[1:2] not in ("/", "\\"), location


# --- the app alone (Flask's test client) -----------------------------------------------------------

def fetch(client, route: str, headers: dict[str, str], script_name: str = ""):
    """``route`` as sent on the wire (``//x`` stays a path), as if the server had set SCRIPT_NAME."""
    path, _, query = route.partition("?")
    response = client.get("/", query_string=query, headers=headers,
                          environ_overrides={"PATH_INFO": path, "SCRIPT_NAME": script_name})
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), headers=hostile_headers(), script_name=st.one_of(st.just(""), PATHS),
       proxied=st.booleans())
@pytest.mark.slow
def test_hostile_headers_never_5xx_nor_off_site_redirects(client, proxied_client, route, headers, script_name,
                                                          proxied):
    assert_safe(*fetch(proxied_client if proxied else client, route, headers, script_name))


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example", ".", "evil.example"])
def test_bad_host_is_a_400_with_one_log_line(client, caplog, host):
    for route in ("/", "/api/v1/models"):
        caplog.clear()
        status, headers = fetch(client, route, {"Host": host})
        assert status == 400
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "refused 400" in caplog.records[0].getMessage() and not caplog.records[0].exc_info
        assert_safe(status, headers)


def test_script_name_and_host_never_make_the_redirect(client):
    # GET //evil.example/?digit=7 with "SCRIPT_NAME: //evil.example", split as gunicorn did: routed whole.
    status, headers = fetch(client, "/?digit=7", {"Host": "localhost"}, script_name="//evil.example")
    assert status == 404 and "location" not in headers
    status, headers = fetch(client, "/api//v1/models", {"Host": "localhost:8000"})
    assert (status, headers["location"]) == (308, "/api/v1/models")
    status, headers = fetch(client, "/?digit=7", {"Host": "127.0.0.1:8000"})
    assert status == 302 and headers["location"].startswith("/?digit=7&seed=")


def test_operator_trusted_hosts_and_proxy(proxied_client):
    app = create_app({"TRUSTED_HOSTS": "digits.example, www.digits.example"})
    assert fetch(app.test_client(), "/healthz", {"Host": "www.digits.example:8443"})[0] == 200
    assert fetch(app.test_client(), "/healthz", {"Host": "evil.digits.example"})[0] == 400
    forwarded = {"Host": "localhost", "X-Forwarded-Host": "evil.example"}
    assert fetch(proxied_client, "/healthz", forwarded)[0] == 400  # the forwarded host is checked too
    status, headers = fetch(proxied_client, "/?digit=7", {"Host": "localhost", "X-Forwarded-Prefix": "/digits"})
    assert status == 302 and headers["location"].startswith("/digits/?digit=7&seed=")


@pytest.mark.parametrize("query", ["digit=1&model=<script>alert(1)</script>", "digit=<b>x</b>",
                                   "digit=1&seed=<i>9</i>", "digit=1%3Cu%3E", "digit=1&model=..%2Fetc"])
def test_messages_name_the_allowed_values_never_the_input(client, query):
    for route in ("/api/v1/generate", "/"):
        response = client.get(f"{route}?{query}")
        body = response.get_data(as_text=True)
        assert response.status_code == 400
        assert not re.search(r"<script|script&gt;|alert\(|<b>|&lt;b|<i>|&lt;i|<u>|&lt;u|etc", body), body[-400:]
        assert re.search(r"must be one of cgan, cvae|must be an integer from \d+ to \d+", body)


def test_the_apps_answers_to_nginx_refusals_exist_for_nginx_alone(client):
    """Reached over nginx's unix socket (no peer address) they answer the refusal; from any address, a 404."""
    for path in ("/_refused/headers", "/api/v1/_refused/request-line"):
        assert client.get(path).status_code == 404
        answer = client.get(path, environ_base={"REMOTE_ADDR": ""})
        assert answer.status_code in (400, 414) and "KB" in answer.get_data(as_text=True)
    assert client.get("/_refused/other", environ_base={"REMOTE_ADDR": ""}).status_code == 404


# --- number parsing ------------------------------------------------------------------------------------

ACCEPTED = [("digit", "0", 0), ("digit", "9", 9), ("seed", "0", 0), ("seed", "4294967295", 4294967295),
            ("count", "64", 64), ("count", "1", 1)]
REJECTED = ["%C2%A03", "%E2%80%833", "%1C3%1F", "%093", "3%0A", "%2B5", "-0", "0003", "03", "%D9%A3", "%EF%BC%93",
            "3%20", "%203", "0x3", "3.0", "1e0", "%00", "3%00"]


@pytest.mark.parametrize("name,text,value", ACCEPTED)
def test_numbers_in_plain_ascii_digits_are_accepted(client, name, text, value):
    base = "" if name == "digit" else "digit=1&"
    assert client.get(f"/api/v1/generate?{base}{name}={text}").get_json()[name] == value


@pytest.mark.parametrize("name", ["digit", "seed", "count"])
@pytest.mark.parametrize("text", REJECTED)
def test_numbers_in_any_other_form_are_refused(client, name, text):
    base = "" if name == "digit" else "digit=1&"
    response = client.get(f"/api/v1/generate?{base}{name}={text}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith(f"{name} must be an integer from ") and "no sign, spaces or leading zeros" in error


# --- start-up refuses bad configuration ------------------------------------------------------------

def with_latent_dim(folder: Path, value: str) -> Path:
    model = onnx.load(str(ARTIFACT))
    for prop in model.metadata_props:
        if prop.key == "latent_dim":
            prop.value = value
    folder.mkdir()
    onnx.save(model, str(folder / "cvae_decoder.onnx"))
    return folder


def with_fifo(folder: Path) -> Path:
    folder.mkdir()
    (folder / "cvae_decoder.onnx").write_bytes(ARTIFACT.read_bytes())
    os.mkfifo(folder / "a.onnx")  # sorts first: opening it would block start-up for ever
    return folder


FAULTS = {  # name -> (environment, the text the one line must hold)
    "fifo": (lambda tmp: {"FLASK_ARTIFACTS_DIR": str(with_fifo(tmp / "f"))}, "a.onnx: not a regular file"),
    "arabic-indic": (lambda tmp: {"FLASK_ARTIFACTS_DIR": str(with_latent_dim(tmp / "a", "١٧"))},
                     "cvae_decoder.onnx: metadata latent_dim='١٧' is not a positive integer in ASCII digits"),
    "superscript": (lambda tmp: {"FLASK_ARTIFACTS_DIR": str(with_latent_dim(tmp / "s", "²"))},
                    "cvae_decoder.onnx: metadata latent_dim='²'"),
    "default-model": (lambda tmp: {"FLASK_DEFAULT_MODEL": "nope"}, "FLASK_DEFAULT_MODEL='nope' is not one of"),
    "threads": (lambda tmp: {"FLASK_INTRA_OP_THREADS": "true"}, "FLASK_INTRA_OP_THREADS must be a whole number"),
}


@pytest.mark.nginx  # python -m deploy.serve: it needs nginx installed before it checks the app
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_serve_prod_refuses_bad_configuration_with_one_line(tmp_path, fault):
    make_env, expected = FAULTS[fault]
    process = subprocess.Popen([str(SERVE_PYTHON), "-m", "deploy.serve", "--port", str(free_port())], cwd=ROOT,
                               env=serve_env(**make_env(tmp_path)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=20)  # a few seconds here; a FIFO used to hang for ever
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"{fault}: start-up neither served nor refused within 20 s")
    assert process.returncode != 0
    lines = [ln for ln in stderr.splitlines() if ln.startswith("webapp: cannot start:")]
    assert len(lines) == 1 and expected in lines[0], stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("overrides,setting", [
    ({"MAX_QUERY_BYTES": True}, "FLASK_MAX_QUERY_BYTES"), ({"MAX_QUERY_BYTES": "1024"}, "FLASK_MAX_QUERY_BYTES"),
    ({"INTRA_OP_THREADS": 1.5}, "FLASK_INTRA_OP_THREADS"), ({"INTRA_OP_THREADS": 0}, "FLASK_INTRA_OP_THREADS"),
    ({"PROXY_FIX": "yes"}, "FLASK_PROXY_FIX"), ({"PROXY_FIX": -1}, "FLASK_PROXY_FIX"),
    ({"TRUSTED_HOSTS": ".example.com"}, "FLASK_TRUSTED_HOSTS"), ({"TRUSTED_HOSTS": "[::1]"}, "FLASK_TRUSTED_HOSTS"),
    ({"TRUSTED_HOSTS": "a..b"}, "FLASK_TRUSTED_HOSTS"), ({"TRUSTED_HOSTS": 5}, "FLASK_TRUSTED_HOSTS"),
    ({"ARTIFACTS_DIR": "/dev/null/"}, "FLASK_ARTIFACTS_DIR"),
    ({"METRICS": 2}, "FLASK_METRICS"), ({"METRICS": True}, "FLASK_METRICS"), ({"METRICS": "off"}, "FLASK_METRICS"),
])
def test_each_bad_setting_stops_start_up_with_one_line(capsys, overrides, setting):
    with pytest.raises(SystemExit) as stopped:
        create_app(overrides)
    lines = capsys.readouterr().err.splitlines()
    assert stopped.value.code != 0 and len(lines) == 1 and setting in lines[0], lines


def test_a_device_named_onnx_is_refused_never_read(tmp_path, capsys):
    (tmp_path / "null.onnx").symlink_to("/dev/zero")
    with pytest.raises(SystemExit):
        create_app({"ARTIFACTS_DIR": str(tmp_path)})
    assert "null.onnx: not a regular file" in capsys.readouterr().err


def test_a_setting_from_the_environment_is_parsed_strictly(monkeypatch, capsys):
    monkeypatch.setenv("FLASK_MAX_QUERY_BYTES", "true")  # Flask reads it as JSON: the bool True, an int subclass
    with pytest.raises(SystemExit):
        create_app()
    assert "FLASK_MAX_QUERY_BYTES must be a whole number" in capsys.readouterr().err


# --- the production path: make serve-prod (nginx in front of gunicorn) ----------------------------------

@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    with serving_prod(tmp_path_factory.mktemp("serve-prod")) as instance:
        yield instance


def raw_answer(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library fixing them up); the status, headers and body that come back."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        try:
            sock.sendall(request)
        except OSError:  # refused before it was all sent: the answer is still there to read
            pass
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data[:200]!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status, headers = parse_head(head)
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed {length - len(body)} bytes before the end of the body"
            body += chunk
    return status, headers, body[:length]


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers only, of raw_answer."""
    return raw_answer(port, request)[:2]


def http_request(route: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {route} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


@pytest.mark.nginx
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), headers=hostile_headers(max_big=40000))
def test_hostile_headers_through_nginx(prod, route, headers):
    assert_safe(*raw_exchange(prod.port, http_request(route, headers)))


@pytest.mark.nginx
@pytest.mark.parametrize("request_bytes,status", [
    (http_request("/?x=" + "a" * 9000, {"Host": "localhost"}), 414),  # request line over nginx's 8 KB
    (http_request("/", {"Host": "localhost", "Cookie": "c" * 9000}), 400),  # one header over 8 KB
    (http_request("/", {"Host": "localhost", **{f"X-{i}": "v" * 6000 for i in range(6)}}), 400),  # 36 KB of headers
    (http_request("/healthz", {"Host": "localhost", **{f"X-{i}": "v" for i in range(150)}}), 200),  # gunicorn's 431
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n", 400),
    (b"POST /?digit=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, 413),
    (b"TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n", 405),
    (b"GET /api/v1/models HTTP/1.1\r\nHost: localhost\r\nExpect: odd\r\n\r\n", 200),
    (b"GET /_refused/headers HTTP/1.1\r\nHost: localhost\r\n\r\n", 404),  # nginx's internal paths to the app
    (b"GET /api/v1/_refused/request-line HTTP/1.1\r\nHost: localhost\r\n\r\n", 404),
    (b"GET /api//v1/%5Frefused/request-line HTTP/1.1\r\nHost: localhost\r\n\r\n", 404),
])
def test_refusals_by_nginx_and_gunicorn_carry_the_security_headers(prod, request_bytes, status):
    got, headers = raw_exchange(prod.port, request_bytes)
    assert got == status
    assert_safe(got, headers)


@pytest.mark.nginx
@pytest.mark.parametrize("request_bytes,status", [
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
    (b"GET / HTTP/3.0\r\nHost: localhost\r\n\r\n", 505),
])
def test_nginx_server_errors_are_the_configured_page(prod, request_bytes, status):
    got, headers, body = raw_answer(prod.port, request_bytes)
    assert (got, headers["content-type"]) == (status, "text/html; charset=utf-8")
    assert NGINX_ERROR in body.decode(), body[:300]
    assert secured(headers), headers


@pytest.mark.nginx
@pytest.mark.parametrize("line", [b"GET /\r\n", b"GET /healthz\r\n", b"GET /no/such/page\r\n", b"HEAD /\r\n",
                                  b"POST /api/v1/style\r\n"])
def test_http09_requests_are_closed_without_an_answer(prod, line):
    """HTTP/0.9 answers are bare bodies, no status line, no security headers: nothing is sent at all."""
    with socket.create_connection(("127.0.0.1", prod.port), timeout=15) as sock:
        sock.sendall(line)
        assert read_until_closed(sock) == b""


REPEATS = 5  # each size, to catch a refusal that depends on timing


def upload_request(route: str, size: int, chunked: bool = False) -> bytes:
    """A drawing of a 1, its PNG padded with zero bytes (readers ignore them) to a body of ``size`` bytes."""
    image = encoded(stroke_picture())
    envelope = len(multipart({"digit": "1"}, image)[0])
    body, content_type = multipart({"digit": "1"}, image + b"\0" * (size - envelope))
    assert len(body) == size
    framing = f"Content-Length: {size}"
    if chunked:
        framing = "Transfer-Encoding: chunked"
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                        for i in range(0, size, 65536)) + b"0\r\n\r\n"
    return (f"POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
            f"{framing}\r\nConnection: close\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
def app_too_large(app) -> dict:
    """The app's own JSON for an upload over its limit (the test client reads the limit as written)."""
    response = app.test_client().post("/api/v1/style", data=b"x" * (UPLOAD_LIMIT + 1),
                           content_type="multipart/form-data; boundary=b")
    assert response.status_code == 413
    return response.get_json()


@pytest.mark.nginx
@pytest.mark.parametrize("route,size,chunked,status", [
    ("/api/v1/style", 1_500_000, False, 200), ("/draw", 1_500_000, False, 200),
    ("/api/v1/style", UPLOAD_LIMIT - 1, False, 400),  # the largest the app reads: an image over 2 MB
    ("/api/v1/style", UPLOAD_LIMIT - 1, True, 400),
    ("/api/v1/style", UPLOAD_LIMIT, False, 413),  # Werkzeug would refuse it under gunicorn: nginx does
    ("/api/v1/style", UPLOAD_LIMIT, True, 413), ("/api/v1/style", 2_500_000, False, 413),
    ("/api/v1/style", 3_000_000, False, 413), ("/api/v1/style", 3_500_000, True, 413),
    ("/draw", UPLOAD_LIMIT, False, 413), ("/draw", 3_000_000, True, 413),
])
def test_uploads_over_the_apps_limit_are_refused_by_nginx_alone(prod, app_too_large, route, size, chunked,
                                                                  status):
    """nginx refuses exactly what the app would (its own 413 on the API is the app's JSON, on /draw the page),
    every time, in one log line; the app refuses nothing for its size, so nothing is cut off mid-send."""
    before = len(prod.stderr())
    for _ in range(REPEATS):
        got, headers, body = raw_answer(prod.port, upload_request(route, size, chunked))
        assert got == status
        assert_safe(got, headers)
        if route == "/api/v1/style":
            assert headers["content-type"] == "application/json"
            if status == 413:
                assert json.loads(body) == app_too_large
        elif status == 413:
            assert headers["content-type"] == "text/html; charset=utf-8" and NGINX_ERROR in body.decode()
    time.sleep(0.5)  # log lines are written after the answer
    new = prod.stderr()[before:].splitlines()
    mine = [ln for ln in new if f"POST '{route}'" in ln or f'"POST {route} ' in ln]
    expected = {200: "", 400: "refused 400 POST", 413: "client intended to send too large"}[status]
    assert len(mine) == (REPEATS if expected else 0) and all(expected in ln for ln in mine), new
    assert not [ln for ln in new if "pipe" in ln.lower() or "reset" in ln.lower()], new


def many_parts() -> bytes:
    """An upload of 1.5 MB with 20 fields before its image: over the 16 parts the app reads, refused mid-body."""
    fields = "".join(f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n' for i in range(20))
    return multipart({}, b"\0" * 1_500_000)[0].replace(b"--b\r\n", fields.encode() + b"--b\r\n", 1)


@pytest.mark.nginx
@pytest.mark.parametrize("body,content_type,status", [
    (many_parts(), "multipart/form-data; boundary=b", 413),
    (b"a&" * 1_000_000, "application/x-www-form-urlencoded", 415),
])
def test_an_upload_refused_before_its_end_is_never_a_502(prod, body, content_type, status):
    """The app reads the rest of a refused body (unparsed) before it answers: gunicorn closed a connection with a
    body left unread while nginx was still sending it, and nginx answered about one such request in 150 with a 502."""
    # 50 from each of six addresses: within one address's burst of the rate limit, so every answer is the app's
    statuses = Counter(ask(prod.port, f"127.0.0.{10 + i // 50}", "POST", route, body, {"Content-Type": content_type})
                       for route in ("/api/v1/style", "/draw") for i in range(150))
    assert statuses == {status: 300}, statuses


@pytest.mark.nginx
def test_a_failed_app_during_an_upload_is_a_502_page_never_a_413(prod):
    """The error page's internal redirect must take any body: an upload's 502 was nginx's own 413. It is JSON on
    the API, as every nginx refusal there, and the page elsewhere."""
    folder = prod.folder()
    (folder / "heavy.sock").rename(folder / "moved.sock")  # the uploads' pool unreachable, as if it had died:
    master = masters(prod.session)["heavy"]  # and the connections nginx keeps open to it closed
    for worker in subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split():
        os.kill(int(worker), signal.SIGKILL)  # the master starts new ones, on the socket nginx cannot find
    try:
        for route, chunked in (("/api/v1/style", False), ("/api/v1/style", True), ("/draw", False)):
            got, headers, body = raw_answer(prod.port, upload_request(route, 1_500_000, chunked))
            assert got == 502 and secured(headers), headers
            if route == "/draw":
                assert headers["content-type"] == "text/html; charset=utf-8" and NGINX_ERROR in body.decode()
            else:
                assert json.loads(body) == {"error": NGINX_ERROR, "status": 502}
    finally:
        (folder / "moved.sock").rename(folder / "heavy.sock")
        wait_for(f"http://127.0.0.1:{prod.port}/write")  # a page of the heavy pool: its new workers serve


def request_line_of(size: int, path: str) -> bytes:
    """A GET whose request line (without its CRLF) is ``size`` bytes: ``path`` padded with a's."""
    start, end = f"GET {path}".encode(), b" HTTP/1.1"
    return start + b"a" * (size - len(start) - len(end)) + end + b"\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def with_headers(path: str, count: int, size: int) -> bytes:
    """A GET with ``count`` header fields of ``size`` bytes each, their CRLF included."""
    fields = "".join(f"X-{i:04}: {'v' * (size - 10)}\r\n" for i in range(count))
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{fields}Connection: close\r\n\r\n".encode()


def refused_count(port: int, reason: str) -> float:
    """digits_refused_total for ``reason``, scraped through nginx (this machine may read /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf'^digits_refused_total{{reason="{reason}"}} (\S+)$', text, re.MULTILINE)
    return float(found[1]) if found else 0.0


SIZED = [  # (request, status, the app's words, metrics reason): gunicorn answered 4,095-8,190 and 140 fields itself
    (request_line_of(4095, "/api/v1/models?x="), 414, "the query string is longer than 1024 bytes", "oversize_query"),
    (request_line_of(8190, "/api/v1/models?x="), 414, "the query string is longer than 1024 bytes", "oversize_query"),
    (request_line_of(8190, "/api/v1/no-such-"), 404, "not found", "not_found"),
    (request_line_of(8191, "/api/v1/models?x="), 414, "the request line is longer than 8 KB", "oversize_request_line"),
    (request_line_of(20000, "/?x="), 414, "the request line is longer than 8 KB", "oversize_request_line"),
    (with_headers("/api/v1/models", 140, 200), 200, "", ""),
    (with_headers("/healthz", 800, 16), 200, "", ""),  # gunicorn took 100 fields
    (with_headers("/api/v1/models", 6, 6000), 400, "the headers are longer than 32 KB in all", "oversize_headers"),
    (with_headers("/", 1, 9000), 400, "a header field is longer than 8 KB", "oversize_headers"),
]


@pytest.mark.nginx
@pytest.mark.parametrize("request_bytes,status,words,reason", SIZED)
def test_nginx_refuses_what_is_too_large_in_the_apps_words_and_counts_it(prod, request_bytes, status, words, reason):
    """Whatever nginx passes on, gunicorn reads (its limits are above nginx's); what nginx refuses for its size the
    app answers: JSON on the API, the page elsewhere, one log line of its own, one count in /metrics."""
    before, since = refused_count(prod.port, reason), len(prod.stderr())
    got, headers, body = raw_answer(prod.port, request_bytes)
    assert got == status and secured(headers), (got, body[:200])
    if reason:
        if b" /api/" in request_bytes.split(b"\r\n")[0]:
            assert json.loads(body) == {"error": json.loads(body)["error"], "status": status}
            assert words.lower() in json.loads(body)["error"].lower()
        else:
            assert headers["content-type"] == "text/html; charset=utf-8" and words in body.decode()
        assert refused_count(prod.port, reason) == before + 1
    time.sleep(0.5)  # log lines are written after the answer
    new = prod.stderr()[since:].splitlines()
    assert len(new) == (1 if reason else 0) and all(f"refused {status} GET" in line for line in new), new


@pytest.mark.nginx
def test_each_refusal_is_one_log_line_without_traceback(prod):
    before = prod.stderr()
    for _ in range(3):
        assert raw_exchange(prod.port, b"GET /healthz HTTP/1.1\r\nHost: a..b.example\r\n\r\n")[0] == 400
        assert raw_exchange(prod.port, b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n")[0] == 400
    time.sleep(0.5)  # log lines are written after the answer
    new = prod.stderr()[len(before):].splitlines()
    # nginx logs a request when it closes it, so an earlier test's refusal may land here too: every
    # new line must be a one-line refusal, and these six requests must have made exactly six of them.
    mine = [ln for ln in new if "/healthz" in ln]
    assert len([ln for ln in mine if "nginx refused 400" in ln]) == 3, new
    assert len([ln for ln in mine if "refused 400 GET '/healthz'" in ln]) == 3, new
    assert len(mine) == 6 and all("refused" in ln for ln in new) and "Traceback" not in prod.stderr()


class SlowClients:
    """``count`` connections kept open: half send nothing, half one header byte a second; reopened if dropped."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.opened = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        self.opened += 1
        return sock

    def run(self) -> None:
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10_000
        socks = [self.connect() for _ in range(self.count)]
        sent = [0] * self.count
        while not self.stopping.wait(1.0):
            for i, sock in enumerate(socks):
                try:
                    if i % 2:
                        sock.send(request[sent[i]:sent[i] + 1])
                        sent[i] += 1
                    else:
                        sock.recv(1, socket.MSG_PEEK)  # returns only once the server has answered or closed
                        raise ConnectionResetError
                except BlockingIOError:
                    continue  # idle and still open
                except OSError:
                    sock.close()
                    socks[i], sent[i] = self.connect(), 0
        for sock in socks:
            sock.close()


def paced_latencies(port: int, seconds: float) -> list[float]:
    """One /api/v1/generate every ~20 ms for ``seconds``, each on a new connection; any failure raises."""
    latencies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        i = len(latencies)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/generate?digit={i % 10}&seed={i}",
                                    timeout=10) as response:
            assert response.status == 200 and len(response.read()) > 1000
        latencies.append(time.perf_counter() - started)
        time.sleep(0.02)
    return latencies


@pytest.mark.nginx
def test_slow_and_idle_clients_do_not_slow_down_the_others(prod):
    paced_latencies(prod.port, 1)  # warm-up
    unloaded = statistics.median(paced_latencies(prod.port, 5))
    slow = SlowClients(prod.port, 50)
    slow.thread.start()
    try:
        time.sleep(2)  # every slow connection open and holding
        loaded = paced_latencies(prod.port, 20)
    finally:
        slow.stopping.set()
        slow.thread.join(timeout=10)
    assert slow.opened >= 50 and len(loaded) > 100
    assert statistics.median(loaded) <= 3 * unloaded, (statistics.median(loaded), unloaded)


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not running(pid)


@pytest.mark.nginx
def test_instances_share_nothing_and_stop_whole(tmp_path):
    """Two instances side by side: no control socket in the home folder; SIGTERM stops one entirely."""
    env = serve_env(HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path))
    ports = [free_port(), free_port()]
    first, second = (start_serve_prod(port, tmp_path / f"{port}.log", env) for port in ports)
    try:
        for port, process in zip(ports, (first, second), strict=True):
            wait_for(f"http://127.0.0.1:{port}/healthz", process)
        processes = session_processes(first.pid)
        assert any("gunicorn" in cmd for cmd in processes.values()), processes
        folder = nginx_folder(processes)
        assert all((folder / f"{pool}.sock").is_socket() for pool in ("light", "heavy"))
        assert folder.stat().st_mode & 0o077 == 0
        stop_group(first)
        assert all(gone(pid) for pid in processes)
        assert not folder.exists()
        wait_for(f"http://127.0.0.1:{ports[1]}/healthz", second, timeout=5)
        assert not list(tmp_path.rglob("*.ctl")), "a gunicorn control socket was created"
    finally:
        for process in (first, second):
            if process.poll() is None:
                stop_group(process)


def workers(pid: int) -> list[int]:
    return [child for child in session_processes(os.getsid(pid)) if running(child) and parent(child) == pid]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except ConnectionRefusedError:
        return False


@pytest.mark.nginx
def test_a_killed_nginx_master_leaves_nothing_on_the_port(tmp_path):
    """SIGKILL to nginx's master: its worker is killed too, so the port is free for the next serve-prod."""
    port = free_port()
    first = start_serve_prod(port, tmp_path / "first.log", serve_env())
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", first)
        nginx = masters(first.pid)["nginx"]
        assert workers(nginx)
        os.kill(nginx, signal.SIGKILL)
        deadline = time.monotonic() + 3
        while listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not listening(port), "a worker of the killed nginx still holds the port"
        assert first.wait(timeout=20) != 0
    finally:
        end_session(first)
    second = start_serve_prod(port, tmp_path / "second.log", serve_env())
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", second)
    finally:
        end_session(second)


@pytest.mark.nginx
@pytest.mark.parametrize("pool", ["light", "heavy"])
def test_a_killed_gunicorn_master_takes_its_workers_along(tmp_path, pool):
    """SIGKILL to a pool's gunicorn master: its workers, which would serve on for 10 s or more, go at once."""
    port = free_port()
    process = start_serve_prod(port, tmp_path / "serve.log", serve_env())
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        gunicorn = masters(process.pid)[pool]
        orphans = workers(gunicorn)
        assert len(orphans) == 2
        os.kill(gunicorn, signal.SIGKILL)
        assert all(gone(pid, timeout=5) for pid in orphans), "gunicorn's workers outlived their master"
        assert process.wait(timeout=20) != 0 and not listening(port)
    finally:
        end_session(process)


def private_temp(tmp_path: Path) -> dict[str, str]:
    """serve-prod's environment with a temporary folder of its own: the run folders of this test's instances only."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    return serve_env(TMPDIR=str(temp))


def restarted(port: int, log: Path, env: dict[str, str], folder: Path) -> None:
    """serve-prod started again on ``port``: it serves, and the crashed instance's run folder is gone."""
    again = start_serve_prod(port, log, env)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", again)
        for _ in range(5):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/generate?digit=4", timeout=10) as response:
                assert response.status == 200
        assert not folder.exists()
        assert f"serve-prod: removed {folder}, left by a crashed instance" in log.read_text()
    finally:
        end_session(again)


@pytest.mark.nginx
def test_a_killed_launcher_takes_nginx_and_gunicorn_along(tmp_path):
    """SIGKILL to deploy.serve itself (nothing to clean up after it): every master, in a group of its own,
    is stopped by the kernel's SIGTERM, its workers with it. The run folder it leaves, the next start removes."""
    port, env = free_port(), private_temp(tmp_path)
    process = start_serve_prod(port, tmp_path / "serve.log", env)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        found = masters(process.pid)
        folder = nginx_folder(session_processes(process.pid))
        launcher = parent(found["nginx"])
        everything = [*found.values(), *(pid for master in found.values() for pid in workers(master))]
        os.kill(launcher, signal.SIGKILL)
        assert all(gone(pid, timeout=5) for pid in everything), "a master or worker outlived deploy.serve"
        assert not listening(port) and folder.exists()
    finally:
        end_session(process)
    restarted(port, tmp_path / "again.log", env, folder)


@pytest.mark.nginx
def test_a_launcher_and_nginx_killed_together_leave_nothing_the_next_start_does_not_stop(tmp_path):
    """SIGKILL to deploy.serve and nginx's master at once: nginx's worker, orphaned, keeps the port (answering
    502) and the run folder stays. The next serve-prod on the same port stops it before binding, and serves."""
    port, env = free_port(), private_temp(tmp_path)
    process = start_serve_prod(port, tmp_path / "serve.log", env)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        found = masters(process.pid)
        folder, orphans = nginx_folder(session_processes(process.pid)), workers(found["nginx"])
        pools = [pid for name in ("light", "heavy") for pid in (found[name], *workers(found[name]))]
        for pid in (parent(found["nginx"]), found["nginx"]):
            os.kill(pid, signal.SIGKILL)
        assert all(gone(pid, timeout=20) for pid in pools), "gunicorn outlived deploy.serve"
        assert all(running(pid) for pid in orphans) and listening(port), "the crash left nothing behind"
        assert raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")[0] == 502
        restarted(port, tmp_path / "again.log", env, folder)
        assert not any(running(pid) for pid in orphans)
    finally:
        end_session(process)
