"""A shipped ONNX generator back into its PyTorch module: the same network with the same weights, read
from the file's initializers, so the benchmark's torch baseline runs from a fresh clone (no training run,
no checkpoint) and is checked to draw what onnxruntime draws.

The exporter keeps most weights under their module names. What it rewrote is recovered too: a batch
norm folded into the layer before it (``<layer>.weight_bias``) becomes a pass-through norm carrying that
bias, and buffers folded into anonymous constants (the CVAE's prior) are matched by their unique shape.
The architecture's sizes are read off the weights' shapes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from digits.contract import ModelError
from export.onnx import TOLERANCE, parity
from training.models import GENERATORS


def initializers(model: onnx.ModelProto) -> dict[str, torch.Tensor]:
    return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}


def sizes(name: str, weights: dict[str, torch.Tensor], latent_dim: int) -> dict:
    """The settings that size the network, from the weights' shapes: fc.0 maps to 2 x width x 7 x 7."""
    found = {"latent_dim": latent_dim, "width": weights["fc.0.weight"].shape[0] // 98}
    if name == "cvae":
        prior = [w for w in weights.values() if w.dim() == 3 and w.shape[::2] == (10, latent_dim - 1)]
        tail = weights["out.3.weight"].shape  # ConvTranspose2d(width, fine or 1, 4): fine feature maps, or pixels
        found |= {"latent_dim": latent_dim - 1, "prior_components": prior[0].shape[1] if prior else 1,
                  "fine": tail[1] if tail[1] > 1 else 0}
    return found


def state_from(module: nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The module's state dict filled from the file: by name, folded norms, then anonymous constants."""
    state, unnamed = module.state_dict(), {k: v for k, v in weights.items() if "." not in k}
    for key, value in state.items():
        layer, _, field = key.rpartition(".")
        before = f"{layer.rpartition('.')[0]}.{int(layer.rpartition('.')[2]) - 1}" if layer[-1:].isdigit() else ""
        folded = weights.get(f"{before}.weight_bias")
        if key in weights:
            state[key] = weights[key]
        elif folded is not None and isinstance(module.get_submodule(layer), nn.modules.batchnorm._BatchNorm):
            norm = module.get_submodule(layer)
            state[key] = {"weight": torch.ones_like(value), "bias": folded, "running_mean": torch.zeros_like(value),
                          "running_var": torch.full_like(value, 1 - norm.eps)}.get(field, value)
        elif value.dim() > 0:
            same = [v for v in unnamed.values() if v.shape == value.shape]
            if len(same) != 1:
                raise ModelError(f"{key}: no single constant of shape {tuple(value.shape)} in the file")
            state[key] = same[0]
    return state


def torch_generator(path: Path) -> nn.Module:
    """The generator in ``path`` as its PyTorch module, in eval mode; refused unless it matches onnxruntime."""
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    name, latent_dim = meta["model"], int(meta["latent_dim"])
    weights = initializers(model)
    facts = GENERATORS[name]
    module = facts.new_generator(facts.Config.from_saved(sizes(name, weights, latent_dim)))
    module.load_state_dict(state_from(module, weights))
    module.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = [{"digit": np.arange(n, dtype=np.int64) % 10, "z": rng.standard_normal((n, latent_dim), np.float32)}
             for n in (1, 10)]
    worst = parity(session, module, feeds)  # the same check as every export's
    if worst > TOLERANCE:
        raise ModelError(f"{path}: rebuilt in PyTorch it differs from onnxruntime by {worst:.2e} (limit {TOLERANCE})")
    return module
