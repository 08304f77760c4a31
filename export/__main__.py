"""python -m export [--model cvae|cgan] [--checkpoint PATH] [--out PATH]"""
from __future__ import annotations

import sys
from pathlib import Path

from digits.cli import OneLineParser, command_line, fail, whole
from export.onnx_export import ARTIFACT_NAMES, ExportError, encoder_of, export, load_recipe
from training.checkpoint import CheckpointError


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m export", description="Export a trained generator to ONNX.")
    p.add_argument("--model", choices=sorted(ARTIFACT_NAMES),
                   help="which run to export (default cvae); checked against the checkpoint")
    p.add_argument("--checkpoint", type=Path,
                   help="full or generator_epoch_N checkpoint (default: runs/<model>/checkpoint.pt)")
    p.add_argument("--out", type=Path, help="default: artifacts/<the model's file name>")
    p.add_argument("--seed", type=whole(0, 2**32 - 1), default=0, help="seed of the parity inputs and the sample grid")
    args = p.parse_args(argv)
    ckpt = args.checkpoint or Path("runs") / (args.model or "cvae") / "checkpoint.pt"
    try:
        recipe, state = load_recipe(ckpt)
        model = state["meta"]["model"]
        if args.model and args.model != model:
            raise ExportError(f"{ckpt}: holds a {model}, not a {args.model}; nothing written")
        out = args.out or Path("artifacts") / ARTIFACT_NAMES[model]
        max_diff = export(recipe.generator().eval(), state, out, args.seed, command_line("export", argv),
                          encoder_of(recipe, state))
    except (ExportError, CheckpointError, OSError) as exc:
        return fail(exc, 2)  # a user error, as for every command here
    print(f"wrote {out} (max abs diff vs PyTorch {max_diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
