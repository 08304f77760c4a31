"""The judge's recipe: the classifier, its augmentation and training, and what its export says.

Two things train it: ``python -m training.train_judge`` on the 60,000 real training digits (the committed
judge, ``artifacts/judge.onnx``), and CAS on generated digits alone, with exactly the same recipe.
Its penultimate layer is the feature space for FID.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from training.data import DeviceDataset

ARTIFACT = "judge.onnx"
TITLE = "The judge"
ABOUT = """An MNIST classifier (training/classifier.py: four 3x3 convolutions with batch norm, two max-pools, a
{features}-d penultimate layer, dropout, ten logits) that grades generated digits and gives
FID its feature space. It never sees generated images. Input `image` float32 [N,1,28,28] (ink = 1);
outputs `probs` [N,10] and `features` [N,{features}] (docs/contracts.md).

Accuracy on the 10,000 official MNIST test digits: **{test_accuracy_percent}**.

AdamW with a one-cycle schedule, cross-entropy on augmented batches (random rotation of up to 11
degrees, scale 0.9-1.1, shift of up to 2.5 pixels)."""
DEFAULTS = {"epochs": 10, "batch_size": 128, "lr": 2e-3, "seed": 0}

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
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                   help=f"default {DEFAULTS['epochs']} (4,690 steps on all 60,000 digits)")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help=f"default {DEFAULTS['batch_size']}")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help=f"peak learning rate (default {DEFAULTS['lr']:g})")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help=f"default {DEFAULTS['seed']}")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")


def check_recipe(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        p.error("--epochs and --batch-size must be at least 1 and --lr positive")


def shipped(state: dict) -> dict[str, nn.Module]:
    """The exported module rebuilt from a judge checkpoint (``python -m export --model judge``)."""
    model = Judge()
    model.load_state_dict(state["judge"])
    return {"judge": model.eval()}
