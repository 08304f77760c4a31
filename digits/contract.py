"""The written contracts of the project's ONNX files, checked in one place.

Export checks every file before writing it; the web app, the evaluation and the dataset
generator check every file before using it. Each check reads the file alone (inputs,
outputs, metadata_props), never Python shared with training.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort

from digits.attributes import NAMES as STEER_CONTROLS

REQUIRED_METADATA = ("latent_dim", "model", "dataset", "train_images", "epochs")
MODEL_NAME = re.compile(r"[a-z0-9_-]{1,32}")  # it appears in URLs, file names and headers
POSITIVE = re.compile(r"[1-9][0-9]{0,8}")  # str.isdigit() would also take "²" and Arabic-Indic digits


class ModelError(Exception):
    """A model file that cannot be used; the message names the file and the problem."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metadata_of(session: ort.InferenceSession) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def metadata_int(path: Path, meta: dict[str, str], key: str) -> int:
    """A positive integer in ASCII digits, or ModelError naming the file and the key."""
    if key not in meta:
        raise ModelError(f"{path}: metadata_props lack {key}")
    if not POSITIVE.fullmatch(meta[key]):
        raise ModelError(f"{path}: metadata {key}={meta[key][:40]!r} is not a positive integer in ASCII digits")
    return int(meta[key])


def model_name(path: Path, meta: dict[str, str]) -> str:
    if not MODEL_NAME.fullmatch(meta.get("model", "")):
        raise ModelError(f"{path}: metadata model={meta.get('model', '')[:40]!r} is not a short lower-case name")
    return meta["model"]


def check_io(path: Path, session: ort.InferenceSession, inputs: dict[str, tuple[str, list]],
             outputs: dict[str, list]) -> None:
    """Names, element types and shapes; a str in a shape is a dynamic dimension (the batch N)."""
    got = {i.name: i for i in session.get_inputs()}
    if set(got) != set(inputs):
        raise ModelError(f"{path}: inputs are {sorted(got)}, expected {sorted(inputs)}")
    for name, (kind, shape) in inputs.items():
        if got[name].type != f"tensor({kind})" or not fits(got[name].shape, shape):
            raise ModelError(f"{path}: input {name} is {got[name].type} {got[name].shape}, expected {kind} {shape}")
    out = {o.name: o for o in session.get_outputs()}
    if set(out) != set(outputs) or not all(out[n].type == "tensor(float)" and fits(out[n].shape, s)
                                           for n, s in outputs.items()):
        got = [(o.name, o.type, o.shape) for o in out.values()]
        raise ModelError(f"{path}: outputs {got}, expected float32 {outputs}")


def fits(shape: list, expected: list) -> bool:
    return len(shape) == len(expected) and all(e == "N" or s == e for s, e in zip(shape, expected, strict=True))


def check_generator(path: Path, session: ort.InferenceSession) -> tuple[str, int, dict[str, str]]:
    """The generator contract (docs/contracts.md): returns (name, latent_dim, metadata) or names the failing clause."""
    meta = metadata_of(session)
    missing = [key for key in REQUIRED_METADATA if key not in meta]
    if missing:
        raise ModelError(f"{path}: metadata_props lack {', '.join(missing)}")
    latent_dim = metadata_int(path, meta, "latent_dim")
    name = model_name(path, meta)
    check_io(path, session, {"digit": ("int64", ["N"]), "z": ("float", ["N", latent_dim])},
             {"image": ["N", 1, 28, 28]})
    return name, latent_dim, meta


def check_style(path: Path, session: ort.InferenceSession, generator: str, generator_sha256: str) -> int:
    """The style interface of a generator; returns style_dim. See docs/contracts.md."""
    meta = metadata_of(session)
    if meta.get("role") != "style":
        raise ModelError(f"{path}: metadata role is not style")
    style_dim = metadata_int(path, meta, "style_dim")
    check_io(path, session, {"label": ("float", ["N", 10]), "style": ("float", ["N", style_dim])},
             {"image": ["N", 1, 28, 28]})
    check_pair(path, meta, generator, generator_sha256)
    return style_dim


