"""Train the judge: an independent MNIST classifier that scores generated digits.

    python -m training.judge --data-dir ../shared/mnist        # writes artifacts/judge.onnx

The judge never sees generated images. Its penultimate layer is the feature space
for FID; it is exported to ONNX so evaluation runs with onnxruntime alone.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from digits.cli import command_line, fail
from digits.files import atomic_path
from digits.idx import DataError, load_split
from training import checkpoint
from training.data import DeviceDataset
from training.distributed import resolve_device
from training.onnx import TOLERANCE, parity, to_onnx
from training.train import config_of

FEATURES = 128


class Judge(nn.Module):
    """A small VGG-style CNN; returns class probabilities and penultimate features."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 32), *block(32, 32), nn.MaxPool2d(2),          # 14
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),         # 7
            nn.Flatten(), nn.Linear(64 * 7 * 7, FEATURES, bias=False), nn.BatchNorm1d(FEATURES), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, 10))

    def logits(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (what training's cross-entropy takes) and penultimate features."""
        features = self.body(image)
        return self.head(features), features

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = self.logits(image)
        return torch.softmax(logits, dim=1), features


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random small rotation, scale and shift per image, on the device, as handwriting varies."""
    n = len(x)
    angle = (torch.rand(n, device=x.device) - 0.5) * 2 * 0.2          # +-11 degrees
    scale = 1 + (torch.rand(n, device=x.device) - 0.5) * 0.2           # 0.9 .. 1.1
    shift = (torch.rand(n, 2, device=x.device) - 0.5) * 2 * (2.5 / 14)  # +-2.5 pixels
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def predict(model: Judge, images: np.ndarray, device: torch.device) -> np.ndarray:
    """The predicted digit of each uint8 image [N,28,28] (per-digit accuracy needs more than the mean)."""
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(images.copy()).float().div(255).unsqueeze(1).to(device)
        probs = torch.cat([model(chunk)[0] for chunk in x.split(1000)])
    model.train()
    return probs.argmax(1).cpu().numpy()


def accuracy(model: Judge, images: np.ndarray, labels: np.ndarray, device: torch.device) -> float:
    return float((predict(model, images, device) == labels).mean())


def export(model: Judge, out: Path, metadata: dict[str, str]) -> None:
    """ONNX with input image [N,1,28,28] and outputs probs [N,10], features [N,128]; checked, atomic."""
    model.eval()
    data = to_onnx(model, (torch.rand(4, 1, 28, 28),), ["image"], ["probs", "features"], metadata).SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    diff = parity(session, model, [{"image": np.random.default_rng(n).random((n, 1, 28, 28), dtype=np.float32)}
                                   for n in (1, 7, 64)])
    if diff > TOLERANCE:
        raise DataError(f"judge ONNX differs from PyTorch by {diff:.3g} (limit {TOLERANCE:g}); {out} not written")
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)


def write_card(out: Path, meta: dict[str, str]) -> None:
    """<out stem>_card.md: what the judge is, how it was made, how well it reads real digits."""
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in meta.items() if k != "train_command")
    text = f"""# The judge: `{out.name}`

An MNIST classifier (training/judge.py: four 3x3 convolutions with batch norm, two max-pools, a
{meta['features']}-d penultimate layer, dropout, ten logits) that grades generated digits and gives
FID its feature space. It never sees generated images. Input `image` float32 [N,1,28,28] (ink = 1);
outputs `probs` [N,10] and `features` [N,{meta['features']}].

| metadata | value |
|---|---|
{rows}

Accuracy on the 10,000 official MNIST test digits: **{float(meta['test_accuracy']):.2%}**.

## How it was made

```
{meta['train_command']}
```

AdamW with a one-cycle schedule, cross-entropy on augmented batches (random rotation of up to 11
degrees, scale 0.9-1.1, shift of up to 2.5 pixels), {meta['epochs']} epochs on {meta['dataset']}, on
{meta['train_device']} in {float(meta['train_seconds']) / 60:.1f} minutes (other jobs shared the cores).
"""
    with atomic_path(out.parent / f"{out.stem}_card.md") as tmp:
        tmp.write_text(text)


def fit(model: Judge, data: DeviceDataset, args: argparse.Namespace) -> None:
    """AdamW with a one-cycle schedule on augmented batches."""
    steps = data.steps_per_epoch(args.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * steps)
    for epoch in range(1, args.epochs + 1):
        bar = tqdm(data.batches(args.batch_size, epoch, args.seed), total=steps, desc=f"epoch {epoch}/{args.epochs}")
        for x, y in bar:
            logits, _ = model.logits(augment(x))
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")


def train_classifier(images: np.ndarray, labels: np.ndarray, args: argparse.Namespace,
                     device: torch.device) -> Judge:
    """The judge's recipe on any labelled uint8 digits: the real training split, or generated ones (CAS)."""
    torch.manual_seed(args.seed)
    model = Judge().to(device)
    fit(model, DeviceDataset.from_arrays(images, labels, device), args)
    return model


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """The recipe's flags and defaults, shared with CAS so both classifiers train exactly alike."""
    p.add_argument("--epochs", type=int, default=10, help="default 10 (4,690 steps on all 60,000 digits)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def check_recipe(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        p.error("--epochs and --batch-size must be at least 1 and --lr positive")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.judge", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    add_recipe_args(p)
    p.add_argument("--checkpoint", type=Path, default=Path("runs/judge/judge.pt"),
                   help="the trained weights are saved here first, so a failed export loses nothing")
    p.add_argument("--out", type=Path, default=Path("artifacts/judge.onnx"))
    args = p.parse_args(argv)
    check_recipe(p, args)
    try:
        device = resolve_device(args.device)
        train_x, train_y = load_split(args.data_dir, "train")
        test_x, test_y = load_split(args.data_dir, "test")
        start = time.perf_counter()
        model = train_classifier(train_x, train_y, args, device)
        seconds = time.perf_counter() - start
        checkpoint.save({"judge": model.state_dict(), "config": config_of(args), "epoch": args.epochs}, args.checkpoint)
        test_accuracy = accuracy(model, test_x, test_y, device)
        print(f"test accuracy {test_accuracy:.2%} on {len(test_y)} official test digits, {seconds / 60:.1f} min")
        metadata = {"model": "judge", "role": "judge", "dataset": f"MNIST ({len(train_y)} training images)",
                    "train_images": str(len(train_y)), "epochs": str(args.epochs),
                    "test_accuracy": f"{test_accuracy:.4f}", "features": str(FEATURES),
                    "train_seconds": f"{seconds:.0f}", "train_device": device.type,
                    "train_command": command_line("training.judge", argv)}
        export(model.cpu(), args.out, metadata)
        write_card(args.out, metadata)
    except (ValueError, DataError, OSError) as exc:
        return fail(exc, 2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
