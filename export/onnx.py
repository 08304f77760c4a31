"""PyTorch module -> checked ONNX model, and the one parity check of onnxruntime against PyTorch.

Every exported graph (generators, their style interface, the CVAE's encoder, the judge) goes
through these two functions, so all of them have a dynamic batch and the same parity limit.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

OPSET = 18
TOLERANCE = 1e-4  # max |onnxruntime - torch| / max(1, max |torch|), over every output


def to_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: list[str], outputs: list[str],
            metadata: dict[str, str]) -> onnx.ModelProto:
    """Export with a dynamic batch dimension N on every input, then attach metadata and check the model."""
    n = torch.export.Dim("N", min=1, max=8192)
    program = torch.onnx.export(
        module, example, dynamo=True, opset_version=OPSET, external_data=False,
        input_names=inputs, output_names=outputs, dynamic_shapes=tuple({0: n} for _ in inputs))
    model = program.model_proto
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def parity(session: ort.InferenceSession, module: nn.Module, feeds: list[dict[str, np.ndarray]]) -> float:
    """Largest difference of onnxruntime from PyTorch over the feeds (give several batch sizes),
    relative to the output's size where it exceeds 1 (features), absolute below (images)."""
    worst = 0.0
    for feed in feeds:
        got = session.run(None, feed)
        with torch.no_grad():
            want = module(*(torch.from_numpy(value) for value in feed.values()))
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want, strict=True):
            w = w.numpy()
            worst = max(worst, float(np.abs(g - w).max() / max(1.0, float(np.abs(w).max()))))
    return worst
