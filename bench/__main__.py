"""python -m bench: the serving promise measured side by side, in one run, on this machine.

Prints one table and writes it to bench/results_<model>.json. Needs the serve venv (.venv-serve),
wrk and nginx (Debian packages) and the model's style file (<model>_style.onnx); the torch baseline
runs the committed generator's own weights, read back from its ONNX file (export/from_onnx.py), so it
runs from a fresh clone. The product is measured as it is
served in production (make serve-prod: nginx in front of gunicorn).
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.profile import PY_SPY, profile
from bench.report import MORPH, NUMBER, PAIRED_ROUTES, ROUTES, STEER, STYLE_ROUTES, table
from bench.servers import children, gunicorn_master, start_server, stop, wrk
from digits.generators import OnnxGenerator, load_generators
from digits.records import fingerprint

ROOT = Path(__file__).resolve().parent.parent
SERVE_BIN = ROOT / ".venv-serve" / "bin"
TRAIN_BIN = Path(sys.executable).parent
NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
BEFORE = "64ceda6"


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    return statistics.median(timed(fn) * 1000 for _ in range(repeats))


def compute_floor(model: str, artifacts: Path, repeats: int) -> dict:
    """One batched call for 5 images plus their PNG encoding: onnxruntime vs torch, in-process; and the
    model's own onnxruntime call alone (what is left of a request's time is overhead)."""
    import numpy as np
    import torch

    from export.from_onnx import torch_generator
    from webapp.imaging import pngs_base64

    threads = torch.get_num_threads()
    # One thread, as each serving worker, set before torch runs anything: a second OpenMP thread
    # would keep spinning and slow the onnxruntime calls. Training (data_path) gets them back.
    torch.set_num_threads(1)
    onnx_generator = load_generators(artifacts, threads=1)[model]
    torch_module = torch_generator(onnx_generator.path)
    z = torch.randn(5, onnx_generator.latent_dim)
    feed = {"digit": np.full(5, 3, dtype=np.int64), "z": z.numpy()}

    def torch_call() -> None:
        with torch.no_grad():
            pngs_base64(torch_module(torch.full((5,), 3), z)[:, 0].numpy())

    try:
        return {"onnx_ms": median_ms(lambda: pngs_base64(onnx_generator.sample(3, 5, 1)), repeats),
                "model_ms": median_ms(lambda: onnx_generator.session.run(["image"], feed), repeats),
                "torch_ms": median_ms(torch_call, repeats)}
    finally:
        torch.set_num_threads(threads)


def style_floor(model: str, artifacts: Path, repeats: int) -> dict:
    """The style routes' answers computed in-process (hands, style session, PNG encoding): their p50 floor."""
    import numpy as np

    from digits import handwriting
    from digits.steer import steered
    from webapp.imaging import pngs_base64

    generator = load_generators(artifacts, threads=1)[model]
    style, directions = generator.style, generator.steer.directions if generator.steer else None
    if style is None:
        raise SystemExit(f"bench: {model} has no style file in {artifacts} (run make export)")

    def number() -> None:
        hands = handwriting.hands(NUMBER["seed"], NUMBER["count"], style.style_dim)
        pngs_base64(handwriting.rows(handwriting.write(style, NUMBER["text"], hands)))

    def steer() -> None:
        hand = handwriting.hands(STEER["seed"], 1, style.style_dim)
        controls = np.array([STEER["slant"], STEER["weight"], STEER["width"]])
        pngs_base64(handwriting.rows(handwriting.write(style, STEER["text"], steered(hand, directions, controls))))

    return {"number_ms": median_ms(number, repeats),
            "morph_ms": median_ms(lambda: pngs_base64(handwriting.morph(style, **MORPH)), repeats),
            **({"steer_ms": median_ms(steer, repeats)} if directions is not None else {})}


def generate_rate(model: str, artifacts: Path, per_digit: int, rounds: int) -> dict:
    """Images/s of the whole ``python -m generate --format idx`` command, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [str(SERVE_BIN / "python"), "-m", "generate", "--model", model, "--per-digit", str(per_digit),
                   "--format", "idx", "--out", str(Path(tmp) / "set"), "--force", "--artifacts", str(artifacts)]

        def run() -> None:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"bench: python -m generate failed: {done.stderr.strip()[-300:]}")

        seconds = statistics.median(timed(run) for _ in range(rounds))
    return {"images": 10 * per_digit, "seconds": seconds, "images_per_s": 10 * per_digit / seconds}


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def worker_rss_mb(server: int) -> float:
    """The largest RSS among the gunicorn master's workers."""
    workers = children(gunicorn_master(server))
    if not workers:
        raise SystemExit(f"bench: server {server} has no workers left")
    return max(rss_mb(pid) for pid in workers)


