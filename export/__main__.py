"""python -m export [--model cvae|cgan|judge] [--checkpoint PATH] [--out PATH]: every ONNX file this project ships."""
from __future__ import annotations

import sys
from pathlib import Path

from digits.cli import OneLineParser, command_line, fail, whole
from digits.contract import ModelError
from export.checkpoints import rebuild
from export.critic import export_critic
from export.generator import export_generator
from export.judge import export_judge
from export.verify import ExportError
from training.checkpoint import FULL, CheckpointError
from training.models import EXPORTABLE


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m export", description="Export a trained model to ONNX, verified, with its card.")
    p.add_argument("--model", choices=sorted(EXPORTABLE),
                   help="which run to export (default cvae); checked against the checkpoint")
    p.add_argument("--checkpoint", type=Path,
                   help=f"full or generator_epoch_N checkpoint (default: runs/<model>/{FULL})")
    p.add_argument("--out", type=Path,
                   help="default: artifacts/" + ", ".join(f"{m.ARTIFACT} ({n})" for n, m in EXPORTABLE.items()))
    p.add_argument("--seed", type=whole(0, 2**32 - 1), default=0, help="seed of the parity inputs and the sample grid")
    args = p.parse_args(argv)
    ckpt = args.checkpoint or Path("runs") / (args.model or "cvae") / FULL
    try:
        name, modules, state = rebuild(ckpt)
        if args.model and args.model != name:
            raise ExportError(f"{ckpt}: holds a {name}, not a {args.model}; nothing written")
        facts = EXPORTABLE[name]
        out = args.out or Path("artifacts") / facts.ARTIFACT.format(**state["meta"])  # a critic's names its generator
        export = {"judge": export_judge, "critic": export_critic}.get(name, export_generator)
        max_diff = export(modules, state, out, args.seed, command_line("export", argv), facts)
    except (ExportError, CheckpointError, ModelError, OSError) as exc:
        return fail(exc, 2)  # a user error, as for every command here
    print(f"wrote {out} (max abs diff vs PyTorch {max_diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
