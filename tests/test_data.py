"""The idx reader, split loader and device-resident batching, on the real MNIST files."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from digits.idx import DataError, find_idx, load_split, read_idx
from training.data import DeviceDataset

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"


def idx_bytes(array: np.ndarray, magic: bytes = b"\x00\x00\x08") -> bytes:
    """Encode a uint8 array in the idx format: magic, ndim, big-endian dims, data."""
    array = np.asarray(array, dtype=np.uint8)
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic + bytes([array.ndim]) + dims + array.tobytes()


def gunzip(src: Path, dst: Path) -> Path:
    with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


def write_split(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """A train split of raw idx files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TRAIN_IMAGES).write_bytes(idx_bytes(images))
    (folder / TRAIN_LABELS).write_bytes(idx_bytes(labels))
    return folder


@pytest.fixture(scope="module")
def small(mnist):
    """The first 20 real training images and labels."""
    images, labels = load_split(mnist, "train")
    return images[:20].copy(), labels[:20].copy()


# --- reading real files -------------------------------------------------------------------------

def header_count(path: Path) -> int:
    """The item count an idx file's header promises (its first dimension), read without the reader under test."""
    with gzip.open(path, "rb") as f:
        return int.from_bytes(f.read(8)[4:8], "big")


@pytest.mark.parametrize("kind, ndim", [("images", 3), ("labels", 1)])
def test_read_idx_gz_and_raw_agree(mnist, tmp_path, kind, ndim):
    gz = mnist / f"train-{kind}-idx{ndim}-ubyte.gz"
    from_gz = read_idx(gz)
    from_raw = read_idx(gunzip(gz, tmp_path / gz.stem))
    assert from_gz.shape == (header_count(gz), 28, 28)[:ndim] and from_gz.dtype == np.uint8
    np.testing.assert_array_equal(from_gz, from_raw)


def test_read_idx_real_labels_are_digits(mnist):
    labels = read_idx(mnist / f"{TRAIN_LABELS}.gz")
    assert set(np.unique(labels).tolist()) == set(range(10))


@pytest.mark.parametrize("split, prefix", [("train", "train"), ("test", "t10k")])
def test_load_split(mnist, split, prefix):
    images, labels = load_split(mnist, split)
    count = header_count(mnist / f"{prefix}-images-idx3-ubyte.gz")
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert set(np.unique(labels).tolist()) == set(range(10))
    assert images.max() == 255 and images.min() == 0


def test_the_official_test_set_is_whole(mnist):
    """The point here is the count: FID and every quality number are measured on all 10,000 test digits."""
    images, labels = load_split(mnist, "test")
    assert images.shape == (10000, 28, 28) and len(labels) == 10000
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_train_and_test_splits_differ(mnist):
    assert not np.array_equal(load_split(mnist, "train")[0], load_split(mnist, "test")[0])


