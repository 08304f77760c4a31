"""python -m bench: the serving promise measured side by side, in one run, on this machine.

Prints one table and writes it to bench/results_<model>.json. Needs the serve venv (.venv-serve),
wrk and nginx (Debian packages), the model's style file (<model>_style.onnx) and its PyTorch
checkpoint for the torch baseline (runs/<model>/checkpoint.pt). The product is measured as it is
served in production (make serve-prod: nginx in front of gunicorn).
"""
from __future__ import annotations

import argparse
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
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVE_BIN = ROOT / ".venv-serve" / "bin"
TRAIN_BIN = Path(sys.executable).parent
GENERATE = "/api/v1/generate?digit=3&seed=1"
ROUTES = {"api_one": (GENERATE, 1), "api": (GENERATE, 16), "page": ("/?digit=3&seed=1", 16)}  # URL, connections
# The handwriting routes, on the product server only (the torch baseline has no style interface).
NUMBER = {"text": "0123456789", "count": 5, "seed": 1}
MORPH = {"digit": 3, "to_digit": 8, "seed": 1, "to_seed": 2, "frames": 8}
STEER = {"text": "0123456789", "seed": 1, "slant": 1.5, "weight": -1, "width": 0.5}
STYLE_ROUTES = {f"{name}{suffix}": (f"/api/v1/{name}?{urllib.parse.urlencode(query)}", connections)
                for name, query in (("number", NUMBER), ("morph", MORPH), ("steer", STEER))
                for suffix, connections in (("_one", 1), ("", 16))}
PAIRED_ROUTES = {route: ROUTES[route] for route in ("api_one", "api")}
NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    return statistics.median(timed(fn) * 1000 for _ in range(repeats))


def compute_floor(model: str, artifacts: Path, checkpoint: Path, repeats: int) -> dict:
    """One batched call for 5 images plus their PNG encoding: onnxruntime vs torch, in-process."""
    import torch

    from digits.generators import load_generators
    from export.checkpoints import rebuild
    from webapp.imaging import pngs_base64

    threads = torch.get_num_threads()
    # One thread, as each serving worker, set before torch runs anything: a second OpenMP thread
    # would keep spinning and slow the onnxruntime calls. Training (data_path) gets them back.
    torch.set_num_threads(1)
    onnx_generator = load_generators(artifacts, threads=1)[model]
    torch_generator = rebuild(checkpoint)[1]["generator"]
    z = torch.randn(5, onnx_generator.latent_dim)

    def torch_call() -> None:
        with torch.no_grad():
            pngs_base64(torch_generator(torch.full((5,), 3), z)[:, 0].numpy())

    try:
        return {"onnx_ms": median_ms(lambda: pngs_base64(onnx_generator.sample(3, 5, 1)), repeats),
                "torch_ms": median_ms(torch_call, repeats)}
    finally:
        torch.set_num_threads(threads)


def style_floor(model: str, artifacts: Path, repeats: int) -> dict:
    """The style routes' answers computed in-process (hands, style session, PNG encoding): their p50 floor."""
    import numpy as np

    from digits import handwriting
    from digits.generators import load_generators
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


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def gunicorn_master(server: int) -> int:
    """The server process itself (gunicorn run directly) or its light pool's gunicorn master (deploy.serve: nginx
    and two pools; the light one serves /api/v1/generate)."""
    for pid in (server, *children(server)):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        if "gunicorn" in command and "heavy.sock" not in command:
            return pid
    raise SystemExit(f"bench: server {server} runs no gunicorn")


def worker_rss_mb(server: int) -> float:
    """The largest RSS among the gunicorn master's workers."""
    workers = children(gunicorn_master(server))
    if not workers:
        raise SystemExit(f"bench: server {server} has no workers left")
    return max(rss_mb(pid) for pid in workers)


def wrk(url: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout

    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)  # connect, read, write, timeout counts
    return {"p50_ms": latency("50"), "p99_ms": latency("99"),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "errors": (int(non_2xx.group(1)) if non_2xx else 0)
            + (sum(map(int, re.findall(r"\d+", socket_errors.group(1)))) if socket_errors else 0)}


def start_server(name: str, command: list[str], env: dict, url: str) -> tuple[subprocess.Popen, float]:
    """Start a server; return it and the seconds from process start to its first 200 on ``url``."""
    begin = time.perf_counter()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return server, time.perf_counter() - begin
        except OSError:
            if server.poll() is not None or time.perf_counter() - begin > 120:
                stop(server)
                raise SystemExit(f"bench: {name} server did not start") from None
            time.sleep(0.01)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


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


