"""Classification Accuracy Score end to end, tiny: generate a few hundred digits with each committed
generator, train the judge's recipe on them for one epoch, test on the real test digits, merge cas.json."""
from __future__ import annotations

import json

import pytest

from tests.paths import ROOT
from training.cas import main

pytestmark = pytest.mark.training

TINY = ["--per-digit", "13", "--epochs", "1", "--artifacts", str(ROOT / "artifacts")]


def test_tiny_cas_runs_write_one_valid_entry_per_model(mnist, tmp_path, capsys):
    out = tmp_path / "cas.json"
    for model in ("cvae", "cgan"):
        assert main(["--model", model, "--data-dir", str(mnist), "--out", str(out), *TINY]) == 0
    results = json.loads(out.read_text())
    assert sorted(results) == ["cgan", "cvae"]  # the second run merged, it did not overwrite
    for model, entry in results.items():
        cas, real = entry["cas"], entry["real"]
        assert entry["train_images"] == 130 and entry["epochs"] == 1
        assert sorted(cas["accuracy_per_digit"]) == sorted(real["accuracy_per_digit"]) == [str(d) for d in range(10)]
        assert 0 <= cas["accuracy"] <= 1 and entry["ratio"] == pytest.approx(cas["accuracy"] / real["accuracy"])
        assert real["accuracy"] == pytest.approx(real["recorded_test_accuracy"], abs=1e-4)  # the judge, re-measured
        assert entry["generator"]["file"].startswith(model) and len(entry["generator"]["sha256"]) == 64
        assert entry["command"].startswith(f"python -m training.cas --model {model} ")
        assert entry["generate_command"] == f"python -m generate --model {model} --per-digit 13 --seed 0 --format idx"
        assert entry["wall_seconds"] >= entry["train_seconds"] > 0
    table = capsys.readouterr().out
    assert "| 130 cgan digits |" in table and "| 130 cvae digits |" in table and "real digits (the judge)" in table
    assert [p.name for p in tmp_path.iterdir()] == ["cas.json"]  # no temporary dataset or file left behind


def test_fewer_digits_than_a_batch_is_refused(mnist, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--per-digit", "5", "--data-dir", str(mnist), "--out", str(tmp_path / "cas.json")])
    assert exc.value.code == 2 and "--per-digit 5" in capsys.readouterr().err
    assert not (tmp_path / "cas.json").exists()
