"""Servers as users start them, in processes of their own: the serve venv's environment, one server waited
for and stopped, ``make serve-prod`` (nginx in front of gunicorn) and the processes of its session."""
from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.paths import ROOT
from tests.webapp_helpers import free_port, wait_for
from webapp.errors import HEADERS


def serve_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@contextlib.contextmanager
def server_process(command: list[str], port: int, log: Path, own_session: bool = False) -> Iterator[str]:
    """``command``, a server on ``port``, started from the repo root in the serve environment with its stderr in
    ``log``; its base URL once /healthz answers; stopped afterwards (``own_session``: its whole process group)."""
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=serve_env(), stdout=subprocess.DEVNULL, stderr=stderr,
                                   start_new_session=own_session)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        if own_session:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        else:
            process.terminate()
            process.wait(timeout=10)


# --- make serve-prod --------------------------------------------------------------------------------

@dataclass
class Prod:
    port: int
    log: Path
    session: int  # make's process id: the session of every process of this instance

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def folder(self) -> Path:
        """The instance's private folder (nginx's -p): gunicorn's socket, nginx's config."""
        return nginx_folder(session_processes(self.session))


def start_serve_prod(port: int, log: Path, env: dict[str, str], ulimit: str = "") -> subprocess.Popen:
    """``make serve-prod`` as docs/deployment.md runs it, in its own session so the test can find and stop it all;
    ``ulimit`` (``-Sn 4096``: a soft limit on open files) is applied first."""
    command = ["make", "--no-print-directory", "serve-prod", f"PORT={port}"]
    if ulimit:
        command = ["bash", "-c", f'ulimit {ulimit} && exec "$@"', "bash", *command]
    with log.open("w") as stderr:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True)


@contextlib.contextmanager
def serving_prod(folder: Path, ulimit: str = "") -> Iterator[Prod]:
    """``make serve-prod`` on a free port, its stderr in ``folder``, once it answers; all of it stopped afterwards."""
    log, port = folder / "stderr.log", free_port()
    process = start_serve_prod(port, log, serve_env(), ulimit)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        yield Prod(port, log, process.pid)
    finally:
        end_session(process)


def stop_group(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGTERM)
    return process.wait(timeout=30)


def session_processes(session: int) -> dict[int, str]:
    """The command line of every process in a session (make, the launcher, gunicorn, nginx)."""
    pids = subprocess.run(["pgrep", "-s", str(session)], capture_output=True, text=True).stdout.split()
    return {int(pid): Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in pids}


def running(pid: int) -> bool:
    """Alive, not a zombie waiting for a parent to reap it (it holds no port and serves nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def nginx_folder(processes: dict[int, str]) -> Path:
    """The private folder an instance's nginx master was started in (its -p)."""
    masters = [cmd.split() for cmd in processes.values() if cmd.startswith("nginx: master process")]
    assert len(masters) == 1, processes
    return Path(masters[0][masters[0].index("-p") + 1])


def master_name(command: str) -> str:
    """``nginx``, or the gunicorn pool a master serves (``light``, ``heavy``: its socket's name)."""
    if command.startswith("nginx"):
        return "nginx"
    return Path(command.split("--bind unix:")[1].split()[0]).stem


def masters(session: int) -> dict[str, int]:
    """nginx's master and each gunicorn pool's (the launcher's children) in a serve-prod session."""
    processes = session_processes(session)
    launcher = next(pid for pid, cmd in processes.items() if "-m deploy.serve" in cmd)
    found = {master_name(cmd): pid for pid, cmd in processes.items() if running(pid) and parent(pid) == launcher}
    assert set(found) == {"nginx", "light", "heavy"}, processes
    return found


def end_session(process: subprocess.Popen) -> None:
    """Whatever is left of a serve-prod session this test started, stopped, then killed."""
    if process.poll() is None:
        stop_group(process)
    for pid in session_processes(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- answers read off the wire ---------------------------------------------------------------------

def ask(port: int, source: str, method: str, path: str, body: bytes = b"", headers: dict | None = None,
        timeout: float = 60) -> int:
    """One request to 127.0.0.1:``port`` on a new connection from the loopback address ``source`` (each one a
    client of its own to nginx's per-address limits); its status, once the whole answer is read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers={"Host": "localhost", **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def secured(headers: dict[str, str]) -> bool:
    """Every security header, with its value (header names in lower case)."""
    return all(headers.get(name.lower()) == value for name, value in HEADERS.items())


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers (names in lower case) of a response head; a header sent twice fails."""
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"{name} is sent twice"
        headers[name.lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data
