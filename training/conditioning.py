"""How generators take the digit: label weights [N,10], embedded at the input and again at 14x14."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ClassShift(nn.Module):
    """A learned per-digit offset of every channel (the shift of a conditional batch norm).

    Re-injecting the digit at 14x14 lets the latent carry less of the digit's identity: samples
    stay legible, and one latent means more nearly the same handwriting for every digit.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.table = nn.Embedding(10, channels)
        nn.init.zeros_(self.table.weight)  # starts as the unconditioned layer

    def forward(self, h: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return h + embed(self.table, label)[:, :, None, None]


def one_hot(digit: torch.Tensor) -> torch.Tensor:
    """Digits [N] as label weights [N,10]: the form every generator layer takes."""
    return F.one_hot(digit, 10).to(torch.float32)


def embed(table: nn.Embedding, label: torch.Tensor) -> torch.Tensor:
    """Embedding of label weights [N,10]: a one-hot row gives exactly that digit's vector, a blend
    of two rows gives the blend of their vectors (a morph from one digit to another)."""
    return label @ table.weight


class Styled(nn.Module):
    """A generator's style interface as a module of its own, exported as its own graph:
    (label weights [N,10], style [N,S] ~ N(0, I)) -> image, the generator's input code being
    ``label @ means + style @ scale.T``, a fixed map taken from the trained generator."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        means, scale = generator.style_map()
        self.register_buffer("means", means.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, label: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.generator.render(label, label @ self.means + style @ self.scale.T)
