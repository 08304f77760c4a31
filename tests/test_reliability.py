"""The server under load, hostile input and faults; training and export under SIGKILL."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.test_serve_process import serve_env, serve_python  # noqa: F401  (fixture)
from tests.webapp_helpers import decode_png, free_port, wait_for
from training import checkpoint
from webapp import create_app

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


def test_5000_requests_at_concurrency_16_without_errors_or_growth(serve_python):  # noqa: F811
    port = free_port()
    server = subprocess.Popen([str(serve_python.parent / "gunicorn"), "--workers", "2", "--bind",
                               f"127.0.0.1:{port}", "webapp:create_app()"], cwd=ROOT, env=serve_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz", server)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: fetch_and_check(base, i), range(1000)))
            after_1000 = worker_rss(server.pid)
            list(pool.map(lambda i: fetch_and_check(base, i), range(1000, 5000)))
        growth = worker_rss(server.pid) / after_1000 - 1
        assert growth < 0.10, f"worker RSS grew {growth:.1%} from request 1,000 to 5,000"
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- hostile input ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    return create_app().test_client()


def assert_documented(response, route: str) -> None:
    assert response.status_code < 500, (route, response.status_code)
    if response.status_code >= 400:
        if route.startswith("/api/") or route == "/healthz":
            assert response.get_json()["error"]
        else:
            assert 'role="alert"' in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


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


def test_server_does_not_need_to_write_its_artifacts(tmp_path):
    folder = tmp_path / "readonly"
    shutil.copytree(ROOT / "artifacts", folder)
    folder.chmod(0o555)
    try:
        client = create_app({"ARTIFACTS_DIR": str(folder)}).test_client()
        assert client.get("/api/v1/generate?digit=4&seed=2").status_code == 200
    finally:
        folder.chmod(0o755)


# --- faults -----------------------------------------------------------------------------------------

def tiny_run(mnist: Path, run_dir: Path, *extra: str, epochs: int = 4) -> list[str]:
    return [sys.executable, "-m", "training", "--data-dir", str(mnist), "--limit", "1024", "--batch-size", "32",
            "--width", "8", "--latent-dim", "4", "--epochs", str(epochs), "--device", "cpu",
            "--run-dir", str(run_dir), *extra]


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "process ended before it was killed"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_sigkill_during_training_then_resume_loses_at_most_one_epoch(mnist, tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(tiny_run(mnist, run_dir), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_file(run_dir / "generator_epoch_2.pt", process)
    time.sleep(0.3)  # into epoch 3
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["epoch"]
    assert saved >= 2
    result = subprocess.run(tiny_run(mnist, run_dir, "--resume"), cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]
    assert checkpoint.load(run_dir / "checkpoint.pt")["epoch"] == 4


def test_export_killed_mid_write_leaves_the_previous_artifact(mnist, tmp_path):
    run_dir = tmp_path / "run"
    subprocess.run(tiny_run(mnist, run_dir, epochs=1), cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    out = tmp_path / "artifacts" / "cvae_decoder.onnx"
    out.parent.mkdir()
    shutil.copy(ROOT / "artifacts" / "cvae_decoder.onnx", out)
    previous = out.read_bytes()
    for delay in (0.5, 2.0, 4.0, 6.0):
        process = subprocess.Popen([sys.executable, "-m", "export", "--checkpoint", str(run_dir / "checkpoint.pt"),
                                    "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        current = out.read_bytes()
        if current != previous:  # the rename happened: the new file must be whole
            ort.InferenceSession(current, providers=["CPUExecutionProvider"])
            return
    assert out.read_bytes() == previous
