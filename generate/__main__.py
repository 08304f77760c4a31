"""python -m generate: a synthetic MNIST dataset (idx, npz or PNG) with its card, from an ONNX generator."""
from __future__ import annotations

import sys
import time

from digits.cli import command_line, fail
from digits.generators import ModelError
from digits.idx import DataError
from generate.arguments import parse_args
from generate.dataset import build, open_generator


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        generator = open_generator(args.artifacts, args.model)
        start = time.perf_counter()
        card = build(generator, args.counts, args.seed, args.format, args.out, force=args.force,
                     batch_size=args.batch_size, workers=args.threads, command=command_line("generate", argv))
    except (DataError, ModelError, OSError) as exc:
        return fail(exc, 2)
    seconds = time.perf_counter() - start
    print(f"wrote {card['total']} {args.model} digits ({args.format}) to {args.out} in {seconds:.1f} s "
          f"({card['total'] / seconds:,.0f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
