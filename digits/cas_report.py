"""The CAS table (python -m training.cas prints it, docs/quality.md shows it): torch-free, so the
docs' table generator renders the same text from artifacts/cas.json."""
from __future__ import annotations

CAS_TARGET, REAL_TARGET = 0.99, 0.995


def row(name: str, result: dict, target: float, ratio: str, minutes: str) -> str:
    mark = "ok" if result["accuracy"] >= target else "MISS"
    digits = " | ".join(f"{result['accuracy_per_digit'][str(d)]:.2%}" for d in range(10))
    return f"| {name} | {result['accuracy']:.2%} {mark} | {digits} | {ratio} | {minutes} |"


def table(results: dict) -> str:
    """One row per generator, then the real-data row of the latest judge."""
    head = "| trained on | test accuracy | " + " | ".join(map(str, range(10))) + " | CAS / real | wall time |"
    rows = [head, "|" + "---|" * 14]
    for model, r in sorted(results.items()):
        rows.append(row(f"{r['train_images']:,} {model} digits", r["cas"], CAS_TARGET, f"{r['ratio']:.4f}",
                        f"{r['wall_seconds'] / 60:.1f} min"))
    real = max(results.values(), key=lambda r: r["date"])["real"]
    rows.append(row(f"{real['train_images']:,} real digits (the judge)", real, REAL_TARGET, "1.0000", ""))
    return "\n".join(rows) + f"\n\ntargets: CAS >= {CAS_TARGET:.1%} per generator, real >= {REAL_TARGET:.1%}"
