"""TensorBoard: a tiny real run, interrupted after it logged epoch 2 but before epoch 2's checkpoint was
written, then resumed, reads back with every scalar once per step."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training.tensorboard_log import FOLDER
from training.train import main

pytestmark = pytest.mark.training

LIMIT, BATCH = 256, 64  # 4 steps an epoch


def run(mnist: Path, run_dir: Path, model: str, epochs: int, *extra: str) -> None:
    assert main(["--model", model, "--data-dir", str(mnist), "--limit", str(LIMIT), "--batch-size", str(BATCH),
                 "--epochs", str(epochs), "--width", "4", "--latent-dim", "4", "--device", "cpu",
                 "--run-dir", str(run_dir), *extra]) == 0


@pytest.mark.parametrize("model, losses, rates", [
    ("cvae", {"loss", "recon", "kl", "d_loss", "adv_weight"}, {"vae", "critic"}),
    ("cgan", {"d_loss", "g_loss", "spread", "hand_gap", "misread"}, {"G", "D"}),
])
def test_a_resumed_run_logs_every_scalar_once_per_step(mnist, tmp_path, model, losses, rates):
    run_dir = tmp_path / "run"
    run(mnist, run_dir, model, 1)
    shutil.copy(run_dir / "checkpoint.pt", tmp_path / "epoch1.pt")
    run(mnist, run_dir, model, 2, "--resume")
    shutil.copy(tmp_path / "epoch1.pt", run_dir / "checkpoint.pt")  # as if it died before that write
    run(mnist, run_dir, model, 2, "--resume")
    events = EventAccumulator(str(run_dir / FOLDER), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    per_step = {f"step/{name}" for name in losses} | {f"lr/{name}" for name in rates}
    assert per_step | {f"epoch/{name}" for name in losses} == tags
    for tag in per_step:
        assert [e.step for e in events.Scalars(tag)] == list(range(1, 9)), tag
    for name in losses:
        assert [e.step for e in events.Scalars(f"epoch/{name}")] == [4, 8]
    assert [e.step for e in events.Images("samples")] == [4, 8]