def serve(name: str, command: list[str], env: dict, port: int, model: str, seconds: int, rounds: int,
          routes: dict[str, tuple[str, int]] = ROUTES) -> dict:
    """Cold start (median of ``rounds`` + 1 starts), worker RSS, latency with one connection (no
    queueing), and wrk load with 16 connections on each of ``routes``, for one server."""
    base = f"http://127.0.0.1:{port}"
    urls = {route: f"{base}{url}&model={model}" for route, (url, _) in routes.items()}
    colds = []
    for _ in range(rounds):
        server, cold = start_server(name, command, env, urls["api"])
        stop(server)
        colds.append(cold)
    server, cold = start_server(name, command, env, urls["api"])
    colds.append(cold)
    try:
        time.sleep(1.0)
        rss_start = worker_rss_mb(server.pid)
        runs = {route: [wrk(urls[route], seconds, connections) for _ in range(rounds)]
                for route, (_, connections) in routes.items()}
        runs["load"] = []
        # A 20,000-request version of the test suite's 5,000-request load test (tests/test_reliability.py).
        while sum(r["requests"] for rs in runs.values() for r in rs) < 20_000:
            runs["load"].append(wrk(urls["api"], seconds, 16))
        rss_end = worker_rss_mb(server.pid)
    finally:
        stop(server)
    summary = {route: {key: statistics.median(r[key] for r in runs[route]) for key in ("p50_ms", "p99_ms", "rps")}
               for route in routes}
    return {"cold_start_s": statistics.median(colds), "rss_start_mb": rss_start, "rss_end_mb": rss_end,
            "requests": sum(r["requests"] for rs in runs.values() for r in rs),
            "errors": sum(r["errors"] for rs in runs.values() for r in rs), **summary}


def paired(servers: dict[str, tuple[str, list[str], dict, int, Path]], model: str, seconds: int, rounds: int) -> dict:
    """The comparisons that must not drift apart on a shared machine: the servers run side by side and
    take turns, one wrk run each, route by route and round by round, so a machine that slows down
    slows all of them alike. ``servers``: key -> (name, command, env, port, checkout)."""
    urls = {key: {route: f"http://127.0.0.1:{port}{url}&model={model}" for route, (url, _) in PAIRED_ROUTES.items()}
            for key, (_, _, _, port, _) in servers.items()}
    running = {}
    try:
        for key, (name, command, env, _, cwd) in servers.items():
            running[key], _ = start_server(name, command, env, urls[key]["api"], cwd)
        time.sleep(1.0)
        runs = {key: {route: [] for route in PAIRED_ROUTES} for key in servers}
        for _ in range(rounds):
            for route, (_, connections) in PAIRED_ROUTES.items():
                for key in servers:
                    runs[key][route].append(wrk(urls[key][route], seconds, connections))
    finally:
        for server in running.values():
            stop(server)
    return {key: {route: {k: statistics.median(r[k] for r in rs) for k in ("p50_ms", "p99_ms", "rps")}
                  for route, rs in by_route.items()} for key, by_route in runs.items()}


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def data_path(data_dir: Path, rounds: int) -> dict:
    """One epoch of shuffled batches: whole-dataset tensor vs DataLoader over ToTensor, and a CVAE epoch."""
    import torch
    from torchvision import datasets, transforms

    from digits.idx import load_split
    from training.data import DeviceDataset
    from training.models import GENERATORS
    from training.precision import Precision
    from training.train import parse_args, settings

    images, labels = load_split(data_dir, "train")
    data = DeviceDataset.from_arrays(images, labels, torch.device("cpu"))
    tensor_s = statistics.median(timed(lambda e=e: sum(1 for _ in data.batches(128, e, 0))) for e in range(rounds))
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            with gzip.open(data_dir / f"{name}.gz") as src, open(raw / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
        dataset = datasets.MNIST(tmp, train=True, transform=transforms.ToTensor(), download=False)
        loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, drop_last=True)
        loader_s = statistics.median(timed(lambda: sum(1 for _ in loader)) for _ in range(rounds))
    config = settings(parse_args(["--model", "cvae"]), None, Path("."))
    recipe = GENERATORS["cvae"].Recipe(config, torch.device("cpu"), lambda m: m, Precision(torch.device("cpu")))
    steps = data.steps_per_epoch(128)
    epoch_s = timed(lambda: [recipe.train_step(x, y, 20.0) for x, y in data.batches(128, 0, 0)])
    return {"tensor_s": tensor_s, "dataloader_s": loader_s, "train_epoch_s": epoch_s, "steps": steps}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def prod_command(port: int, checkout: Path = ROOT) -> list[str]:
    """make serve-prod of ``checkout`` on ``port``, with no per-client limit of rate or requests in flight (those
    of its limits that checkout has): wrk is one client asking thousands of times, 16 at once."""
    command = [str(SERVE_BIN / "python"), "-m", "deploy.serve", "--port", str(port), "--workers", "2"]
    usage = subprocess.run([*command[:3], "--help"], cwd=checkout, capture_output=True, text=True).stdout
    limits = {"--client-rate": "1000000", "--samples-per-client": "32", "--heavy-per-client": "32"}
    return command + [part for flag, value in limits.items() if flag in usage for part in (flag, value)]


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """The committed files of ``revision`` in a temporary folder (git archive: no worktree to clean up)."""
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], capture_output=True)
        if archive.returncode:
            raise SystemExit(f"bench: --before {revision}: not a commit of this repository")
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="cvae", help="served generator to measure (default cvae)")
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "mnist")
    p.add_argument("--artifacts", type=Path, default=ROOT / "artifacts",
                   help="folder of the served *.onnx files (generators and their style files)")
    p.add_argument("--seconds", type=int, default=5, help="length of one wrk run")
    p.add_argument("--rounds", type=int, default=3,
                   help="wrk runs per route and server, and cold starts (medians are reported)")
    p.add_argument("--calls", type=int, default=1000, help="calls per compute-floor measurement")
    p.add_argument("--per-digit", type=int, default=6000, help="images of each digit per python -m generate run")
    p.add_argument("--before", default=BEFORE,
                   help=f"commit whose serving code the overhead is compared with, side by side, on the same model "
                        f"files (default {BEFORE}: the last one before the serving path was trimmed)")
    p.add_argument("--out", type=Path, help="default bench/results_<model>.json")
    args = p.parse_args(argv)
    args.out = args.out or ROOT / "bench" / f"results_{args.model}.json"
    for need, hint in ((SERVE_BIN / "gunicorn", "run make serve once"),
                       (Path(shutil.which("wrk") or "/nonexistent"), "apt-get install wrk"),
                       (NGINX, "run make system-packages"), (PY_SPY, "make bench installs it into .venv")):
        if not need.exists():
            print(f"error: {need} is missing ({hint})", file=sys.stderr)
            return 2
    served = load_generators(args.artifacts, threads=1)[args.model]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_GENERATOR": str(served.path),
           "FLASK_ARTIFACTS_DIR": str(args.artifacts)}
    with checkout(args.before) as before:
        results = measure(args, served, env, before)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


