"""The whole training split held on the training device; batches are index lookups."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class DeviceDataset:
    """The whole split as tensors on the device; batches are index lookups, not copies per sample."""

    images: torch.Tensor  # uint8 [N,1,28,28]
    labels: torch.Tensor  # int64 [N]

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray, device: torch.device) -> DeviceDataset:
        pin = device.type == "cuda"
        x = torch.from_numpy(images.copy()).unsqueeze(1)
        y = torch.from_numpy(labels.copy())
        if pin:
            x, y = x.pin_memory(), y.pin_memory()
        return cls(x.to(device, non_blocking=pin), y.to(device, non_blocking=pin))

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int, epoch: int, seed: int, rank: int = 0, world: int = 1):
        """Yield (float images in [0,1], labels) for this rank's shard of one shuffled epoch.

        The permutation depends only on (seed, epoch), so every rank agrees on it
        and a resumed run sees exactly the batches an uninterrupted one would.
        """
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(self), generator=gen)
        usable = len(order) - len(order) % world
        shard = order[rank:usable:world].to(self.labels.device)
        for start in range(0, len(shard) - batch_size + 1, batch_size):
            idx = shard[start:start + batch_size]
            yield self.images[idx].float().div_(255.0), self.labels[idx]

    def steps_per_epoch(self, batch_size: int, world: int = 1) -> int:
        return (len(self) // world) // batch_size
