"""The weight average both generators export: an exponential moving average of the trained weights."""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_with_warmup(decay: float):
    """EMA whose decay grows from 0.1 to ``decay``, so early averages are not stuck at the random init."""
    def average(averaged: torch.Tensor, current: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        d = torch.clamp((1 + count) / (10 + count), max=decay)
        return d * averaged + (1 - d) * current
    return average


def averaged(module: nn.Module, decay: float, buffers: bool) -> AveragedModel:
    """The module's EMA. ``buffers``: average the buffers too (batch-norm statistics), or leave them to
    the recipe (a fitted prior, whose mixture components do not correspond from one fit to the next)."""
    return AveragedModel(module, avg_fn=ema_with_warmup(decay), use_buffers=buffers)


def averaged_weights(ema_state: dict) -> dict:
    """An AveragedModel's state as its module's: the keys without "module.", and no update count."""
    return {k.removeprefix("module."): v for k, v in ema_state.items() if k != "n_averaged"}
