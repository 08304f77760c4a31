"""The judge's view of digits through its ONNX file: the evaluation and CAS read it the same way."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from digits.contract import ModelError, check_judge
from digits.generators import open_session


def open_judge(path: Path, threads: int) -> ort.InferenceSession:
    """The judge's session, its contract checked; ModelError names a missing or unfit file."""
    if not Path(path).is_file():
        raise ModelError(f"{path}: no judge (make judge trains and exports one)")
    session = open_session(path, threads)
    check_judge(path, session)
    return session


def judge(judge_session: ort.InferenceSession, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities [N,10] and penultimate features [N,F] of images [N,28,28] in [0,1]."""
    x = images.astype(np.float32)[:, None]
    chunks = np.array_split(x, max(1, len(x) // 1000))
    outs = [judge_session.run(["probs", "features"], {"image": chunk}) for chunk in chunks]
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])
