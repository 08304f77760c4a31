"""Checkpoint -> ONNX generator under the generator contract, verified before it is written.

Contract: inputs ``digit`` int64 [N] and ``z`` float32 [N, latent_dim]; output
``image`` float32 [N,1,28,28] in [0,1]; dynamic N; metadata_props describe the model.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from digits.contract import ModelError, check_encoder, check_generator, check_style, sha256
from digits.files import atomic_path
from digits.generators import Generator, noise, open_session
from digits.grid import save_grid
from training import checkpoint
from training.conditioning import Styled
from training.onnx import TOLERANCE, parity, to_onnx
from training.precision import Precision
from training.train import RECIPES

ARTIFACT_NAMES = {"cvae": "cvae_decoder.onnx", "cgan": "cgan_generator.onnx"}
PIXELS = {"cvae": "the decoder's Bernoulli means, trained against a critic as well",
          "cgan": "the generator's sigmoid outputs"}  # for the card


class ExportError(Exception):
    """An export that must not be written; the CLI prints it as one line."""


def load_generator(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the generator from a full or a generator-only checkpoint; returns it with the checkpoint."""
    recipe, state = load_recipe(path)
    return recipe.generator().eval(), state


def encoder_of(recipe, state: dict) -> nn.Module | None:
    """The style encoder of a full CVAE checkpoint; None for models without one or generator-only files."""
    return recipe.style_encoder().eval() if "recipe" in state and hasattr(recipe, "style_encoder") else None


def load_recipe(path: Path):
    """The training recipe rebuilt from a checkpoint, with every weight the checkpoint holds."""
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
    return recipe, state


def generator_feeds(latent_dim: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Fresh contract inputs of several batch sizes (dynamic N included)."""
    rng = np.random.default_rng(seed)
    return [{"digit": rng.integers(0, 10, n).astype(np.int64),
             "z": rng.standard_normal((n, latent_dim)).astype(np.float32)} for n in (1, 5, 64)]


def style_feeds(style_dim: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Label weights that are one-hot or a blend of two digits (morph frames), and fresh styles."""
    rng = np.random.default_rng(seed)
    feeds = []
    for n in (1, 5, 64):
        eye, t = np.eye(10, dtype=np.float32), rng.random((n, 1)).astype(np.float32) * (rng.random((n, 1)) < 0.5)
        label = (1 - t) * eye[rng.integers(0, 10, n)] + t * eye[rng.integers(0, 10, n)]
        feeds.append({"label": label, "style": rng.standard_normal((n, style_dim)).astype(np.float32)})
    return feeds


def encoder_feeds(seed: int) -> list[dict[str, np.ndarray]]:
    """Images in [0, 1] with a stroke-like sparsity, and labels."""
    rng = np.random.default_rng(seed)
    return [{"image": (rng.random((n, 1, 28, 28)) * (rng.random((n, 1, 28, 28)) < 0.2)).astype(np.float32),
             "digit": rng.integers(0, 10, n).astype(np.int64)} for n in (1, 5, 64)]


def build(module: nn.Module, feeds: list[dict[str, np.ndarray]], metadata: dict[str, str],
          check: Callable[[ort.InferenceSession], object], output: str = "image") -> tuple[bytes, float]:
    """ONNX bytes that pass ``check`` (the consumers' own contract check), keep images in [0, 1] and
    match PyTorch within TOLERANCE; else ExportError, and nothing is written."""
    module.eval()  # a wrapper starts in training mode, and with it the batch norms it holds
    example = tuple(torch.from_numpy(v) for v in feeds[1].values())
    data = to_onnx(module, example, list(feeds[0]), [output], metadata).SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    try:
        check(session)
    except ModelError as exc:
        raise ExportError(f"{exc}; nothing written") from None
    for feed in feeds if output == "image" else ():
        (images,) = session.run(["image"], feed)
        if images.min() < 0 or images.max() > 1:
            raise ExportError(f"images in [{images.min()}, {images.max()}] break the contract; nothing written")
    max_diff = parity(session, module, feeds)
    if max_diff > TOLERANCE:
        raise ExportError(f"onnxruntime differs from PyTorch by {max_diff:.3g} (limit {TOLERANCE:g}); nothing written")
    return data, max_diff


def sample_grid(generator: Generator, seed: int) -> np.ndarray:
    """10 samples of each digit (row = digit) from the exported model itself: [100,1,28,28]."""
    digits = np.repeat(np.arange(10), 10)
    return generator.images(digits, noise(seed, len(digits), generator.latent_dim))[:, None]


Z_WIDTH = {"cvae": "16-d latent code + 1 coordinate that picks the mixture component",
           "cgan": "the generator's noise"}
EXTENSIONS = {"style": "the style interface: `label` [N,10] label weights + `style` [N,S] -> `image`",
              "encoder": "the style encoder: `image` [N,1,28,28] + `digit` [N] -> `style` [N,S]"}


def model_card(out: Path, files: dict[Path, bytes], meta: dict[str, str], max_diff: float, command: str) -> str:
    model_bytes = files[out]
    size_kb = len(model_bytes) / 1024
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in meta.items() if k != "train_command")
    extensions = "\n".join(f"| `{path.name}` | {EXTENSIONS[path.stem.rsplit('_', 1)[1]]} | `{sha256(data)}` |"
                            for path, data in files.items() if path != out)
    return f"""# {meta['model'].upper()} generator: `{out.name}`

A class-conditional MNIST generator under the project's generator contract:
inputs `digit` int64 [N] (0-9) and `z` float32 [N, {meta['latent_dim']}] ~ N(0, I)
({Z_WIDTH.get(meta['model'], 'the noise')}), output `image` float32 [N,1,28,28], ink = 1, background = 0.

| metadata | value |
|---|---|
{rows}
| file size | {size_kb:.0f} KiB |
| sha256 | `{sha256(model_bytes)}` |
| max abs diff onnxruntime vs PyTorch | {max_diff:.2e} (limit {TOLERANCE:.0e}) |

Written beside it by the same export, each naming this file and its sha256 in its metadata:

| file | what | sha256 |
|---|---|---|
{extensions}

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
nothing else. Pixels are {PIXELS.get(meta['model'], 'intensities in [0, 1]')}: strokes may be softer than real ink.
"""


