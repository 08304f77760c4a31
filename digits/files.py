"""Atomic writes of files and whole folders: a reader (or a crash) never sees half a checkpoint,
model, grid or dataset."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(target: Path, replace: bool = False) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``target``; on success it takes ``target``'s name in one rename.

    On any error (or a kill) only the hidden sibling exists; errors remove it. With ``replace`` the
    old ``target`` is renamed aside first: readers see the old folder or the new one (between the two
    renames, neither), never a mix.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the dataset from other users
        if replace:
            swap(tmp, target)
        else:
            tmp.rename(target)  # fails on a non-empty folder that appeared meanwhile: nothing is lost
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def swap(new: Path, target: Path) -> None:
    """Put ``new`` in place of the existing folder ``target``, restoring the old one if that fails."""
    aside = new.with_suffix(".old")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in blocks: how cards and extension files name a model file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
