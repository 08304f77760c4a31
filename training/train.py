"""Train a class-conditional MNIST generator.

    python -m training --data-dir ../shared/mnist            # CVAE, CUDA when present
    torchrun --nproc_per_node=2 -m training --device cpu      # DDP (gloo on CPU, NCCL on CUDA)
    python -m training --resume                               # continue runs/<model>/checkpoint.pt

Every epoch writes, on rank 0 only and atomically: the resumable checkpoint, a
checkpoint of what the export ships, a 10x10 sample grid (row = digit) and a metrics line; TensorBoard
event files follow every step (``tensorboard --logdir runs``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from digits.cli import command_line, fail
from digits.files import atomic_path
from digits.grid import save_grid
from digits.idx import DataError, load_split
from training import checkpoint, distributed
from training.board import Board
from training.data import DeviceDataset
from training.mnist import load_or_download
from training.models import GENERATORS
from training.precision import Precision

COMMON_DEFAULTS = {"seed": 0, "limit": 0}
DEFAULT_DATA = Path("data")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(GENERATORS), default="cvae")
    p.add_argument("--epochs", type=int, help=f"total epochs (default: {per_model('epochs')})")
    p.add_argument("--batch-size", type=int,
                   help=f"global batch, split across ranks (default: {per_model('batch_size')})")
    p.add_argument("--lr", type=float, help=f"default: {per_model('lr')}")
    p.add_argument("--latent-dim", type=int,
                   help=f"the CGAN's noise width or the CVAE's code width (its z, the ONNX latent_dim, has 1 more: "
                        f"the mixture component) (default: {per_model('latent_dim')})")
    p.add_argument("--width", type=int, help=f"base channel count (default: {per_model('width')})")
    p.add_argument("--ema-decay", type=float,
                   help=f"decay of the weight average that is exported (default: {per_model('ema_decay')}; 0 = none)")
    p.add_argument("--seed", type=int, help=f"default {COMMON_DEFAULTS['seed']}")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--download", action="store_true", help="fetch full MNIST with torchvision")
    p.add_argument("--limit", type=int, help="train on the first N images only (default 0 = all)")
    p.add_argument("--run-dir", type=Path, help="default: runs/<model>")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/checkpoint.pt")
    for recipe in GENERATORS.values():
        recipe.add_arguments(p)
    args = p.parse_args(argv)
    for name, valid, rule in VALID:
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and valid(value)):
            p.error(f"--{name.replace('_', '-')} must be {rule}, got {value}")
    args.run_dir = args.run_dir or Path("runs") / args.model
    args.command = command_line("training", argv)
    return args


def per_model(key: str) -> str:
    """A flag's default for each model, from the model modules themselves ("cvae 30, cgan 30")."""
    return ", ".join(f"{name} {module.DEFAULTS[key]:g}" for name, module in GENERATORS.items())


VALID = [("epochs", lambda v: v >= 1, "at least 1"), ("batch_size", lambda v: v >= 1, "at least 1"),
         ("latent_dim", lambda v: v >= 1, "at least 1"), ("width", lambda v: v >= 2, "at least 2"),
         ("limit", lambda v: v >= 0, "0 or more"), ("lr", lambda v: v > 0, "positive"),
         ("beta", lambda v: v >= 0, "0 or more"), ("kl_warmup", lambda v: v >= 0, "0 or more"),
         ("ema_decay", lambda v: 0 <= v < 1, "in [0, 1)"), ("prior_components", lambda v: v >= 1, "at least 1"),
         ("mode_seeking", lambda v: v >= 0, "0 or more"), ("consistency", lambda v: v >= 0, "0 or more"),
         ("adversarial", lambda v: v >= 0, "0 or more")]


