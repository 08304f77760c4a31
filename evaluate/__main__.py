"""python -m evaluate: score every committed generator with the judge, print the table, write quality.json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evaluate.metrics import Reference, generate, score
from training.cli import command_line, fail
from training.files import atomic_path
from training.grid import save_grid
from training.mnist import DataError, load_split
from webapp.generators import ModelError, load_generators, open_session

THREADS = 2

TARGETS = {  # name: (test, text) for each committed generator
    "accuracy": (lambda v: v >= 0.995, ">= 99.5%"),
    "accuracy_min_digit": (lambda v: v >= 0.985, ">= 98.5%"),
    "fid_ratio": (lambda v: v <= 2.0, "<= 2x floor"),
    "diversity_ratio": (lambda v: 0.9 <= v <= 1.1, "0.9-1.1"),
    "distinct_groups": (lambda v: v >= 1.0, "100%"),
    "novelty_ratio": (lambda v: v >= 0.8, ">= 0.8"),
}
COLUMNS = [("accuracy", "{:.2%}"), ("accuracy_min_digit", "{:.2%}"), ("confidence", "{:.3f}"), ("fid", "{:.2f}"),
           ("fid_ratio", "{:.2f}x"), ("diversity_ratio", "{:.3f}"), ("distinct_groups", "{:.1%}"),
           ("novelty_ratio", "{:.3f}")]


def table(results: dict[str, dict], floor: float) -> str:
    head = "| model | " + " | ".join(name for name, _ in COLUMNS) + " |"
    rows = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for model, r in results.items():
        cells = []
        for name, fmt in COLUMNS:
            mark = "" if name not in TARGETS else (" ok" if TARGETS[name][0](r[name]) else " MISS")
            cells.append(fmt.format(r[name]) + mark)
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
    rows.append("| target | " + " | ".join(TARGETS[n][1] if n in TARGETS else "" for n, _ in COLUMNS) + " |")
    return "\n".join(rows) + f"\n\nFID floor (training vs test digits, judge features): {floor:.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluate", description=__doc__)
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--per-digit", type=int, default=1000, help="samples of each digit per generator")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="default: <artifacts>/quality.json")
    args = p.parse_args(argv)
    if args.per_digit < 5:
        p.error(f"--per-digit must be at least 5, got {args.per_digit}")
    judge_path = args.artifacts / "judge.onnx"
    try:
        if not judge_path.is_file():
            raise DataError(f"{judge_path}: no judge (train it with python -m training.judge)")
        judge_session = open_session(judge_path, THREADS)
        generators = load_generators(args.artifacts, THREADS)
        train, _ = load_split(args.data_dir, "train")
        test, test_labels = load_split(args.data_dir, "test")
    except (DataError, ModelError) as exc:
        return fail(exc, 2)
    ref = Reference.build(judge_session, train / 255.0, test / 255.0, test_labels)
    results = {}
    for model, generator in generators.items():
        images, digits = generate(generator, args.per_digit, args.seed)
        results[model] = score(images, digits, judge_session, ref)
        picks = [i for d in range(10) for i in range(d * args.per_digit, d * args.per_digit + 10)]
        save_grid(images[picks, None], args.artifacts / f"{model}_quality_grid.png")
    judge_meta = judge_session.get_modelmeta().custom_metadata_map
    report = {"command": command_line("evaluate", argv),
              "per_digit": args.per_digit, "seed": args.seed, "floor_fid": ref.floor_fid,
              "judge_test_accuracy": float(judge_meta["test_accuracy"]), "models": results}
    with atomic_path(args.out or args.artifacts / "quality.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(f"judge: {float(judge_meta['test_accuracy']):.2%} on the official test digits")
    print(table(results, ref.floor_fid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
