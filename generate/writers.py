"""The three dataset formats, each written into a folder: idx (MNIST's own), npz and PNG folders.

Every writer gives the same bytes for the same arrays (no time stamps), so a dataset is
reproducible from its card.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digits.idx import write_idx
from digits.images import png_bytes

NPZ_NAME = "train.npz"
LABELS_CSV = "labels.csv"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold: no clock in the bytes


def write_idx_pair(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """MNIST's training file names, so ``load_split(folder, "train")`` and torchvision read them."""
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels.astype(np.uint8))


def write_npz(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """``np.load`` gives ``images`` (uint8 [N,28,28]) and ``labels`` (int64 [N]); deflated, no time stamps."""
    with zipfile.ZipFile(folder / NPZ_NAME, "w") as archive:
        for name, array in (("images", images), ("labels", labels.astype(np.int64))):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", ZIP_EPOCH), buffer.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)


def write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """One folder per digit of 28x28 grayscale PNGs named by sample index, and ``labels.csv`` in index order."""
    width = max(5, len(str(len(images) - 1)))
    rows = ["file,label"]
    for digit in range(10):
        (folder / str(digit)).mkdir()
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"{label}/{index:0{width}d}.png"
        (folder / name).write_bytes(png_bytes(image))
        rows.append(f"{name},{label}")
    (folder / LABELS_CSV).write_text("\n".join(rows) + "\n")


FORMATS: dict[str, Callable[[Path, np.ndarray, np.ndarray], None]] = {
    "idx": write_idx_pair, "npz": write_npz, "png": write_pngs}
