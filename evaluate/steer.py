"""How well the steering controls steer: for hands x digits and each control at -2..2 (the others at 0),
does its attribute rise at every step, how much do the other two move, and is every digit still legible."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from digits import handwriting
from digits.attributes import NAMES
from digits.generators import Steer, Style
from digits.judging import judge
from digits.steer import TEXT, measure, steered

STEPS = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
HANDS = 200


def ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(np.float64)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def steer_scores(style: Style, steer: Steer, judge_session: ort.InferenceSession, seed: int,
                 hands: int = HANDS) -> dict[str, float]:
    """Per control: steer_<name>_monotone (its attribute rises at every step, share of (hand, digit)
    pairs), _rank (Spearman of the control with the change of its attribute), _crosstalk (the hands'
    other attributes: the larger mean |slope|, in their own standard deviations per unit of control);
    and steer_legibility over every setting."""
    base = handwriting.hands(seed + 1, hands, style.style_dim)  # other hands than the ones that found them
    scores, legible = {}, []
    for k, name in enumerate(NAMES):
        measured = []
        for step in STEPS:
            controls = np.zeros(len(NAMES))
            controls[k] = step
            written = handwriting.write(style, TEXT, steered(base, steer.directions, controls))
            measured.append(measure(written))
            probs, _ = judge(judge_session, written.reshape(-1, 28, 28))
            legible.append(probs.argmax(1) == np.tile(np.arange(len(TEXT)), hands))
        measured = np.stack(measured)  # [steps, hands, digits, attributes]
        own = measured[..., k]
        scores[f"steer_{name}_monotone"] = float((np.diff(own, axis=0) > 0).all(0).mean())
        change = (own - own[len(STEPS) // 2]).reshape(len(STEPS), -1)
        scores[f"steer_{name}_rank"] = spearman(np.repeat(STEPS, change.shape[1]), change.ravel())
        per_hand = measured.mean(2).reshape(len(STEPS), -1)  # a hand's attribute: its mean over the digits
        slopes = np.abs(np.polyfit(STEPS, per_hand, 1)[0].reshape(hands, len(NAMES))).mean(0) / steer.sd
        scores[f"steer_{name}_crosstalk"] = float(max(slopes[j] for j in range(len(NAMES)) if j != k))
    scores["steer_legibility"] = float(np.concatenate(legible).mean())
    return scores
