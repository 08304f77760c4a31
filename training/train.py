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
import dataclasses
import json
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
from training.data import DeviceDataset
from training.mnist import load_or_download
from training.models import GENERATORS
from training.precision import Precision
from training.settings import SettingError, TrainConfig, add_flags, flag
from training.tensorboard_log import Board

DEFAULT_DATA = Path("data")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The run's own flags, the settings every model has and each model's own (training/settings.py);
    ranges are checked when the settings are resolved, since a resumed run takes them from its checkpoint."""
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(GENERATORS), default="cvae")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--download", action="store_true", help="fetch full MNIST with torchvision")
    p.add_argument("--run-dir", type=Path, help="default: runs/<model>")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/checkpoint.pt")
    for f in dataclasses.fields(TrainConfig):
        add_flags(p, TrainConfig, {f.name}, per_model(f.name))
    for module in GENERATORS.values():
        module.add_arguments(p)
    args = p.parse_args(argv)
    args.run_dir = args.run_dir or Path("runs") / args.model
    args.command = command_line("training", argv)
    return args


def per_model(name: str) -> str:
    """A setting's default for each model, from the model modules themselves ("cvae 30, cgan 30")."""
    return ", ".join(f"{model} {getattr(module.Config(), name):g}" for model, module in GENERATORS.items())


def settings(args: argparse.Namespace, saved: dict | None, source: Path) -> TrainConfig:
    """The run's typed settings: each flag given, else the checkpoint's value, else the model's default.

    A resumed run keeps every setting of the original (only --epochs may grow), so it reaches the
    result an uninterrupted run would; a conflicting flag is an error, and so is another model's flag."""
    config = GENERATORS[args.model].Config
    names = {f.name for f in dataclasses.fields(config)}
    for other in GENERATORS.values():
        for f in dataclasses.fields(other.Config):
            if f.name not in names and getattr(args, f.name) is not None:
                raise SettingError(f"{flag(f.name)} is not a setting of the {args.model}")
    recorded = dataclasses.asdict(config.from_saved(saved)) if saved is not None else {}
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    for name, value in given.items():
        if name != "epochs" and name in recorded and value != recorded[name]:
            raise checkpoint.CheckpointError(f"{source}: the run was trained with {flag(name)} {recorded[name]}, "
                                             f"not {value}")
    return config(**{**recorded, **given})


def load_data(args: argparse.Namespace, cfg: TrainConfig, ctx: distributed.Context) -> DeviceDataset:
    """Rank 0 fetches the data if needed; the others read it after."""
    fetch = args.download or args.data_dir == DEFAULT_DATA
    if ctx.is_main:
        images, labels = load_or_download(args.data_dir, "train", fetch)
    ctx.barrier()
    if not ctx.is_main:
        images, labels = load_split(args.data_dir, "train")
    if cfg.limit:
        images, labels = images[:cfg.limit], labels[:cfg.limit]
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


def open_run(args: argparse.Namespace, ctx: distributed.Context) -> tuple[dict | None, TrainConfig]:
    """The checkpoint to resume (or None for a fresh run) and the run's settings; never overwrites a run
    by accident."""
    ckpt_path = args.run_dir / checkpoint.FULL
    state = checkpoint.load(ckpt_path, ctx.device) if args.resume else None
    if state is not None and state["config"]["model"] != args.model:
        raise checkpoint.CheckpointError(f"{ckpt_path}: holds a {state['config']['model']}, not a {args.model}")
    if state is None and ckpt_path.exists():
        raise checkpoint.CheckpointError(
            f"{ckpt_path} exists: pass --resume to continue it, or choose another --run-dir")
    cfg = settings(args, state and state["config"], ckpt_path)
    if ctx.is_main:
        args.run_dir.mkdir(parents=True, exist_ok=True)  # fail now, not after the first epoch
    return state, cfg