def export(generator: nn.Module, state: dict, out: Path, seed: int, command: str,
           encoder: nn.Module | None = None) -> float:
    """Build and verify the generator, its style interface and (CVAE) its style encoder, write them
    atomically, then the generator's sample grid and model card. Returns the worst parity difference."""
    meta = state["meta"]
    latent_dim = generator.noise_dim  # the size of z in the contract: what the caller draws
    metadata = {
        "model": meta["model"], "latent_dim": str(latent_dim), "dataset": meta["dataset"],
        "train_images": str(meta["train_images"]), "epochs": str(state["epoch"]),
        "train_seconds": str(meta["train_seconds"]), "train_device": meta["device"],
        "train_command": meta["command"], "torch": meta["torch"],
        "exported": datetime.date.today().isoformat(),
    }
    model_bytes, diff = build(generator, generator_feeds(latent_dim, seed), metadata,
                              lambda session: check_generator(out, session))
    digest = sha256(model_bytes)
    pair = {"model": meta["model"], "style_dim": str(generator.style_dim), "generator": out.name,
            "generator_sha256": digest}
    style_out, encoder_out = (extension_path(out, meta["model"], role) for role in ("style", "encoder"))
    style_bytes, style_diff = build(
        Styled(generator), style_feeds(generator.style_dim, seed), {**pair, "role": "style"},
        lambda session: check_style(style_out, session, out.name, digest))
    files, diffs = {out: model_bytes, style_out: style_bytes}, [diff, style_diff]
    if encoder is not None:
        files[encoder_out], encoder_diff = build(
            encoder, encoder_feeds(seed), {**pair, "role": "encoder"},
            lambda session: check_encoder(encoder_out, session, out.name, digest, generator.style_dim), "style")
        diffs.append(encoder_diff)
    write_together(files)
    if encoder is None:
        encoder_out.unlink(missing_ok=True)  # an encoder of an earlier export would not fit this generator
    written = Generator(meta["model"], out, latent_dim, metadata, open_session(out, 1))
    save_grid(sample_grid(written, seed), out.parent / f"{out.stem}_grid.png")
    with atomic_path(out.parent / f"{out.stem}_card.md") as tmp:
        tmp.write_text(model_card(out, files, metadata, max(diffs), command))
    return max(diffs)


def write_together(files: dict[Path, bytes]) -> None:
    """Every file written and synced to a temporary name first, then all renamed in one burst (the
    generator last): a failed write leaves every old file in place, never a generator and extension
    files from different exports, which the web app would refuse to start with."""
    with contextlib.ExitStack() as stack:
        for path in files:  # contexts exit last-in first-out: the generator, entered first, is renamed last
            stack.enter_context(atomic_path(path)).write_bytes(files[path])


def extension_path(generator_out: Path, model: str, role: str) -> Path:
    """<model>_style.onnx and <model>_encoder.onnx beside the generator file."""
    return generator_out.parent / f"{model}_{role}.onnx"
