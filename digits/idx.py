"""MNIST idx files, read and written with numpy only (evaluation and the web side use it without torch).

The same reader serves a folder of downloaded idx files, the offline copy in
``../shared/mnist`` and torchvision's ``MNIST/raw`` download folder, so there is
one code path for every source of the data.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

IDX_DTYPE_UINT8 = 0x08
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


class DataError(Exception):
    """A data problem the user can fix; the CLI prints it as one line."""


def read_idx(path: Path) -> np.ndarray:
    """Read one idx file (raw or gzip) into a uint8 array, validating its header."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read idx file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_DTYPE_UINT8:
        raise DataError(f"{path}: not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated idx header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: idx header promises {expected} bytes for shape {shape}, "
            f"file holds {len(raw) - header} (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an idx file that ``read_idx`` and torchvision read; gzip for ``.gz``.

    The gzip header holds no file name and no time, so the same array gives the same bytes. Level 1:
    on digits about 9% larger than level 6 and 40% cheaper, and writing is on the generator's clock.
    """
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError(f"idx writer takes a uint8 array of at least one dimension, got {array.dtype} {array.shape}")
    header = bytes([0, 0, IDX_DTYPE_UINT8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with open(path, "wb") as raw:
        gzipped = path.suffix == ".gz"
        out = gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=raw, mtime=0) if gzipped else raw
        with out:
            out.write(header)
            out.write(np.ascontiguousarray(array).tobytes())


def find_idx(data_dir: Path, split: str, kind: str) -> Path | None:
    """Locate ``{prefix}-{kind}-idx?-ubyte[.gz]`` in the folder or torchvision's layout."""
    ndim = 3 if kind == "images" else 1
    name = f"{SPLIT_PREFIX[split]}-{kind}-idx{ndim}-ubyte"
    for folder in (data_dir, data_dir / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [N,28,28], labels int64 [N]) for ``train`` or ``test``."""
    paths = [find_idx(data_dir, split, kind) for kind in ("images", "labels")]
    if None in paths:
        raise DataError(
            f"no MNIST {split} idx files in {data_dir}: pass --data-dir with the folder that holds the "
            f"{SPLIT_PREFIX[split]}-*-ubyte[.gz] files, or fetch them with python -m training --download "
            f"(needs internet)")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{paths[0]}: expected images of shape [N,28,28], got {list(images.shape)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{paths[1]}: {len(labels)} labels for {len(images)} images in {paths[0]}")
    if labels.max(initial=0) > 9:
        raise DataError(f"{paths[1]}: label {int(labels.max())} outside 0-9")
    return images, labels.astype(np.int64)
