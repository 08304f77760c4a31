"""The docs' results tables and the numbers in their prose are the committed records, rendered:
``python -m tools.tables --check`` passes on the checkout, fails naming the table or the value when a record
changes under it, and a rewrite makes it pass again; a value naming no number of a record is an error."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.paths import ROOT
from tools.tables import CODE, VALUE, main, records, render_value, rendered_tables

RECORDS = ["artifacts/quality.json", "artifacts/cas.json",
           *(f"bench/{p.name}" for p in sorted(ROOT.glob("bench/results_*.json"))),
           *(f"artifacts/{p.name}" for p in sorted(ROOT.glob("artifacts/*_steer.json")))]
RECORD_FILES = {"quality": "artifacts/quality.json", "cas": "artifacts/cas.json",  # a value's record, by its name
                **{f"bench-{Path(r).stem.removeprefix('results_')}": r for r in RECORDS if r.startswith("bench/")},
                **{f"steer-{Path(r).name.removesuffix('_steer.json')}": r
                   for r in RECORDS if r.endswith("_steer.json")}}
HISTORY = "docs/experiments.md"  # dated and typed by hand: the one page whose numbers never change


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


def used_values() -> dict[str, set[str]]:
    """Every value marker (``path:spec``) in the checkout's prose, by the document that shows it."""
    found: dict[str, set[str]] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        prose = CODE.split(path.read_text())[::2]
        markers = {m.group(1) for part in prose for m in VALUE.finditer(part)}
        if markers:
            found[str(path.relative_to(ROOT))] = markers
    return found


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
    assert all(table in line for line in err.splitlines() if ": table " in line)  # only the tables it feeds
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


def test_the_current_state_pages_take_their_numbers_from_the_records():
    shown = used_values()
    assert {"README.md", "docs/quality.md", "docs/handwriting.md", "docs/benchmarks.md"} <= set(shown)
    assert HISTORY not in shown  # history is typed once and never rewritten
    paths = {marker.partition(":")[0] for markers in shown.values() for marker in markers}
    assert {path.partition(".")[0] for path in paths} == set(RECORD_FILES)  # every record feeds the prose


def nudged(value: float) -> float:
    """A different number in every format the values use (``.0f`` of a count, ``.0%`` of a share)."""
    return value * 1.5 + 0.5


def set_number(record: object, keys: list[str], change) -> None:
    for key in keys[:-1]:
        record = record[int(key)] if isinstance(record, list) else record[key]
    last = int(keys[-1]) if isinstance(record, list) else keys[-1]
    record[last] = change(record[last])


@pytest.mark.parametrize("name", sorted(RECORD_FILES))
def test_a_changed_record_makes_the_check_fail_naming_each_value_under_it(tmp_path, capsys, name):
    root = copy_checkout(tmp_path)
    shown = {(doc, marker) for doc, markers in used_values().items() for marker in markers
             if marker.startswith(f"{name}.")}
    if not shown:
        pytest.skip(f"no value comes from {name}")
    data = json.loads((root / RECORD_FILES[name]).read_text())
    for path in {marker.partition(":")[0] for _, marker in shown}:
        set_number(data, path.split(".")[1:], nudged)
    (root / RECORD_FILES[name]).write_text(json.dumps(data))
    capsys.readouterr()
    before = {p: p.read_text() for p in root.rglob("*.md")}
    assert main(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert {p: p.read_text() for p in before} == before  # wrote nothing
    for doc, marker in shown:
        path = marker.partition(":")[0]
        typed = render_value(records(ROOT), marker, doc)
        assert f"{doc}: value {path} is stale: {typed} typed, " in err, (doc, marker)

    assert main(["--root", str(root)]) == 0  # the rewrite
    assert main(["--check", "--root", str(root)]) == 0
    for doc, marker in shown:
        assert f"<!-- value: {marker} -->{render_value({name: data}, marker, doc)}<!-- /value -->" in (
            root / doc).read_text()


BROKEN = [  # (marker, what the one-line error says after "docs/quality.md: ")
    ("quality.models.cvae.no_such_key:.3f", "value quality.models.cvae.no_such_key: quality.models.cvae has no "
                                            "'no_such_key'"),
    ("quality.models.no_such_model.c2st:.3f", "value quality.models.no_such_model.c2st: quality.models has no "
                                              "'no_such_model'"),
    ("quality.models.cvae.c2st_runs.99:.3f", "value quality.models.cvae.c2st_runs.99: quality.models.cvae.c2st_runs "
                                             "has no '99'"),
    ("no_such_record.c2st:.3f", "value no_such_record.c2st: no record named 'no_such_record'"),
    ("quality.models.cvae:.3f", "value quality.models.cvae: not a number in the record"),
    ("quality.models.cvae.c2st:.3q", "value quality.models.cvae.c2st: '.3q' is not a format spec for a number"),
]


@pytest.mark.parametrize(("marker", "says"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_value_naming_no_number_of_a_record_is_a_one_line_error(tmp_path, capsys, marker, says):
    root = copy_checkout(tmp_path)
    page = root / "docs" / "quality.md"
    text = page.read_text() + f"\nA number: <!-- value: {marker} -->0.5<!-- /value -->.\n"
    page.write_text(text)
    capsys.readouterr()
    for argv in (["--check", "--root", str(root)], ["--root", str(root)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: docs/quality.md: {says}") and err.count("\n") == 1, err
    assert page.read_text() == text  # nothing written


def test_an_unclosed_value_is_an_error_and_one_in_code_is_an_example(tmp_path, capsys):
    root = copy_checkout(tmp_path)
    page = root / "docs" / "quality.md"
    text = page.read_text()
    page.write_text(text + "\nThe syntax: `<!-- value: quality.models.cvae.c2st:.3f -->`, and\n"
                    "```\n<!-- value: quality.models.cvae.c2st:.3f -->0.1<!-- /value -->\n```\n")
    assert main(["--check", "--root", str(root)]) == 0  # examples in code are left as they are
    page.write_text(text + "\nC2ST <!-- value: quality.models.cvae.c2st:.3f -->0.794\n<!-- /value -->\n")
    capsys.readouterr()
    assert main(["--root", str(root)]) == 2
    assert "docs/quality.md: a '<!-- value: PATH:SPEC -->' marker without its '<!-- /value -->'" in (
        capsys.readouterr().err)


def test_no_current_state_page_types_a_rendered_number_by_hand():
    """A number a value renders, typed again in the prose of a current-state page (outside any marker), is a
    copy that will drift: it goes in a value or, dated, in the history."""
    rendered = {render_value(records(ROOT), marker, doc) for doc, markers in used_values().items()
                for marker in markers}
    rendered = {text for text in rendered if re.search(r"\d\.\d|\d,\d", text)}  # "80%" or "94" alone could be anything
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if str(path.relative_to(ROOT)) == HISTORY:
            continue
        prose = re.sub(r"<!-- table: .*?<!-- /table -->", "", path.read_text(), flags=re.S)
        prose = VALUE.sub("", prose)
        for text in rendered:
            assert not re.search(rf"(?<![\d.,]){re.escape(text)}(?![\d])", prose), (
                f"{path.relative_to(ROOT)} types {text} by hand: put it in a value")
