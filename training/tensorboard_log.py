"""TensorBoard event files for a run (``tensorboard --logdir runs``): rank 0 writes, the others do not.

Per step: every loss the recipe reports (rank 0's shard under DDP) and each optimizer's learning rate;
per epoch: the epoch's mean losses and the sample grid. A resumed run continues the same curves: the
writer purges whatever an interrupted run logged after the checkpoint it resumes from, so no step is
logged twice.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from digits.grid import grid_image

FOLDER = "tensorboard"


class Board:
    def __init__(self, run_dir: Path, enabled: bool, first_step: int) -> None:
        """``first_step`` is the global step the run (fresh or resumed) logs first (steps count from 1)."""
        self.writer = SummaryWriter(str(run_dir / FOLDER), purge_step=first_step) if enabled else None

    def step(self, step: int, losses: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> None:
        if self.writer is None:
            return
        for name, value in losses.items():
            self.writer.add_scalar(f"step/{name}", float(value), step)
        for name, optimizer in optimizers.items():
            self.writer.add_scalar(f"lr/{name}", optimizer.param_groups[0]["lr"], step)

    def epoch(self, step: int, means: dict[str, float], samples: np.ndarray) -> None:
        """The epoch's mean losses and its 10x10 sample grid (row = digit), at the epoch's last step."""
        if self.writer is None:
            return
        for name, value in means.items():
            self.writer.add_scalar(f"epoch/{name}", value, step)
        grid = np.asarray(grid_image(np.clip(samples, 0.0, 1.0), 10), dtype=np.uint8)
        self.writer.add_image("samples", grid, step, dataformats="HW")
        self.writer.flush()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