def paired(servers: dict[str, tuple[str, list[str], dict, int]], model: str, seconds: int, rounds: int) -> dict:
    """The comparisons that must not drift apart on a shared machine: the servers run side by side and
    take turns, one wrk run each, route by route and round by round, so a machine that slows down
    slows all of them alike. ``servers``: key -> (name, command, env, port)."""
    urls = {key: {route: f"http://127.0.0.1:{port}{url}&model={model}" for route, (url, _) in PAIRED_ROUTES.items()}
            for key, (_, _, _, port) in servers.items()}
    running = {}
    try:
        for key, (name, command, env, _) in servers.items():
            running[key], _ = start_server(name, command, env, urls[key]["api"])
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
    from training.train import parse_args, resolve_defaults

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
    args = parse_args(["--model", "cvae"])
    resolve_defaults(args, None, Path("."))
    recipe = GENERATORS["cvae"].Recipe(args, torch.device("cpu"), lambda m: m, Precision(torch.device("cpu")))
    steps = data.steps_per_epoch(128)
    epoch_s = timed(lambda: [recipe.train_step(x, y, 20.0) for x, y in data.batches(128, 0, 0)])
    return {"tensor_s": tensor_s, "dataloader_s": loader_s, "train_epoch_s": epoch_s, "steps": steps}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rows(r: dict) -> list[tuple[str, str, str, str, str]]:
    """(measure, product, torch baseline, ratio, target) for the table."""
    o, t, floor, d = r["onnx_server"], r["torch_server"], r["compute_floor"], r["data_path"]
    style, made = r["style_floor"], r["generate"]
    pp, direct = (r["paired"]["product"], r["paired"]["direct"]) if "paired" in r else (o, r["direct_server"])

    def ok(good: bool) -> str:
        return "met" if good else "MISSED"

    return [
        ("compute: 5 images + PNG, in-process (median ms)", f"{floor['onnx_ms']:.3f}", f"{floor['torch_ms']:.3f}",
         f"{floor['torch_ms'] / floor['onnx_ms']:.1f}x", ""),
        ("API p50 / p99 ms, 1 connection", f"{o['api_one']['p50_ms']:.2f} / {o['api_one']['p99_ms']:.2f}",
         f"{t['api_one']['p50_ms']:.2f} / {t['api_one']['p99_ms']:.2f}",
         f"{o['api_one']['p50_ms'] / floor['onnx_ms']:.1f}x floor",
         f"p50 <= 2x compute floor: {ok(o['api_one']['p50_ms'] <= 2 * floor['onnx_ms'])}"),
        ("API p50 / p99 ms, 16 connections", f"{o['api']['p50_ms']:.2f} / {o['api']['p99_ms']:.2f}",
         f"{t['api']['p50_ms']:.2f} / {t['api']['p99_ms']:.2f}", "", ""),
        ("API requests/s (2 workers, 16 connections)", f"{o['api']['rps']:.0f}", f"{t['api']['rps']:.0f}",
         f"{o['api']['rps'] / t['api']['rps']:.1f}x", f">= 1000: {ok(o['api']['rps'] >= 1000)}"),
        ("page p50 / p99 ms, 16 connections", f"{o['page']['p50_ms']:.2f} / {o['page']['p99_ms']:.2f}",
         f"{t['page']['p50_ms']:.2f} / {t['page']['p99_ms']:.2f}", "", ""),
        ("page requests/s", f"{o['page']['rps']:.0f}", f"{t['page']['rps']:.0f}",
         f"{o['page']['rps'] / t['page']['rps']:.1f}x", ""),
        ("non-2xx responses and socket errors, all runs", str(o["errors"]), str(t["errors"]), "", ""),
        ("worker RSS after start (MB)", f"{o['rss_start_mb']:.0f}", f"{t['rss_start_mb']:.0f}",
         f"{t['rss_start_mb'] / o['rss_start_mb']:.1f}x", f"<= 1/7: {ok(t['rss_start_mb'] >= 7 * o['rss_start_mb'])}"),
        ("worker RSS after >= 20,000 requests (MB)", f"{o['rss_end_mb']:.0f} ({o['requests']} req)",
         f"{t['rss_end_mb']:.0f} ({t['requests']} req)", f"{t['rss_end_mb'] / o['rss_end_mb']:.1f}x",
         f"<= 1/7: {ok(t['rss_end_mb'] >= 7 * o['rss_end_mb'])}"),
        ("cold start to first /api/v1/generate (s, median)", f"{o['cold_start_s']:.2f}", f"{t['cold_start_s']:.2f}",
         f"{t['cold_start_s'] / o['cold_start_s']:.1f}x", f"<= 1/6: {ok(t['cold_start_s'] >= 6 * o['cold_start_s'])}"),
        ("install footprint (MB): .venv-serve vs .venv", f"{r['serve_venv_mb']:.0f}", f"{r['train_venv_mb']:.0f}",
         f"{r['train_venv_mb'] / r['serve_venv_mb']:.1f}x",
         f"<= 1/30: {ok(r['train_venv_mb'] >= 30 * r['serve_venv_mb'])}"),
        ("one epoch of batches (s): tensor vs DataLoader", f"{d['tensor_s']:.4f}", f"{d['dataloader_s']:.3f}",
         f"{d['dataloader_s'] / d['tensor_s']:.0f}x", f">= 10x: {ok(d['dataloader_s'] >= 10 * d['tensor_s'])}"),
        ("batching share of a CVAE training epoch", f"{100 * d['tensor_s'] / d['train_epoch_s']:.2f}%",
         f"{100 * d['dataloader_s'] / d['train_epoch_s']:.1f}%", f"epoch {d['train_epoch_s']:.1f} s",
         f"<= 2%: {ok(d['tensor_s'] <= 0.02 * d['train_epoch_s'])}"),
        ("API through nginx (product) vs gunicorn direct" + (", side by side" if "paired" in r else "") +
         ": p50 ms 1 connection / requests/s 16 connections", f"{pp['api_one']['p50_ms']:.2f} / {pp['api']['rps']:.0f}",
         f"direct: {direct['api_one']['p50_ms']:.2f} / {direct['api']['rps']:.0f}",
         f"{pp['api_one']['p50_ms'] / direct['api_one']['p50_ms']:.2f}x / "
         f"{pp['api']['rps'] / direct['api']['rps']:.2f}x",
         "within 10%: " + ok(pp["api_one"]["p50_ms"] <= 1.1 * direct["api_one"]["p50_ms"]
                             and pp["api"]["rps"] >= 0.9 * direct["api"]["rps"])),
        *cost_rows(r),
        *[(f"{STYLE_ROUTES[route][0]}: compute floor / p50 ms 1 connection, requests/s 16 connections",
           f"{style[route + '_ms']:.2f} / {o[route + '_one']['p50_ms']:.2f}, {o[route]['rps']:.0f}", "no such route",
           f"{o[route + '_one']['p50_ms'] / style[route + '_ms']:.1f}x floor",
           f"p50 <= 2x compute floor: {ok(o[route + '_one']['p50_ms'] <= 2 * style[route + '_ms'])}")
          for route in ("number", "morph", "steer") if route + "_ms" in style],
        (f"python -m generate --format idx, {made['images']:,} images (images/s, whole command)",
         f"{made['images_per_s']:.0f}", "", f"{made['seconds']:.2f} s",
         f">= 20,000: {ok(made['images_per_s'] >= 20_000)}"),
    ]


