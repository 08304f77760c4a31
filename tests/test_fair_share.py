"""Fair share through ``make serve-prod``: one address running as many of the costliest requests as it is allowed
cannot slow another address down, and what it is not allowed is a 429, never a 5xx.

Each case is one class of expensive route at its heaviest request (docs/deployment.md, "What one client can and
cannot do"): the first address (127.0.0.9) keeps two more of them in flight than its limit for that class, in a
process of its own, while the second (127.0.0.10) asks for /api/v1/generate every 25 ms and for /healthz 24
times. The issue's target (p99 <= 100 ms, /healthz 24/24 under 100 ms) was measured over 20 s
(FAIR_SHARE_SECONDS=20; docs/deployment.md has the command and the numbers). Each case runs for SECONDS and is
held to the target or, on a machine busy with other work, to 3x the same measure taken just before without the
first address: generous on a loaded machine, and still far short of what one address did before (0.2 to 11 s).
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.serve import HEAVY_NICE, HEAVY_PER_CLIENT, SAMPLES_PER_CLIENT
from tests.jpeg_helpers import heaviest_accepted
from tests.prod_helpers import Prod, ask, masters, parent, running, serving_prod, session_processes
from tests.webapp_helpers import multipart

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

SECONDS = int(os.environ.get("FAIR_SHARE_SECONDS", "8"))  # docs/deployment.md's measure: 20
GREEDY, OTHER = "127.0.0.9", "127.0.0.10"
BACK_OFF_S = 0.05  # after a 429 the greedy client waits this long: its load is what it is allowed, not a 429 flood
TARGET_S = 0.1  # the other address's /api/v1/generate p99, and each of its /healthz
NOISE = 3  # times the same measure without the greedy address, where that is above TARGET_S
LONGEST = "9999999999999999"


def upload(data: bytes, content_type: str) -> tuple[str, str, bytes, dict[str, str]]:
    return "POST", "/api/v1/style", data, {"Content-Type": content_type}


def heaviest(case: str) -> tuple[str, str, bytes, dict[str, str]]:
    """The costliest request of each class the server accepts (or, url-encoded, refuses at once)."""
    if case == "upload":
        return upload(*multipart({"digit": "1", "text": LONGEST, "count": "16"}, heaviest_accepted()))
    if case == "url-encoded":  # 2 MB of empty fields: seconds of CPU each, before it was refused unread
        return upload(b"a&" * 1_000_000, "application/x-www-form-urlencoded")
    paths = {"number": f"/api/v1/number?text={LONGEST}&count=16&model=cgan&seed=1",
             "morph": "/api/v1/morph.gif?digit=1&to_digit=8&seed=1&to_seed=2&frames=64&model=cgan",
             "samples": "/api/v1/generate?digit=8&count=64&model=cgan&seed=1"}
    return "GET", paths[case], b"", {}


CASES = {"upload": (HEAVY_PER_CLIENT, {200}), "url-encoded": (HEAVY_PER_CLIENT, {415}),
         "number": (HEAVY_PER_CLIENT, {200}), "morph": (HEAVY_PER_CLIENT, {200}),
         "samples": (SAMPLES_PER_CLIENT, {200})}  # case -> (allowed in flight, the status when allowed)


def greedy(port: int, case: str, loops: int, seconds: float) -> dict[int, int]:
    """``loops`` clients from GREEDY, each sending the case's request again as soon as it is answered; statuses."""
    request, statuses, deadline = heaviest(case), Counter(), time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < deadline:
            status = ask(port, GREEDY, *request)
            statuses[status] += 1
            if status == 429:
                time.sleep(BACK_OFF_S)

    threads = [threading.Thread(target=loop) for _ in range(loops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(statuses)


def timed(port: int, path: str) -> float:
    started = time.perf_counter()
    status = ask(port, OTHER, "GET", path, timeout=10)
    assert status == 200, (path, status)
    return time.perf_counter() - started


def the_other_address(port: int, seconds: float) -> tuple[list[float], list[float]]:
    """/api/v1/generate every 25 ms (enough requests that a p99 is not one outlier) and /healthz 24 times,
    evenly, for ``seconds``: their latencies."""
    generate, healthz = [], []
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        if len(healthz) < 24 and elapsed >= len(healthz) * seconds / 24:
            healthz.append(timed(port, "/healthz"))
        generate.append(timed(port, f"/api/v1/generate?digit={len(generate) % 10}&seed={len(generate)}"))
        time.sleep(0.025)
    return generate, healthz


@pytest.fixture(scope="module")
def prod(tmp_path_factory) -> Iterator[Prod]:
    with serving_prod(tmp_path_factory.mktemp("serve-prod")) as instance:
        yield instance


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_address_at_its_limit_of_the_costliest_requests_leaves_the_others_fast(prod, case):
    allowed, accepted = CASES[case]
    quiet, _ = the_other_address(prod.port, 4)  # also warms both pools' lazy imports
    bound = max(TARGET_S, NOISE * p99(quiet))
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # its own process: no GIL shared with the measure
        load = pool.apply_async(greedy, (prod.port, case, allowed + 2, SECONDS + 1))
        time.sleep(1)  # its requests in flight
        generate, healthz = the_other_address(prod.port, SECONDS - 1)
        statuses = load.get(timeout=SECONDS + 120)
    print(f"\n{case}: /api/v1/generate p50 {statistics.median(generate) * 1000:.1f} ms, p99 {p99(generate) * 1000:.1f} "
          f"ms ({len(generate)} requests; {p99(quiet) * 1000:.1f} ms alone); /healthz {len(healthz)}, the slowest "
          f"{max(healthz) * 1000:.1f} ms; the greedy address got {dict(sorted(statuses.items()))}")
    assert p99(generate) <= bound, (f"/api/v1/generate p99 {p99(generate) * 1000:.0f} ms, "
                                    f"without the greedy address {p99(quiet) * 1000:.0f} ms")
    assert len(healthz) == 24 and max(healthz) < bound, [round(s * 1000) for s in healthz]
    assert set(statuses) == accepted | {429} and statuses[429] > 0, statuses


def nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_only_the_heavy_pools_workers_yield_the_cpu(prod):
    """The heavy pool's workers run at a lower priority than the light pool's; its master does not, so it is
    ready as soon as the light pool has checked the files (cold start)."""
    found = masters(prod.session)
    workers = {pool: [pid for pid in session_processes(prod.session) if running(pid) and parent(pid) == found[pool]]
               for pool in ("light", "heavy")}
    assert workers["light"] and workers["heavy"]
    base = nice(found["light"])
    assert nice(found["heavy"]) == base
    assert {nice(pid) for pid in workers["light"]} == {base}
    assert {nice(pid) for pid in workers["heavy"]} == {min(base + HEAVY_NICE, 19)}
