"""Every model this project trains and exports, by name, and the interface a model module keeps.

Adding a generator is one module that satisfies ``GeneratorModule`` (its settings, its training recipe
and what its export ships) plus one line in GENERATORS; tests/test_training.py walks every registered
module's flags and tests/test_export.py exports each one. The judge's and the critic's modules only have
what export needs.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from training import cgan, classifier, critic, cvae
from training.precision import Precision
from training.settings import TrainConfig


class Recipe(Protocol):
    """How the shared training loop (training/train.py) trains one model."""

    loss_names: tuple[str, ...]                     # what train_step returns, logged per step and epoch
    optimizers: dict[str, torch.optim.Optimizer]    # for the learning-rate curves

    def train_step(self, x: torch.Tensor, digit: torch.Tensor, progress: float) -> dict[str, torch.Tensor]: ...
    def end_epoch(self, data) -> None: ...          # e.g. refit a prior; the same on every rank
    def generator(self) -> nn.Module: ...           # what the epoch's sample grid is drawn with
    def shipped_state(self) -> dict: ...            # the epoch file's weights: what export needs
    def state_dict(self) -> dict: ...               # everything to resume
    def load_state_dict(self, state: dict) -> None: ...


class ExportableModule(Protocol):
    """What export/ needs of a model module: its file, its card's words, and its shipped modules rebuilt
    from a checkpoint."""

    ARTIFACT: str
    TITLE: str
    ABOUT: str

    def shipped(self, state: dict) -> dict[str, nn.Module]: ...


class GeneratorModule(ExportableModule, Protocol):
    """A generator's module: its typed settings (a TrainConfig whose fields own their flags and ranges),
    the flags past the shared ones, and its recipe."""

    Config: type[TrainConfig]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def new_generator(self, config: TrainConfig) -> nn.Module: ...  # fresh, to load shipped weights into
    def Recipe(self, config: TrainConfig, device: torch.device,  # noqa: N802 - the class, called
               wrap: Callable[[nn.Module], nn.Module], precision: Precision) -> Recipe: ...


GENERATORS: dict[str, GeneratorModule] = {"cvae": cvae, "cgan": cgan}
EXPORTABLE: dict[str, ExportableModule] = {**GENERATORS, "judge": classifier, "critic": critic}
