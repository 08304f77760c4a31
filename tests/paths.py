"""Where the tests find things: the checkout, real MNIST, the serve venv's Python and Chromium. The one
helper module every test and helper takes paths from; it imports nothing of the tests, so the helpers
form no import cycle (tests/test_layers.py holds that)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVE_PYTHON = ROOT / ".venv-serve" / "bin" / "python"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def mnist_dir() -> Path:
    """``MNIST_DIR`` when set, else ``../shared/mnist`` beside the checkout."""
    return Path(os.environ.get("MNIST_DIR", ROOT.parent / "shared" / "mnist"))