def train_epoch(recipe, data: DeviceDataset, cfg: TrainConfig, ctx: distributed.Context,
                epoch: int, batch: int, steps: int, board: Board) -> list[float]:
    """One pass over this rank's shard with a progress bar; returns the losses averaged over ranks."""
    sums = torch.zeros(len(recipe.loss_names), device=ctx.device)
    bar = tqdm(data.batches(batch, epoch, cfg.seed, ctx.rank, ctx.world), total=steps,
               desc=f"epoch {epoch}/{cfg.epochs}", disable=not ctx.is_main, unit="batch")
    for i, (x, y) in enumerate(bar):
        losses = recipe.train_step(x, y, epoch - 1 + i / steps)
        sums += torch.stack([losses[k] for k in recipe.loss_names])
        board.step((epoch - 1) * steps + i + 1, losses, recipe.optimizers)
        if i % 20 == 0 or i == steps - 1:
            bar.set_postfix({k: f"{v:.3f}" for k, v in zip(recipe.loss_names, (sums / (i + 1)).tolist(), strict=True)})
    return ctx.mean(sums / steps).tolist()


def write_epoch(recipe, args: argparse.Namespace, cfg: TrainConfig, meta: dict, state: dict, samples: tuple,
                board: Board, step: int) -> None:
    """Rank 0's files for one epoch: full checkpoint, the epoch's shipped weights (any epoch can be exported,
    so the instrument can choose one), grid, metrics line, TensorBoard."""
    generator = recipe.generator()
    generator.eval()
    with torch.no_grad():
        images = generator(*samples).float().cpu().numpy()
    generator.train()
    board.epoch(step, {k: state["metrics"][k] for k in recipe.loss_names}, images)
    epoch, config = state["epoch"], {"model": args.model, **dataclasses.asdict(cfg)}
    meta = {**meta, "epochs": epoch, "train_seconds": round(state["train_seconds"], 1)}
    with open(args.run_dir / "metrics.jsonl", "a") as f:  # first: resume trims lines past the checkpoint
        f.write(json.dumps(state["metrics"]) + "\n")
    checkpoint.save({**state, "recipe": recipe.state_dict(), "config": config, "meta": meta},
                    args.run_dir / checkpoint.FULL)
    checkpoint.save({**recipe.shipped_state(), "epoch": epoch, "config": config, "meta": meta},
                    checkpoint.generator_path(args.run_dir, epoch))
    save_grid(images, args.run_dir / f"grid_epoch_{epoch}.png")


def train(args: argparse.Namespace, ctx: distributed.Context) -> None:
    state, cfg = open_run(args, ctx)
    if cfg.batch_size % ctx.world:
        raise DataError(f"--batch-size {cfg.batch_size} is the global batch: it must split evenly over the "
                        f"{ctx.world} processes (a multiple of {ctx.world})")
    torch.manual_seed(cfg.seed * 1000 + ctx.rank)
    data = load_data(args, cfg, ctx)
    batch = cfg.batch_size // ctx.world
    steps = data.steps_per_epoch(batch, ctx.world)
    if steps == 0:
        raise DataError(f"--batch-size {cfg.batch_size} is larger than the {len(data)} training images")
    precision = Precision(ctx.device)
    recipe = GENERATORS[args.model].Recipe(cfg, ctx.device, ctx.wrap, precision)
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

    gen = torch.Generator().manual_seed(cfg.seed)
    samples = (torch.arange(10).repeat_interleave(10).to(ctx.device),
               torch.randn(100, recipe.generator().noise_dim, generator=gen).to(ctx.device))
    if ctx.is_main:
        print(f"{args.model}: {len(data)} images, {steps} steps/epoch on {meta['device']} "
              f"({meta['precision']}), run dir {args.run_dir}", file=sys.stderr)

    with Board(args.run_dir, ctx.is_main, start_epoch * steps + 1) as board:
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            means = train_epoch(recipe, data, cfg, ctx, epoch, batch, steps, board)
            recipe.end_epoch(data)
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            rng = ctx.gather(checkpoint.rng_state(ctx.device))
            if ctx.is_main:
                metrics = {"epoch": epoch, **dict(zip(recipe.loss_names, means, strict=True)),
                           "seconds": round(seconds, 2), "images_per_s": round(steps * batch * ctx.world / seconds, 1)}
                write_epoch(recipe, args, cfg, meta,
                            {"epoch": epoch, "train_seconds": train_seconds, "rng": rng,
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
    except (DataError, checkpoint.CheckpointError, OSError, SettingError) as exc:
        return fail(exc, 2)
    finally:
        ctx.close()
    return 0
