"""Guard: every committed generator holds the floors written here, in its record and re-measured.

The floors are set by hand from the measured records. ``make evaluate``
rewrites ``artifacts/quality.json`` but never this file, so a worse model cannot slip in with a
fresh, lower record: lowering a floor is an edit someone has to make and explain. The product
targets (docs/quality.md) are a separate, fixed bar that the docs' tables report ok or MISS against.

Re-measuring uses 200 samples per digit and another seed. Tolerances: proportions may fall 3
binomial standard errors below their floor; diversity, novelty and style consistency may move
by 0.05; FID on fewer samples is biased upward, so its ratio may reach 1.5x its floor; the C2ST,
trained on fewer samples, reads lower rather than higher, and may move by 0.05.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from digits.c2st import c2st
from digits.generators import load_generators, open_session
from digits.idx import load_split
from digits.measures import samples_per_digit
from evaluate.metrics import Reference, score
from evaluate.style import style_scores

PER_DIGIT = 200
SEED = 2024
PROPORTIONS = {"accuracy": 10, "accuracy_min_digit": 1, "distinct_groups": 2, "legibility": 10}  # samples per unit
AT_LEAST, AT_MOST = "min", "max"
FLOORS = {  # model: name -> (min or max, bound), from the records of 2026-12-01 and -03 (docs/experiments.md)
    # The CVAE-GAN with 28x28 feature maps and its reconstruction in the critic's features (2026-12-03): realism
    # bought with legibility. C2ST 0.794 -> 0.695 (its floor tightened from 0.80); lowered, by what the new
    # record measured: accuracy 0.995 -> 0.993, worst digit 0.99 -> 0.983, FID 2.1x -> 2.35x, style
    # consistency 0.16/0.17 -> 0.18/0.20 (docs/experiments.md, "the new CVAE, trained on to 24 epochs").
    "cvae": {"c2st": (AT_MOST, 0.72), "accuracy": (AT_LEAST, 0.993), "accuracy_min_digit": (AT_LEAST, 0.983),
             "fid_real_ratio": (AT_MOST, 2.35), "diversity_ratio": (AT_LEAST, 0.97),
             "distinct_groups": (AT_LEAST, 0.999), "novelty_ratio": (AT_LEAST, 0.96),
             "legibility": (AT_LEAST, 0.995), "style_slant": (AT_MOST, 0.18), "style_ink": (AT_MOST, 0.20)},
    # The CGAN retrained with the hand-consistency term (one noise is one hand) and the critic's classifier,
    # which bought accuracy for a little FID (docs/experiments.md).
    "cgan": {"c2st": (AT_MOST, 0.66), "accuracy": (AT_LEAST, 0.997), "accuracy_min_digit": (AT_LEAST, 0.993),
             "fid_real_ratio": (AT_MOST, 1.85), "diversity_ratio": (AT_LEAST, 0.98),
             "distinct_groups": (AT_LEAST, 0.999), "novelty_ratio": (AT_LEAST, 1.0),
             "legibility": (AT_LEAST, 0.999), "style_slant": (AT_MOST, 0.09), "style_ink": (AT_MOST, 0.11)},
}


@pytest.fixture(scope="module")
def recorded(root) -> dict:
    return json.loads((root / "artifacts" / "quality.json").read_text())


@pytest.fixture(scope="module")
def judge(root):
    return open_session(root / "artifacts" / "judge.onnx", 2)


@pytest.fixture(scope="module")
def committed(root) -> dict:
    return load_generators(root / "artifacts", 2)


@pytest.fixture(scope="module")
def reference(judge, mnist) -> Reference:
    train, _ = load_split(mnist, "train")
    test, labels = load_split(mnist, "test")
    return Reference.build(judge, train / 255.0, test / 255.0, labels)


def holds(value: float, kind: str, bound: float, slack: float = 0.0) -> bool:
    return value >= bound - slack if kind == AT_LEAST else value <= bound + slack


def test_judge_reads_the_official_test_digits_as_recorded(judge, mnist, recorded):
    test, labels = load_split(mnist, "test")
    probs = judge.run(["probs"], {"image": (test / 255.0).astype(np.float32)[:, None]})[0]
    accuracy = float((probs.argmax(1) == labels).mean())
    assert accuracy >= 0.995
    assert abs(accuracy - recorded["judge_test_accuracy"]) < 1e-3


def test_every_committed_generator_has_a_record_and_floors(committed, recorded):
    assert set(committed) == set(recorded["models"]) == set(FLOORS)


@pytest.mark.parametrize("model", sorted(FLOORS))
def test_record_holds_the_floors(recorded, model):
    """A re-run of make evaluate that records worse numbers fails here, whatever it wrote."""
    record = recorded["models"][model]
    missed = {name: record[name] for name, (kind, bound) in FLOORS[model].items()
              if not holds(record[name], kind, bound)}
    assert not missed, f"{model} record below its floors: {missed}"


def slack(name: str, bound: float) -> float:
    """How far a 200-per-digit re-measurement may stray from a floor by chance alone."""
    if name in PROPORTIONS:
        n = PER_DIGIT * PROPORTIONS[name]
        return 3 * math.sqrt(max(bound * (1 - bound), 1 / n) / n)
    return 0.5 * bound if name == "fid_real_ratio" else 0.05


@pytest.mark.parametrize("model", sorted(FLOORS))
def test_generator_still_measures_up(committed, judge, reference, recorded, model):
    generator = committed[model]
    images, digits = samples_per_digit(generator, PER_DIGIT, SEED)
    now = score(images, digits, judge, reference)
    now["fid_real_ratio"] = now["fid"] / recorded["real"]["fid"]
    now["c2st"] = c2st(reference.test, images, SEED)
    if generator.style is not None:
        now |= style_scores(generator.style, judge, PER_DIGIT, 20, SEED)
    missed = {name: now.get(name, "no style interface") for name, (kind, bound) in FLOORS[model].items()
              if name not in now or not holds(now[name], kind, bound, slack(name, bound))}
    assert not missed, f"{model} re-measured below its floors: {missed}"
