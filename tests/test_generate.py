"""python -m generate with the committed ONNX generators: each format read back by other readers,
the same bytes for any batch size, all-or-nothing writes, refusals and one-line errors."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets.mnist import read_image_file, read_label_file

from digits.idx import load_split, read_idx, write_idx
from generate import writers
from generate.__main__ import main
from generate.arguments import parse_args
from tests.paths import ROOT, SERVE_PYTHON

ARTIFACTS = ROOT / "artifacts"
PER_DIGIT = 4


def run(out: Path, *extra: str) -> int:
    """The command line in-process: 4 digits of each class (unless ``--counts``), seed 3 unless overridden."""
    how_many = [] if "--counts" in extra else ["--per-digit", str(PER_DIGIT)]
    return main(["--artifacts", str(ARTIFACTS), *how_many, "--seed", "3", "--out", str(out), *extra])


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, the card without its date and command (which name the run, not the data)."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    card = json.loads(files.pop("card.json"))
    del card["created"], card["command"]
    return {**files, "card.json": json.dumps(card).encode()}


@pytest.fixture(scope="module")
def idx_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("idx") / "cvae"
    assert run(out) == 0
    return out


@pytest.fixture(scope="module")
def reference(idx_dataset) -> tuple[np.ndarray, np.ndarray]:
    return load_split(idx_dataset, "train")


def test_idx_is_mnist_for_the_project_reader(reference):
    images, labels = reference
    assert images.shape == (10 * PER_DIGIT, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [PER_DIGIT] * 10
    assert images.max() == 255 and np.median(images) == 0  # white ink on a black background, as MNIST
    assert (images[:, 0, :] == 0).mean() > 0.95  # the top row is background
    assert len(set(labels[:10].tolist())) > 1  # shuffled, not sorted by digit


def test_idx_reads_with_torchvision(idx_dataset, reference, tmp_path):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((idx_dataset / f"{name}.gz").read_bytes()))
    images = read_image_file(str(tmp_path / "train-images-idx3-ubyte")).numpy()
    labels = read_label_file(str(tmp_path / "train-labels-idx1-ubyte")).numpy()
    assert np.array_equal(images, reference[0]) and np.array_equal(labels, reference[1])


def test_card_says_how_to_make_the_data_again(idx_dataset):
    card = json.loads((idx_dataset / "card.json").read_text())
    model_file = ARTIFACTS / "cvae_decoder.onnx"
    assert card["model"] == "cvae" and card["model_file"] == model_file.name
    assert card["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert card["seed"] == 3 and card["format"] == "idx" and card["total"] == 10 * PER_DIGIT
    assert card["counts"] == {str(d): PER_DIGIT for d in range(10)}
    assert card["command"].startswith("python -m generate ") and "--per-digit 4" in card["command"]
    assert card["created"][:4].isdigit()


def test_npz_holds_the_same_digits(tmp_path, reference):
    assert run(tmp_path / "npz", "--format", "npz") == 0
    with np.load(tmp_path / "npz" / "train.npz") as data:
        assert data["images"].dtype == np.uint8 and data["labels"].dtype == np.int64
        assert np.array_equal(data["images"], reference[0]) and np.array_equal(data["labels"], reference[1])


def test_png_folders_hold_the_same_digits(tmp_path, reference):
    out = tmp_path / "png"
    assert run(out, "--format", "png") == 0
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "file,label" and len(rows) == 1 + 10 * PER_DIGIT
    for index, line in enumerate(rows[1:]):
        name, label = line.split(",")
        image = Image.open(out / name)
        assert image.mode == "L" and image.size == (28, 28)
        assert name.split("/")[0] == label == str(reference[1][index])
        assert np.array_equal(np.asarray(image), reference[0][index])


@pytest.mark.parametrize("fmt", ["idx", "npz", "png"])
def test_same_bytes_for_any_batch_size_and_threads(tmp_path, fmt):
    for batch_size, threads in (("1", "1"), ("7", "2"), ("1000", "1")):
        assert run(tmp_path / batch_size, "--format", fmt, "--batch-size", batch_size, "--threads", threads) == 0
    assert files_of(tmp_path / "1") == files_of(tmp_path / "7") == files_of(tmp_path / "1000")


def test_counts_and_seeds(tmp_path, reference):
    assert run(tmp_path / "some", "--counts", "0=3,7=5") == 0
    assert run(tmp_path / "sevens", "--counts", "7=5") == 0
    assert run(tmp_path / "seed4", "--seed", "4") == 0
    images, labels = load_split(tmp_path / "some", "train")
    assert np.bincount(labels, minlength=10).tolist() == [3, 0, 0, 0, 0, 0, 0, 5, 0, 0]
    sevens, _ = load_split(tmp_path / "sevens", "train")

    def as_set(a: np.ndarray) -> list[bytes]:
        return sorted(x.tobytes() for x in a)

    assert as_set(images[labels == 7]) == as_set(sevens)  # other digits' counts change no seven
    assert not np.array_equal(load_split(tmp_path / "seed4", "train")[0], reference[0])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err


def test_refuses_an_existing_folder_unless_forced(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert run(out) == 2 and "already exists" in one_line_error(capsys)
    assert run(out, "--force") == 2 and "not a dataset folder" in one_line_error(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["data"] and (out / "mine.txt").read_text() == "keep"
    shutil.rmtree(out)
    assert run(out) == 0 and run(out, "--seed", "9", "--force") == 0
    assert json.loads((out / "card.json").read_text())["seed"] == 9
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def fail_on_labels(monkeypatch) -> None:
    """The idx writer dies exactly after the images file is complete, before the labels file."""
    def write(path: Path, array: np.ndarray) -> None:
        if "labels" in path.name:
            raise RuntimeError("injected failure")
        write_idx(path, array)
    monkeypatch.setattr(writers, "write_idx", write)


def test_a_failed_write_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    fail_on_labels(monkeypatch)
    with pytest.raises(RuntimeError, match="injected"):
        run(tmp_path / "data")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_replacement_keeps_the_old_dataset(tmp_path, monkeypatch):
    out = tmp_path / "data"
    assert run(out) == 0
    before = files_of(out)
    fail_on_labels(monkeypatch)
    with pytest.raises(RuntimeError, match="injected"):
        run(out, "--seed", "9", "--force")
    assert files_of(out) == before and [p.name for p in tmp_path.iterdir()] == ["data"]


def test_a_killed_run_leaves_only_a_hidden_partial_folder(tmp_path):
    """SIGKILL right after the images file is written: no cleanup runs, and still no dataset appears."""
    script = (
        "import os, signal, sys\n"
        "import generate.writers as w\n"
        "from digits.idx import write_idx\n"
        "def write(path, array):\n"
        "    if 'labels' in path.name: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    write_idx(path, array)\n"
        "w.write_idx = write\n"
        "from generate.__main__ import main\n"
        "main(sys.argv[1:])\n")
    args = ["--artifacts", str(ARTIFACTS), "--per-digit", "4", "--out", str(tmp_path / "data")]
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL
    (partial,) = tmp_path.iterdir()
    assert partial.name.startswith(".data.") and [p.name for p in partial.iterdir()] == ["train-images-idx3-ubyte.gz"]


PER_DIGIT_RANGE = "--per-digit: must be a whole number from 1 to 100000, written in ASCII digits"
COUNT_RANGE = "the count of digit 3 must be a whole number from 0 to 100000, written in ASCII digits"


@pytest.mark.parametrize("argv, named", [
    (["--per-digit", "0"], PER_DIGIT_RANGE), (["--per-digit", "many"], PER_DIGIT_RANGE),
    (["--counts", "0=5,0=6"], "digit 0 is given twice"), (["--counts", "10=5"], "DIGIT=COUNT with a digit 0-9"),
    (["--counts", "3=-1"], COUNT_RANGE), (["--counts", "3=0"], "no digits at all"),
    (["--format", "jpg"], "'jpg'"), (["--batch-size", "0"], "--batch-size: must be a whole number from 1 to"),
    (["--seed", "-1"], "--seed: must be a whole number from 0 to 4294967295"),
    (["--per-digit", "3", "--counts", "1=3"], "--counts"), (["--model", "nope"], "'nope'"),
    (["--artifacts", "/no/such/folder"], "/no/such/folder"),
    (["--per-digit", "99999999999999"], PER_DIGIT_RANGE), (["--counts", "3=99999999999999999999"], COUNT_RANGE),
    (["--per-digit", " 3"], PER_DIGIT_RANGE), (["--per-digit", "3_0"], PER_DIGIT_RANGE),
    (["--per-digit", "\u0663"], PER_DIGIT_RANGE), (["--per-digit", "03"], PER_DIGIT_RANGE),
    (["--counts", "3=3_0"], COUNT_RANGE), (["--counts", "3=\u0663"], COUNT_RANGE),
    (["--counts", "3= 3"], COUNT_RANGE), (["--counts", "1=5, 3=3"], "DIGIT=COUNT with a digit 0-9"),
    (["--seed", "1" * 40], "--seed: must be a whole number"), (["--threads", "9" * 30], "--threads: must be"),
])
def test_bad_arguments_are_one_line_naming_the_argument_and_its_range(argv, named, tmp_path, capsys):
    try:
        code = main(["--artifacts", str(ARTIFACTS), "--out", str(tmp_path / "data"), *argv])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert named in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--per-digit", "99999999999999"], ["--counts", "3=\u0663"],
                                  ["--seed", "7_7"], ["--counts", "3=<x>"]])
def test_a_refused_number_is_never_echoed(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert argv[-1].removeprefix("3=") not in one_line_error(capsys)


def test_counts_up_to_the_bound_are_accepted():
    assert parse_args(["--per-digit", "100000"]).counts == {digit: 100000 for digit in range(10)}
    assert parse_args(["--counts", "0=100000,9=0,3=7"]).counts == {0: 100000, 9: 0, 3: 7}


def test_write_idx_round_trips_raw_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(tmp_path / name, array)
        assert np.array_equal(read_idx(tmp_path / name), array)
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "b", array.astype(np.int64))


def test_runs_in_the_serve_venv_without_torch(tmp_path):
    assert SERVE_PYTHON.exists(), "the serve venv is missing: run `make test` (it builds .venv-serve)"
    script = ("import sys\n"
              "from generate.__main__ import main\n"
              "assert main(sys.argv[1:]) == 0\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n")
    out = tmp_path / "data"
    result = subprocess.run([str(SERVE_PYTHON), "-c", script, "--artifacts", str(ARTIFACTS), "--model", "cgan",
                             "--per-digit", "3", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    assert np.bincount(load_split(out, "train")[1]).tolist() == [3] * 10
