"""Export a generator's critic for sampling: one verified file, paired with its generator by sha256, and its card."""
from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from torch import nn

from digits.contract import check_critic
from digits.files import atomic_path, file_sha256
from export.checkpoints import export_metadata
from export.model_card import card, write_card
from export.verify import ExportError, build, image_feeds

MEASURED = ("quantile", "calibration_accuracy", "acceptance", "learned", "calibrated", "decided", "c2st_plain",
            "c2st_critic", "time_ratio")  # how it was calibrated, and what it bought on held-back digits


def export_critic(modules: dict[str, nn.Module], state: dict, out: Path, seed: int, command: str,
                  facts: ModuleType) -> float:
    """Refused unless the generator beside ``out`` is the very file the critic was trained against."""
    meta = state["meta"]
    generator = out.parent / meta["generator"]
    if not generator.is_file() or (digest := file_sha256(generator)) != meta["generator_sha256"]:
        raise ExportError(f"{out}: its critic was trained against another {meta['generator']} than the one in "
                          f"{out.parent}: train it again (python -m training.critic); nothing written")
    metadata = {**export_metadata(state, command), "model": meta["generator_model"], "role": "critic",
                "generator": meta["generator"], "generator_sha256": digest, "cap": repr(meta["cap"]),
                "candidates": str(meta["candidates"]),
                **{key: json.dumps(meta[key]) for key in MEASURED if key in meta}}
    data, diff = build(modules["critic"], image_feeds(seed, with_digit=True), ["logit"], metadata,
                       lambda session: check_critic(out, session, meta["generator"], digest))
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    write_card(card(facts.TITLE, facts.ABOUT.format(**meta), {out: data}, metadata, diff), out)
    return diff
