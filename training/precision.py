"""Mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling), fp32 on CPU."""
from __future__ import annotations

import contextlib

import torch


class Precision:
    def __init__(self, device: torch.device) -> None:
        self.dtype: torch.dtype | None = None
        if device.type == "cuda":  # native bf16 from Ampere (sm_80) on; emulated bf16 would be slow
            self.dtype = torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimizer step, scaled when fp16 needs it."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def __str__(self) -> str:
        return "fp32" if self.dtype is None else f"autocast {str(self.dtype).removeprefix('torch.')}"
