"""``make serve-prod``: nginx in front of two gunicorn pools, started together and stopped together.

    python -m deploy.serve --host 127.0.0.1 --port 8000 --workers 2 --heavy-workers 2

Two pools of workers (a bulkhead): the light pool serves the cheap routes (health, samples, pages),
the heavy pool the expensive ones (handwriting, uploads) at a lower CPU priority, so expensive requests
never fill the lane the cheap ones take. nginx bounds what one client address may have in flight in
each class of routes (docs/deployment.md, "What one client can and cannot do").

Each instance gets a private temporary folder (mode 0700) for gunicorn's unix sockets and
nginx's config, pid, error page and temp files: two instances never collide, nothing is written
outside it, and no other user can reach gunicorn past nginx. SIGINT or SIGTERM stops nginx
first (no new requests), then gunicorn; if any master exits on its own, the others are stopped too.
Each runs in its own process group, killed whole once its master is gone: a worker left behind
by a killed master would keep the port (nginx's) or take requests no master looks after (gunicorn's).
Out of reach of a signal to this launcher's group, each master is sent SIGTERM by the kernel when
the launcher dies, even by SIGKILL; what a master killed with it leaves behind, the next start stops
(deploy/runs.py).
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import grp
import json
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from deploy import runs
from digits.cli import whole

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX_ERROR = "This request was refused or could not be completed; its status code says why."
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_WAIT_S = 60  # gunicorn checks every model file before it opens its socket
STOP_WAIT_S = 10
PR_SET_PDEATHSIG = 1  # linux/prctl.h
WORKER_CONNECTIONS = 8192  # nginx's, to clients and to gunicorn together
CLIENT_RATE = 100  # requests/s per client address: a person's page makes a handful, a load test thousands
OPEN_FILES = 2 * WORKER_CONNECTIONS  # each may also hold a temporary file (a long answer, buffered)
# In flight per client address, by the cost of the routes (measured in docs/deployment.md): one samples request
# (up to ~15 ms of CPU) and one expensive one (up to ~0.2 s), fewer than each pool has workers (2 by default), so
# no one address can keep every worker of a pool busy.
SAMPLES_PER_CLIENT = 1
HEAVY_PER_CLIENT = 1
HEAVY_NICE = 10  # the heavy pool yields the CPU to the light pool: a cheap request never waits on an expensive one


@dataclass(frozen=True)
class Pool:
    """One gunicorn master and its workers: nginx's upstream ``name``, on the socket ``name``.sock."""

    name: str
    workers: int
    nice: int = 0  # its workers' CPU priority below the launcher's
    after: str | None = None  # the pool whose master checks the model files: this one starts once it listens


class Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def on_signal(signum: int, frame: object) -> None:
    raise Stop


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def header_lines() -> str:
    """nginx sends the app's headers itself (hiding the app's copies), so every response has them once.

    Imported here, not at the top: importing the web app costs ~0.3 s (Flask, NumPy, onnxruntime),
    which now overlaps gunicorn's own start instead of coming before it (cold start, docs/benchmarks.md)."""
    from webapp.errors import HEADERS  # the one definition of the security headers

    lines = []
    for name, value in HEADERS.items():
        if '"' in value or "$" in value:
            raise ValueError(f"the {name} header cannot be written into nginx.conf as it is")
        lines += [f"        proxy_hide_header {name};", f'        add_header {name} "{value}" always;']
    return "\n".join(lines)


def upload_max() -> int:
    """The largest drawing upload the app takes, in bytes: nginx refuses a larger one itself, so the
    app never refuses one for its size while nginx is still sending it.

    The app's UPLOAD_LIMIT less one: under gunicorn, Werkzeug reads past a body of exactly the limit
    to find its end, and refuses it. Imported here, not at the top, for the reason header_lines() gives."""
    from webapp.draw import UPLOAD_LIMIT  # the one definition of the upload limit

    return UPLOAD_LIMIT - 1


