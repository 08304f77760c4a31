"""The command line of ``python -m generate``: every bad value is one line naming it, exit status 2."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digits.cli import fail
from generate.dataset import BATCH_SIZE, WORKERS
from generate.writers import FORMATS

DIGITS = [str(digit) for digit in range(10)]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (``error: …``) without the usage block. Belongs in the core cli."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.exit(fail(ValueError(message), 2))


def whole(minimum: int):
    """An argparse type: an integer of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below {minimum}")
        return value
    return parse


def counts(text: str) -> dict[int, int]:
    """``0=500,1=700``: digits 0-9 at most once each, counts >= 0, at least one digit in all."""
    result: dict[int, int] = {}
    for item in text.split(","):
        digit, sep, n = (part.strip() for part in item.partition("="))
        if not sep or digit not in DIGITS:
            raise argparse.ArgumentTypeError(f"{item!r} is not DIGIT=COUNT with a digit 0-9")
        if int(digit) in result:
            raise argparse.ArgumentTypeError(f"digit {digit} is given twice in {text!r}")
        result[int(digit)] = whole(0)(n)
    if not sum(result.values()):
        raise argparse.ArgumentTypeError(f"{text!r} asks for no digits at all")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m generate", description="Write a synthetic MNIST dataset "
                      "from a committed ONNX generator (onnxruntime, no torch).")
    p.add_argument("--model", default="cvae", help="generator name in --artifacts (default cvae)")
    how_many = p.add_mutually_exclusive_group()
    how_many.add_argument("--per-digit", type=whole(1), default=6000, help="samples of every digit (default 6000)")
    how_many.add_argument("--counts", type=counts, help="samples per digit, e.g. 0=500,1=700 (others: none)")
    p.add_argument("--seed", type=whole(0), default=0)
    p.add_argument("--format", choices=sorted(FORMATS), default="idx")
    p.add_argument("--out", type=Path, help="dataset folder (default data/synthetic-<model>-<format>)")
    p.add_argument("--force", action="store_true", help="replace an existing dataset folder")
    p.add_argument("--batch-size", type=whole(1), default=BATCH_SIZE, help="images per onnxruntime call; "
                   "changes speed, never the bytes")
    p.add_argument("--threads", type=whole(1), default=WORKERS, help="batches run side by side, one core each "
                   "(default: all cores); changes speed, never the bytes")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="folder of *.onnx generators")
    args = p.parse_args(argv)
    args.counts = args.counts or {digit: args.per_digit for digit in range(10)}
    args.out = args.out or Path("data") / f"synthetic-{args.model}-{args.format}"
    return args
