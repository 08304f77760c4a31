"""Classifier two-sample test (Lopez-Paz & Oquab, "Revisiting Classifier Two-Sample Tests", 2017).

A small CNN learns to tell generated digits from real ones on half of each set and is scored on
the other half, which it never saw: 0.5 means it cannot tell them apart, 1.0 that every sample
gives itself away. One such test moves with its seed (its halves and the CNN's start) by several
hundredths: whether training finds a give-away feature is itself partly luck. So the test is
repeated, each time with its own halves and start, and the mean is the score.

It sees what FID through the judge's features can miss: soft strokes, grey levels, texture,
position. numpy only (two conv layers, hand-written backward, Adam), so the instrument runs in
the serve venv like the rest of ``python -m evaluate``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

EPOCHS = 8
REPEATS = 5
BATCH = 64
LR = 2e-3
CHANNELS = (16, 32)


def patches(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """[B,H,W,C] -> stride-2 k x k patches [B,H/2,W/2,C*k*k] (channel-major inside a patch)."""
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::2, ::2][:, :x.shape[1] // 2, :x.shape[2] // 2]
    return windows.reshape(*windows.shape[:3], -1)


def unpatch(grad: np.ndarray, shape: tuple[int, ...], k: int, pad: int) -> np.ndarray:
    """The adjoint of ``patches``: patch gradients [B,Ho,Wo,C*k*k] summed back onto [B,H,W,C]."""
    b, h, w, c = shape
    out = np.zeros((b, h + 2 * pad, w + 2 * pad, c), grad.dtype)
    g = grad.reshape(*grad.shape[:3], c, k, k)
    ho, wo = grad.shape[1:3]
    for i in range(k):
        for j in range(k):
            out[:, i:i + 2 * ho:2, j:j + 2 * wo:2] += g[..., i, j]
    return out[:, pad:pad + h, pad:pad + w]


def he(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """He-initialised weights; the first axis is the fan-in."""
    return (rng.standard_normal(shape) * np.sqrt(2 / shape[0])).astype(np.float32)


class TwoSampleCNN:
    """conv 5x5/2 -> ReLU -> conv 3x3/2 -> ReLU -> linear on the 7x7 map (keeps where the ink is)."""

    def __init__(self, rng: np.random.Generator) -> None:
        c1, c2 = CHANNELS
        self.params = {"w1": he(rng, (25, c1)), "b1": np.zeros(c1, np.float32),
                       "w2": he(rng, (9 * c1, c2)), "b2": np.zeros(c2, np.float32),
                       "w3": he(rng, (49 * c2,)) / np.sqrt(2), "b3": np.zeros((), np.float32)}
        self.moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in self.params.items()}
        self.steps = 0

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        p = self.params
        p1 = patches(x[..., None], 5, 2)
        h1 = np.maximum(p1 @ p["w1"] + p["b1"], 0)
        p2 = patches(h1, 3, 1)
        h2 = np.maximum(p2 @ p["w2"] + p["b2"], 0)
        flat = h2.reshape(len(x), -1)
        return flat @ p["w3"] + p["b3"], {"p1": p1, "h1": h1, "p2": p2, "h2": h2, "flat": flat}

    def gradients(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the mean logistic loss of a batch (labels 1 = fake) for every parameter."""
        p = self.params
        logit, c = self.forward(x)
        d_logit = ((1 / (1 + np.exp(-logit)) - y) / len(x)).astype(logit.dtype)
        grads = {"w3": c["flat"].T @ d_logit, "b3": d_logit.sum()}
        d_h2 = (d_logit[:, None] * p["w3"]).reshape(c["h2"].shape) * (c["h2"] > 0)
        grads["w2"] = c["p2"].reshape(-1, c["p2"].shape[-1]).T @ d_h2.reshape(-1, d_h2.shape[-1])
        grads["b2"] = d_h2.sum((0, 1, 2))
        d_h1 = unpatch(d_h2 @ p["w2"].T, c["h1"].shape, 3, 1) * (c["h1"] > 0)
        grads["w1"] = c["p1"].reshape(-1, 25).T @ d_h1.reshape(-1, d_h1.shape[-1])
        grads["b1"] = d_h1.sum((0, 1, 2))
        return grads

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One Adam step on a batch."""
        self.steps += 1
        for k, g in self.gradients(x, y).items():
            m, v = self.moments[k]
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            m_hat, v_hat = m / (1 - 0.9 ** self.steps), v / (1 - 0.999 ** self.steps)
            self.params[k] = (self.params[k] - LR * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        logit = self.forward(x)[0].astype(np.float64)
        return float(np.mean(np.logaddexp(0, logit) - y * logit))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.forward(chunk)[0] for chunk in np.array_split(x, max(1, len(x) // 512))]) > 0


def halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    return order[:n // 2], order[n // 2:]


def c2st(real: np.ndarray, fake: np.ndarray, seed: int, repeats: int = REPEATS, epochs: int = EPOCHS) -> float:
    """The mean held-out accuracy of ``repeats`` tests (seeds seed, seed + 1, ...)."""
    return float(np.mean(c2st_runs(real, fake, seed, repeats, epochs)))


def c2st_runs(real: np.ndarray, fake: np.ndarray, seed: int, repeats: int = REPEATS,
              epochs: int = EPOCHS) -> list[float]:
    """Each test's held-out accuracy, each with its own halves and start (seeds seed, seed + 1, ...)."""
    return [one_test(real, fake, seed + k, epochs) for k in range(repeats)]


def one_test(real: np.ndarray, fake: np.ndarray, seed: int, epochs: int) -> float:
    """Held-out accuracy of a CNN trained to tell ``fake`` [N,28,28] from ``real`` [M,28,28], both with
    ink in [0, 1] (both read as 8-bit grey levels, as MNIST's files and the served PNGs hold them); each set
    is split in halves, one to train on and one to score (deterministic from seed).
    Balanced: the mean of the accuracies on each side, so unequal set sizes cannot lift it."""
    rng = np.random.default_rng(seed)
    x = np.round(np.concatenate([real, fake]) * 255).astype(np.float32) / 255  # 8-bit, as MNIST and served PNGs
    y = np.concatenate([np.zeros(len(real)), np.ones(len(fake))]).astype(np.float32)
    (real_fit, real_held), (fake_fit, fake_held) = halves(len(real), rng), halves(len(fake), rng)
    fit = np.concatenate([real_fit, len(real) + fake_fit])
    held = np.concatenate([real_held, len(real) + fake_held])
    net = TwoSampleCNN(rng)
    for _ in range(epochs):
        order = rng.permutation(fit)
        for start in range(0, len(order) - BATCH + 1, BATCH):
            batch = order[start:start + BATCH]
            net.step(x[batch], y[batch])
    said_fake = net.predict(x[held])
    return float(0.5 * (1 - said_fake[:len(real_held)].mean()) + 0.5 * said_fake[len(real_held):].mean())