def cost_rows(r: dict) -> list[tuple[str, str, str, str, str]]:
    """Where one request's time goes, and what the metrics cost, from the side-by-side run (records from
    before it have no such rows)."""
    if "paired" not in r:
        return []
    floor, product, direct, quiet = r["compute_floor"], *(r["paired"][k] for k in ("product", "direct", "metrics_off"))
    app_ms = direct["api_one"]["p50_ms"] - floor["onnx_ms"]
    hop_ms = product["api_one"]["p50_ms"] - direct["api_one"]["p50_ms"]
    metrics_cost = 1 - product["api"]["rps"] / quiet["api"]["rps"]
    return [
        ("where one request's time goes at 1 connection (ms): compute floor + app server (WSGI, gunicorn, HTTP) "
         "+ nginx hop = product p50", f"{floor['onnx_ms']:.2f} + {app_ms:.2f} + {hop_ms:.2f} = "
         f"{product['api_one']['p50_ms']:.2f}", "", f"nginx hop {hop_ms / product['api_one']['p50_ms']:.0%} of p50",
         ""),
        ("API with metrics (product) vs FLASK_METRICS=0, side by side, both through nginx: p50 ms 1 connection / "
         "requests/s 16 connections", f"{product['api_one']['p50_ms']:.2f} / {product['api']['rps']:.0f}",
         f"metrics off: {quiet['api_one']['p50_ms']:.2f} / {quiet['api']['rps']:.0f}",
         f"throughput cost {metrics_cost:.1%}", f"< 5% of throughput: {'met' if metrics_cost < 0.05 else 'MISSED'}"),
    ]


