"""Train the judge: an independent MNIST classifier that scores generated digits.

    python -m training.train_judge --data-dir ../shared/mnist     # runs/judge/checkpoint.pt
    python -m export --model judge                          # artifacts/judge.onnx and its card

The judge never sees generated images; its recipe is in training/classifier.py. The test
digits are only measured here (the accuracy its card states), never used to choose anything.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from digits.cli import command_line, fail
from digits.idx import DataError, load_split
from training import checkpoint
from training.classifier import FEATURES, accuracy, add_recipe_args, check_recipe, train_classifier
from training.distributed import resolve_device


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train_judge", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    add_recipe_args(p)
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (default 0 = all)")
    p.add_argument("--checkpoint", type=Path, default=Path("runs/judge") / checkpoint.FULL)
    args = p.parse_args(argv)
    check_recipe(p, args)
    if args.limit < 0:
        p.error(f"--limit must be 0 or more, got {args.limit}")
    return args


def recipe_config(args: argparse.Namespace) -> dict:
    """The judge's settings as its checkpoint records them (plain values, like the generators')."""
    return {"model": "judge", **{k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "seed", "limit")}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = resolve_device(args.device)
        train_x, train_y = load_split(args.data_dir, "train")
        if args.limit:
            train_x, train_y = train_x[:args.limit], train_y[:args.limit]
        test_x, test_y = load_split(args.data_dir, "test")
        start = time.perf_counter()
        model = train_classifier(train_x, train_y, args, device)
        seconds = time.perf_counter() - start
        test_accuracy = accuracy(model, test_x, test_y, device)
        n = len(train_y)
        meta = {"model": "judge", "dataset": "MNIST" if n == 60000 else f"MNIST (first {n} training images)",
                "train_images": n, "device": device.type, "torch": str(torch.__version__),
                "command": command_line("training.train_judge", argv), "train_seconds": round(seconds, 1),
                "test_accuracy": round(test_accuracy, 4), "features": FEATURES}
        checkpoint.save({"judge": model.cpu().state_dict(), "config": recipe_config(args),
                         "epoch": args.epochs, "meta": meta}, args.checkpoint)
    except (ValueError, DataError, OSError) as exc:
        return fail(exc, 2)
    print(f"test accuracy {test_accuracy:.2%} on {len(test_y)} official test digits, {seconds / 60:.1f} min")
    print(f"wrote {args.checkpoint}; export it with: python -m export --model judge --checkpoint {args.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