def resolve_defaults(args: argparse.Namespace, saved: dict | None, source: Path) -> None:
    """Fill unset flags from the checkpoint being resumed, else from the defaults.

    A resumed run keeps every setting of the original (only --epochs may grow), so it
    reaches the result an uninterrupted run would; a conflicting flag is an error.
    """
    for key, default in {**COMMON_DEFAULTS, **GENERATORS[args.model].DEFAULTS}.items():
        given = getattr(args, key)
        if saved is not None and key != "epochs" and given is not None and given != saved.get(key, given):
            raise checkpoint.CheckpointError(
                f"{source}: the run was trained with --{key.replace('_', '-')} {saved[key]}, not {given}")
        if given is None:
            setattr(args, key, saved.get(key, default) if saved is not None else default)


def load_data(args: argparse.Namespace, ctx: distributed.Context) -> DeviceDataset:
    """Rank 0 fetches the data if needed; the others read it after."""
    fetch = args.download or args.data_dir == DEFAULT_DATA
    if ctx.is_main:
        images, labels = load_or_download(args.data_dir, "train", fetch)
    ctx.barrier()
    if not ctx.is_main:
        images, labels = load_split(args.data_dir, "train")
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    return DeviceDataset.from_arrays(images, labels, ctx.device)


def describe(args: argparse.Namespace, data: DeviceDataset, ctx: distributed.Context,
             precision: Precision) -> dict:
    """What the model card and the ONNX metadata say about how the model was made."""
    n = len(data)
    return {
        "model": args.model,
        "dataset": "MNIST" if n == 60000 else f"MNIST (first {n} training images)",
        "train_images": n,
        "device": f"{ctx.world} x {ctx.device.type}" if ctx.world > 1 else ctx.device.type,
        "precision": str(precision),
        "torch": str(torch.__version__),
        "command": args.command,
    }


def config_of(args: argparse.Namespace) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def trim_log(path: Path, last_epoch: int) -> None:
    """Keep only whole metrics lines of epochs the checkpoint holds (a crash may follow or cut a line)."""
    if path.is_file():
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["epoch"] <= last_epoch:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))


def open_run(args: argparse.Namespace, ctx: distributed.Context) -> dict | None:
    """The checkpoint to resume (or None for a fresh run); never overwrites a run by accident."""
    ckpt_path = args.run_dir / checkpoint.FULL
    state = checkpoint.load(ckpt_path, ctx.device) if args.resume else None
    if state is not None and state["config"]["model"] != args.model:
        raise checkpoint.CheckpointError(f"{ckpt_path}: holds a {state['config']['model']}, not a {args.model}")
    if state is None and ckpt_path.exists():
        raise checkpoint.CheckpointError(
            f"{ckpt_path} exists: pass --resume to continue it, or choose another --run-dir")
    resolve_defaults(args, state and state["config"], ckpt_path)
    if ctx.is_main:
        args.run_dir.mkdir(parents=True, exist_ok=True)  # fail now, not after the first epoch
    return state


def train_epoch(recipe, data: DeviceDataset, args: argparse.Namespace, ctx: distributed.Context,
                epoch: int, batch: int, steps: int, board: Board) -> list[float]:
    """One pass over this rank's shard with a progress bar; returns the losses averaged over ranks."""
    sums = torch.zeros(len(recipe.loss_names), device=ctx.device)
    bar = tqdm(data.batches(batch, epoch, args.seed, ctx.rank, ctx.world), total=steps,
               desc=f"epoch {epoch}/{args.epochs}", disable=not ctx.is_main, unit="batch")
    for i, (x, y) in enumerate(bar):
        losses = recipe.train_step(x, y, epoch - 1 + i / steps)
        sums += torch.stack([losses[k] for k in recipe.loss_names])
        board.step((epoch - 1) * steps + i + 1, losses, recipe.optimizers)
        if i % 20 == 0 or i == steps - 1:
            bar.set_postfix({k: f"{v:.3f}" for k, v in zip(recipe.loss_names, (sums / (i + 1)).tolist(), strict=True)})
    return ctx.mean(sums / steps).tolist()