def table(results: dict) -> str:
    lines = ["| measure | onnxruntime server (product: nginx + gunicorn) | torch server (seed-style baseline) | ratio "
             "| target |",
             "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def prod_command(port: int) -> list[str]:
    """make serve-prod on ``port``, with no per-client limit of rate or requests in flight: wrk is one client
    asking thousands of times, 16 at once."""
    return [str(SERVE_BIN / "python"), "-m", "deploy.serve", "--port", str(port), "--workers", "2",
            "--client-rate", "1000000", "--samples-per-client", "32", "--heavy-per-client", "32"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="cvae", help="served generator to measure (default cvae)")
    p.add_argument("--checkpoint", type=Path,
                   help="PyTorch weights of that generator, for the torch baseline "
                        "(default runs/<model>/checkpoint.pt)")
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "mnist")
    p.add_argument("--artifacts", type=Path, default=ROOT / "artifacts",
                   help="folder of the served *.onnx files (generators and their style files)")
    p.add_argument("--seconds", type=int, default=5, help="length of one wrk run")
    p.add_argument("--rounds", type=int, default=3,
                   help="wrk runs per route and server, and cold starts (medians are reported)")
    p.add_argument("--calls", type=int, default=1000, help="calls per compute-floor measurement")
    p.add_argument("--per-digit", type=int, default=6000, help="images of each digit per python -m generate run")
    p.add_argument("--out", type=Path, help="default bench/results_<model>.json")
    args = p.parse_args(argv)
    args.checkpoint = args.checkpoint or ROOT / "runs" / args.model / "checkpoint.pt"
    args.out = args.out or ROOT / "bench" / f"results_{args.model}.json"
    for need, hint in ((args.checkpoint, "run make train"), (SERVE_BIN / "gunicorn", "run make serve once"),
                       (Path(shutil.which("wrk") or "/nonexistent"), "apt-get install wrk"),
                       (NGINX, "run make system-packages")):
        if not need.exists():
            print(f"error: {need} is missing ({hint})", file=sys.stderr)
            return 2
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_CHECKPOINT": str(args.checkpoint),
           "FLASK_ARTIFACTS_DIR": str(args.artifacts)}
    gunicorn = ["--workers", "2", "--bind"]
    style_floors = style_floor(args.model, args.artifacts, args.calls)
    style_routes = {route: url for route, url in STYLE_ROUTES.items()  # the steer routes need a steering file
                    if route.removesuffix("_one") + "_ms" in style_floors}
    results = {
        "machine": f"{os.cpu_count()} CPU cores",
        "model": args.model,
        "compute_floor": compute_floor(args.model, args.artifacts, args.checkpoint, args.calls),
        "style_floor": style_floors,
        "onnx_server": serve("onnxruntime (make serve-prod)", prod_command(8701), env, 8701, args.model,
                             args.seconds, args.rounds, {**ROUTES, **style_routes}),
        "paired": paired({
            "product": ("onnxruntime (make serve-prod)", prod_command(8703), env, 8703),
            "metrics_off": ("onnxruntime (make serve-prod, FLASK_METRICS=0)", prod_command(8704),
                            {**env, "FLASK_METRICS": "0"}, 8704),
            "direct": ("onnxruntime (gunicorn direct)",
                       [str(SERVE_BIN / "gunicorn"), *gunicorn, "127.0.0.1:8705", "webapp:create_app()"], env, 8705),
        }, args.model, args.seconds, args.rounds),
        "torch_server": serve("torch", [str(TRAIN_BIN / "gunicorn"), "--config", str(ROOT / "bench" / "empty.conf.py"),
                                        *gunicorn, "127.0.0.1:8702", "bench.torch_server:create_app()"],
                              env, 8702, args.model, args.seconds, args.rounds),
        "serve_venv_mb": du_mb(ROOT / ".venv-serve"),
        "train_venv_mb": du_mb(TRAIN_BIN.parent),
        "data_path": data_path(args.data_dir, args.rounds),
        "generate": generate_rate(args.model, args.artifacts, args.per_digit, args.rounds),
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
