"""Records stay true to the committed files: every record (quality.json, cas.json, the bench results, the
model cards) names each file it measured by sha256, and one that names another version is stale."""
from __future__ import annotations

import json
import shutil

from digits.records import RECORDS, records, stale
from tests.paths import ROOT


def test_every_record_names_the_committed_files_it_measured():
    """Fails naming the record and the command that re-measures it (re-export a model and this fails until
    make evaluate, make cas, make bench and the cards have caught up)."""
    assert stale(ROOT) == []


def test_every_record_is_found_and_names_files():
    found = {path.relative_to(ROOT).as_posix(): named for path, (named, _) in records(ROOT).items()}
    assert set(RECORDS) <= set(found)
    assert {f"artifacts/{p.name}" for p in (ROOT / "artifacts").glob("*_card.md")} <= set(found)
    assert all(found.values())


def copy_records(tmp_path):
    """The records and the files they name, as the checkout has them."""
    for name in [*RECORDS, *(f"artifacts/{p.name}" for p in (ROOT / "artifacts").iterdir())]:
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_re_exported_file_makes_each_record_of_it_stale(tmp_path):
    """One byte appended to the committed CGAN: CAS, quality, bench and the CGAN's card all name the command."""
    root = copy_records(tmp_path)
    with open(root / "artifacts" / "cgan_generator.onnx", "ab") as f:
        f.write(b"\0")
    lines = stale(root)
    for record, command in [("artifacts/cas.json", "make cas MODEL=cgan"), ("artifacts/quality.json", "make evaluate"),
                            ("bench/results_cgan.json", "make bench MODEL=cgan"),
                            ("artifacts/cgan_generator_card.md", "make export MODEL=cgan")]:
        assert any(line.startswith(f"{record} measured cgan_generator.onnx ") and line.endswith(command)
                   for line in lines), (record, lines)
    assert not any("cvae" in line for line in lines)


def test_a_record_that_names_no_file_is_stale(tmp_path):
    root = copy_records(tmp_path)
    record = json.loads((root / "artifacts" / "quality.json").read_text())
    record.pop("judge")
    for model in record["models"].values():
        model.pop("files")
    (root / "artifacts" / "quality.json").write_text(json.dumps(record))
    assert stale(root) == ["artifacts/quality.json names no file it measured: re-measure with make evaluate"]
