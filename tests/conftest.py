"""Shared fixtures: the real MNIST folder, the repo root, the committed artifacts."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def mnist_dir() -> Path:
    """``MNIST_DIR`` when set, else ``../shared/mnist`` beside the checkout."""
    return Path(os.environ.get("MNIST_DIR", ROOT.parent / "shared" / "mnist"))


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
