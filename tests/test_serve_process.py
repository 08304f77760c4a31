"""The server as users run it: from the serve venv alone (no torch), under flask and gunicorn."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import onnx
import pytest

from tests.paths import ROOT
from tests.prod_helpers import serve_env
from tests.webapp_helpers import free_port, wait_for

pytestmark = pytest.mark.slow

ARTIFACT = ROOT / "artifacts" / "cvae_decoder.onnx"


def test_serve_requirements_hold_no_torch():
    lines = (ROOT / "requirements-serve.txt").read_text().lower().splitlines()
    assert not [ln for ln in lines if ln.strip().startswith(("torch", "-r"))]


def test_server_process_never_imports_torch(serve_python):
    script = (
        "import sys\n"
        "from webapp import create_app\n"
        "client = create_app().test_client()\n"
        "assert client.get('/api/v1/generate?digit=1&seed=1').status_code == 200\n"
        "assert client.get('/?digit=1&seed=1').status_code == 200\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
        "import importlib.util; print(importlib.util.find_spec('torch'))\n")
    result = subprocess.run([str(serve_python), "-c", script], cwd=ROOT, env=serve_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "None"], "torch is loaded or installed in the serve venv"


def run_server(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_gunicorn_serves_the_page_and_api(serve_python):
    port = free_port()
    server = run_server([str(serve_python.parent / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
                         "webapp:create_app()"], serve_env())
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", server)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/generate?digit=6&seed=5") as response:
            assert len(json.load(response)["images"]) == 5
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?digit=6&seed=5") as response:
            assert response.read().decode().count("data:image/png;base64,") == 5
    finally:
        server.terminate()
        server.wait(timeout=30)


def broken_artifacts(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / kind
    folder.mkdir()
    target = folder / "cvae_decoder.onnx"
    data = ARTIFACT.read_bytes()
    if kind == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        target.write_bytes(os.urandom(4096))
    elif kind == "no-metadata":
        model = onnx.load_from_string(data)
        del model.metadata_props[:]
        target.write_bytes(model.SerializeToString())
    elif kind == "renamed-input":
        model = onnx.load_from_string(data)
        model.graph.input[1].name = "noise"
        for node in model.graph.node:
            node.input[:] = ["noise" if name == "z" else name for name in node.input]
        target.write_bytes(model.SerializeToString())
    return folder


EXPECTED = {"truncated": "not a loadable ONNX model", "random": "not a loadable ONNX model",
            "no-metadata": "metadata_props lack latent_dim", "renamed-input": "inputs are ['digit', 'noise']",
            "empty": "no *.onnx generator files"}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
@pytest.mark.parametrize("server", ["flask", "gunicorn", "serve-prod"])
def test_bad_model_file_stops_start_up_with_one_line(serve_python, tmp_path, kind, server):
    """Once, also under serve-prod, whose two pools serve the same files: one checks them, the other waits."""
    folder = broken_artifacts(tmp_path, kind)
    command = {"flask": [str(serve_python.parent / "flask"), "--app", "webapp", "run", "--port", str(free_port())],
               "gunicorn": [str(serve_python.parent / "gunicorn"), "--workers", "2", "--bind",
                            f"127.0.0.1:{free_port()}", "webapp:create_app()"],
               "serve-prod": [str(serve_python), "-m", "deploy.serve", "--port", str(free_port())]}[server]
    result = subprocess.run(command, cwd=ROOT, env=serve_env(FLASK_ARTIFACTS_DIR=str(folder)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("webapp: cannot start:")]
    assert len(lines) == 1 and EXPECTED[kind] in lines[0] and str(folder) in lines[0], result.stderr
    assert "Traceback" not in result.stderr
