"""The quality report: the targets every committed generator is held to, the columns of each table and
the tables themselves, rendered from artifacts/quality.json. Light and torch-free: python -m evaluate
prints them, tools/tables.py writes them into the docs."""
from __future__ import annotations

from digits.c2st import REPEATS

REAL = "real digits"  # the reference row: training digits drawn as a generator's samples are
TARGETS = {  # name: (test, text) for each committed generator
    "c2st": (lambda v: v <= 0.60, "<= 0.60"),
    "accuracy": (lambda v: v >= 0.995, ">= 99.5%"),
    "accuracy_min_digit": (lambda v: v >= 0.99, ">= 99.0%"),
    "fid_real_ratio": (lambda v: v <= 1.5, "<= 1.5x real"),
    "diversity_ratio": (lambda v: 0.95 <= v <= 1.05, "0.95-1.05"),
    "distinct_groups": (lambda v: v >= 1.0, "100%"),
    "novelty_ratio": (lambda v: v >= 0.8, ">= 0.8"),
    "legibility": (lambda v: v >= 0.99, ">= 99%"),
    "style_slant": (lambda v: v <= 0.35, "<= 0.35"),
    "style_ink": (lambda v: v <= 0.35, "<= 0.35"),
    "morph_ends": (lambda v: v >= 0.99, ">= 99%"),
    "morph_smooth": (lambda v: v >= 1.0, "100%"),
    "drawn_reconstruction": (lambda v: v >= 0.95, ">= 95%"),
    "drawn_legibility": (lambda v: v >= 0.98, ">= 98%"),
    "drawn_slant": (lambda v: v <= 0.35, "<= 0.35"),
    "drawn_ink": (lambda v: v <= 0.35, "<= 0.35"),
    **{f"steer_{name}_{part}": target for name in ("slant", "weight", "width") for part, target in (
        ("monotone", (lambda v: v >= 0.95, ">= 95%")), ("rank", (lambda v: v >= 0.95, ">= 0.95")),
        ("crosstalk", (lambda v: v <= 0.25, "<= 0.25 sd")))},
    "steer_legibility": (lambda v: v >= 0.99, ">= 99%"),
}
SAMPLES = [("c2st", "{:.3f}"), ("c2st_sd", "{:.3f}"), ("accuracy", "{:.2%}"), ("accuracy_min_digit", "{:.2%}"),
           ("confidence", "{:.3f}"),
           ("fid", "{:.2f}"), ("fid_ratio", "{:.2f}x"), ("fid_real_ratio", "{:.2f}x"), ("diversity_ratio", "{:.3f}"),
           ("distinct_groups", "{:.2%}"), ("novelty_ratio", "{:.3f}")]
HANDWRITING = [("legibility", "{:.2%}"), ("legibility_min_digit", "{:.2%}"), ("style_slant", "{:.3f}"),
               ("style_ink", "{:.3f}"), ("morph_ends", "{:.1%}"), ("morph_smooth", "{:.1%}"),
               ("drawn_reconstruction", "{:.1%}"), ("drawn_legibility", "{:.2%}"), ("drawn_slant", "{:.3f}"),
               ("drawn_ink", "{:.3f}")]
STEERING = [*((f"steer_{name}_{part}", fmt) for name in ("slant", "weight", "width")
              for part, fmt in (("monotone", "{:.1%}"), ("rank", "{:.3f}"), ("crosstalk", "{:.3f}"))),
            ("steer_legibility", "{:.2%}")]


def cell(model: str, r: dict, name: str, fmt: str) -> str:
    if name not in r:  # no style interface, or no encoder
        return "-"
    judged = name in TARGETS and model != REAL
    return fmt.format(r[name]) + ("" if not judged else " ok" if TARGETS[name][0](r[name]) else " MISS")


def table(results: dict[str, dict], columns: list[tuple[str, str]]) -> str:
    """Markdown table: one row per model (ok/MISS against TARGETS), then the targets."""
    rows = ["| model | " + " | ".join(name for name, _ in columns) + " |", "|" + "---|" * (len(columns) + 1)]
    rows += [f"| {model} | " + " | ".join(cell(model, r, *c) for c in columns) + " |"
             for model, r in results.items() if any(name in r for name, _ in columns)]
    rows.append("| target | " + " | ".join(TARGETS[n][1] if n in TARGETS else "" for n, _ in columns) + " |")
    return "\n".join(rows)


def report_tables(real: dict, results: dict[str, dict], floor: float) -> str:
    """Five samples of one digit (with the real-digit reference row), then handwriting."""
    return (f"{table({REAL: real, **results}, SAMPLES)}\n\nFID floor (all training vs test digits, judge "
            f"features): {floor:.2f}; fid_ratio = FID / floor, fid_real_ratio = FID / the real digits' FID; c2st = "
            f"held-out accuracy of a CNN telling the samples from the 10,000 real test digits "
            f"(0.5 = indistinguishable), the mean of {REPEATS} tests; c2st_sd = their standard deviation\n\n"
            f"{table(results, HANDWRITING)}\n\n{table(results, STEERING)}")
