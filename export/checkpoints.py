"""A checkpoint -> the modules its model ships, rebuilt from what the checkpoint records (nanoGPT's
sample.py does the same): no optimizer, critic or training recipe is built to export."""
from __future__ import annotations

import datetime
from pathlib import Path

from torch import nn

from training import checkpoint
from training.models import EXPORTABLE


def rebuild(path: Path) -> tuple[str, dict[str, nn.Module], dict]:
    """(model name, its shipped modules by role, the checkpoint) of a full or generator-only checkpoint."""
    state = checkpoint.load(path)
    try:
        name = state["config"]["model"]
        modules = EXPORTABLE[name].shipped(state)
        state["meta"]["model"]
    except (KeyError, AttributeError, RuntimeError, TypeError) as exc:
        raise checkpoint.CheckpointError(
            f"{path}: does not fit this version's models ({type(exc).__name__}: {str(exc)[:120]})") from None
    return name, modules, state


def export_metadata(state: dict, export_command: str) -> dict[str, str]:
    """The metadata_props every exported model carries: what it is and how it was made."""
    meta = state["meta"]
    return {"model": meta["model"], "dataset": meta["dataset"], "train_images": str(meta["train_images"]),
            "epochs": str(state["epoch"]), "train_seconds": str(meta["train_seconds"]),
            "train_device": meta["device"], "train_command": meta["command"], "export_command": export_command,
            "torch": meta["torch"], "exported": datetime.date.today().isoformat()}
