"""``make serve-prod`` against one greedy client: its connections, its request rate, its slow sends.

Each client here is one loopback address (127.0.0.2, .3, ...: Linux routes all of 127/8 to the
loopback), so one test's flood never counts against another's requests, which come from 127.0.0.1.
"""
from __future__ import annotations

import contextlib
import resource
import select
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.serve import HEAVY_PER_CLIENT, NGINX_ERROR, OPEN_FILES, SAMPLES_PER_CLIENT, WORKER_CONNECTIONS
from tests.paths import ROOT, SERVE_PYTHON
from tests.prod_helpers import (
    Prod,
    end_session,
    masters,
    parse_head,
    read_until_closed,
    secured,
    serve_env,
    serving_prod,
)
from tests.webapp_helpers import free_port

pytestmark = pytest.mark.nginx

HALF_OPEN = 1100  # more than nginx's 1,024 connections of old
UPLOAD_HEADERS = (b"POST /api/v1/style HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n")


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[Prod]:
    """serve-prod started with a soft limit of 4,096 open files, short of what nginx needs: it raises its own."""
    with serving_prod(tmp_path_factory.mktemp("serve-prod"), ulimit="-Sn 4096") as instance:
        yield instance


def connect(port: int, client: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(client, 0))


def healthz_s(port: int) -> float:
    """Seconds /healthz took to answer 200 to 127.0.0.1, with 1 s to do it."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
        assert response.status == 200
    return time.perf_counter() - started


def new_lines(prod: Prod, since: int) -> list[str]:
    time.sleep(0.5)  # log lines are written after the answer
    return prod.stderr()[since:].splitlines()


@contextlib.contextmanager
def open_files(count: int) -> Iterator[None]:
    """This process may open ``count`` files for a while (the soft limit is often 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"the hard limit on open files, {hard}, is under the {count} this test opens")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, count), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_serve_prod_raises_its_open_file_limit_for_nginx(limited):
    nginx = masters(limited.session)["nginx"]
    limits = Path(f"/proc/{nginx}/limits").read_text().splitlines()
    line = next(ln for ln in limits if ln.startswith("Max open files"))
    assert int(line.split()[3]) >= OPEN_FILES, line


