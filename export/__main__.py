"""python -m export [--model cvae] [--checkpoint PATH] [--out PATH]"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from export.onnx_export import ARTIFACT_NAMES, ExportError, export
from training.checkpoint import CheckpointError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export", description="Export a trained generator to ONNX.")
    p.add_argument("--model", choices=sorted(ARTIFACT_NAMES), default="cvae")
    p.add_argument("--checkpoint", type=Path,
                   help="full or generator_epoch_N checkpoint (default: runs/<model>/checkpoint.pt)")
    p.add_argument("--out", type=Path, help="default: artifacts/<the model's file name>")
    p.add_argument("--seed", type=int, default=0, help="seed of the parity inputs and the sample grid")
    args = p.parse_args(argv)
    ckpt = args.checkpoint or Path("runs") / args.model / "checkpoint.pt"
    out = args.out or Path("artifacts") / ARTIFACT_NAMES[args.model]
    try:
        command = shlex.join(["python", "-m", "export", *(sys.argv[1:] if argv is None else argv)])
        max_diff = export(ckpt, out, args.seed, command)
    except (ExportError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} (max abs diff vs PyTorch {max_diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
