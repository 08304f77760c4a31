"""python -m bench.costs: the CPU each route class costs at its heaviest allowed request, in-process.

    .venv-serve/bin/python -m bench.costs [--repeats 5]

One request at a time through Flask's test client over the committed models (onnxruntime with one thread, as
a serving worker), its CPU time (user + system) the median of ``--repeats``. These numbers set nginx's
per-client limits for each class of route (deploy/serve.py; docs/deployment.md, "What one client can and
cannot do"). The heaviest upload is the one the tests use (tests/jpeg_helpers.py).
"""
from __future__ import annotations

import argparse
import resource
import statistics
from collections.abc import Callable

from tests.jpeg_helpers import heaviest_accepted
from tests.webapp_helpers import multipart

LONGEST = "9999999999999999"
GETS = {  # route class -> the heaviest request of each of its routes
    "light": ["/healthz", "/api/v1/models", "/static/style.css"],
    "samples": ["/api/v1/generate?digit=8&count=64&model=cgan&seed=1",
                "/api/v1/generate.png?digit=8&count=64&model=cgan&seed=1", "/?digit=8&seed=1&compare=1",
                f"/api/v1/steer?text={LONGEST}&seed=1&model=cgan&slant=2&weight=2&width=2"],
    "heavy": [f"/api/v1/number?text={LONGEST}&count=16&model=cgan&seed=1",
              f"/write?text={LONGEST}&count=16&model=cgan&seed=1",
              "/api/v1/morph.gif?digit=1&to_digit=8&seed=1&to_seed=2&frames=64&model=cgan",
              "/morph?digit=1&to_digit=8&seed=1&to_seed=2&frames=64&model=cgan"],
}


def cpu_ms(request: Callable[[], object], repeats: int) -> float:
    """Median CPU milliseconds of ``request``, after one untimed call (lazy imports, first-run allocations)."""
    def once() -> float:
        before = resource.getrusage(resource.RUSAGE_SELF)
        request()
        after = resource.getrusage(resource.RUSAGE_SELF)
        return 1000 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    request()
    return statistics.median(once() for _ in range(repeats))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.costs", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from webapp import create_app

    client = create_app().test_client()
    upload, content_type = multipart({"digit": "1", "text": LONGEST, "count": "16"}, heaviest_accepted())
    posts = {"the heaviest accepted upload (/api/v1/style)": (upload, content_type),
             "2 MB of url-encoded empty fields (/api/v1/style)": (b"a&" * 1_000_000,
                                                                   "application/x-www-form-urlencoded")}
    print("| class | request | status | CPU ms |\n|---|---|---|---|")
    for kind, paths in GETS.items():
        for path in paths:
            status = client.get(path).status_code
            print(f"| {kind} | `{path}` | {status} | {cpu_ms(lambda p=path: client.get(p), args.repeats):.1f} |")
    for name, (body, kind) in posts.items():
        status = client.post("/api/v1/style", data=body, content_type=kind).status_code
        ms = cpu_ms(lambda b=body, k=kind: client.post("/api/v1/style", data=b, content_type=k), args.repeats)
        print(f"| heavy | {name} | {status} | {ms:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
