"""python -m tools.tables: the docs' results tables, rendered from the committed records.

Every table of measured numbers in README.md and docs/*.md sits between two marker comments,

    <!-- table: quality-samples -->
    (rendered here, never typed)
    <!-- /table -->

and is rendered from artifacts/quality.json (python -m evaluate), artifacts/cas.json (python -m
training.cas) or bench/results_<model>.json (python -m bench). ``python -m tools.tables`` rewrites every
block in place; ``--check`` writes nothing and exits 1 naming each block that differs from its record.
No torch: it runs in the serve venv, and formats the quality tables with the evaluate package's own
report module (evaluate/report.py) and the benchmark's with bench/report.py.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench.report import table as bench_table
from digits.cas_report import table as cas_table
from digits.files import atomic_path
from evaluate.report import HANDWRITING, REAL, SAMPLES, STEERING
from evaluate.report import table as quality_table

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- table: ([a-z0-9-]+) -->\n(.*?)<!-- /table -->", re.S)
OPENING = re.compile(r"<!-- table: ([^ ]*) -->")


class TableError(Exception):
    """A marker that names no table, or a table whose record is missing."""


def documents(root: Path) -> list[Path]:
    """README.md and every docs/*.md: the files that may hold tables."""
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def present(columns: list[tuple[str, str]], rows: dict[str, dict]) -> list[tuple[str, str]]:
    """The columns some row of the record has: a column no model measured yet is left out, not shown as dashes."""
    return [c for c in columns if any(c[0] in r for r in rows.values())]


def quality_tables(record: dict) -> dict[str, str]:
    real, models = record["real"], record["models"]
    samples = {REAL: real, **models}
    style = [c for c in HANDWRITING if not c[0].startswith("drawn_")]
    drawn = [c for c in HANDWRITING if c[0].startswith("drawn_")]
    floor = (f"FID floor (all {record['train_images']:,} training digits against the test digits, judge features): "
             f"{record['floor_fid']:.2f}")
    return {
        "quality-samples": f"{quality_table(samples, present(SAMPLES, samples))}\n\n{floor}",
        "quality-handwriting": quality_table(models, present(style, models)),
        "quality-drawn": quality_table(models, present(drawn, models)),
        "quality-steering": quality_table(models, present(STEERING, models)),
    }


def rendered_tables(root: Path) -> dict[str, str]:
    """Every table the committed records under ``root`` give, by marker name."""
    tables: dict[str, str] = {}
    quality, cas = root / "artifacts" / "quality.json", root / "artifacts" / "cas.json"
    if quality.is_file():
        tables |= quality_tables(json.loads(quality.read_text()))
    if cas.is_file():
        tables["cas"] = cas_table(json.loads(cas.read_text()))
    for results in sorted((root / "bench").glob("results_*.json")):
        tables[f"bench-{results.stem.removeprefix('results_')}"] = bench_table(json.loads(results.read_text()))
    return tables


def rewrite(text: str, tables: dict[str, str], where: str) -> tuple[str, list[str]]:
    """``text`` with every table block rendered afresh, and the names of the blocks that changed."""
    opened = OPENING.findall(text)
    closed = [m.group(1) for m in BLOCK.finditer(text)]
    if opened != closed:
        raise TableError(f"{where}: a '<!-- table: NAME -->' marker without its '<!-- /table -->' "
                         f"(or with a name other than lower-case letters, digits and '-')")
    unknown = sorted(set(closed) - set(tables))
    if unknown:
        raise TableError(f"{where}: no record renders table {', '.join(unknown)} (known: {', '.join(sorted(tables))})")
    changed: list[str] = []

    def block(m: re.Match) -> str:
        body = f"\n{tables[m.group(1)]}\n\n"
        if m.group(2) != body:
            changed.append(m.group(1))
        return f"<!-- table: {m.group(1)} -->\n{body}<!-- /table -->"

    return BLOCK.sub(block, text), changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.tables", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale table")
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this one)")
    args = p.parse_args(argv)
    try:
        tables = rendered_tables(args.root)
        results = []
        for path in documents(args.root):
            text = path.read_text()
            new, changed = rewrite(text, tables, str(path.relative_to(args.root)))
            results.append((path, text, new, changed))
    except (TableError, OSError, KeyError, ValueError) as exc:
        detail = f"record has no {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"error: {detail}", file=sys.stderr)
        return 2
    stale = [(path, name) for path, _, _, changed in results for name in changed]
    if args.check:
        for path, name in stale:
            print(f"{path.relative_to(args.root)}: table {name} is stale (python -m tools.tables rewrites it)",
                  file=sys.stderr)
        return 1 if stale else 0
    for path, text, new, changed in results:
        if new != text:
            with atomic_path(path) as tmp:
                tmp.write_text(new)
            print(f"{path.relative_to(args.root)}: rewrote {', '.join(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
