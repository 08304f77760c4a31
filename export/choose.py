"""python -m export.choose --run-dir runs/cgan: which epoch of a run to export, chosen by the quality
instrument on training digits the run held out (it trained with --limit), never on the test digits.

Every epoch file goes through ONNX and onnxruntime as it would ship, then: the C2ST against the
held-out digits, the judge's accuracy (and its worst digit), the FID against the held-out digits in
the judge's features (over that of as many real digits the run trained on), and, through the style interface,
legibility and the consistency of slant and ink in rows of one hand. The chosen epoch meets the most
of those targets, ties going to the lowest C2ST. The table and the choice go to <run-dir>/choice.json.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from digits.c2st import c2st
from digits.cli import OneLineParser, command_line, fail, whole
from digits.contract import ModelError
from digits.files import atomic_path
from digits.generators import OnnxGenerator, Style
from digits.handwriting import hands, write
from digits.idx import DataError, load_split
from digits.judging import judge, open_judge
from digits.measures import fid, real_sample, row_consistency, samples_per_digit
from export.checkpoints import rebuild
from export.onnx import to_onnx
from training import checkpoint
from training.checkpoint import CheckpointError
from training.conditioning import Styled

MIN_HELD_OUT = 1000
TARGETS = {"c2st": lambda v: v <= 0.60, "accuracy": lambda v: v >= 0.995, "accuracy_min_digit": lambda v: v >= 0.99,
           "fid_real_ratio": lambda v: v <= 1.5, "legibility": lambda v: v >= 0.99,
           "style_slant": lambda v: v <= 0.35, "style_ink": lambda v: v <= 0.35}


class HeldOut:
    """The digits a run held back, their judge features, the FID that real digits score against them, and
    as many of them as an epoch's samples, drawn at random, for the C2ST (equal sides, so a run that held
    back many digits costs no more to choose from)."""

    def __init__(self, epoch_file: Path, data_dir: Path, judge_session: ort.InferenceSession, per_digit: int,
                 seed: int) -> None:
        limit = checkpoint.load(epoch_file)["config"]["limit"]
        train, labels = load_split(data_dir, "train")
        if not limit or len(train) - limit < MIN_HELD_OUT:
            held = len(train) - limit if limit else 0
            raise DataError(f"{epoch_file}: the run held back {held} of the {len(train)} training digits; "
                            f"choosing needs at least {MIN_HELD_OUT} (train with --limit)")
        self.images = train[limit:] / 255.0
        _, self.features = judge(judge_session, self.images)
        seen, _, _ = real_sample(train[:limit] / 255.0, labels[:limit], per_digit, seed)
        self.real_fid = fid(judge(judge_session, seen)[1], self.features)
        count = min(len(self.images), 10 * per_digit)
        self.versus = self.images[np.random.default_rng(seed).choice(len(self.images), count, replace=False)]


def session_of(module: torch.nn.Module, example: tuple[torch.Tensor, ...], inputs: list[str]) -> ort.InferenceSession:
    """The module as it would ship: ONNX bytes in an onnxruntime session (the export verifies parity)."""
    data = to_onnx(module.eval(), example, inputs, ["image"], {}).SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def epoch_scores(path: Path, held_out: HeldOut, judge_session: ort.InferenceSession, per_digit: int,
                 seed: int) -> dict[str, float]:
    """The instrument's numbers for one epoch file."""
    _, modules, _ = rebuild(path)
    module = modules["generator"]
    example = (torch.zeros(2, dtype=torch.int64), torch.zeros(2, module.noise_dim))
    generator = OnnxGenerator(path.stem, path, module.noise_dim, {}, session_of(module, example, ["digit", "z"]))
    images, labels = samples_per_digit(generator, per_digit, seed)
    probs, features = judge(judge_session, images)
    right = probs.argmax(1) == labels
    scores = {"c2st": c2st(held_out.versus, images, seed), "accuracy": float(right.mean()),
              "accuracy_min_digit": float(right.reshape(10, -1).mean(1).min()),
              "fid_real_ratio": fid(features, held_out.features) / held_out.real_fid}
    styled = Styled(module)
    style = Style(path, module.style_dim, session_of(styled, (torch.eye(10)[:2], torch.zeros(2, module.style_dim)),
                                                    ["label", "style"]))
    written = write(style, "0123456789", hands(seed, per_digit, module.style_dim))
    probs, _ = judge(judge_session, written.reshape(-1, 28, 28))
    scores["legibility"] = float((probs.argmax(1) == np.tile(np.arange(10), per_digit)).mean())
    return scores | row_consistency(written)


def chosen(table: dict[int, dict[str, float]]) -> int:
    """The epoch that meets the most targets; among those, the lowest C2ST."""
    return min(table, key=lambda e: (-sum(test(table[e][k]) for k, test in TARGETS.items()), table[e]["c2st"]))


def epoch_files(run_dir: Path, start: int, every: int) -> dict[int, Path]:
    found = {int(m.group(1)): p for p in run_dir.glob("generator_epoch_*.pt")
             if (m := re.fullmatch(r"generator_epoch_(\d+)\.pt", p.name))}
    return {e: found[e] for e in sorted(found) if e >= start and (e - start) % every == 0}


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m export.choose", description=__doc__.split("\n")[0])
    p.add_argument("--run-dir", type=Path, default=Path("runs/cvae"))
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--judge", type=Path, default=Path("artifacts/judge.onnx"))
    p.add_argument("--from", dest="start", type=whole(1, 10**6), default=1, help="first epoch to score (default 1)")
    p.add_argument("--every", type=whole(1, 10**6), default=1, help="score every Nth epoch (default 1)")
    p.add_argument("--per-digit", type=whole(10, 1000), default=500,
                   help="samples of each digit, and rows of one hand, per epoch (default 500)")
    p.add_argument("--seed", type=whole(0, 2**32 - 1), default=0)
    args = p.parse_args(argv)
    try:
        judge_session = open_judge(args.judge, 2)
        files = epoch_files(args.run_dir, args.start, args.every)
        if not files:
            raise DataError(f"{args.run_dir}: no generator_epoch_N.pt from epoch {args.start} on")
        held_out = HeldOut(next(iter(files.values())), args.data_dir, judge_session, args.per_digit, args.seed)
        table = {}
        for epoch, path in files.items():
            table[epoch] = epoch_scores(path, held_out, judge_session, args.per_digit, args.seed)
            print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in table[epoch].items()), flush=True)
    except (DataError, ModelError, CheckpointError, OSError) as exc:
        return fail(exc, 2)
    best = chosen(table)
    with atomic_path(args.run_dir / "choice.json") as tmp:
        tmp.write_text(json.dumps({"command": command_line("export.choose", argv), "held_out": len(held_out.images),
                                   "chosen": best, "epochs": table}, indent=2) + "\n")
    print(f"chosen: epoch {best}; export it with python -m export --checkpoint {files[best]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