def error_page() -> str:
    """nginx's own errors get the app's bare refusal page: small, no script, no link to build. Jinja2 is
    imported here, while gunicorn starts, not before it."""
    import jinja2

    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "webapp" / "templates"), autoescape=True)
    return templates.get_template("refused.html").render(error=NGINX_ERROR)


def metrics_networks() -> str:
    """FLASK_METRICS_ALLOW as the app reads it: the environment, else the app's default (this machine)."""
    from webapp.settings import DEFAULTS

    return os.environ.get("FLASK_METRICS_ALLOW", DEFAULTS["METRICS_ALLOW"])


def metrics_allow_lines(networks: str) -> str:
    """nginx's own check of who may read /metrics: the app's setting (FLASK_METRICS_ALLOW), one line each."""
    from webapp.settings import metrics_allow  # parses and checks it, as the app does

    return "\n".join(f"            allow {network};" for network in metrics_allow(networks))


def nginx_config(run: Path, listen: str, args: argparse.Namespace) -> str:
    # As root, nginx would hand its workers to "nobody", who cannot enter the private folder:
    # they run as the user who started this, like gunicorn's workers.
    user = (f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
            if os.geteuid() == 0 else "")
    text = (DEPLOY / "nginx.conf.template").read_text()
    values = {"USER": user, "RUN": str(run), "LISTEN": listen, "HEADERS": header_lines(),
              "UPLOAD_MAX": str(upload_max()), "WORKER_CONNECTIONS": str(WORKER_CONNECTIONS),
              "NOFILE": str(OPEN_FILES), "METRICS_ALLOW": metrics_allow_lines(metrics_networks()),
              "CLIENT_RATE": str(args.client_rate), "CLIENT_BURST": str(2 * args.client_rate),
              "SAMPLES_PER_CLIENT": str(args.samples_per_client), "HEAVY_PER_CLIENT": str(args.heavy_per_client),
              "NGINX_ERROR": NGINX_ERROR}
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


def write_pages(run: Path) -> None:
    """nginx's own answers: the refusal page, and the app's JSON for a style upload over the limit."""
    from webapp.draw import TOO_LARGE  # the app's own words for it

    (run / "error.html").write_text(error_page())
    (run / "upload-too-large.json").write_text(json.dumps({"error": TOO_LARGE, "status": 413}))


def raise_open_files() -> str | None:
    """Lift the soft limit on open files to what nginx's connections need (children inherit it);
    why it cannot be done, if it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= OPEN_FILES:
        return None
    if hard != resource.RLIM_INFINITY and hard < OPEN_FILES:
        return (f"nginx needs {OPEN_FILES} open files ({WORKER_CONNECTIONS} connections) but the hard "
                f"limit is {hard}: raise it (ulimit -Hn, or LimitNOFILE= under systemd)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, hard))
    return None


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


def die_with(launcher: int) -> None:
    """In a master, before it runs: SIGTERM when the launcher dies; never started if it has died already."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != launcher:
        os._exit(1)


