"""Export the judge: one verified file and its card."""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from torch import nn

from digits.contract import check_judge
from digits.files import atomic_path
from export.checkpoints import export_metadata
from export.model_card import card, write_card
from export.verify import build, image_feeds


def export_judge(modules: dict[str, nn.Module], state: dict, out: Path, seed: int, command: str,
                 facts: ModuleType) -> float:
    """The checkpoint's record holds the judge's accuracy on the test digits, measured when it was trained."""
    meta = state["meta"]
    metadata = {**export_metadata(state, command), "role": "judge", "features": str(meta["features"]),
                "test_accuracy": f"{meta['test_accuracy']:.4f}"}
    data, diff = build(modules["judge"], image_feeds(seed, with_digit=False), ["probs", "features"], metadata,
                       lambda session: check_judge(out, session))
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    text = facts.ABOUT.format(**metadata, test_accuracy_percent=f"{meta['test_accuracy']:.2%}")
    write_card(card(facts.TITLE, text, {out: data}, metadata, diff), out)
    return diff
