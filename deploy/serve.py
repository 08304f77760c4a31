"""``make serve-prod``: nginx in front of gunicorn, started together and stopped together.

    python -m deploy.serve --host 127.0.0.1 --port 8000 --workers 2

Each instance gets a private temporary folder (mode 0700) for gunicorn's unix socket and
nginx's config, pid, error page and temp files: two instances never collide, nothing is written
outside it, and no other user can reach gunicorn past nginx. SIGINT or SIGTERM stops nginx
first (no new requests), then gunicorn; if either exits on its own, the other is stopped too.
"""
from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX_ERROR = "This request was refused or could not be completed; its status code says why."
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_WAIT_S = 60  # gunicorn checks every model file before it opens its socket
STOP_WAIT_S = 10


class Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def on_signal(signum: int, frame: object) -> None:
    raise Stop


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def header_lines() -> str:
    """nginx sends the app's headers itself (hiding the app's copies), so every response has them once.

    Imported here, not at the top: importing the web app costs ~0.3 s (Flask, NumPy, onnxruntime),
    which now overlaps gunicorn's own start instead of coming before it (cold start, README)."""
    from webapp.errors import HEADERS  # the one definition of the security headers

    lines = []
    for name, value in HEADERS.items():
        if '"' in value or "$" in value:
            raise ValueError(f"the {name} header cannot be written into nginx.conf as it is")
        lines += [f"        proxy_hide_header {name};", f'        add_header {name} "{value}" always;']
    return "\n".join(lines)


def error_page() -> str:
    """nginx's own errors get the app's bare refusal page: small, no script, no link to build."""
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "webapp" / "templates"), autoescape=True)
    return templates.get_template("refused.html").render(error=NGINX_ERROR)


def nginx_config(run: Path, listen: str) -> str:
    # As root, nginx would hand its workers to "nobody", who cannot enter the private folder:
    # they run as the user who started this, like gunicorn's workers.
    user = (f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
            if os.geteuid() == 0 else "")
    text = (DEPLOY / "nginx.conf.template").read_text()
    for name, value in {"USER": user, "RUN": str(run), "LISTEN": listen, "HEADERS": header_lines()}.items():
        text = text.replace(f"@{name}@", value)
    return text


def started(path: Path, process: subprocess.Popen, name: str) -> bool:
    """True once ``process`` has made ``path`` (its socket or pid file: it listens); False if it exited
    (it has said why) or hung."""
    deadline = time.monotonic() + START_WAIT_S
    while process.poll() is None and time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.01)
    if process.poll() is None:
        print(f"serve-prod: {name} did not start within {START_WAIT_S} s", file=sys.stderr)
    return False


def stop(process: subprocess.Popen | None, signum: int) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(run: Path, host: str, port: int, workers: int) -> int:
    """Run both until a signal (exit 0) or until one of them exits (exit non-zero)."""
    sock = run / "gunicorn.sock"
    gunicorn = nginx = None
    try:
        gunicorn = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config",
                                     str(ROOT / "gunicorn.conf.py"), "--workers", str(workers),
                                     "--bind", f"unix:{sock}", "webapp:create_app()"], cwd=ROOT)
        (run / "nginx.conf").write_text(nginx_config(run, listen_address(host, port)))  # while gunicorn starts
        (run / "error.html").write_text(error_page())
        if not started(sock, gunicorn, "gunicorn"):
            return gunicorn.wait() or 1
        nginx = subprocess.Popen([NGINX, "-p", str(run), "-c", str(run / "nginx.conf"), "-e", "stderr"], cwd=run)
        if not started(run / "nginx.pid", nginx, "nginx"):  # nginx writes it once it listens
            return nginx.wait() or 1
        print(f"serve-prod: http://{listen_address(host, port)}/ (nginx in front of gunicorn, {workers} workers)",
              file=sys.stderr, flush=True)
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)  # until a child exits, or Stop
        name, process = ("nginx", nginx) if nginx.poll() is not None else ("gunicorn", gunicorn)
        print(f"serve-prod: {name} exited with status {process.wait()}; stopping", file=sys.stderr)
        return 1
    except Stop:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        stop(nginx, signal.SIGQUIT)  # graceful: finish what is in flight
        stop(gunicorn, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    args = parser.parse_args(argv)
    if not os.access(NGINX, os.X_OK):
        print("serve-prod: nginx is missing: run 'make system-packages' (Debian's nginx)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    run = Path(tempfile.mkdtemp(prefix="serve-prod-"))
    try:
        return serve(run, args.host, args.port, args.workers)
    finally:
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
