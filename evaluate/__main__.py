"""python -m evaluate: score every committed generator with the judge, print the table, write quality.json."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from digits.c2st import c2st_runs
from digits.cli import OneLineParser, command_line, fail, whole
from digits.files import atomic_path
from digits.generators import ModelError, load_generators
from digits.grid import save_grid
from digits.idx import DataError, load_split
from digits.judging import open_judge
from digits.measures import real_sample, samples_per_digit
from digits.records import fingerprint
from evaluate.drawn_scores import drawing_scores
from evaluate.metrics import Reference, score
from evaluate.report import report_tables
from evaluate.steer import steer_scores
from evaluate.style import style_scores

THREADS = 2
# At least the ten samples of every digit that the quality grid shows; at most what the real-digit row can
# draw without replacement from every digit's training images (the 5 has 5,421).
MAX_PER_DIGIT = 5000
MORPHS = 200  # random (digit, hand) -> (digit, hand) morphs of 8 frames per generator

def score_real(train: np.ndarray, train_labels: np.ndarray, per_digit: int, seed: int, judge_session,
               ref: Reference) -> dict:
    """The reference row: real training digits through exactly a generator's sampling and scoring."""
    images, labels, picks = real_sample(train, train_labels, per_digit, seed)
    rest = np.delete(train, picks, axis=0)  # a digit is not novel against itself: measure against the others
    return score(images, labels, judge_session, ref, novelty_pool=rest) | two_sample(ref, images, seed)


def two_sample(ref: Reference, samples: np.ndarray, seed: int) -> dict:
    """C2ST of samples against the real test digits (never the training digits, which the generators were
    fitted to): the mean of its repeats, their spread and each one, with the time they took on this machine."""
    start = time.perf_counter()
    runs = c2st_runs(ref.test, samples, seed)
    return {"c2st": float(np.mean(runs)), "c2st_sd": float(np.std(runs, ddof=1)), "c2st_runs": runs,
            "c2st_seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m evaluate", description=__doc__)
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--per-digit", type=whole(10, MAX_PER_DIGIT), default=1000,
                   help=f"samples of each digit per generator, 10-{MAX_PER_DIGIT} (default 1000)")
    p.add_argument("--seed", type=whole(0, 2**32 - 1), default=0)
    p.add_argument("--out", type=Path, help="default: <artifacts>/quality.json")
    args = p.parse_args(argv)
    judge_path = args.artifacts / "judge.onnx"
    try:
        judge_session = open_judge(judge_path, THREADS)
        generators = load_generators(args.artifacts, THREADS)
        train, train_labels = load_split(args.data_dir, "train")
        test, test_labels = load_split(args.data_dir, "test")
    except (DataError, ModelError) as exc:
        return fail(exc, 2)
    ref = Reference.build(judge_session, train / 255.0, test / 255.0, test_labels)
    real = score_real(ref.train, train_labels, args.per_digit, args.seed, judge_session, ref)
    real["fid_real_ratio"] = 1.0
    results = {}
    for model, generator in generators.items():
        images, labels = samples_per_digit(generator, args.per_digit, args.seed)
        results[model] = {"files": [fingerprint(path) for path in generator.files()],
                          **score(images, labels, judge_session, ref)}
        results[model]["fid_real_ratio"] = results[model]["fid"] / real["fid"]
        results[model] |= two_sample(ref, images, args.seed)
        if generator.style is not None:
            results[model] |= style_scores(generator.style, judge_session, args.per_digit, MORPHS, args.seed)
        if generator.steer is not None:  # slant, weight and width as controls (docs/handwriting.md)
            results[model] |= steer_scores(generator.style, generator.steer, judge_session, args.seed)
        if generator.encoder is not None:  # the test digits as drawings (docs/handwriting.md)
            results[model] |= drawing_scores(generator, judge_session, test, test_labels, images, labels)
        picks = [i for d in range(10) for i in range(d * args.per_digit, d * args.per_digit + 10)]
        save_grid(images[picks, None], args.artifacts / f"{model}_quality_grid.png")
    judge_meta = judge_session.get_modelmeta().custom_metadata_map
    report = {"command": command_line("evaluate", argv), "per_digit": args.per_digit, "seed": args.seed,
              "train_images": len(train), "floor_fid": ref.floor_fid, "judge": fingerprint(judge_path),
              "judge_test_accuracy": float(judge_meta["test_accuracy"]), "real": real,
              "models": results}
    with atomic_path(args.out or args.artifacts / "quality.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(f"judge: {float(judge_meta['test_accuracy']):.2%} on the official test digits")
    print(report_tables(real, results, ref.floor_fid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