def check_encoder(path: Path, session: ort.InferenceSession, generator: str, generator_sha256: str,
                  style_dim: int) -> None:
    """The encoder contract (docs/contracts.md): a drawn digit and its label -> the style its generator's style
    interface takes."""
    meta = metadata_of(session)
    if meta.get("role") != "encoder":
        raise ModelError(f"{path}: metadata role is not encoder")
    if metadata_int(path, meta, "style_dim") != style_dim:
        raise ModelError(f"{path}: style_dim {meta['style_dim']} differs from its style interface's {style_dim}")
    check_io(path, session, {"image": ("float", ["N", 1, 28, 28]), "digit": ("int64", ["N"])},
             {"style": ["N", style_dim]})
    check_pair(path, meta, generator, generator_sha256)


def check_judge(path: Path, session: ort.InferenceSession) -> int:
    """The judge's contract (docs/contracts.md): image [N,1,28,28] -> probs [N,10] and features [N,F], with
    its measured test accuracy in the metadata; returns F."""
    meta = metadata_of(session)
    if meta.get("role") != "judge":
        raise ModelError(f"{path}: metadata role is not judge")
    features = metadata_int(path, meta, "features")
    check_io(path, session, {"image": ("float", ["N", 1, 28, 28])}, {"probs": ["N", 10], "features": ["N", features]})
    try:
        accuracy = float(meta.get("test_accuracy", ""))
    except ValueError:
        accuracy = -1.0
    if not 0 <= accuracy <= 1:
        raise ModelError(f"{path}: metadata test_accuracy is not a number in [0, 1]")
    return features


MAX_CANDIDATES = 16  # a critic's candidates per sample: each costs a generator and a critic run


def check_critic(path: Path, session: ort.InferenceSession, generator: str, generator_sha256: str) -> tuple[float, int]:
    """The critic contract (docs/contracts.md): (image [N,1,28,28], digit [N]) -> logit [N], with the cap and
    the candidates per sample its sampler uses; returns (cap, candidates)."""
    meta = metadata_of(session)
    if meta.get("role") != "critic":
        raise ModelError(f"{path}: metadata role is not critic")
    check_io(path, session, {"image": ("float", ["N", 1, 28, 28]), "digit": ("int64", ["N"])}, {"logit": ["N"]})
    check_pair(path, meta, generator, generator_sha256)
    candidates = metadata_int(path, meta, "candidates")
    try:
        cap = float(meta.get("cap", ""))
    except ValueError:
        cap = math.nan
    if not (math.isfinite(cap) and 2 <= candidates <= MAX_CANDIDATES):
        raise ModelError(f"{path}: metadata needs a finite cap and candidates from 2 to {MAX_CANDIDATES}")
    return cap, candidates


MAX_STEER_BYTES = 1 << 20


def check_steer(path: Path, data: bytes, style: str, style_sha256: str,
                style_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The steering file of a style interface (docs/contracts.md), its bytes ``data`` (at most
    MAX_STEER_BYTES, checked by whoever reads the file): its directions [3, style_dim] and the attributes'
    standard deviations [3], or ModelError naming the file and the failing clause."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ModelError(f"{path}: not JSON") from None
    if not isinstance(record, dict) or record.get("role") != "steer":
        raise ModelError(f"{path}: role is not steer")
    if record.get("style") != style or record.get("style_sha256") != style_sha256:
        raise ModelError(f"{path}: made for another version of {style} (style or style_sha256 differ): "
                         "export again with python -m export")
    controls = record.get("controls")
    if record.get("style_dim") != style_dim or not isinstance(controls, dict) or set(controls) != set(STEER_CONTROLS):
        raise ModelError(f"{path}: needs style_dim {style_dim} and controls {', '.join(STEER_CONTROLS)}")
    directions, sd = [], []
    for name in STEER_CONTROLS:
        entry = controls[name]
        direction = entry.get("direction") if isinstance(entry, dict) else None
        deviation = entry.get("sd") if isinstance(entry, dict) else None
        if not (isinstance(direction, list) and len(direction) == style_dim and all(finite(v) for v in direction)
                and finite(deviation) and deviation > 0):
            raise ModelError(f"{path}: control {name} needs {style_dim} finite direction values and a positive sd")
        directions.append(direction)
        sd.append(deviation)
    return np.array(directions, dtype=np.float64), np.array(sd, dtype=np.float64)


def finite(value: object) -> bool:
    try:
        return type(value) in (int, float) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def check_pair(path: Path, meta: dict[str, str], generator: str, generator_sha256: str) -> None:
    """An extension file belongs to one generator file, named and hashed in its metadata."""
    if meta.get("generator") != generator or meta.get("generator_sha256") != generator_sha256:
        raise ModelError(f"{path}: made for another version of {generator} (generator or generator_sha256 "
                         f"in its metadata differ): export both again with python -m export")
