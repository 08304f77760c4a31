"""The judge through the one export path: a tiny real judge trained, exported, checked, carded."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from digits.contract import ModelError, check_judge
from digits.generators import load_generators, open_session
from digits.idx import load_split
from digits.judging import open_judge
from export.__main__ import main as export_main
from export.checkpoints import rebuild
from training.train_judge import main as judge_main

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def judge_checkpoint(mnist, tmp_path_factory) -> Path:
    """One epoch on 512 real training digits: small, but a real judge trained by the real command."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("judge") / "checkpoint.pt"
    assert judge_main(["--data-dir", str(mnist), "--limit", "512", "--epochs", "1", "--device", "cpu",
                       "--checkpoint", str(path)]) == 0
    torch.set_num_threads(before)
    return path


@pytest.fixture(scope="module")
def exported_judge(judge_checkpoint, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("judge_export") / "judge.onnx"
    assert export_main(["--model", "judge", "--checkpoint", str(judge_checkpoint), "--out", str(out)]) == 0
    return out


def test_the_exported_judge_meets_its_contract_and_states_how_it_was_made(exported_judge):
    session = open_judge(exported_judge, 1)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["model"] == "judge" and meta["role"] == "judge" and meta["train_images"] == "512"
    assert meta["dataset"] == "MNIST (first 512 training images)" and meta["epochs"] == "1"
    assert 0.1 < float(meta["test_accuracy"]) <= 1 and "--limit 512" in meta["train_command"]
    card = (exported_judge.parent / "judge_card.md").read_text()
    assert f"**{float(meta['test_accuracy']):.2%}**" in card and "python -m export --model judge" in card
    assert sorted(p.name for p in exported_judge.parent.iterdir()) == ["judge.onnx", "judge_card.md"]


def test_the_exported_judge_reads_real_digits_as_the_checkpoint_does(judge_checkpoint, exported_judge, mnist):
    images, _ = load_split(mnist, "test")
    x = (images[:200] / 255.0).astype(np.float32)[:, None]
    with torch.no_grad():
        want_probs, want_features = rebuild(judge_checkpoint)[1]["judge"](torch.from_numpy(x))
    probs, features = open_session(exported_judge, 1).run(["probs", "features"], {"image": x})
    np.testing.assert_allclose(probs, want_probs.numpy(), atol=1e-4)
    np.testing.assert_allclose(features, want_features.numpy(), atol=1e-4 * float(want_features.abs().max()))


def test_the_committed_judge_meets_the_contract_and_is_not_a_generator(root, tmp_path):
    assert check_judge(root / "artifacts" / "judge.onnx", open_session(root / "artifacts" / "judge.onnx", 1)) == 128
    for name in ("judge.onnx", "cgan_generator.onnx", "cgan_style.onnx"):
        (tmp_path / name).write_bytes((root / "artifacts" / name).read_bytes())
    assert sorted(load_generators(tmp_path, 1)) == ["cgan"]


def test_a_judge_without_its_accuracy_is_refused_naming_the_file(root, tmp_path):
    model = onnx.load(root / "artifacts" / "judge.onnx")
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {"role": "judge", "features": "128", "model": "judge"})
    onnx.save(model, tmp_path / "judge.onnx")
    with pytest.raises(ModelError, match="judge.onnx: metadata test_accuracy is not a number"):
        open_judge(tmp_path / "judge.onnx", 1)


def test_a_missing_judge_checkpoint_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "none.pt"
    assert export_main(["--model", "judge", "--checkpoint", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {missing}: no such checkpoint"