def test_find_idx_finds_torchvision_layout(mnist, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        gunzip(mnist / f"{name}.gz", raw / name)
    assert find_idx(tmp_path, "test", "images") == raw / "t10k-images-idx3-ubyte"
    assert find_idx(tmp_path, "train", "images") is None
    for got, want in zip(load_split(tmp_path, "test"), load_split(mnist, "test"), strict=True):
        np.testing.assert_array_equal(got, want)


# --- broken files: always a DataError naming the file ---------------------------------------------

def real_labels_gz(mnist: Path) -> bytes:
    return (mnist / f"{TRAIN_LABELS}.gz").read_bytes()


BROKEN_FILES = {
    # name: (file suffix, bytes from the real MNIST folder)
    "truncated raw data": ("", lambda m: idx_bytes(read_idx(m / f"{TRAIN_LABELS}.gz"))[:-7]),
    "truncated gzip": (".gz", lambda m: real_labels_gz(m)[: len(real_labels_gz(m)) // 2]),
    "truncated header": ("", lambda m: b"\x00\x00\x08\x03\x00\x00\x27"),
    "trailing bytes": ("", lambda m: idx_bytes(np.zeros(5)) + b"\x00"),
    "empty file": ("", lambda m: b""),
    "not gzip": (".gz", lambda m: b"this is not a gzip stream at all"),
    "bad magic": ("", lambda m: idx_bytes(np.zeros(5), magic=b"PK\x03")),
    "float dtype": ("", lambda m: idx_bytes(np.zeros(5), magic=b"\x00\x00\x0d")),
    "zero dims": ("", lambda m: b"\x00\x00\x08\x00"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_broken_file_gives_data_error_naming_it(mnist, tmp_path, case):
    suffix, make = BROKEN_FILES[case]
    path = tmp_path / f"{TRAIN_LABELS}{suffix}"
    path.write_bytes(make(mnist))
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_corrupt_gzip_data_gives_data_error(mnist, tmp_path):
    data = bytearray(real_labels_gz(mnist))
    data[30:200] = bytes(b ^ 0xFF for b in data[30:200])  # header intact, deflate stream garbage
    path = tmp_path / f"{TRAIN_LABELS}.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)


def test_fewer_labels_than_images(small, tmp_path):
    images, labels = small
    folder = write_split(tmp_path, images, labels[:-1])
    with pytest.raises(DataError) as err:
        load_split(folder, "train")
    message = str(err.value)
    assert str(folder / TRAIN_LABELS) in message and "19 labels for 20 images" in message


def test_label_above_nine(small, tmp_path):
    images, labels = small
    labels[7] = 10
    folder = write_split(tmp_path, images, labels)
    with pytest.raises(DataError) as err:
        load_split(folder, "train")
    assert str(folder / TRAIN_LABELS) in str(err.value) and "10" in str(err.value)


def test_images_of_wrong_shape(small, tmp_path):
    images, labels = small
    folder = write_split(tmp_path, images[:, :27, :], labels)
    with pytest.raises(DataError, match="28"):
        load_split(folder, "train")


def test_missing_folder_names_it_and_suggests_download(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError) as err:
        load_split(missing, "train")
    assert str(missing) in str(err.value) and "--download" in str(err.value)


# --- DeviceDataset.batches -------------------------------------------------------------------------

N = 1001  # odd, so two ranks must drop one image
BATCH = 64


@pytest.fixture(scope="module")
def dataset(mnist):
    """1001 real images whose 'labels' are their own indices, so every batch says which images it holds."""
    images, _ = load_split(mnist, "train")
    return DeviceDataset.from_arrays(images[:N], np.arange(N, dtype=np.int64), torch.device("cpu"))


def ids(dataset, batch_size=BATCH, epoch=1, seed=0, rank=0, world=1) -> list[int]:
    return [i for _, y in dataset.batches(batch_size, epoch, seed, rank, world) for i in y.tolist()]


def test_batches_are_unit_floats_of_the_right_images(dataset):
    batches = list(dataset.batches(BATCH, epoch=1, seed=0))
    assert len(batches) == dataset.steps_per_epoch(BATCH) == N // BATCH
    for x, y in batches:
        assert x.dtype == torch.float32 and x.shape == (BATCH, 1, 28, 28) and y.shape == (BATCH,)
        assert 0.0 <= x.min() and x.max() <= 1.0
        torch.testing.assert_close(x, dataset.images[y].float() / 255.0)


def test_each_image_at_most_once_per_epoch(dataset):
    seen = ids(dataset)
    assert len(seen) == len(set(seen)) == (N // BATCH) * BATCH
    assert set(seen) <= set(range(N))


def test_order_depends_on_seed_and_epoch_only(dataset):
    assert ids(dataset, epoch=3, seed=5) == ids(dataset, epoch=3, seed=5)
    assert ids(dataset, epoch=3, seed=5) != ids(dataset, epoch=4, seed=5)
    assert ids(dataset, epoch=3, seed=5) != ids(dataset, epoch=3, seed=6)


def test_two_rank_shards_are_disjoint_and_cover_the_usable_part(dataset):
    order = ids(dataset, batch_size=1)  # one rank, batch 1: the whole permutation
    shards = [ids(dataset, batch_size=1, rank=r, world=2) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == N // 2
    assert not set(shards[0]) & set(shards[1])
    assert set(shards[0]) | set(shards[1]) == set(order[: N - N % 2])


def test_two_rank_batch_count_matches_steps_per_epoch(dataset):
    for rank in range(2):
        batches = list(dataset.batches(BATCH // 2, 1, 0, rank, 2))
        assert len(batches) == dataset.steps_per_epoch(BATCH // 2, world=2)
