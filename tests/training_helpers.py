"""Helpers shared by the training tests: a small recipe to step by hand, and comparing whole training
states tensor by tensor."""
from __future__ import annotations

from pathlib import Path

import torch

from training import checkpoint
from training.models import GENERATORS
from training.precision import Precision
from training.train import parse_args, settings


def cpu_recipe(model: str, *flags: str):
    """A small, unwrapped training recipe of ``model`` on the CPU, with its defaults as a fresh run has them."""
    config = settings(parse_args(["--model", model, "--width", "4", "--latent-dim", "4", *flags]), None,
                      Path("no checkpoint"))
    cpu = torch.device("cpu")
    return GENERATORS[model].Recipe(config, cpu, lambda m: m, Precision(cpu))


def cgan_step(progress: float, *flags: str) -> dict[str, torch.Tensor]:
    """One CGAN step (16 random images) from a fixed start, its critic's learning rate 0: two calls that differ
    only in a loss weight see the same critic and the same fakes, so their generator losses differ by exactly
    that weight's term."""
    torch.manual_seed(0)
    recipe = cpu_recipe("cgan", *flags)
    for group in recipe.opt_D.param_groups:
        group["lr"] = 0.0
    torch.manual_seed(1)
    return recipe.train_step(torch.rand(16, 1, 28, 28), torch.arange(16) % 10, progress)


def tensors(state: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state dict, by dotted path."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if isinstance(value, dict):
            out.update(tensors(value, f"{prefix}{key}."))
        elif isinstance(value, torch.Tensor):
            out[f"{prefix}{key}"] = value
    return out


def assert_same_state(got: dict, want: dict, atol: float, scaled: bool = False) -> None:
    """Every weight, buffer and optimizer moment agrees: a check on the whole training state, not a sample.

    ``scaled``: ``atol`` is a fraction of each tensor's largest entry (its own scale, for tensors as
    different as weights and squared-gradient moments).
    """
    want_t, got_t = tensors(want), tensors(got)
    assert want_t.keys() == got_t.keys() and len(want_t) > 10
    for name, want_value in want_t.items():
        bound = atol * float(want_value.abs().max()) if scaled else atol
        torch.testing.assert_close(got_t[name], want_value, atol=bound, rtol=0, msg=name)


def assert_same_run(got: Path, want: Path, atol: float = 1e-6) -> None:
    """Two run folders end in the same training state (their last full checkpoints)."""
    assert_same_state(checkpoint.load(got / checkpoint.FULL)["recipe"],
                      checkpoint.load(want / checkpoint.FULL)["recipe"], atol=atol)
