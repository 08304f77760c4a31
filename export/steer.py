"""Steering directions for a style interface, written as ``<model>_steer.json`` (digits/steer.py).

``python -m export`` writes them with every generator it exports. For a style file exported before
(or without its checkpoint at hand), ``python -m export.steer --model cgan`` finds them from the
committed file alone.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digits import steer
from digits.cli import OneLineParser, fail, whole
from digits.contract import MODEL_NAME, ModelError, check_steer, check_style
from digits.files import atomic_path, file_sha256
from digits.generators import Style, open_session


def model_name(value: str) -> str:
    """An argparse type: a model's short name (it becomes part of two file names)."""
    if not MODEL_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError("must be a model's name: 1-32 of a-z, 0-9, _ and -")
    return value


def steer_file(style: Style, digest: str, model: str, seed: int) -> bytes:
    """The steering file of a style interface (``digest``: the SHA-256 of its file's bytes), found by
    running it and checked as the web app will check it; ModelError if the directions break the contract."""
    out, style_dim = style.path.parent / f"{model}_steer.json", style.style_dim
    try:
        data = steer.file_bytes(steer.find(style, seed=seed), model, style.path.name, digest, style_dim)
    except ValueError:
        raise ModelError(f"{out}: the directions are not finite (an attribute that never varied); "
                         "nothing written") from None
    check_steer(out, data, style.path.name, digest, style_dim)
    return data


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m export.steer", description="Write <model>_steer.json beside a style file.")
    p.add_argument("--model", default="cvae", type=model_name,
                   help="the model whose <model>_style.onnx to steer (default cvae)")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    p.add_argument("--seed", type=whole(0, 2**32 - 1), default=0, help="seed of the hands that find the directions")
    args = p.parse_args(argv)
    style_path = args.artifacts / f"{args.model}_style.onnx"
    out = args.artifacts / f"{args.model}_steer.json"
    try:
        session = open_session(style_path, 1)
        meta = session.get_modelmeta().custom_metadata_map
        style_dim = check_style(style_path, session, meta.get("generator", ""), meta.get("generator_sha256", ""))
        data = steer_file(Style(style_path, style_dim, session), file_sha256(style_path), args.model, args.seed)
        with atomic_path(out) as tmp:
            tmp.write_bytes(data)
    except (ModelError, OSError) as exc:
        return fail(exc, 2)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
