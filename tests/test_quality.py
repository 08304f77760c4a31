"""Guard: every committed generator still reaches the quality recorded in artifacts/quality.json.

Each is re-evaluated through onnxruntime on a smaller, differently seeded sample. Tolerances:
proportions may fall 3 binomial standard errors below the record; the ratios (diversity,
novelty) may move by 0.05; FID on fewer samples is biased upward, so its ratio may be 1.5x the
record. A worse model fails here before it can be committed silently.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from digits.generators import load_generators, open_session
from digits.idx import load_split
from evaluate.metrics import Reference, generate, score

PER_DIGIT = 200
SEED = 2024


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


def test_judge_reaches_its_accuracy_on_the_official_test_digits(judge, mnist, recorded):
    test, labels = load_split(mnist, "test")
    probs = judge.run(["probs"], {"image": (test / 255.0).astype(np.float32)[:, None]})[0]
    accuracy = float((probs.argmax(1) == labels).mean())
    assert accuracy >= 0.993
    assert abs(accuracy - recorded["judge_test_accuracy"]) < 1e-3


def test_every_committed_generator_has_a_record(committed, recorded):
    assert set(committed) == set(recorded["models"])


@pytest.mark.parametrize("model", ["cvae", "cgan"])
def test_generator_holds_its_recorded_quality(committed, judge, reference, recorded, model):
    images, digits = generate(committed[model], PER_DIGIT, SEED)
    now, then = score(images, digits, judge, reference), recorded["models"][model]
    n = len(digits)

    def floor(p: float, count: int) -> float:
        return p - 3 * math.sqrt(max(p * (1 - p), 1 / count) / count)

    assert now["accuracy"] >= floor(then["accuracy"], n)
    assert now["accuracy_min_digit"] >= floor(then["accuracy_min_digit"], PER_DIGIT)
    assert now["distinct_groups"] >= floor(then["distinct_groups"], n // 5)
    assert abs(now["diversity_ratio"] - then["diversity_ratio"]) <= 0.05
    assert now["novelty_ratio"] >= then["novelty_ratio"] - 0.05
    assert now["fid_ratio"] <= 1.5 * then["fid_ratio"]