def start(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A master in a process group of its own, stopped by the kernel if this launcher dies."""
    return subprocess.Popen(command, cwd=cwd, env=env, process_group=0,
                            preexec_fn=functools.partial(die_with, os.getpid()))


def start_pool(run: Path, pool: Pool) -> subprocess.Popen:
    """A gunicorn master for ``pool`` on its socket in ``run``; its workers' metrics go to the shared folder.
    A pool started ``after`` another waits for that one's socket instead of checking the files itself. Its
    workers run ``nice`` below the launcher (gunicorn.conf.py); the master does not, so it is ready in time."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(run / "prometheus"), "GUNICORN_WORKER_NICE": str(pool.nice)}
    if pool.after:
        env["GUNICORN_AFTER_SOCKET"] = str(run / f"{pool.after}.sock")
    return start([str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"),
                  "--workers", str(pool.workers), "--bind", f"unix:{run / pool.name}.sock", "webapp:create_app()"],
                 ROOT, env)


def kill_group(process: subprocess.Popen | None) -> None:
    """SIGKILL whatever is left in a master's process group: workers it could not stop itself."""
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is empty: the master stopped all its workers
        pass


def stop(process: subprocess.Popen | None, signum: int) -> None:
    """Ask a master to stop, kill it after STOP_WAIT_S, then anything left in its group."""
    if process is not None and process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    kill_group(process)


def stop_all(masters: dict[str, subprocess.Popen]) -> None:
    """The orphans of a master that exited first, at once; then nginx (no new requests), then the pools."""
    for process in masters.values():
        if process.poll() is not None:
            kill_group(process)
    stop(masters.get("nginx"), signal.SIGQUIT)  # graceful: finish what is in flight
    for name, process in masters.items():
        if name != "nginx":
            stop(process, signal.SIGTERM)


def serve(run: Path, args: argparse.Namespace) -> int:
    """Run nginx and both pools until a signal (exit 0) or until one of them exits (exit non-zero)."""
    pools = [Pool("light", args.workers), Pool("heavy", args.heavy_workers, HEAVY_NICE, after="light")]
    masters: dict[str, subprocess.Popen] = {}
    try:
        (run / "prometheus").mkdir()  # every worker's metrics, summed by any worker's /metrics
        for pool in pools:
            masters[pool.name] = start_pool(run, pool)
            runs.record(run, [process.pid for process in masters.values()])
        # written while gunicorn starts
        try:
            (run / "nginx.conf").write_text(nginx_config(run, listen_address(args.host, args.port), args))
        except ValueError as exc:  # a bad FLASK_METRICS_ALLOW (gunicorn's app check names it too)
            print(f"serve-prod: {exc}", file=sys.stderr)
            return 1
        write_pages(run)
        for pool in pools:
            if not started(run / f"{pool.name}.sock", masters[pool.name], f"gunicorn ({pool.name} pool)"):
                return masters[pool.name].wait() or 1
        masters["nginx"] = start([NGINX, "-p", str(run), "-c", str(run / "nginx.conf"), "-e", "stderr"], run)
        runs.record(run, [process.pid for process in masters.values()])
        if not started(run / "nginx.pid", masters["nginx"], "nginx"):  # nginx writes it once it listens
            return masters["nginx"].wait() or 1
        print(f"serve-prod: http://{listen_address(args.host, args.port)}/ (nginx in front of gunicorn: "
              f"{args.workers} light and {args.heavy_workers} heavy workers)", file=sys.stderr, flush=True)
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)  # until a child exits, or Stop
        name, process = next((name, process) for name, process in masters.items() if process.poll() is not None)
        print(f"serve-prod: {name} exited with status {process.wait()}; stopping", file=sys.stderr)
        return 1
    except Stop:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        stop_all(masters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2,
                        help="gunicorn workers of the light pool (gthread, one thread each)")
    parser.add_argument("--heavy-workers", type=whole(1, 64), default=2,
                        help="gunicorn workers of the heavy pool (handwriting and uploads), at a lower CPU priority")
    parser.add_argument("--client-rate", type=whole(1, 1_000_000), default=CLIENT_RATE,
                        help=f"requests per second one client address may send, bursts of twice that "
                             f"(default {CLIENT_RATE}; make bench raises it: its load comes from one address)")
    parser.add_argument("--samples-per-client", type=whole(1, 32), default=SAMPLES_PER_CLIENT,
                        help=f"samples requests one client address may have in flight (default {SAMPLES_PER_CLIENT})")
    parser.add_argument("--heavy-per-client", type=whole(1, 32), default=HEAVY_PER_CLIENT,
                        help=f"expensive requests one client address may have in flight (default {HEAVY_PER_CLIENT})")
    args = parser.parse_args(argv)
    if not os.access(NGINX, os.X_OK):
        print("serve-prod: nginx is missing: run 'make system-packages' (Debian's nginx)", file=sys.stderr)
        return 1
    problem = raise_open_files()
    if problem:
        print(f"serve-prod: {problem}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for line in runs.reap(Path(tempfile.gettempdir())):  # before anything binds: a crash may hold the port
        print(line, file=sys.stderr)
    run = Path(tempfile.mkdtemp(prefix=runs.PREFIX))
    try:
        runs.record(run, [])
        return serve(run, args)
    finally:
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
