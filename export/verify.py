"""Build an ONNX file and prove it before anything is written: the consumers' own contract check,
images in [0, 1], and onnxruntime against PyTorch on fresh inputs of several batch sizes."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from digits.contract import ModelError
from export.onnx import TOLERANCE, parity, to_onnx

BATCHES = (1, 5, 64)  # N = 1, a page's five, and a batch: dynamic N is part of every contract


class ExportError(Exception):
    """An export that must not be written; the CLI prints it as one line."""


def generator_feeds(latent_dim: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Fresh contract inputs of several batch sizes."""
    rng = np.random.default_rng(seed)
    return [{"digit": rng.integers(0, 10, n).astype(np.int64),
             "z": rng.standard_normal((n, latent_dim)).astype(np.float32)} for n in BATCHES]


def style_feeds(style_dim: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Label weights that are one-hot or a blend of two digits (morph frames), and fresh styles."""
    rng = np.random.default_rng(seed)
    feeds = []
    for n in BATCHES:
        eye, t = np.eye(10, dtype=np.float32), rng.random((n, 1)).astype(np.float32) * (rng.random((n, 1)) < 0.5)
        label = (1 - t) * eye[rng.integers(0, 10, n)] + t * eye[rng.integers(0, 10, n)]
        feeds.append({"label": label, "style": rng.standard_normal((n, style_dim)).astype(np.float32)})
    return feeds


def image_feeds(seed: int, with_digit: bool) -> list[dict[str, np.ndarray]]:
    """Images in [0, 1] with a stroke-like sparsity (and labels, for the encoder)."""
    rng = np.random.default_rng(seed)
    feeds = []
    for n in BATCHES:
        feed = {"image": (rng.random((n, 1, 28, 28)) * (rng.random((n, 1, 28, 28)) < 0.2)).astype(np.float32)}
        if with_digit:
            feed["digit"] = rng.integers(0, 10, n).astype(np.int64)
        feeds.append(feed)
    return feeds


def build(module: nn.Module, feeds: list[dict[str, np.ndarray]], outputs: list[str], metadata: dict[str, str],
          check: Callable[[ort.InferenceSession], object]) -> tuple[bytes, float]:
    """ONNX bytes that pass ``check``, keep any ``image`` output in [0, 1] and match PyTorch within
    TOLERANCE, with the worst difference; else ExportError, and nothing is written."""
    module.eval()  # a wrapper starts in training mode, and with it the batch norms it holds
    example = tuple(torch.from_numpy(v) for v in feeds[1].values())
    data = to_onnx(module, example, list(feeds[0]), outputs, metadata).SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    try:
        check(session)
    except ModelError as exc:
        raise ExportError(f"{exc}; nothing written") from None
    for feed in feeds if "image" in outputs else ():
        (images,) = session.run(["image"], feed)
        if images.min() < 0 or images.max() > 1:
            raise ExportError(f"images in [{images.min()}, {images.max()}] break the contract; nothing written")
    max_diff = parity(session, module, feeds)
    if max_diff > TOLERANCE:
        raise ExportError(f"onnxruntime differs from PyTorch by {max_diff:.3g} (limit {TOLERANCE:g}); nothing written")
    return data, max_diff
