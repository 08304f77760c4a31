"""/metrics: exact counts for a known mix of requests, in-process and summed across gunicorn's workers under
make serve-prod; labels never take a value from the request; refused to addresses outside FLASK_METRICS_ALLOW."""
from __future__ import annotations

import io
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.drawing_helpers import encoded, stroke_picture
from tests.paths import SERVE_PYTHON
from tests.prod_helpers import ask, server_process
from tests.webapp_helpers import free_port

MIX = (  # (path, times): 200s with images, 400s, a 404 on a path nobody should find as a label
    ("/api/v1/generate?digit=3&count=5&model=cvae&seed=1", 12),
    ("/api/v1/number?text=2026&count=2&model=cgan&seed=1", 6),
    ("/api/v1/generate?digit=12", 5),
    ("/no/such/page-x7q", 3),
)
EXPECTED = {
    ("digits_requests_total", (("route", "/api/v1/generate"), ("status", "200"))): 12,
    ("digits_requests_total", (("route", "/api/v1/number"), ("status", "200"))): 6,
    ("digits_requests_total", (("route", "/api/v1/generate"), ("status", "400"))): 5,
    ("digits_requests_total", (("route", "(unmatched)"), ("status", "404"))): 3,
    ("digits_images_total", (("model", "cvae"), ("route", "/api/v1/generate"))): 60,
    ("digits_images_total", (("model", "cgan"), ("route", "/api/v1/number"))): 48,
    ("digits_refused_total", (("reason", "bad_parameter"),)): 5,
    ("digits_refused_total", (("reason", "not_found"),)): 3,
    ("digits_request_seconds_count", (("route", "/api/v1/generate"),)): 17,
}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def assert_counts(before: dict, after: dict) -> None:
    for key, count in EXPECTED.items():
        assert after.get(key, 0) - before.get(key, 0) == count, key
    assert not any("x7q" in str(labels) for _, labels in after), "a label took a value from a request"


def test_a_known_mix_is_counted_exactly_in_process(client):
    before = samples(client.get("/metrics").get_data(as_text=True))
    for path, times in MIX:
        for _ in range(times):
            client.get(path)
    after = samples(client.get("/metrics").get_data(as_text=True))
    assert_counts(before, after)
    onnx = ("digits_onnxruntime_seconds_count", (("graph", "generator"), ("model", "cvae")))
    assert after[onnx] - before.get(onnx, 0) == 12


def test_an_upload_counts_the_images_it_draws_and_not_what_the_encoder_reads(client):
    """A style upload writing "2026" 3 times: 12 digits and the reconstruction are images (the style graph, two
    runs); the encoder's one run reads a style, which is not an image."""
    before = samples(client.get("/metrics").get_data(as_text=True))
    fields = {"digit": "1", "text": "2026", "count": "3", "image": (io.BytesIO(encoded(stroke_picture())), "one.png")}
    assert client.post("/api/v1/style", data=fields, content_type="multipart/form-data").status_code == 200
    after = samples(client.get("/metrics").get_data(as_text=True))
    moved = {key: after[key] - before.get(key, 0) for key in after
             if key[0] in ("digits_images_total", "digits_onnxruntime_seconds_count") and after[key] != before.get(key)}
    assert moved == {("digits_images_total", (("model", "cvae"), ("route", "/api/v1/style"))): 3 * 4 + 1,
                     ("digits_onnxruntime_seconds_count", (("graph", "style"), ("model", "cvae"))): 2,
                     ("digits_onnxruntime_seconds_count", (("graph", "encoder"), ("model", "cvae"))): 1}


def test_with_metrics_off_nothing_is_counted_and_there_is_no_endpoint(client):
    """FLASK_METRICS=0, the bench's comparison: the same app with no hooks, timers or /metrics."""
    from webapp import create_app

    quiet = create_app({"METRICS": 0}).test_client()
    before = samples(client.get("/metrics").get_data(as_text=True))
    for path, times in MIX:
        for _ in range(times):
            quiet.get(path)
    after = samples(client.get("/metrics").get_data(as_text=True))
    assert all(after.get(key, 0) == before.get(key, 0) for key in EXPECTED)  # each would have moved if counted
    assert quiet.get("/metrics").status_code == 404


def test_the_content_type_is_prometheus_own_and_names_its_charset_once(client):
    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type == CONTENT_TYPE_LATEST and content_type.count("charset=") == 1


def test_metrics_are_refused_outside_the_allowed_addresses(app):
    outside = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert outside.status_code == 403 and b"FLASK_METRICS_ALLOW" in outside.data
    assert app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    port = free_port()
    command = [str(SERVE_PYTHON), "-m", "deploy.serve", "--port", str(port), "--workers", "2"]
    with server_process(command, port, tmp_path_factory.mktemp("metrics") / "stderr.log", own_session=True) as url:
        yield url


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def fetch_in_turn(port: int, paths: list[str], client: str) -> list[int]:
    """``paths`` one after the other from one address: within every per-client limit of nginx."""
    return [ask(port, client, "GET", path, timeout=30) for path in paths]


@pytest.mark.nginx
def test_a_known_mix_across_both_workers_is_counted_exactly_in_one_scrape(prod):
    before = samples(urllib.request.urlopen(f"{prod}/metrics", timeout=30).read().decode())
    paths = [path for path, times in MIX for _ in range(times)]
    port = int(prod.rsplit(":", 1)[1])
    with ThreadPoolExecutor(8) as pool:  # 8 clients at once, from 8 addresses: every worker of both pools takes a share
        turns = pool.map(lambda i: fetch_in_turn(port, paths[i::8], f"127.0.2.{i + 1}"), range(8))
        statuses = [status for turn in turns for status in turn]
    assert sorted(set(statuses)) == [200, 400, 404]
    after = samples(urllib.request.urlopen(f"{prod}/metrics", timeout=30).read().decode())
    assert_counts(before, after)


@pytest.mark.nginx
def test_nginx_refuses_metrics_to_other_addresses(prod):
    port = int(prod.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.7", 0)) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        head = sock.recv(65536).split(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 403") and "Content-Security-Policy" in head
    assert fetch(f"{prod}/metrics") == 200
