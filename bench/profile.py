"""python -m bench.profile: where one request's time goes inside a serving worker, sampled with py-spy.

    .venv/bin/python -m bench.profile [--model cvae] [--tree DIR] [--seconds 10]

Starts ``make serve-prod`` with one light worker (from this checkout, or from ``--tree``: another checkout,
e.g. ``git worktree add /tmp/before <commit>``, served with this checkout's serve venv), holds one
connection of wrk on ``/api/v1/generate`` and samples the worker with py-spy. Each sample is booked to the
innermost stage it is in (onnxruntime, centring, PNG, ...), and each stage's samples become milliseconds
of one request: samples x sampling interval / requests answered meanwhile. Time the worker waits (for
nginx, the socket, the next request) is not sampled; nginx's own share is the bench's nginx hop.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.report import GENERATE

ROOT = Path(__file__).resolve().parent.parent
SERVE_PYTHON = ROOT / ".venv-serve" / "bin" / "python"
PY_SPY = Path(sys.executable).parent / "py-spy"
RATE = 1000  # samples per second
# (stage, pattern on one frame "function (file:line)"): a sample goes to the first stage, leaf first, whose
# pattern one of its frames matches; stages are ordered from the innermost outwards.
STAGES = (
    ("onnxruntime session.run", re.compile(r"\(onnxruntime/")),
    ("centring (mnist_centred)", re.compile(r"^mnist_centred")),
    ("PNG encoding", re.compile(r"^(png_bytes|_png_from_pil|Image\.save)|\(PIL/")),
    ("base64", re.compile(r"^b64encode")),
    ("JSON", re.compile(r"\(json/|^jsonify")),
    ("query checks (webapp/params.py)", re.compile(r"\(webapp/params\.py")),
    ("metrics (prometheus_client)", re.compile(r"\(prometheus_client/|\(webapp/monitoring\.py")),
    ("Flask + Werkzeug (context, routing, request, response)", re.compile(r"\((flask|werkzeug)/")),
    ("gunicorn (HTTP parsing, writing, worker loop)", re.compile(r"\(gunicorn/")),
)
OTHER = "other Python (threads, selectors, the app's own lines)"


def stage(stack: str) -> str:
    """The innermost named stage of one collapsed stack ("outer;...;inner")."""
    for frame in reversed(stack.split(";")):
        for name, pattern in STAGES:
            if pattern.search(frame):
                return name
    return OTHER


def booked(stacks: str) -> Counter:
    """Samples per stage from py-spy's raw (collapsed) output: one "stack count" line per distinct stack."""
    counts: Counter = Counter()
    for line in stacks.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            counts[stage(stack)] += int(count)
    return counts


def worker_pid(server: int) -> int:
    """The light pool's only worker under deploy.serve."""
    for _ in range(100):
        found = subprocess.run(["pgrep", "-f", "gunicorn.*light"], capture_output=True, text=True).stdout.split()
        masters = [int(pid) for pid in found if int(pid) != server]
        for master in masters:
            workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
            if workers:
                return int(workers[0])
        time.sleep(0.1)
    raise SystemExit("bench.profile: no light-pool worker found")


def wrk_rps(url: str, seconds: float) -> float:
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", url], capture_output=True, text=True, check=True)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))


def profile(tree: Path, model: str, seconds: int, port: int) -> tuple[Counter, float]:
    """(samples per stage, requests answered while sampling) for one worker of ``tree`` at one connection."""
    command = [str(SERVE_PYTHON), "-m", "deploy.serve", "--port", str(port), "--workers", "1",
               "--client-rate", "1000000"]
    server = subprocess.Popen(command, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}{GENERATE}&model={model}"
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", "-o", "/dev/null", url]).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench.profile: the server in {tree} did not start")
            time.sleep(0.2)
        wrk_rps(url, 2)  # warm up
        worker = worker_pid(server.pid)
        with tempfile.TemporaryDirectory() as tmp:
            load = subprocess.Popen(["wrk", "-t1", "-c1", f"-d{seconds + 2}s", url], stdout=subprocess.PIPE, text=True)
            time.sleep(1)
            stacks = Path(tmp) / "stacks.txt"
            subprocess.run([str(PY_SPY), "record", "--pid", str(worker), "--duration", str(seconds), "--rate",
                            str(RATE), "--format", "raw", "--nonblocking", "-o", str(stacks)],
                           check=True, capture_output=True)
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", load.communicate()[0]).group(1))
            return booked(stacks.read_text()), rps * seconds
    finally:
        server.terminate()
        server.wait(timeout=30)


def table(counts: Counter, requests: float) -> str:
    """Milliseconds of one request per stage, largest first."""
    ms = {name: count * 1000 / RATE / requests for name, count in counts.items()}
    lines = ["| stage | ms per request | share |", "|---|---|---|"]
    total = sum(ms.values())
    lines += [f"| {name} | {value:.3f} | {value / total:.0%} |" for name, value in
              sorted(ms.items(), key=lambda item: -item[1])]
    lines.append(f"| **sampled in the worker** | **{total:.3f}** | {requests:.0f} requests |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cvae", help="served generator (default cvae)")
    p.add_argument("--tree", type=Path, default=ROOT, help="checkout to serve (default this one)")
    p.add_argument("--seconds", type=int, default=10, help="sampling time (default 10)")
    p.add_argument("--port", type=int, default=8790)
    args = p.parse_args(argv)
    for need, hint in ((PY_SPY, "make bench installs it into .venv"), (SERVE_PYTHON, "run make serve once"),
                       (Path(shutil.which("wrk") or "/nonexistent"), "apt-get install wrk")):
        if not need.exists():
            print(f"error: {need} is missing ({hint})", file=sys.stderr)
            return 2
    if not (args.tree / "deploy" / "serve.py").is_file():
        print(f"error: {args.tree} is not a checkout of this project (no deploy/serve.py)", file=sys.stderr)
        return 2
    counts, requests = profile(args.tree.resolve(), args.model, args.seconds, args.port)
    print(table(counts, requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
