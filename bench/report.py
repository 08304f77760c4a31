"""The benchmark's report: the routes it measures and its table, rendered from a bench/results_<model>.json
record. Torch-free and light: python -m bench prints it, tools/tables.py writes it into the docs."""
from __future__ import annotations

import urllib.parse

GENERATE = "/api/v1/generate?digit=3&seed=1"
ROUTES = {"api_one": (GENERATE, 1), "api": (GENERATE, 16), "page": ("/?digit=3&seed=1", 16)}  # URL, connections
# The handwriting routes, on the product server only (the torch baseline has no style interface).
NUMBER = {"text": "0123456789", "count": 5, "seed": 1}
MORPH = {"digit": 3, "to_digit": 8, "seed": 1, "to_seed": 2, "frames": 8}
STEER = {"text": "0123456789", "seed": 1, "slant": 1.5, "weight": -1, "width": 0.5}
STYLE_ROUTES = {f"{name}{suffix}": (f"/api/v1/{name}?{urllib.parse.urlencode(query)}", connections)
                for name, query in (("number", NUMBER), ("morph", MORPH), ("steer", STEER))
                for suffix, connections in (("_one", 1), ("", 16))}
PAIRED_ROUTES = {route: ROUTES[route] for route in ("api_one", "api")}


def rows(r: dict) -> list[tuple[str, str, str, str, str]]:
    """(measure, product, torch baseline, ratio, target) for the table."""
    o, t, floor, d = r["onnx_server"], r["torch_server"], r["compute_floor"], r["data_path"]
    style, made = r["style_floor"], r["generate"]
    pp, direct = (r["paired"]["product"], r["paired"]["direct"]) if "paired" in r else (o, r["direct_server"])

    def ok(good: bool) -> str:
        return "met" if good else "MISSED"

    return [
        ("compute: 5 images + PNG, in-process (median ms)", f"{floor['onnx_ms']:.3f}", f"{floor['torch_ms']:.3f}",
         f"{floor['torch_ms'] / floor['onnx_ms']:.1f}x", ""),
        ("API p50 / p99 ms, 1 connection", f"{o['api_one']['p50_ms']:.2f} / {o['api_one']['p99_ms']:.2f}",
         f"{t['api_one']['p50_ms']:.2f} / {t['api_one']['p99_ms']:.2f}",
         f"{o['api_one']['p50_ms'] / floor['onnx_ms']:.1f}x floor",
         f"p50 <= 2x compute floor: {ok(o['api_one']['p50_ms'] <= 2 * floor['onnx_ms'])}"),
        ("API p50 / p99 ms, 16 connections", f"{o['api']['p50_ms']:.2f} / {o['api']['p99_ms']:.2f}",
         f"{t['api']['p50_ms']:.2f} / {t['api']['p99_ms']:.2f}", "", ""),
        ("API requests/s (2 workers, 16 connections)", f"{o['api']['rps']:.0f}", f"{t['api']['rps']:.0f}",
         f"{o['api']['rps'] / t['api']['rps']:.1f}x", f">= 1000: {ok(o['api']['rps'] >= 1000)}"),
        ("page p50 / p99 ms, 16 connections", f"{o['page']['p50_ms']:.2f} / {o['page']['p99_ms']:.2f}",
         f"{t['page']['p50_ms']:.2f} / {t['page']['p99_ms']:.2f}", "", ""),
        ("page requests/s", f"{o['page']['rps']:.0f}", f"{t['page']['rps']:.0f}",
         f"{o['page']['rps'] / t['page']['rps']:.1f}x", ""),
        ("non-2xx responses and socket errors, all runs", str(o["errors"]), str(t["errors"]), "", ""),
        ("worker RSS after start (MB)", f"{o['rss_start_mb']:.0f}", f"{t['rss_start_mb']:.0f}",
         f"{t['rss_start_mb'] / o['rss_start_mb']:.1f}x", f"<= 1/7: {ok(t['rss_start_mb'] >= 7 * o['rss_start_mb'])}"),
        ("worker RSS after >= 20,000 requests (MB)", f"{o['rss_end_mb']:.0f} ({o['requests']} req)",
         f"{t['rss_end_mb']:.0f} ({t['requests']} req)", f"{t['rss_end_mb'] / o['rss_end_mb']:.1f}x",
         f"<= 1/7: {ok(t['rss_end_mb'] >= 7 * o['rss_end_mb'])}"),
        ("cold start to first /api/v1/generate (s, median)", f"{o['cold_start_s']:.2f}", f"{t['cold_start_s']:.2f}",
         f"{t['cold_start_s'] / o['cold_start_s']:.1f}x", f"<= 1/4: {ok(t['cold_start_s'] >= 4 * o['cold_start_s'])}; "
         f"<= 1/6: {ok(t['cold_start_s'] >= 6 * o['cold_start_s'])}"),
        ("install footprint (MB): .venv-serve vs .venv", f"{r['serve_venv_mb']:.0f}", f"{r['train_venv_mb']:.0f}",
         f"{r['train_venv_mb'] / r['serve_venv_mb']:.1f}x",
         f"<= 1/30: {ok(r['train_venv_mb'] >= 30 * r['serve_venv_mb'])}"),
        ("one epoch of batches (s): tensor vs DataLoader", f"{d['tensor_s']:.4f}", f"{d['dataloader_s']:.3f}",
         f"{d['dataloader_s'] / d['tensor_s']:.0f}x", f">= 10x: {ok(d['dataloader_s'] >= 10 * d['tensor_s'])}"),
        ("batching share of a CVAE training epoch", f"{100 * d['tensor_s'] / d['train_epoch_s']:.2f}%",
         f"{100 * d['dataloader_s'] / d['train_epoch_s']:.1f}%", f"epoch {d['train_epoch_s']:.1f} s",
         f"<= 2%: {ok(d['tensor_s'] <= 0.02 * d['train_epoch_s'])}"),
        ("API through nginx (product) vs gunicorn direct" + (", side by side" if "paired" in r else "") +
         ": p50 ms 1 connection / requests/s 16 connections", f"{pp['api_one']['p50_ms']:.2f} / {pp['api']['rps']:.0f}",
         f"direct: {direct['api_one']['p50_ms']:.2f} / {direct['api']['rps']:.0f}",
         f"{pp['api_one']['p50_ms'] / direct['api_one']['p50_ms']:.2f}x / "
         f"{pp['api']['rps'] / direct['api']['rps']:.2f}x",
         "within 10%: " + ok(pp["api_one"]["p50_ms"] <= 1.1 * direct["api_one"]["p50_ms"]
                             and pp["api"]["rps"] >= 0.9 * direct["api"]["rps"])),
        *cost_rows(r),
        *[(f"{STYLE_ROUTES[route][0]}: compute floor / p50 ms 1 connection, requests/s 16 connections",
           f"{style[route + '_ms']:.2f} / {o[route + '_one']['p50_ms']:.2f}, {o[route]['rps']:.0f}", "no such route",
           f"{o[route + '_one']['p50_ms'] / style[route + '_ms']:.1f}x floor",
           f"p50 <= 2x compute floor: {ok(o[route + '_one']['p50_ms'] <= 2 * style[route + '_ms'])}")
          for route in ("number", "morph", "steer") if route + "_ms" in style],
        (f"python -m generate --format idx, {made['images']:,} images (images/s, whole command)",
         f"{made['images_per_s']:.0f}", "", f"{made['seconds']:.2f} s",
         f">= 20,000: {ok(made['images_per_s'] >= 20_000)}"),
    ]


