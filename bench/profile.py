"""python -m bench.profile: where one request's time goes inside a serving worker, sampled with py-spy.

    .venv/bin/python -m bench.profile [--model cvae] [--tree DIR] [--seconds 10]

Starts ``make serve-prod`` with one light worker (from this checkout, or from ``--tree``: another checkout,
e.g. ``git worktree add /tmp/before <commit>``, served with this checkout's serve venv and model files),
holds one connection of wrk on ``/api/v1/generate`` and samples the worker with py-spy. Each sample is
booked to the innermost stage it is in (onnxruntime, centring, PNG, ...), and each stage's samples become
milliseconds of one request: samples x sampling interval / requests answered meanwhile. A thread blocked
in a wait (for nginx, the socket, the next request) is not sampled; one that is ready to run but waiting
for a core is, so on a busy machine every stage grows. nginx's own share is the bench's nginx hop.
``python -m bench`` runs this for its record, on this checkout and on the one it compares with.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.report import GENERATE, profile_table
from bench.servers import children, gunicorn_master, start_server, stop, wrk

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
    # Python lines that make a system call: on a shared machine mostly time the thread is ready but waits for a core.
    ("system calls: socket send and receive, pipe wake-up, poll",
     re.compile(r"^(write \(gunicorn/util|PollableMethodQueue\.defer|SocketUnreader\.chunk|\S+\.select \(selectors)")),
    ("gunicorn (HTTP parsing, response headers, worker loop)", re.compile(r"\(gunicorn/")),
    ("thread pool hand-offs (threading, concurrent.futures)", re.compile(r"\((threading|concurrent/futures/)")),
)
OTHER = "other Python (the app's own lines)"


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


def profile(tree: Path, model: str, seconds: int, port: int, artifacts: Path) -> dict[str, float]:
    """Milliseconds of one request per stage in one worker of ``tree`` serving ``artifacts``, at one connection."""
    command = [str(SERVE_PYTHON), "-m", "deploy.serve", "--port", str(port), "--workers", "1",
               "--client-rate", "1000000"]
    env = {**os.environ, "PYTHONPATH": str(tree), "FLASK_ARTIFACTS_DIR": str(artifacts)}
    url = f"http://127.0.0.1:{port}{GENERATE}&model={model}"
    server, _ = start_server(f"make serve-prod in {tree}", command, env, url, tree)
    try:
        wrk(url, 2, 1)  # warm up
        worker = children(gunicorn_master(server.pid))[0]
        with tempfile.TemporaryDirectory() as tmp:
            stacks = Path(tmp) / "stacks.txt"
            spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(worker), "--duration", str(seconds),
                                    "--rate", str(RATE), "--format", "raw", "--nonblocking", "-o", str(stacks)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            requests = wrk(url, seconds, 1)["rps"] * seconds  # the load while py-spy samples
            if spy.wait():
                raise SystemExit(f"bench.profile: py-spy could not sample the worker {worker}")
            return {name: count * 1000 / RATE / requests for name, count in booked(stacks.read_text()).items()}
    finally:
        stop(server)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cvae", help="served generator (default cvae)")
    p.add_argument("--tree", type=Path, default=ROOT, help="checkout to serve (default this one)")
    p.add_argument("--seconds", type=int, default=10, help="sampling time (default 10)")
    p.add_argument("--artifacts", type=Path, default=ROOT / "artifacts", help="model files to serve")
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
    print(profile_table({"stages": profile(args.tree.resolve(), args.model, args.seconds, args.port,
                                           args.artifacts.resolve())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
