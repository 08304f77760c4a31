"""MNIST for training: the torch-free idx reader (digits/idx.py), downloading through torchvision when asked."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from digits.idx import DataError, find_idx, load_split


def download(data_dir: Path) -> None:
    """Fetch full MNIST with torchvision into ``data_dir/MNIST/raw``."""
    from torchvision.datasets import MNIST

    try:
        for train in (True, False):
            MNIST(root=str(data_dir), train=train, download=True)
    except Exception as exc:  # torchvision raises many kinds on a dead network
        raise DataError(
            f"could not download MNIST into {data_dir} ({type(exc).__name__}); "
            f"copy the idx files there or pass --data-dir to a folder that has them") from None


def load_or_download(data_dir: Path, split: str, fetch: bool) -> tuple[np.ndarray, np.ndarray]:
    """``load_split``, first downloading MNIST when ``fetch`` is set and the split's files are missing."""
    if fetch and None in (find_idx(data_dir, split, kind) for kind in ("images", "labels")):
        download(data_dir)
    return load_split(data_dir, split)
