"""Shared fixtures: the real MNIST folder, the repo root, the app over the committed artifacts, the serve
venv's Python, and a headless Chromium with the app served for it."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.paths import CHROMIUM, ROOT, SERVE_PYTHON, mnist_dir

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reads real digits is marked ``mnist``, whichever fixture brings them."""
    for item in items:
        if "mnist" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mnist)


@pytest.fixture(scope="session")
def mnist() -> Path:
    folder = mnist_dir()
    if not (folder / "train-images-idx3-ubyte.gz").exists() and not (folder / "train-images-idx3-ubyte").exists():
        reason = f"real MNIST idx files not found in {folder} (set MNIST_DIR to a folder that has them)"
        if os.environ.get("CI"):  # in CI a missing data folder is a broken set-up, not a reason to pass
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# --- the web app over the committed artifacts --------------------------------------------------------

# The web app's modules are imported by the fixtures that need them: most test modules never do.

@pytest.fixture(scope="module")
def app():
    from webapp import create_app

    return create_app()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def proxied_client():
    """The app as an operator runs it behind one proxy of their own (X-Forwarded-* trusted)."""
    from webapp import create_app

    return create_app({"PROXY_FIX": 1}).test_client()


@pytest.fixture(scope="module")
def serve_python() -> Path:
    assert SERVE_PYTHON.exists(), "the serve venv is missing: run `make test` (it builds .venv-serve)"
    return SERVE_PYTHON


# --- a real headless Chromium (Debian's) on the app served on localhost -------------------------------

@pytest.fixture(scope="module")
def base_url():
    from werkzeug.serving import make_server

    from webapp import create_app

    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright  # only the browser tests need it

    assert shutil.which(CHROMIUM), "Chromium is missing: make test installs it (tools/system-packages.sh)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()