def write_epoch(recipe, args: argparse.Namespace, meta: dict, state: dict, samples: tuple, board: Board,
                step: int) -> None:
    """Rank 0's files for one epoch: full checkpoint, the epoch's shipped weights (any epoch can be exported,
    so the instrument can choose one), grid, metrics line, TensorBoard."""
    generator = recipe.generator()
    generator.eval()
    with torch.no_grad():
        images = generator(*samples).float().cpu().numpy()
    generator.train()
    board.epoch(step, {k: state["metrics"][k] for k in recipe.loss_names}, images)
    epoch, config = state["epoch"], config_of(args)
    meta = {**meta, "epochs": epoch, "train_seconds": round(state["train_seconds"], 1)}
    with open(args.run_dir / "metrics.jsonl", "a") as f:  # first: resume trims lines past the checkpoint
        f.write(json.dumps(state["metrics"]) + "\n")
    checkpoint.save({**state, "recipe": recipe.state_dict(), "config": config, "meta": meta},
                    args.run_dir / checkpoint.FULL)
    checkpoint.save({**recipe.shipped_state(), "epoch": epoch, "config": config, "meta": meta},
                    checkpoint.generator_path(args.run_dir, epoch))
    save_grid(images, args.run_dir / f"grid_epoch_{epoch}.png")


def train(args: argparse.Namespace, ctx: distributed.Context) -> None:
    state = open_run(args, ctx)
    if args.batch_size % ctx.world:
        raise DataError(f"--batch-size {args.batch_size} is the global batch: it must split evenly over the "
                        f"{ctx.world} processes (a multiple of {ctx.world})")
    torch.manual_seed(args.seed * 1000 + ctx.rank)
    data = load_data(args, ctx)
    batch = args.batch_size // ctx.world
    steps = data.steps_per_epoch(batch, ctx.world)
    if steps == 0:
        raise DataError(f"--batch-size {args.batch_size} is larger than the {len(data)} training images")
    precision = Precision(ctx.device)
    recipe = GENERATORS[args.model].Recipe(args, ctx.device, ctx.wrap, precision)
    meta = describe(args, data, ctx, precision)

    start_epoch, train_seconds = 0, 0.0
    if state is not None:
        recipe.load_state_dict(state["recipe"])
        start_epoch, train_seconds = state["epoch"], state["train_seconds"]
        meta["command"] = f"{state['meta']['command']}\n{args.command}"  # how it was really made
        if state.get("scaler"):
            precision.scaler.load_state_dict(state["scaler"])
        if len(state["rng"]) == ctx.world:  # else keep the fresh per-rank seeds: ranks must not share noise
            checkpoint.set_rng_state(state["rng"][ctx.rank], ctx.device)
        if ctx.is_main:
            trim_log(args.run_dir / "metrics.jsonl", start_epoch)

    gen = torch.Generator().manual_seed(args.seed)
    samples = (torch.arange(10).repeat_interleave(10).to(ctx.device),
               torch.randn(100, recipe.generator().noise_dim, generator=gen).to(ctx.device))
    if ctx.is_main:
        print(f"{args.model}: {len(data)} images, {steps} steps/epoch on {meta['device']} "
              f"({meta['precision']}), run dir {args.run_dir}", file=sys.stderr)

    with Board(args.run_dir, ctx.is_main, start_epoch * steps + 1) as board:
        for epoch in range(start_epoch + 1, args.epochs + 1):
            t0 = time.perf_counter()
            means = train_epoch(recipe, data, args, ctx, epoch, batch, steps, board)
            recipe.end_epoch(data)
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            rng = ctx.gather(checkpoint.rng_state(ctx.device))
            if ctx.is_main:
                metrics = {"epoch": epoch, **dict(zip(recipe.loss_names, means, strict=True)),
                           "seconds": round(seconds, 2), "images_per_s": round(steps * batch * ctx.world / seconds, 1)}
                write_epoch(recipe, args, meta, {"epoch": epoch, "train_seconds": train_seconds, "rng": rng,
                                                 "scaler": precision.scaler.state_dict(), "metrics": metrics},
                            samples, board, epoch * steps)
            ctx.barrier()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ctx = distributed.setup(args.device)
    except ValueError as exc:
        return fail(exc, 2)
    try:
        train(args, ctx)
    except (DataError, checkpoint.CheckpointError, OSError) as exc:
        return fail(exc, 2)
    finally:
        ctx.close()
    return 0
