"""ONNX generators opened once per process, checked against their contracts, and sampled.

Everything is read from the files: the generator's ``latent_dim`` and name from its metadata,
its style interface from ``<model>_style.onnx`` beside it. The one sampler ("draw z from a
seeded generator, run the session in batches") lives here for the web app, the evaluation,
the dataset generator and the export's sample grid alike.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from digits.contract import (
    MAX_STEER_BYTES,
    ModelError,
    check_critic,
    check_encoder,
    check_generator,
    check_steer,
    check_style,
    metadata_of,
)
from digits.files import file_sha256
from digits.images import mnist_centred

BATCH = 1000  # images per session call: bounded memory for any request size


@dataclass
class Style:
    """A generator's style interface: (label weights [N,10], style [N, style_dim]) -> images."""

    path: Path
    style_dim: int
    session: ort.InferenceSession = field(repr=False)

    def images(self, label: np.ndarray, style: np.ndarray) -> np.ndarray:
        return run_batches(self.session, {"label": label.astype(np.float32), "style": style.astype(np.float32)})


@dataclass
class Encoder:
    """A generator's style encoder: (drawn digit [N,28,28] in [0,1], its label [N]) -> its style [N, style_dim]."""

    path: Path
    style_dim: int
    session: ort.InferenceSession = field(repr=False)

    def styles(self, images: np.ndarray, digits: np.ndarray) -> np.ndarray:
        feed = {"image": images.astype(np.float32)[:, None], "digit": digits.astype(np.int64)}
        return self.session.run(["style"], feed)[0]


@dataclass
class Steer:
    """A style interface's steering directions [3, style_dim] (slant, weight, width), one standard
    deviation of the attribute among the model's hands per unit, and those deviations [3]
    (digits/steer.py)."""

    path: Path
    directions: np.ndarray = field(repr=False)
    sd: np.ndarray = field(repr=False)


@dataclass
class Critic:
    """A generator's critic, calibrated so its logit estimates log(p_real / p_generated) of a served
    (centred) digit. The sampler draws ``candidates`` per digit and keeps each with probability
    min(1, exp(logit - cap)): discriminator rejection sampling (Azadi et al., 2019)."""

    path: Path
    cap: float
    candidates: int
    session: ort.InferenceSession = field(repr=False)

    def logits(self, images: np.ndarray, digits: np.ndarray) -> np.ndarray:
        return batched(self.session, "logit", {"image": images.astype(np.float32)[:, None],
                                               "digit": digits.astype(np.int64)})

    def choose(self, render: Callable[[np.ndarray, np.ndarray], np.ndarray], digits: np.ndarray,
               z: np.ndarray) -> np.ndarray:
        """One image per (digit, z): the first of its candidates the critic keeps, else its best. The
        candidates after z itself and the draws that keep them come from a stream seeded by z's own bits,
        so each sample depends on its own (digit, z) alone, never on the batch it came in."""
        n, dim, k = len(z), z.shape[1], self.candidates
        z = np.ascontiguousarray(z, dtype=np.float32)
        streams = [np.random.default_rng(row.view(np.uint32)) for row in z]
        extra = np.stack([s.standard_normal((k - 1, dim), dtype=np.float32) for s in streams]).reshape(n, k - 1, dim)
        draws = np.stack([s.random(k) for s in streams])
        labels = np.repeat(digits, k)
        images = render(labels, np.concatenate([z[:, None], extra], axis=1).reshape(n * k, dim))
        logit = self.logits(images, labels).reshape(n, k)
        keep = draws < np.exp(np.minimum(logit - self.cap, 0.0))
        first = np.where(keep.any(axis=1), keep.argmax(axis=1), logit.argmax(axis=1))
        return images.reshape(n, k, 28, 28)[np.arange(n), first]


