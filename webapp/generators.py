"""ONNX generators opened once per process and checked against the generator contract.

The contract is read from each file (input names and types, ``latent_dim`` and
``model`` in its metadata, output shape), never from Python shared with training.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

REQUIRED_METADATA = ("latent_dim", "model", "dataset", "train_images", "epochs")
MODEL_NAME = re.compile(r"[a-z0-9_-]{1,32}")  # it appears in URLs, file names and headers


class ModelError(Exception):
    """A model file that cannot be served; the message names the file and the problem."""


@dataclass
class Generator:
    name: str
    path: Path
    latent_dim: int
    metadata: dict[str, str]
    session: ort.InferenceSession = field(repr=False)

    def generate(self, digit: int, count: int, seed: int) -> np.ndarray:
        """``count`` images [count,28,28] in [0,1], one batched call; same seed, same images."""
        z = np.random.default_rng(seed).standard_normal((count, self.latent_dim), dtype=np.float32)
        digits = np.full(count, digit, dtype=np.int64)
        (images,) = self.session.run(["image"], {"digit": digits, "z": z})
        return np.clip(images[:, 0], 0.0, 1.0)

    def describe(self) -> dict:
        return {"name": self.name, "file": self.path.name, "latent_dim": self.latent_dim,
                "metadata": self.metadata}


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for every load failure
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({first_line[:200]})") from None


def check_contract(path: Path, session: ort.InferenceSession) -> tuple[str, int, dict[str, str]]:
    """Return (name, latent_dim, metadata) or raise ModelError saying which clause fails."""
    meta = dict(session.get_modelmeta().custom_metadata_map)
    missing = [key for key in REQUIRED_METADATA if key not in meta]
    if missing:
        raise ModelError(f"{path}: metadata_props lack {', '.join(missing)}")
    if not meta["latent_dim"].isdigit() or int(meta["latent_dim"]) < 1:
        raise ModelError(f"{path}: metadata latent_dim={meta['latent_dim']!r} is not a positive integer")
    if not MODEL_NAME.fullmatch(meta["model"]):
        raise ModelError(f"{path}: metadata model={meta['model'][:40]!r} is not a short lower-case name")
    latent_dim = int(meta["latent_dim"])
    inputs = {i.name: i for i in session.get_inputs()}
    if set(inputs) != {"digit", "z"}:
        raise ModelError(f"{path}: inputs are {sorted(inputs)}, expected digit and z")
    if inputs["digit"].type != "tensor(int64)" or len(inputs["digit"].shape) != 1:
        raise ModelError(f"{path}: input digit is {inputs['digit'].type} {inputs['digit'].shape}, expected int64 [N]")
    z = inputs["z"]
    if z.type != "tensor(float)" or len(z.shape) != 2 or z.shape[1] != latent_dim:
        raise ModelError(f"{path}: input z is {z.type} {z.shape}, expected float32 [N, {latent_dim}]")
    outputs = session.get_outputs()
    if [o.name for o in outputs] != ["image"] or list(outputs[0].shape[1:]) != [1, 28, 28]:
        raise ModelError(f"{path}: outputs {[(o.name, o.shape) for o in outputs]}, expected image [N,1,28,28]")
    return meta["model"], latent_dim, meta


def load_generators(folder: Path, threads: int) -> dict[str, Generator]:
    """Open every ``*.onnx`` in the folder but judges (metadata role=judge); any bad file stops start-up."""
    generators: dict[str, Generator] = {}
    for path in sorted(Path(folder).glob("*.onnx")):
        session = open_session(path, threads)
        if session.get_modelmeta().custom_metadata_map.get("role") == "judge":
            continue  # the quality instrument's classifier grades generators; it is not served
        name, latent_dim, meta = check_contract(path, session)
        if name in generators:
            raise ModelError(f"{path}: model name {name!r} is also used by {generators[name].path.name}")
        generator = Generator(name, path, latent_dim, meta, session)
        try:
            generator.generate(0, 2, 0)  # a real inference now, so a broken graph fails at start-up
        except Exception as exc:  # onnxruntime's run errors have no common base class
            raise ModelError(f"{path}: test inference failed ({type(exc).__name__})") from None
        generators[name] = generator
    if not generators:
        raise ModelError(f"{folder}: no *.onnx generator files (run make export, or set FLASK_ARTIFACTS_DIR)")
    return generators
