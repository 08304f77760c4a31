"""A generator's critic for sampling: how real a served digit looks, as a calibrated log density ratio.

    python -m training.critic --model cgan --data-dir ../shared/mnist    # then python -m export --model critic

Discriminator rejection sampling (Azadi et al., 2019): a critic that estimates log(p_real / p_generated)
lets the sampler keep each candidate with probability min(1, exp(logit - cap)), which moves the samples
towards the real distribution. The critic is the architecture both generators train against
(training/discriminator.py), trained here against the committed generator as it ships: the training
digits the generator learned from against as many of its centred samples, drawn through its ONNX file.
Its scores are then calibrated (Platt scaling), and the cap set, on the first half of the training digits
the generator held back (it trained with --limit) against fresh samples; the second half decides whether
sampling with it pays (the C2ST of the generator's samples and of those the critic chose). For a generator
that held nothing back, the last third of the training digits plays that part (the generator saw them,
the critic never does). The test digits are never read.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from digits.c2st import c2st_runs
from digits.cli import command_line, fail
from digits.contract import MAX_CANDIDATES, ModelError
from digits.files import file_sha256
from digits.generators import Critic, load_generators, noise
from digits.idx import DataError, load_split
from training import checkpoint
from training.discriminator import Discriminator
from training.distributed import resolve_device

ARTIFACT = "{generator_model}_critic.onnx"
TITLE = "Critic for sampling"
ABOUT = """The critic of `{generator}`: input `image` float32 [N,1,28,28] (a centred digit, ink = 1) and
`digit` int64 [N]; output `logit` [N], an estimate of log(p_real / p_generated) calibrated on held-back
training digits. The sampler (digits/generators.py) draws {candidates} candidates per digit and keeps
each with probability min(1, exp(logit - {cap})) (docs/contracts.md)."""
HELD_OUT = 1 / 3  # of the training digits, kept from the critic where the generator held none back


class Calibrated(nn.Module):
    """The critic's score, scaled and shifted so that it is a log density ratio; what ships."""

    def __init__(self, critic: Discriminator, scale: float = 1.0, shift: float = 0.0) -> None:
        super().__init__()
        self.critic = critic
        self.register_buffer("platt", torch.tensor([scale, shift]))

    def forward(self, image: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        return self.platt[0] * self.critic(image, digit)[0] + self.platt[1]


def splits(total: int, train_images: int) -> tuple[slice, slice, slice]:
    """The training digits the critic learns from, those it calibrates on, and those that decide whether
    it pays: the two halves of what the generator held back, else of the last HELD_OUT of all."""
    learn = train_images if train_images < total else int((1 - HELD_OUT) * total)
    middle = learn + (total - learn) // 2
    return slice(0, learn), slice(learn, middle), slice(middle, total)


class TorchSession:
    """The calibrated critic behind onnxruntime's ``run``, so the one sampler (digits/generators.py) can
    use it before it is exported."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def run(self, names: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            return [self.module(*(torch.from_numpy(v) for v in feed.values())).numpy()]


def decide(generator, sampler: Critic, images: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """C2ST (mean of its repeats) of the generator's own samples and of those the critic chose, each against
    held-back real digits of the same labels: what sampling with the critic buys, and what it costs in time."""
    z = noise(seed + 2, len(labels), generator.latent_dim)
    start = time.perf_counter()
    plain = generator.render(labels, z)
    middle = time.perf_counter()
    chosen = sampler.choose(generator.render, labels, z)
    end = time.perf_counter()
    real = images / 255.0
    return {"c2st_plain": float(np.mean(c2st_runs(real, plain, seed))),
            "c2st_critic": float(np.mean(c2st_runs(real, chosen, seed))),
            "time_ratio": round((end - middle) / (middle - start), 2)}


def real_and_generated(generator, images: np.ndarray, labels: np.ndarray,
                       seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Real digits and as many generated ones of the same digits: images [2N,1,28,28], digits, is-real."""
    fake = generator.render(labels, noise(seed, len(labels), generator.latent_dim))
    x = torch.cat([torch.from_numpy(images.copy()).float().div(255), torch.from_numpy(fake).float()]).unsqueeze(1)
    digit = torch.from_numpy(np.concatenate([labels, labels]).astype(np.int64))
    return x, digit, torch.cat([torch.ones(len(labels)), torch.zeros(len(labels))])


def fit(critic: Discriminator, x: torch.Tensor, digit: torch.Tensor, real: torch.Tensor, epochs: int, lr: float,
        seed: int) -> None:
    """Logistic loss, real = 1, generated = 0, over shuffled batches of both."""
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(128):
            score, _ = critic(x[idx], digit[idx])
            loss = F.binary_cross_entropy_with_logits(score, real[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def platt(score: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    """Scale and shift of the score that best predict real vs generated on held-out digits."""
    ab = torch.tensor([1.0, 0.0], requires_grad=True)
    opt = torch.optim.LBFGS([ab], max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(ab[0] * score + ab[1], real)
        loss.backward()
        return loss

    opt.step(closure)
    return float(ab[0].detach()), float(ab[1].detach())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.critic", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the committed generator the critic samples for (cvae, cgan)")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32, help="the critic's base channel count (default 32)")
    p.add_argument("--candidates", type=int, default=4, help=f"candidates per sample, 2-{MAX_CANDIDATES} (default 4)")
    p.add_argument("--quantile", type=float, default=0.8,
                   help="the cap: this quantile of the generated digits' logits (default 0.8; higher keeps fewer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")
    p.add_argument("--checkpoint", type=Path, help="default runs/<model>_critic/checkpoint.pt")
    args = p.parse_args(argv)
    if (args.epochs < 1 or not args.lr > 0 or args.width < 2 or not 2 <= args.candidates <= MAX_CANDIDATES
            or not 0 < args.quantile < 1):
        p.error(f"--epochs >= 1, --lr > 0, --width >= 2, --candidates 2-{MAX_CANDIDATES} and --quantile in (0, 1)")
    args.checkpoint = args.checkpoint or Path("runs") / f"{args.model}_critic" / checkpoint.FULL
    return args


def train(args: argparse.Namespace, argv: list[str] | None) -> dict:
    device = resolve_device(args.device)
    generators = load_generators(args.artifacts, threads=2)
    if args.model not in generators:
        raise ModelError(f"{args.artifacts}: no generator named {args.model} (have {', '.join(sorted(generators))})")
    generator = generators[args.model]
    images, labels = load_split(args.data_dir, "train")
    learn, calibrate, deciding = splits(len(labels), int(generator.metadata["train_images"]))
    x, digit, real = real_and_generated(generator, images[learn], labels[learn], args.seed)
    torch.manual_seed(args.seed)
    critic = Discriminator(args.width).to(device)
    start = time.perf_counter()
    fit(critic, x.to(device), digit.to(device), real.to(device), args.epochs, args.lr, args.seed)
    critic.eval()
    x, digit, real = real_and_generated(generator, images[calibrate], labels[calibrate], args.seed + 1)
    with torch.no_grad():
        score = torch.cat([critic(part.to(device), d.to(device))[0].cpu()
                           for part, d in zip(x.split(1000), digit.split(1000), strict=True)])
    scale, shift = platt(score, real)
    logit = scale * score + shift
    fakes = logit[real == 0]
    cap = float(torch.quantile(fakes, args.quantile))
    accuracy = float(((logit > 0).float() == real).float().mean())
    shipped_critic = Calibrated(critic.cpu(), scale, shift).eval()
    sampler = Critic(Path("(not exported yet)"), cap, args.candidates, TorchSession(shipped_critic))
    verdict = {"decided": [deciding.start, deciding.stop],
               **decide(generator, sampler, images[deciding], labels[deciding], args.seed)}
    return {"critic": critic.cpu().state_dict(), "platt": [scale, shift], "epoch": args.epochs,
            "config": {"model": "critic", "width": args.width},
            "meta": {"model": "critic", "generator_model": args.model, "generator": generator.path.name,
                     "generator_sha256": file_sha256(generator.path), "cap": cap, "candidates": args.candidates,
                     "quantile": args.quantile, "calibration_accuracy": accuracy,
                     "acceptance": float(torch.exp((fakes - cap).clamp(max=0)).mean()),
                     "learned": [learn.start, learn.stop], "calibrated": [calibrate.start, calibrate.stop],
                     **verdict, "dataset": "MNIST", "train_images": learn.stop - learn.start,
                     "device": device.type,
                     "torch": str(torch.__version__), "train_seconds": round(time.perf_counter() - start, 1),
                     "command": command_line("training.critic", argv)}}


def shipped(state: dict) -> dict[str, nn.Module]:
    """The calibrated critic with its spectral norms folded into plain weights."""
    critic = Discriminator(state["config"]["width"])
    critic.load_state_dict(state["critic"])
    for module in critic.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return {"critic": Calibrated(critic, *state["platt"]).eval()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        state = train(args, argv)
        checkpoint.save(state, args.checkpoint)
    except (ValueError, DataError, ModelError, OSError) as exc:
        return fail(exc, 2)
    meta = state["meta"]
    print(f"critic of {meta['generator']}: {meta['calibration_accuracy']:.1%} right on the digits it calibrated on, "
          f"cap {meta['cap']:.3f}, keeps {meta['acceptance']:.0%} of candidates; wrote {args.checkpoint}")
    print(f"C2ST against training digits {meta['decided'][0]}-{meta['decided'][1]} (the critic never saw them): "
          f"{meta['c2st_plain']:.3f} plain, {meta['c2st_critic']:.3f} with the critic, at {meta['time_ratio']:.1f}x "
          "the time")
    print(f"export it with: python -m export --model critic --checkpoint {args.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