@dataclass
class OnnxGenerator:
    name: str
    path: Path
    latent_dim: int
    metadata: dict[str, str]
    session: ort.InferenceSession = field(repr=False)
    style: Style | None = None
    encoder: Encoder | None = None
    steer: Steer | None = None
    critic: Critic | None = None

    def images(self, digits: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Images [N,28,28] in [0,1] for digits [N] and noise [N, latent_dim], placed as MNIST placed its
        digits; where a critic ships beside the generator, each chosen by it from candidates (Critic)."""
        if self.critic is not None:
            return self.critic.choose(self.render, digits, z)
        return self.render(digits, z)

    def render(self, digits: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The generator's own images for (digit, z), centred, in bounded batches."""
        return mnist_centred(run_batches(self.session, {"digit": digits.astype(np.int64), "z": z.astype(np.float32)}))

    def sample(self, digit: int, count: int, seed: int) -> np.ndarray:
        """``count`` samples of one digit; same seed, same images."""
        return self.images(np.full(count, digit), noise(seed, count, self.latent_dim))

    def files(self) -> list[Path]:
        """Every file this generator is served from: what a record of its measurement names by sha256."""
        parts = (self.style, self.encoder, self.steer, self.critic)
        return [self.path, *(part.path for part in parts if part is not None)]

    def describe(self) -> dict:
        return {"name": self.name, "file": self.path.name, "latent_dim": self.latent_dim,
                "style_dim": self.style.style_dim if self.style else None, "encoder": self.encoder is not None,
                "steer": self.steer is not None, "critic": self.critic is not None, "metadata": self.metadata}


def noise(seed: int, count: int, dim: int) -> np.ndarray:
    """z ~ N(0, I) [count, dim] from a seed: the one way every part draws the contract's noise."""
    return np.random.default_rng(seed).standard_normal((count, dim), dtype=np.float32)


def batched(session: ort.InferenceSession, output: str, feed: dict[str, np.ndarray]) -> np.ndarray:
    """One output of the session over the feed, BATCH rows per call."""
    n = len(next(iter(feed.values())))
    return np.concatenate([session.run([output], {k: v[i:i + BATCH] for k, v in feed.items()})[0]
                           for i in range(0, n, BATCH)])


def run_batches(session: ort.InferenceSession, feed: dict[str, np.ndarray]) -> np.ndarray:
    return np.clip(batched(session, "image", feed)[:, 0], 0.0, 1.0)


def require_regular_file(path: Path) -> None:
    """Checked before opening: a FIFO or device named ``*.onnx`` would block start-up or never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ModelError(f"{path}: not a regular file (only regular files are opened)")


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    require_regular_file(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for every load failure
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({first_line[:200]})") from None


def load_generators(folder: Path, threads: int) -> dict[str, OnnxGenerator]:
    """Open every generator in the folder with its style file; any bad file stops start-up.

    Files with a ``role`` in their metadata are not generators: ``style`` and ``encoder`` files
    join their generator (checked against its hash), the judge is opened by the evaluation.
    """
    generators: dict[str, OnnxGenerator] = {}
    extensions: dict[str, list[tuple[Path, ort.InferenceSession]]] = {}
    for path in sorted(Path(folder).glob("*.onnx")):
        session = open_session(path, threads)
        role = metadata_of(session).get("role")
        if role is not None:
            extensions.setdefault(role, []).append((path, session))
            continue
        name, latent_dim, meta = check_generator(path, session)
        if name in generators:
            raise ModelError(f"{path}: model name {name!r} is also used by {generators[name].path.name}")
        generators[name] = OnnxGenerator(name, path, latent_dim, meta, session)
    if not generators:
        raise ModelError(f"{folder}: no *.onnx generator files (run make export, or set FLASK_ARTIFACTS_DIR)")
    digests = {name: file_sha256(g.path) for name, g in generators.items()} if extensions else {}
    for path, session in extensions.get("style", []):
        attach_style(generators, digests, path, session)
    for path, session in extensions.get("encoder", []):
        attach_encoder(generators, digests, path, session)
    for path, session in extensions.get("critic", []):
        attach_critic(generators, digests, path, session)
    for path in sorted(Path(folder).glob("*_steer.json")):
        attach_steer(generators, path)
    for generator in generators.values():
        smoke_test(generator)
    return generators


def owner_of(generators: dict[str, OnnxGenerator], path: Path, session: ort.InferenceSession) -> OnnxGenerator:
    owner = generators.get(metadata_of(session).get("model", ""))
    if owner is None:
        raise ModelError(f"{path}: its generator (metadata model) is not in {path.parent}")
    return owner


def attach_style(generators: dict[str, OnnxGenerator], digests: dict[str, str], path: Path,
                 session: ort.InferenceSession) -> None:
    owner = owner_of(generators, path, session)
    style_dim = check_style(path, session, owner.path.name, digests[owner.name])
    owner.style = Style(path, style_dim, session)


def attach_encoder(generators: dict[str, OnnxGenerator], digests: dict[str, str], path: Path,
                   session: ort.InferenceSession) -> None:
    """An encoder writes styles for its generator's style interface, so it needs that interface too."""
    owner = owner_of(generators, path, session)
    if owner.style is None:
        raise ModelError(f"{path}: an encoder for {owner.path.name}, which has no style file beside it")
    check_encoder(path, session, owner.path.name, digests[owner.name], owner.style.style_dim)
    owner.encoder = Encoder(path, owner.style.style_dim, session)


def attach_critic(generators: dict[str, OnnxGenerator], digests: dict[str, str], path: Path,
                  session: ort.InferenceSession) -> None:
    owner = owner_of(generators, path, session)
    cap, candidates = check_critic(path, session, owner.path.name, digests[owner.name])
    owner.critic = Critic(path, cap, candidates, session)


def attach_steer(generators: dict[str, OnnxGenerator], path: Path) -> None:
    """<model>_steer.json steers its model's style interface, which it names by hash."""
    owner = generators.get(path.name.removesuffix("_steer.json"))
    if owner is None or owner.style is None:
        raise ModelError(f"{path}: steers a model with no generator and style file in {path.parent}")
    require_regular_file(path)
    if path.stat().st_size > MAX_STEER_BYTES:  # checked before it is read
        raise ModelError(f"{path}: larger than {MAX_STEER_BYTES} bytes, not a steering file")
    directions, sd = check_steer(path, path.read_bytes(), owner.style.path.name, file_sha256(owner.style.path),
                                 owner.style.style_dim)
    owner.steer = Steer(path, directions, sd)


def smoke_test(generator: OnnxGenerator) -> None:
    """A real inference now, so a broken graph fails at start-up, not on a user's request."""
    try:
        generator.sample(0, 2, 0)
        if generator.style:
            generator.style.images(np.eye(10, dtype=np.float32)[:2], np.zeros((2, generator.style.style_dim)))
        if generator.encoder:
            generator.encoder.styles(np.zeros((2, 28, 28)), np.arange(2))
    except Exception as exc:  # onnxruntime's run errors have no common base class
        raise ModelError(f"{generator.path}: test inference failed ({type(exc).__name__})") from None
