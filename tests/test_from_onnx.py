"""The benchmark's torch baseline from a fresh clone: each committed ONNX generator rebuilt as its PyTorch
module with the file's own weights (export/from_onnx.py), drawing what onnxruntime draws."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from digits.contract import ModelError
from export.from_onnx import initializers, state_from, torch_generator
from export.onnx import parity
from tests.paths import ROOT
from training.models import GENERATORS

FILES = {name: ROOT / "artifacts" / module.ARTIFACT for name, module in GENERATORS.items()}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_committed_generator_rebuilds_in_torch_with_its_own_weights(name):
    module = torch_generator(FILES[name])
    session = ort.InferenceSession(str(FILES[name]), providers=["CPUExecutionProvider"])
    latent = session.get_inputs()[1].shape[1]
    feed = {"digit": np.arange(40, dtype=np.int64) % 10,
            "z": np.random.default_rng(1).standard_normal((40, latent), np.float32)}
    assert parity(session, module, [feed]) < 1e-5
    assert not module.training and type(module) is type(GENERATORS[name].new_generator(GENERATORS[name].Config()))


def test_a_constant_that_cannot_be_told_apart_is_refused():
    """Folded constants are matched by shape only when one has it: two candidates stop the rebuild."""
    weights = initializers(onnx.load(str(FILES["cvae"])))
    prior = next(k for k, v in weights.items() if "." not in k and v.dim() == 4)
    weights["another"] = weights[prior].clone()
    module = GENERATORS["cvae"].new_generator(GENERATORS["cvae"].Config(fine=0))
    with pytest.raises(ModelError, match=r"^prior\.scale: no single constant of shape \(10, 8, 16, 16\)"):
        state_from(module, {k: torch.as_tensor(v) for k, v in weights.items()})
