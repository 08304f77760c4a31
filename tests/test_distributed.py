"""A real two-process DDP run on CPU (torchrun, gloo): one writer, every rank's RNG saved."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from training import checkpoint


@pytest.fixture(scope="module", params=["cvae", "cgan"])
def ddp_run(root, mnist, tmp_path_factory, request):
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "training", "--model", request.param, "--device", "cpu", "--data-dir", str(mnist), "--limit", "256",
         "--batch-size", "64", "--width", "8", "--latent-dim", "4", "--epochs", "1", "--run-dir", str(run_dir)],
        cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def test_ddp_run_writes_one_checkpoint_for_two_cpu_ranks(ddp_run):
    run_dir, _ = ddp_run
    state = checkpoint.load(run_dir / "checkpoint.pt")
    assert state["epoch"] == 1 and state["meta"]["device"] == "2 x cpu"
    assert (run_dir / "generator_epoch_1.pt").is_file() and (run_dir / "grid_epoch_1.png").is_file()


def test_ddp_only_rank_0_logs(ddp_run):
    run_dir, result = ddp_run
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["epoch"] == 1
    assert result.stderr.count("steps/epoch on 2 x cpu") == 1


def test_ddp_checkpoint_holds_each_ranks_rng(ddp_run):
    run_dir, _ = ddp_run
    rng = checkpoint.load(run_dir / "checkpoint.pt")["rng"]
    assert len(rng) == 2
    assert not torch.equal(rng[0]["torch"], rng[1]["torch"])  # ranks are seeded apart