def cost_rows(r: dict) -> list[tuple[str, str, str, str, str]]:
    """Where one request's time goes, and what the metrics cost, from the side-by-side run (records from
    before it have no such rows)."""
    if "paired" not in r:
        return []
    floor, product, direct, quiet = r["compute_floor"], *(r["paired"][k] for k in ("product", "direct", "metrics_off"))
    app_ms = direct["api_one"]["p50_ms"] - floor["onnx_ms"]
    hop_ms = product["api_one"]["p50_ms"] - direct["api_one"]["p50_ms"]
    metrics_cost = 1 - product["api"]["rps"] / quiet["api"]["rps"]
    return [*before_rows(r),
        ("where one request's time goes at 1 connection (ms): compute floor + app server (WSGI, gunicorn, HTTP) "
         "+ nginx hop = product p50", f"{floor['onnx_ms']:.2f} + {app_ms:.2f} + {hop_ms:.2f} = "
         f"{product['api_one']['p50_ms']:.2f}", "", f"nginx hop {hop_ms / product['api_one']['p50_ms']:.0%} of p50",
         ""),
        ("API with metrics (product) vs FLASK_METRICS=0, side by side, both through nginx: p50 ms 1 connection / "
         "requests/s 16 connections", f"{product['api_one']['p50_ms']:.2f} / {product['api']['rps']:.0f}",
         f"metrics off: {quiet['api_one']['p50_ms']:.2f} / {quiet['api']['rps']:.0f}",
         f"throughput cost {metrics_cost:.1%}", f"< 5% of throughput: {'met' if metrics_cost < 0.05 else 'MISSED'}"),
    ]