def test_a_hard_limit_too_low_for_nginx_stops_start_up_with_one_line():
    process = subprocess.Popen(["bash", "-c", 'ulimit -n 1024 && exec "$@"', "bash", str(SERVE_PYTHON), "-m",
                                "deploy.serve", "--port", str(free_port())], cwd=ROOT, env=serve_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("serve-prod started under a hard limit of 1,024 open files")
    finally:
        end_session(process)
    assert process.returncode != 0
    line = (f"serve-prod: nginx needs {OPEN_FILES} open files ({WORKER_CONNECTIONS} connections) but the hard "
            "limit is 1024: raise it (ulimit -Hn, or LimitNOFILE= under systemd)")
    assert stderr.splitlines() == [line]


def half_open(port: int) -> socket.socket:
    """A connection from 127.0.0.2 that sends half its headers, then nothing."""
    sock = connect(port, "127.0.0.2")
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Half: ")
    return sock


def refill(flood: list[socket.socket], port: int) -> None:
    """Reopen each connection nginx has closed (out of room, it closes the ones it has not read yet),
    as a client that means to keep its count would."""
    poller = select.poll()  # select() stops at descriptor 1,023
    index = {sock.fileno(): i for i, sock in enumerate(flood)}
    for sock in flood:
        poller.register(sock, select.POLLIN)
    for fd, _ in poller.poll(0):  # readable: closed, since nginx answers none of them
        flood[index[fd]].close()
        flood[index[fd]] = half_open(port)
    time.sleep(0.05)  # nginx reads each new one


def test_half_sent_headers_from_one_client_leave_room_for_the_others(limited):
    """~1,100 connections from one address, stopped halfway through their headers: /healthz still answers
    at once, and neither the flood nor its end writes a line per connection to the log."""
    since = len(limited.stderr())
    with open_files(HALF_OPEN + 200):
        flood: list[socket.socket] = []
        try:
            for i in range(HALF_OPEN):
                flood.append(half_open(limited.port))
                if i % 50 == 49:
                    time.sleep(0.02)  # nginx reads them as they come
            for _ in range(5):
                refill(flood, limited.port)
                healthz_s(limited.port)
                time.sleep(0.3)
        finally:
            for sock in flood:
                sock.close()
    new = new_lines(limited, since)
    assert len(new) <= 2, (len(new), new[:5])


def held(port: int, client: str, head: bytes, count: int) -> list[socket.socket]:
    """``count`` requests from ``client`` whose bodies never come, sent in order (each in progress before the next)."""
    socks = [connect(port, client) for _ in range(count)]
    for sock in socks:
        sock.sendall(head)
        time.sleep(0.005)
    time.sleep(0.5)
    return socks


def refused_at_once(socks: list[socket.socket]) -> int:
    """How many were answered already (each must be a 429 with the security headers): the rest are in progress."""
    answered = [sock for sock in socks if select.select([sock], [], [], 0)[0]]
    for sock in answered:
        status, headers = parse_head(sock.recv(65536).partition(b"\r\n\r\n")[0])
        assert status == 429 and secured(headers), headers
    return len(answered)


def pending_body(route: str) -> bytes:
    return f"POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n".encode()


@pytest.mark.parametrize("route,client,allowed", [
    ("/healthz", "127.0.0.3", 32),  # any route: 32 in progress
    ("/api/v1/generate", "127.0.0.11", SAMPLES_PER_CLIENT),  # samples
    ("/api/v1/style", "127.0.0.12", HEAVY_PER_CLIENT),  # expensive: an upload
    ("/api/v1/number", "127.0.0.13", HEAVY_PER_CLIENT),  # expensive: handwriting
])
def test_one_client_past_its_requests_in_progress_gets_429s(limited, route, client, allowed):
    """Requests from one address whose bodies never come: past the route class's limit each is refused at once
    (429, the page, the security headers, no log line), while another address is served on the same route."""
    since = len(limited.stderr())
    socks = held(limited.port, client, pending_body(route), allowed + 8)
    other = held(limited.port, client.replace("127.0.0.", "127.0.1."), pending_body(route), 1)
    try:
        assert refused_at_once(socks) == 8
        assert refused_at_once(other) == 0, "another address was refused"
        assert healthz_s(limited.port) < 1
    finally:
        for sock in socks + other:
            sock.close()
    assert new_lines(limited, since) == []


@pytest.mark.parametrize("first,second,client", [("/api/v1/style", "/api/v1/number", "127.0.0.16"),
                                                 ("/write", "/draw", "127.0.0.17")])
def test_uploads_and_handwriting_share_one_count(limited, first, second, client):
    """An address with an upload in progress is refused a handwriting request, and the other way round."""
    socks = held(limited.port, client, pending_body(first), 1) + held(limited.port, client, pending_body(second), 1)
    try:
        assert refused_at_once(socks) == 1
    finally:
        for sock in socks:
            sock.close()


def pipelined(port: int, client: str, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """``count`` requests for /healthz sent at once on one connection; every answer, in order."""
    requests = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" * (count - 1)
    with connect(port, client) as sock:
        sock.settimeout(15)
        sock.sendall(requests + b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = read_until_closed(sock)
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status, headers = parse_head(head)
        length = int(headers["content-length"])
        answers.append((status, headers, rest[:length]))
        data = rest[length:]
    return answers


def test_one_client_past_100_requests_a_second_gets_429s(limited):
    """16 connections from one address, 60 requests each at once: a burst of 200 passes, then mostly 429s
    (the page, the security headers, no log line); another address is served meanwhile."""
    since = len(limited.stderr())
    results: list[list[tuple[int, dict[str, str], bytes]]] = []
    threads = [threading.Thread(target=lambda: results.append(pipelined(limited.port, "127.0.0.4", 60)))
               for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    answers = [answer for result in results for answer in result]
    assert len(answers) == 960
    refused = [(headers, body) for status, headers, body in answers if status == 429]
    assert len(answers) - len(refused) >= 200 and len(refused) >= 100, len(refused)
    assert all(secured(headers) and NGINX_ERROR in body.decode() for headers, body in refused)
    assert healthz_s(limited.port) < 1
    assert new_lines(limited, since) == []


def closed_after(socks: list[socket.socket], limit_s: float) -> list[float]:
    """Seconds until nginx closed each socket (reading whatever it sent); ``limit_s`` for those it kept open."""
    started, closed = time.monotonic(), {}
    while len(closed) < len(socks) and time.monotonic() - started < limit_s:
        for sock in select.select([s for s in socks if s not in closed], [], [], 0.1)[0]:
            with contextlib.suppress(ConnectionResetError):
                if sock.recv(65536):
                    continue
            closed[sock] = time.monotonic() - started
    return [closed.get(sock, limit_s) for sock in socks]


def test_a_client_that_stops_sending_is_dropped_within_12_s(limited):
    """Half its headers, or its headers and 10 of its 1,000 bytes of body, then silence: nginx closes each
    after its 10 s timeout (nginx's default is 60 s), logging nothing."""
    since = len(limited.stderr())
    socks = [connect(limited.port, "127.0.0.5"), connect(limited.port, "127.0.0.5")]
    try:
        socks[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Half: ")
        socks[1].sendall(UPLOAD_HEADERS + b"--b\r\nConte")
        header_s, body_s = closed_after(socks, limit_s=13)
    finally:
        for sock in socks:
            sock.close()
    assert header_s < 12, f"half-sent headers held for {header_s:.1f} s"
    assert body_s < 12, f"a stalled body held for {body_s:.1f} s"
    assert new_lines(limited, since) == []


def test_uploads_dribbled_slower_than_the_timeout_never_hold_a_worker(limited):
    """Two uploads (one per worker of the heavy pool, from two addresses) sending a few bytes a second for 8 s:
    nginx holds them until their bodies are whole, so /healthz answers within 1 s throughout."""
    uploads = [connect(limited.port, client) for client in ("127.0.0.6", "127.0.0.8")]
    try:
        for sock in uploads:
            sock.sendall(UPLOAD_HEADERS)
        latencies = []
        for _ in range(8):
            for sock in uploads:
                sock.sendall(b"x" * 10)
            latencies.append(healthz_s(limited.port))
            time.sleep(max(0.0, 1 - latencies[-1]))
    finally:
        for sock in uploads:
            sock.close()
    assert max(latencies) < 1, latencies
