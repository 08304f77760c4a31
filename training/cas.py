"""Classification Accuracy Score: the judge's classifier trained on generated digits alone, tested on real ones.

    python -m training.cas --model cvae --data-dir ../shared/mnist     # merges into artifacts/cas.json

Ravuri & Vinyals (2019): a generator whose digits teach a classifier as well as real digits do has
captured what makes each digit that digit. Beside it stands the same recipe trained on the real
training digits: the committed judge, read through artifacts/judge.onnx.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digits.cas_report import table
from digits.cli import command_line, fail
from digits.files import atomic_path
from digits.generators import ModelError, OnnxGenerator
from digits.idx import DataError, load_split
from digits.judging import judge, open_judge
from digits.records import fingerprint
from generate.dataset import build, open_generator
from training.classifier import add_recipe_args, check_recipe, predict, train_classifier
from training.distributed import resolve_device

THREADS = 2


def synthetic_digits(generator: OnnxGenerator, per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The generated training set, through ``generate``'s idx files and the project's reader, and its command."""
    command = shlex.join(["python", "-m", "generate", "--model", generator.name, "--per-digit", str(per_digit),
                          "--seed", str(seed), "--format", "idx"])
    with tempfile.TemporaryDirectory(prefix="cas-") as tmp:
        build(generator, {digit: per_digit for digit in range(10)}, seed, "idx", Path(tmp) / "data", command=command)
        images, labels = load_split(Path(tmp) / "data", "train")
    return images, labels, command


def scored(predicted: np.ndarray, labels: np.ndarray) -> dict:
    """Overall and per-digit accuracy of predictions on the real test digits."""
    per_digit = {str(d): float((predicted[labels == d] == d).mean()) for d in range(10)}
    return {"accuracy": float((predicted == labels).mean()), "accuracy_per_digit": per_digit}


def real_reference(judge_path: Path, test_x: np.ndarray, test_y: np.ndarray) -> dict:
    """The judge (the recipe trained on real digits) scored the same way, through its ONNX file."""
    session = open_judge(judge_path, THREADS)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    probs, _ = judge(session, test_x / 255.0)
    return {**scored(probs.argmax(1), test_y), **fingerprint(judge_path),
            "train_images": int(meta["train_images"]), "epochs": int(meta["epochs"]),
            "recorded_test_accuracy": float(meta["test_accuracy"])}


def merge(out: Path, model: str, entry: dict) -> dict:
    """Replace this model's entry in the results file (atomically), keeping the other models'."""
    results = json.loads(out.read_text()) if out.exists() else {}
    results[model] = entry
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.cas", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="cvae", help="generator name in --artifacts (default cvae)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="real MNIST: the test digits")
    p.add_argument("--per-digit", type=int, default=6000, help="generated digits of each class (default 6000)")
    add_recipe_args(p)
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    p.add_argument("--out", type=Path, help="results file, merged per model (default <artifacts>/cas.json)")
    args = p.parse_args(argv)
    check_recipe(p, args)
    if args.per_digit * 10 < args.batch_size:
        p.error(f"--per-digit {args.per_digit}: fewer digits than one batch of {args.batch_size}")
    args.out = args.out or args.artifacts / "cas.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        device = resolve_device(args.device)
        test_x, test_y = load_split(args.data_dir, "test")
        real = real_reference(args.artifacts / "judge.onnx", test_x, test_y)
        generator = open_generator(args.artifacts, args.model)
        images, labels, generate_command = synthetic_digits(generator, args.per_digit, args.seed)
        train_start = time.perf_counter()
        classifier = train_classifier(images, labels, args, device)
        train_seconds = time.perf_counter() - train_start
        cas = scored(predict(classifier, test_x, device), test_y)
        entry = {"cas": cas, "real": real, "ratio": cas["accuracy"] / real["accuracy"],
                 "train_images": len(labels), "epochs": args.epochs, "device": device.type,
                 "generator": fingerprint(generator.path),
                 "generate_command": generate_command, "command": command_line("training.cas", argv),
                 "train_seconds": round(train_seconds, 1),
                 "wall_seconds": round(time.perf_counter() - start, 1),
                 "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        results = merge(args.out, args.model, entry)
    except (ValueError, DataError, ModelError, OSError) as exc:
        return fail(exc, 2)
    print(f"CAS {cas['accuracy']:.2%} ({args.model}), real {real['accuracy']:.2%}: wrote {args.out}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
