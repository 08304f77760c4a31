"""A costly upload through the production path (nginx in front of gunicorn, ``python -m deploy.serve``):
refused in moments with the app's JSON answer, and the one worker keeps serving."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.jpeg_helpers import scan_bomb
from tests.paths import SERVE_PYTHON
from tests.prod_helpers import server_process
from tests.webapp_helpers import free_port, multipart

pytestmark = pytest.mark.nginx


@pytest.fixture(scope="module")
def base_url(tmp_path_factory) -> Iterator[str]:
    """One instance with a single gunicorn worker: a worker busy decoding would stop every other request."""
    assert SERVE_PYTHON.exists(), "the serve venv is missing: run `make test` (it builds .venv-serve)"
    port = free_port()
    command = [str(SERVE_PYTHON), "-m", "deploy.serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with server_process(command, port, tmp_path_factory.mktemp("serve-prod") / "stderr.log", own_session=True) as url:
        yield url


def post(url: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    """Status, Content-Type and body of the answer, whatever its status."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, refused.headers["Content-Type"], refused.read()


def test_a_jpeg_of_endless_scans_is_a_quick_400_and_the_worker_keeps_serving(base_url):
    body, content_type = multipart({"digit": "1"}, scan_bomb())
    start = time.monotonic()
    status, answer_type, answer = post(f"{base_url}/api/v1/style", body, content_type)
    seconds = time.monotonic() - start
    assert (status, answer_type, seconds < 3) == (400, "application/json", True), (status, answer[:200], seconds)
    assert "too many scans" in json.loads(answer)["error"]
    start = time.monotonic()
    with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as health:
        assert health.status == 200 and json.load(health)["status"] == "ok"
    assert time.monotonic() - start < 1
