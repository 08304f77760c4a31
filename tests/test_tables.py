"""The docs' results tables are the committed records, rendered: ``python -m tools.tables --check`` passes on
the checkout, fails naming the table when a record changes under it, and a rewrite makes it pass again."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools.tables import main, rendered_tables

RECORDS = ["artifacts/quality.json", "artifacts/cas.json",
           *(f"bench/{p.name}" for p in sorted(ROOT.glob("bench/results_*.json")))]


def copy_checkout(tmp_path: Path) -> Path:
    """README.md, docs/*.md and the records, as the checkout has them."""
    for name in ["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")), *RECORDS]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def used_tables() -> set[str]:
    """The tables some document of the checkout shows."""
    text = "\n".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    return {name for name in rendered_tables(ROOT) if f"<!-- table: {name} -->" in text}


def first_model_with(record: dict, key: str) -> str:
    return next(model for model, r in record["models"].items() if key in r)


# (record, how to find the number in it, the table it feeds)
CHANGES = [
    ("artifacts/quality.json", lambda r: r["models"][first_model_with(r, "accuracy")], "accuracy", "quality-samples"),
    ("artifacts/quality.json", lambda r: r["models"][first_model_with(r, "legibility")], "legibility",
     "quality-handwriting"),
    ("artifacts/quality.json", lambda r: r["models"][first_model_with(r, "drawn_legibility")], "drawn_legibility",
     "quality-drawn"),
    ("artifacts/quality.json", lambda r: r, "floor_fid", "quality-samples"),
    ("artifacts/cas.json", lambda r: r[sorted(r)[0]]["cas"], "accuracy", "cas"),
    *[(record, lambda r: r["compute_floor"], "onnx_ms", f"bench-{Path(record).stem.removeprefix('results_')}")
      for record in RECORDS if record.startswith("bench/")],
]


def test_the_committed_docs_match_the_committed_records(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().err
    assert {"quality-samples", "quality-handwriting", "quality-drawn", "cas"} <= used_tables()
    assert "<!-- table: quality-samples -->" in (ROOT / "README.md").read_text()  # the README's one results table


@pytest.mark.parametrize(("record", "where", "key", "table"), CHANGES, ids=[f"{c[3]}-{c[2]}" for c in CHANGES])
def test_a_changed_record_makes_the_check_fail_naming_its_table(tmp_path, capsys, record, where, key, table):
    if table not in used_tables():
        pytest.skip(f"no document shows table {table}")
    root = copy_checkout(tmp_path)
    assert main(["--check", "--root", str(root)]) == 0
    data = json.loads((root / record).read_text())
    where(data)[key] += 0.123  # shows in every format the tables use
    (root / record).write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"table {table} is stale" in err
    assert all(table in line for line in err.splitlines())  # only the tables that record feeds
    before = {p: p.read_text() for p in root.rglob("*.md")}
    assert main(["--check", "--root", str(root)]) == 1 and {p: p.read_text() for p in before} == before  # wrote nothing

    assert main(["--root", str(root)]) == 0  # the rewrite
    assert main(["--check", "--root", str(root)]) == 0
    assert f"<!-- table: {table} -->\n\n{rendered_tables(root)[table]}\n\n<!-- /table -->" in "".join(
        p.read_text() for p in root.rglob("*.md"))


def test_an_unknown_or_unclosed_table_is_an_error(tmp_path, capsys):
    root = copy_checkout(tmp_path)
    readme = root / "README.md"
    text = readme.read_text()
    readme.write_text(text + "\n<!-- table: no-such-table -->\n| x |\n<!-- /table -->\n")
    assert main(["--check", "--root", str(root)]) == 2
    assert "README.md: no record renders table no-such-table" in capsys.readouterr().err
    readme.write_text(text + "\n<!-- table: cas -->\n| x |\n")
    assert main(["--root", str(root)]) == 2
    assert "README.md: a '<!-- table: NAME -->' marker without its '<!-- /table -->'" in capsys.readouterr().err
    assert readme.read_text() == text + "\n<!-- table: cas -->\n| x |\n"  # nothing written
