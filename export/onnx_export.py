"""Checkpoint -> ONNX generator under the generator contract, verified before it is written.

Contract: inputs ``digit`` int64 [N] and ``z`` float32 [N, latent_dim]; output
``image`` float32 [N,1,28,28] in [0,1]; dynamic N; metadata_props describe the model.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from training import checkpoint
from training.files import atomic_path
from training.grid import save_grid
from training.precision import Precision
from training.train import RECIPES

OPSET = 18
TOLERANCE = 1e-4
ARTIFACT_NAMES = {"cvae": "cvae_decoder.onnx", "cgan": "cgan_generator.onnx"}


class ExportError(Exception):
    """An export that must not be written; the CLI prints it as one line."""


def load_generator(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the generator from a full or a generator-only checkpoint; returns it with the checkpoint."""
    state = checkpoint.load(path)
    try:
        config = state["config"]
        recipe = RECIPES[config["model"]].Recipe(
            argparse.Namespace(**config), torch.device("cpu"), lambda m: m, Precision(torch.device("cpu")))
        if "recipe" in state:
            recipe.load_state_dict(state["recipe"])
        else:
            recipe.generator().load_state_dict(state["generator"])
        state["meta"]["model"]
    except (KeyError, AttributeError, RuntimeError, TypeError) as exc:
        raise checkpoint.CheckpointError(
            f"{path}: does not fit this version's models ({type(exc).__name__}: {str(exc)[:120]})") from None
    return recipe.generator().eval(), state


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


def check_contract(session: ort.InferenceSession, latent_dim: int) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = session.get_outputs()
    if set(inputs) != {"digit", "z"} or [o.name for o in outputs] != ["image"]:
        raise ExportError(f"inputs {sorted(inputs)} / outputs {[o.name for o in outputs]} break the contract")
    if inputs["digit"].type != "tensor(int64)" or inputs["z"].type != "tensor(float)":
        raise ExportError(f"input types {inputs['digit'].type}, {inputs['z'].type} break the contract")
    if inputs["z"].shape[1] != latent_dim or outputs[0].shape[1:] != [1, 28, 28]:
        raise ExportError(f"shapes z {inputs['z'].shape}, image {outputs[0].shape} break the contract")


def parity(session: ort.InferenceSession, generator: nn.Module, latent_dim: int, seed: int) -> float:
    """Max |onnxruntime - torch| over fresh inputs of several batch sizes (dynamic N included)."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n in (1, 5, 64):
        digit = rng.integers(0, 10, n).astype(np.int64)
        z = rng.standard_normal((n, latent_dim)).astype(np.float32)
        (got,) = session.run(["image"], {"digit": digit, "z": z})
        with torch.no_grad():
            want = generator(torch.from_numpy(digit), torch.from_numpy(z)).numpy()
        if got.shape != (n, 1, 28, 28) or got.min() < 0 or got.max() > 1:
            raise ExportError(f"output of shape {got.shape} in [{got.min()}, {got.max()}] breaks the contract")
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def sample_grid(session: ort.InferenceSession, latent_dim: int, seed: int) -> np.ndarray:
    """10 samples of each digit (row = digit) from the exported model itself."""
    z = np.random.default_rng(seed).standard_normal((100, latent_dim)).astype(np.float32)
    digit = np.repeat(np.arange(10, dtype=np.int64), 10)
    return session.run(["image"], {"digit": digit, "z": z})[0]


def model_card(out: Path, model_bytes: bytes, meta: dict[str, str], max_diff: float, command: str) -> str:
    size_kb = len(model_bytes) / 1024
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in meta.items() if k != "train_command")
    return f"""# {meta['model'].upper()} generator: `{out.name}`

A class-conditional MNIST generator under the project's generator contract:
inputs `digit` int64 [N] (0-9) and `z` float32 [N, {meta['latent_dim']}] ~ N(0, I),
output `image` float32 [N,1,28,28], ink = 1, background = 0.

| metadata | value |
|---|---|
{rows}
| file size | {size_kb:.0f} KiB |
| sha256 | `{hashlib.sha256(model_bytes).hexdigest()}` |
| max abs diff onnxruntime vs PyTorch | {max_diff:.2e} (limit {TOLERANCE:.0e}) |

## How it was made

```
{meta['train_command']}
{command}
```

Trained on {meta['train_device']} in {float(meta['train_seconds']) / 60:.1f} minutes of
training-loop wall time over {meta['epochs']} epochs, on {meta['dataset']}.

## Samples

Row = digit 0-9, ten fixed noise vectors, generated by the ONNX file through onnxruntime:

![samples]({out.stem}_grid.png)

## Limits

Trained on {meta['train_images']} images; it draws MNIST-style digits (centred, 28x28, white on black) and
nothing else. Samples are the Bernoulli means (or generator outputs) and may be softer than real ink.
"""


def export(generator: nn.Module, state: dict, out: Path, seed: int, command: str) -> float:
    """Build, verify and atomically write the ONNX file, then its sample grid and model card beside it."""
    meta = state["meta"]
    latent_dim = generator.noise_dim  # the size of z in the contract: what the caller draws
    metadata = {
        "model": meta["model"], "latent_dim": str(latent_dim), "dataset": meta["dataset"],
        "train_images": str(meta["train_images"]), "epochs": str(state["epoch"]),
        "train_seconds": str(meta["train_seconds"]), "train_device": meta["device"],
        "train_command": meta["command"], "torch": meta["torch"],
        "exported": datetime.date.today().isoformat(),
    }
    example = (torch.arange(5) % 10, torch.randn(5, latent_dim))
    model_bytes = to_onnx(generator, example, ["digit", "z"], ["image"], metadata).SerializeToString()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    check_contract(session, latent_dim)
    max_diff = parity(session, generator, latent_dim, seed)
    if max_diff > TOLERANCE:
        raise ExportError(f"onnxruntime differs from PyTorch by {max_diff:.3g} (limit {TOLERANCE:g}); nothing written")
    with atomic_path(out) as tmp:
        tmp.write_bytes(model_bytes)
    save_grid(sample_grid(session, latent_dim, seed), out.parent / f"{out.stem}_grid.png")
    with atomic_path(out.parent / f"{out.stem}_card.md") as tmp:
        tmp.write_text(model_card(out, model_bytes, metadata, max_diff, command))
    return max_diff
