"""python -m tools.tables: the docs' results tables and the numbers in their prose, rendered from the
committed records.

Every table of measured numbers in README.md and docs/*.md sits between two marker comments,

    <!-- table: quality-samples -->
    (rendered here, never typed)
    <!-- /table -->

and every measured number in their prose between two inline ones,

    the CVAE's C2ST is <!-- value: quality.models.cvae.c2st:.3f -->0.794<!-- /value --> (target 0.60)

The value's path is a record's name, then keys (and list positions) into it, joined by dots; after the
colon comes a Python format spec (``.3f``, ``.2%``, ``,.0f``), where a trailing ``x`` marks a ratio
(``.2fx`` renders ``2.06x``). The records, by name: ``quality`` (artifacts/quality.json, python -m
evaluate), ``cas`` (artifacts/cas.json, python -m training.cas), ``bench-<model>``
(bench/results_<model>.json, python -m bench) and ``steer-<model>`` (artifacts/<model>_steer.json,
python -m export). ``python -m tools.tables`` rewrites every block and value in place; ``--check``
writes nothing and exits 1 naming each block or value that differs from its record. A value whose path
is not in a record, or a marker without its end, is an error (exit 2) naming the document and the path;
a marker inside `code` is an example, left as it is.
No torch: it runs in the serve venv, and formats the quality tables with the evaluate package's own
report module (evaluate/report.py) and the benchmark's with bench/report.py.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench.report import profile_table
from bench.report import table as bench_table
from digits.cas_report import table as cas_table
from digits.files import atomic_path
from evaluate.report import HANDWRITING, REAL, SAMPLES, STEERING
from evaluate.report import table as quality_table

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- table: ([a-z0-9-]+) -->\n(.*?)<!-- /table -->", re.S)
OPENING = re.compile(r"<!-- table: ([^ ]*) -->")
VALUE = re.compile(r"<!-- value: ([^ >]+) -->([^<\n]*)<!-- /value -->")
VALUE_OPENING = re.compile(r"<!-- value: ([^ >]*) -->")
CODE = re.compile(r"(^```.*?^```|`[^`\n]*`)", re.S | re.M)  # a marker in code is an example, not a value


class TableError(Exception):
    """A marker that names no table or no number of a record, or a marker without its end."""


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


def records(root: Path) -> dict[str, object]:
    """Every committed record under ``root`` a value may name, by the name its path starts with."""
    files = {"quality": root / "artifacts" / "quality.json", "cas": root / "artifacts" / "cas.json",
             **{f"bench-{p.stem.removeprefix('results_')}": p for p in sorted((root / "bench").glob("results_*.json"))},
             **{f"steer-{p.name.removesuffix('_steer.json')}": p
                for p in sorted((root / "artifacts").glob("*_steer.json"))}}
    return {name: json.loads(path.read_text()) for name, path in files.items() if path.is_file()}


def number(records: dict[str, object], path: str, where: str) -> float:
    """The number at a value's dotted path: a record's name, then keys and list positions."""
    name, *keys = path.split(".")
    if name not in records:
        raise TableError(f"{where}: value {path}: no record named {name!r} (known: {', '.join(sorted(records))})")
    found = records[name]
    for i, key in enumerate(keys):
        inside = ".".join([name, *keys[:i]])
        if isinstance(found, dict) and key in found:
            found = found[key]
        elif isinstance(found, list) and key.isdigit() and int(key) < len(found):
            found = found[int(key)]
        else:
            raise TableError(f"{where}: value {path}: {inside} has no {key!r}")
    if isinstance(found, bool) or not isinstance(found, int | float):
        raise TableError(f"{where}: value {path}: not a number in the record")
    return found


def formatted(value: float, spec: str, path: str, where: str) -> str:
    """``value`` by a Python format spec; a spec ending in a float type then ``x`` is a ratio (2.06x)."""
    ratio = len(spec) > 1 and spec.endswith("x") and spec[-2] in "eEfFgG%"
    try:
        return format(value, spec[:-1] if ratio else spec) + ("x" if ratio else "")
    except ValueError:
        raise TableError(f"{where}: value {path}: {spec!r} is not a format spec for a number") from None


def render_value(records: dict[str, object], marker: str, where: str) -> str:
    """The text a value marker (``path:spec``) stands for."""
    path, _, spec = marker.partition(":")
    return formatted(number(records, path, where), spec, path, where)


def rendered_tables(root: Path) -> dict[str, str]:
    """Every table the committed records under ``root`` give, by marker name."""
    tables: dict[str, str] = {}
    given = records(root)
    if "quality" in given:
        tables |= quality_tables(given["quality"])
    if "cas" in given:
        tables["cas"] = cas_table(given["cas"])
    benches = {name: record for name, record in given.items() if name.startswith("bench-")}
    tables |= {name: bench_table(record) for name, record in benches.items()}
    tables |= {f"{name}-profile": profile_table({"now": record["profile"]["now"],
                                                 record["before"]: record["profile"]["before"]})
               for name, record in benches.items() if "profile" in record}
    return tables


def rewrite(text: str, tables: dict[str, str], where: str,
            values: dict[str, object] | None = None) -> tuple[str, list[tuple[str, str]]]:
    """``text`` with every table block and every value rendered afresh from the records, and what changed:
    (``table NAME`` or ``value PATH``, and for a value what was typed and what the record gives)."""
    opened = OPENING.findall(text)
    closed = [m.group(1) for m in BLOCK.finditer(text)]
    if opened != closed:
        raise TableError(f"{where}: a '<!-- table: NAME -->' marker without its '<!-- /table -->' "
                         f"(or with a name other than lower-case letters, digits and '-')")
    unknown = sorted(set(closed) - set(tables))
    if unknown:
        raise TableError(f"{where}: no record renders table {', '.join(unknown)} (known: {', '.join(sorted(tables))})")
    prose = CODE.split(text)[::2]
    if sum(len(VALUE_OPENING.findall(part)) - len(VALUE.findall(part)) for part in prose):
        raise TableError(f"{where}: a '<!-- value: PATH:SPEC -->' marker without its '<!-- /value -->' on the "
                         f"same line (or with a space in PATH:SPEC)")
    changed: list[tuple[str, str]] = []

    def block(m: re.Match) -> str:
        body = f"\n{tables[m.group(1)]}\n\n"
        if m.group(2) != body:
            changed.append((f"table {m.group(1)}", ""))
        return f"<!-- table: {m.group(1)} -->\n{body}<!-- /table -->"

    def value(m: re.Match) -> str:
        rendered = render_value(values or {}, m.group(1), where)
        if m.group(2) != rendered:
            changed.append((f"value {m.group(1).partition(':')[0]}",
                            f": {m.group(2) or 'nothing'} typed, {rendered} in the record"))
        return f"<!-- value: {m.group(1)} -->{rendered}<!-- /value -->"

    parts = CODE.split(BLOCK.sub(block, text))
    return "".join(part if i % 2 else VALUE.sub(value, part) for i, part in enumerate(parts)), changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.tables", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale table and value")
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this one)")
    args = p.parse_args(argv)
    try:
        tables, values = rendered_tables(args.root), records(args.root)
        results = []
        for path in documents(args.root):
            text = path.read_text()
            new, changed = rewrite(text, tables, str(path.relative_to(args.root)), values)
            results.append((path, text, new, changed))
    except (TableError, OSError, KeyError, ValueError) as exc:
        detail = f"record has no {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"error: {detail}", file=sys.stderr)
        return 2
    stale = [(path, name, detail) for path, _, _, changed in results for name, detail in changed]
    if args.check:
        for path, name, detail in stale:
            print(f"{path.relative_to(args.root)}: {name} is stale{detail} (python -m tools.tables rewrites it)",
                  file=sys.stderr)
        return 1 if stale else 0
    for path, text, new, changed in results:
        if new != text:
            with atomic_path(path) as tmp:
                tmp.write_text(new)
            print(f"{path.relative_to(args.root)}: rewrote {', '.join(name for name, _ in changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
