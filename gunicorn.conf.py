"""gunicorn 'webapp:create_app()' from the repo root picks this file up (behind nginx: make serve-prod).

Each worker builds its own app, and so its own onnxruntime sessions, after the fork:
onnxruntime must never be loaded in the master, or the forked workers inherit its
threads' locks and hang at exit. The model files are still checked before any worker
starts, in a short-lived child, so a bad file stops start-up with the app's one line:
left to the workers, each prints it and gunicorn 27 adds a traceback when two fail at
once. The fork-safe libraries are imported here, in the master, so the check and every
worker inherit them instead of importing them again (cold start: docs/benchmarks.md).

Under ``make serve-prod`` two pools serve the same files: the light pool's master checks them, and the heavy
pool's master (GUNICORN_AFTER_SOCKET: the light pool's socket) waits for that socket instead of checking them
again, so the check runs once, with the machine to itself, on the way to the first answer.
"""
import importlib
import os
import time
import traceback
from pathlib import Path

for _module in ("flask", "numpy", "PIL.Image"):  # imported for the children, see above
    importlib.import_module(_module)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
preload_app = False
# gthread workers with one thread: each runs one request at a time, and the connection stays open
# after the answer. nginx keeps a pool of them open (deploy/nginx.conf.template, upstream keepalive)
# instead of a fresh unix-socket connection per request. An idle kept-alive connection waits in the
# worker's poller, not in its thread. A worker also accepts connections while its thread is busy and
# queues their requests, so under load a request can wait in one worker while the other is free;
# make bench measured the trade: more requests/s than sync workers at 16 connections (docs/benchmarks.md).
worker_class = "gthread"
threads = 1
keepalive = 75  # seconds an idle connection from nginx stays open: longer than nginx keeps it idle (60 s)
# Above nginx's own limits (deploy/nginx.conf.template: a request line or header line of at most 8 KB, 32 KB of
# headers in all), so whatever nginx passes on is read here and nginx is the one that refuses, with the app's
# answer and a count in /metrics. gunicorn's defaults (4,094 bytes, 100 fields) answered with its own HTML 414
# and 431, on the API too, uncounted.
limit_request_line = 8190  # gunicorn's largest; nginx passes a line of at most 8,190 bytes (8 KB with its CRLF)
limit_request_fields = 16384  # more than 32 KB of headers can hold (4 bytes the shortest line, "a:\r\n")
limit_request_field_size = 16384  # a header line, above nginx's 8 KB
# No shared control socket in the home folder (a second instance would take it over and delete it
# on exit); nothing here uses gunicornc: `make serve-prod` starts and stops gunicorn itself.
control_socket_disable = True
# Trust no forwarding header here, from any peer: gunicorn would otherwise take SCRIPT_NAME and the
# scheme from a header sent by a loopback or unix-socket peer. The app trusts X-Forwarded-* only
# where the operator sets FLASK_PROXY_FIX (webapp/proxy.py).
forwarder_headers = ""
secure_scheme_headers: dict[str, str] = {}


AFTER_WAIT_S = 60  # deploy/serve.py's START_WAIT_S: the launcher gives up on the first pool by then


def on_starting(server: object) -> None:
    """Build the app once in a child: a bad model file stops gunicorn before any worker starts."""
    after = os.environ.get("GUNICORN_AFTER_SOCKET")
    if after:
        wait_for(Path(after))
        return
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from webapp import create_app

            create_app()
            code = 0
        except SystemExit as exc:  # create_app has printed the one line naming the bad file
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # a bug, not a bad file: show it
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(code if code > 0 else 1)  # negative: the check was killed by a signal


def wait_for(socket: Path) -> None:
    """Until the pool that checks the files listens on ``socket``: if its check fails, the launcher stops this
    master too (SIGTERM, still at its default action here: gunicorn installs its handlers after on_starting)."""
    deadline = time.monotonic() + AFTER_WAIT_S
    while not socket.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"gunicorn: {socket} did not appear within {AFTER_WAIT_S} s")
        time.sleep(0.01)


def post_fork(server: object, worker: object) -> None:
    """A worker of the heavy pool yields the CPU to the light pool's (GUNICORN_WORKER_NICE, set by make serve-prod)."""
    os.nice(int(os.environ.get("GUNICORN_WORKER_NICE", "0")))


def child_exit(server: object, worker: object) -> None:
    """A worker's live gauges leave the metrics with it (its counters stay in the sum: prometheus_client)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
