"""The server under load, hostile input and faults; training and export SIGKILLed at an exact point."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.drawing_helpers import encoded, stroke_picture
from tests.paths import ROOT
from tests.prod_helpers import serve_env
from tests.training_helpers import assert_same_run
from tests.webapp_helpers import assert_documented, decode_png, free_port, multipart, wait_for
from training import checkpoint
from webapp import create_app

pytestmark = pytest.mark.slow

ROUTES = ["/", "/api/v1/generate", "/api/v1/generate.png", "/api/v1/models", "/healthz", "/static/style.css"]
KEYS = ["digit", "seed", "count", "model", "x", "digit[]", "", "DIGIT"]
VALUES = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=40),
    st.sampled_from(["cvae", "cgan", "../artifacts/cvae_decoder.onnx", "/etc/passwd", "%00", "1e3", " 7 ",
                     "0x10", "٣", "+-5", "NaN", "inf", "", "\x00"]))


# --- load -------------------------------------------------------------------------------------------

def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def worker_rss(master: int) -> int:
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2, children
    return sum(rss_kb(int(pid)) for pid in children)


def fetch_and_check(base: str, i: int) -> None:
    with urllib.request.urlopen(f"{base}/api/v1/generate?digit={i % 10}&seed={i}", timeout=30) as response:
        assert response.status == 200
        body = json.load(response)
    assert body["digit"] == i % 10 and len(body["images"]) == 5
    for b64 in body["images"]:
        assert decode_png(base64.b64decode(b64)).size == (28, 28)


DRAWING = encoded(stroke_picture())


def upload_and_check(base: str, i: int) -> None:
    """A drawing of a 1 through POST /api/v1/style: the number i written in its hand, three times."""
    body, content_type = multipart({"digit": "1", "text": str(i), "count": "3"}, DRAWING)
    request = urllib.request.Request(f"{base}/api/v1/style", data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        answer = json.load(response)
    assert answer["text"] == str(i) and len(answer["images"]) == 3
    assert decode_png(base64.b64decode(answer["input"])).size == (28, 28)


def request_and_check(base: str, i: int) -> None:
    """One request in ten is a drawing upload, the rest are samples."""
    (upload_and_check if i % 10 == 0 else fetch_and_check)(base, i)


def test_5000_requests_at_concurrency_16_without_errors_or_growth(serve_python):
    port = free_port()
    server = subprocess.Popen([str(serve_python.parent / "gunicorn"), "--workers", "2", "--bind",
                               f"127.0.0.1:{port}", "webapp:create_app()"], cwd=ROOT, env=serve_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz", server)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: request_and_check(base, i), range(1000)))
            after_1000 = worker_rss(server.pid)
            list(pool.map(lambda i: request_and_check(base, i), range(1000, 5000)))
        growth = worker_rss(server.pid) / after_1000 - 1
        assert growth < 0.10, f"worker RSS grew {growth:.1%} from request 1,000 to 5,000"
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- hostile input ----------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), pairs=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=6))
def test_parameter_soup_never_5xx(client, route, pairs):
    assert_documented(client.get(route + "?" + urllib.parse.urlencode(pairs)), route)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), raw=st.text(st.characters(exclude_categories=("Cs",)), max_size=300))
def test_raw_query_strings_never_5xx(client, route, raw):
    assert_documented(client.get(route, query_string=raw), route)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(min_size=1, max_size=60))
def test_arbitrary_paths_never_5xx(client, path):
    response = client.get("/" + urllib.parse.quote(path))
    assert response.status_code < 500


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``folder`` with its size, modification time and contents."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_serving_never_writes_into_its_artifact_folder(tmp_path):
    """What a read-only mount needs. (chmod 0555 cannot show it: CI runs as root, which writes anyway.)"""
    folder = tmp_path / "artifacts"
    shutil.copytree(ROOT / "artifacts", folder)
    before = snapshot(folder)
    client = create_app({"ARTIFACTS_DIR": str(folder)}).test_client()
    for route in ROUTES:
        assert_documented(client.get(route + "?digit=4&seed=2"), route)
    assert snapshot(folder) == before


# --- faults, injected at an exact point by tests/faults.py ------------------------------------------

EPOCHS, KILL_EPOCH, KILL_STEP = 3, 2, 3  # 256 images, batch 32: 8 steps per epoch


def tiny_run(mnist: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["--data-dir", str(mnist), "--limit", "256", "--batch-size", "32", "--width", "8", "--latent-dim", "4",
            "--epochs", str(EPOCHS), "--device", "cpu", "--run-dir", str(run_dir), *extra]


def python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(mnist, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = python("-m", "training", *tiny_run(mnist, run_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def test_sigkill_inside_an_epoch_then_resume_reaches_the_uninterrupted_run(mnist, tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    killed = python("-m", "tests.faults", "train", str(KILL_EPOCH), str(KILL_STEP), *tiny_run(mnist, run_dir))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]  # killed where asked, not finished
    assert checkpoint.load(run_dir / "checkpoint.pt")["epoch"] == KILL_EPOCH - 1
    resumed = python("-m", "training", *tiny_run(mnist, run_dir, "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, EPOCHS + 1))
    assert_same_run(run_dir, uninterrupted, atol=1e-6)


def test_export_killed_half_way_through_its_write_leaves_nothing_under_the_final_name(uninterrupted, tmp_path):
    out = tmp_path / "cvae_decoder.onnx"
    killed = python("-m", "tests.faults", "export", "--checkpoint", str(uninterrupted / "checkpoint.pt"),
                    "--out", str(out))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (partial,) = tmp_path.glob(".cvae_decoder.onnx.*.tmp")  # the kill landed inside the write
    assert partial.stat().st_size > 0
    assert not out.exists()