def before_rows(r: dict) -> list[tuple[str, str, str, str, str]]:
    """What the serving path costs beyond the model, against the serving code of an earlier commit on the same
    model files, side by side; and throughput against what two workers at the compute floor could do."""
    if "before" not in r:  # records from before the comparison existed
        return []
    floor, product, before = r["compute_floor"], r["paired"]["product"], r["paired"]["before"]
    now_ms, then_ms = (server["api_one"]["p50_ms"] - floor["model_ms"] for server in (product, before))
    bound = 2 * 1000 / floor["onnx_ms"]  # two workers, each one request per compute floor
    return [
        (f"overhead at 1 connection: p50 through make serve-prod minus the model's own onnxruntime call "
         f"({floor['model_ms']:.2f} ms), side by side with the serving code of {r['before']} (ms)",
         f"{now_ms:.2f}", f"{r['before']}: {then_ms:.2f}", f"{now_ms / then_ms:.2f}x",
         f"<= 1/2 of {r['before']}'s: {'met' if now_ms <= then_ms / 2 else 'MISSED'}"),
        ("API requests/s at 16 connections against the bound of 2 workers at the compute floor",
         f"{product['api']['rps']:.0f}", f"bound {bound:.0f}", f"{product['api']['rps'] / bound:.0%}",
         f">= 85%: {'met' if product['api']['rps'] >= 0.85 * bound else 'MISSED'}"),
    ]


def table(results: dict) -> str:
    lines = ["| measure | onnxruntime server (product: nginx + gunicorn) | torch server (seed-style baseline) | ratio "
             "| target |",
             "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def profile_table(profiles: dict[str, dict[str, float]]) -> str:
    """Milliseconds of one request per stage in a serving worker (python -m bench.profile), one column per
    profiled checkout (its label: "now", or the commit compared with), stages by their first column, largest
    first."""
    labels = list(profiles)
    first = profiles[labels[0]]
    stages = sorted({stage for stages in profiles.values() for stage in stages}, key=lambda s: -first.get(s, 0.0))
    lines = ["| stage | " + " | ".join(f"{label} (ms per request)" for label in labels) + " |",
             "|---|" + "---|" * len(labels)]
    lines += [f"| {stage} | " + " | ".join(f"{profiles[label].get(stage, 0.0):.3f}" for label in labels) + " |"
              for stage in stages]
    lines.append("| **sampled in the worker** | " +
                 " | ".join(f"**{sum(profiles[label].values()):.3f}**" for label in labels) + " |")
    return "\n".join(lines)
