"""The command line of ``python -m generate``: every bad value is one line naming it, exit status 2."""
from __future__ import annotations

import argparse
from pathlib import Path

from digits.cli import OneLineParser, whole
from generate.dataset import BATCH_SIZE, WORKERS
from generate.writers import FORMATS

DIGITS = [str(digit) for digit in range(10)]
# Every image and latent is held in memory until the files are written: 100,000 of each digit is
# 1,000,000 images (17x MNIST's training set), about 1 GB of memory (2 GB while npz copies them)
# and 1,000,000 files as PNGs.
MAX_PER_DIGIT = 100_000
MAX_BATCH = 10 * MAX_PER_DIGIT  # one batch of the largest dataset
MAX_SEED = 2**32 - 1  # the web app's seeds too; NumPy would take any, the bound keeps a card's seed short
MAX_THREADS = 256  # more than the cores of any machine this runs on; each thread holds one batch


def counts(text: str) -> dict[int, int]:
    """``0=500,1=700``: digits 0-9 at most once each, counts 0-MAX_PER_DIGIT, at least one digit in all."""
    result: dict[int, int] = {}
    for item in text.split(","):
        digit, sep, n = item.partition("=")
        if not sep or digit not in DIGITS:
            raise argparse.ArgumentTypeError("each item must be DIGIT=COUNT with a digit 0-9, "
                                             "separated by commas without spaces, e.g. 0=500,1=700")
        if int(digit) in result:
            raise argparse.ArgumentTypeError(f"digit {digit} is given twice")
        try:
            result[int(digit)] = whole(0, MAX_PER_DIGIT)(n)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"the count of digit {digit} {exc}") from None
    if not sum(result.values()):
        raise argparse.ArgumentTypeError("the counts ask for no digits at all")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m generate", description="Write a synthetic MNIST dataset "
                      "from a committed ONNX generator (onnxruntime, no torch).")
    p.add_argument("--model", default="cvae", help="generator name in --artifacts (default cvae)")
    how_many = p.add_mutually_exclusive_group()
    how_many.add_argument("--per-digit", type=whole(1, MAX_PER_DIGIT), default=6000,
                          help=f"samples of every digit, 1-{MAX_PER_DIGIT} (default 6000)")
    how_many.add_argument("--counts", type=counts, help=f"samples per digit, 0-{MAX_PER_DIGIT} each, "
                          "e.g. 0=500,1=700 (others: none)")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    p.add_argument("--format", choices=sorted(FORMATS), default="idx")
    p.add_argument("--out", type=Path, help="dataset folder (default data/synthetic-<model>-<format>)")
    p.add_argument("--force", action="store_true", help="replace an existing dataset folder")
    p.add_argument("--batch-size", type=whole(1, MAX_BATCH), default=BATCH_SIZE,
                   help="images per onnxruntime call; changes speed, never the bytes")
    p.add_argument("--threads", type=whole(1, MAX_THREADS), default=WORKERS, help="batches run side by side, "
                   "one core each (default: all cores); changes speed, never the bytes")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="folder of *.onnx generators")
    args = p.parse_args(argv)
    args.counts = args.counts or {digit: args.per_digit for digit in range(10)}
    args.out = args.out or Path("data") / f"synthetic-{args.model}-{args.format}"
    return args
