"""Servers the benchmark starts, finds and loads with wrk: shared by python -m bench and its profile."""
from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def start_server(name: str, command: list[str], env: dict, url: str,
                 cwd: Path = ROOT) -> tuple[subprocess.Popen, float]:
    """Start a server (from the checkout ``cwd``); return it and the seconds from process start to its first 200
    on ``url``."""
    begin = time.perf_counter()
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