def measure(args: argparse.Namespace, served: OnnxGenerator, env: dict, before: Path) -> dict:
    """Every measurement of the record, in one run on this machine."""
    gunicorn = ["--workers", "2", "--bind"]
    style_floors = style_floor(args.model, args.artifacts, args.calls)
    style_routes = {route: url for route, url in STYLE_ROUTES.items()  # the steer routes need a steering file
                    if route.removesuffix("_one") + "_ms" in style_floors}
    return {
        "machine": f"{os.cpu_count()} CPU cores",
        "model": args.model,
        "files": [fingerprint(path) for path in served.files()],
        "compute_floor": compute_floor(args.model, args.artifacts, args.calls),
        "style_floor": style_floors,
        "onnx_server": serve("onnxruntime (make serve-prod)", prod_command(8701), env, 8701, args.model,
                             args.seconds, args.rounds, {**ROUTES, **style_routes}),
        "before": args.before,
        "paired": paired({
            "product": ("onnxruntime (make serve-prod)", prod_command(8703), env, 8703, ROOT),
            "metrics_off": ("onnxruntime (make serve-prod, FLASK_METRICS=0)", prod_command(8704),
                            {**env, "FLASK_METRICS": "0"}, 8704, ROOT),
            "direct": ("onnxruntime (gunicorn direct)",
                       [str(SERVE_BIN / "gunicorn"), *gunicorn, "127.0.0.1:8705", "webapp:create_app()"], env, 8705,
                       ROOT),
            "before": (f"onnxruntime (make serve-prod at {args.before})", prod_command(8706, before), {
                **env, "PYTHONPATH": str(before)}, 8706, before),
        }, args.model, args.seconds, args.rounds),
        "profile": {"now": profile(ROOT, args.model, args.seconds * 2, 8707, args.artifacts),
                    "before": profile(before, args.model, args.seconds * 2, 8708, args.artifacts)},
        "torch_server": serve("torch", [str(TRAIN_BIN / "gunicorn"), "--config", str(ROOT / "bench" / "empty.conf.py"),
                                        *gunicorn, "127.0.0.1:8702", "bench.torch_server:create_app()"],
                              env, 8702, args.model, args.seconds, args.rounds),
        "serve_venv_mb": du_mb(ROOT / ".venv-serve"),
        "train_venv_mb": du_mb(TRAIN_BIN.parent),
        "data_path": data_path(args.data_dir, args.rounds),
        "generate": generate_rate(args.model, args.artifacts, args.per_digit, args.rounds),
    }


if __name__ == "__main__":
    sys.exit(main())
