"""Checkpoints: the full resumable state per run, and a small file per epoch with what the export ships."""
from __future__ import annotations

from pathlib import Path

import torch

from digits.files import atomic_path

FULL = "checkpoint.pt"


class CheckpointError(Exception):
    """A checkpoint that is missing or unreadable; the CLI prints it as one line."""


def generator_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / f"generator_epoch_{epoch}.pt"


def save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load(path: Path, device: torch.device | str = "cpu") -> dict:
    """Load a checkpoint written by ``save``; never unpickles arbitrary objects."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "config" not in state or "epoch" not in state:
        raise CheckpointError(f"{path}: not a checkpoint written by python -m training")
    return state


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
