"""Two-process DDP on CPU (gloo): ranks stay in step, a step equals one process on the union batch,
a resumed run reaches the uninterrupted one, one writer, every rank's RNG saved."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from tests.training_helpers import assert_same_run, assert_same_state
from tests.webapp_helpers import free_port
from training import checkpoint, cvae, distributed
from training.data import DeviceDataset
from training.precision import Precision
from training.train import parse_args, settings

pytestmark = pytest.mark.training

WORLD = 2
GLOBAL_BATCH = 16
# One process sums the union batch in another order than the all-reduce of two shard means: float32
# round-off. Each tensor (weights and Adam's moments, which carry the gradient) must agree to
# 3e-4 of its largest entry; measured here: 1.1e-4 at worst, in the last layer of the decoder with 28x28
# feature maps (1e-5 before it), where Adam's first step amplifies round-off of gradients near its eps.
# One shard's gradient instead of the union's is off by 1e-2 and more.
UNION_TOLERANCE = 3e-4


# --- one optimizer step -----------------------------------------------------------------------------

def synthetic_data() -> DeviceDataset:
    """64 random images: enough for the first global batch of epoch 1, no MNIST needed."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    return DeviceDataset.from_arrays(images, rng.integers(0, 10, 64), torch.device("cpu"))


def one_step_state(ctx: distributed.Context) -> dict:
    """The CVAE recipe's whole state after one step on this rank's shard of epoch 1's first batch.

    Each rank starts from its own random weights (seed = rank), so DDP must broadcast rank 0's.
    The reparameterisation noise and the prior samples' noise, per rank by design, are zero here: a step
    is then a function of the weights and the batch alone, comparable with one process on the union batch.
    """
    torch.manual_seed(ctx.rank)
    config = settings(parse_args(["--model", "cvae", "--width", "8", "--latent-dim", "4"]), None, Path("no checkpoint"))
    recipe = cvae.Recipe(config, ctx.device, ctx.wrap, Precision(ctx.device))
    x, y = next(synthetic_data().batches(GLOBAL_BATCH // ctx.world, 1, 0, ctx.rank, ctx.world))
    with mock.patch("torch.randn_like", torch.zeros_like), mock.patch("torch.randn", zeros):
        recipe.train_step(x, y, 1.0)
    return recipe.state_dict()


def zeros(*size, generator=None, **kwargs) -> torch.Tensor:
    return torch.zeros(*size, **kwargs)


def join_group(rank: int, port: int) -> distributed.Context:
    """A spawned rank joins the group through the environment torchrun would set."""
    os.environ.update(WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    return distributed.setup("cpu")


def step_rank(rank: int, port: int, out: Path) -> None:
    ctx = join_group(rank, port)
    try:
        torch.save(one_step_state(ctx), out / f"rank{rank}.pt")
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def stepped(tmp_path_factory) -> list[dict]:
    """Each rank's state after one DDP step on its own shard."""
    out = tmp_path_factory.mktemp("ddp_step")
    mp.spawn(step_rank, args=(free_port(), out), nprocs=WORLD)
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD)]


def test_one_ddp_step_leaves_every_rank_with_the_same_state(stepped):
    for state in stepped[1:]:
        assert_same_state(state, stepped[0], atol=0)  # exactly: one all-reduced gradient, one update


def test_one_ddp_step_equals_one_process_on_the_union_batch(stepped):
    alone = one_step_state(distributed.Context(torch.device("cpu")))
    assert_same_state(stepped[0], alone, atol=UNION_TOLERANCE, scaled=True)


def close_rank(rank: int, port: int, out: Path) -> None:
    """Drop a DDP module after a step, then leave the group; record whether the module was still alive
    before ``close`` and after it. The collector is off, as when it has not happened to run by exit."""
    gc.disable()
    ctx = join_group(rank, port)
    ddp = ctx.wrap(nn.Linear(2, 1))
    ddp(torch.ones(4, 2)).sum().backward()
    module = weakref.ref(ddp)
    del ddp
    before = module() is not None
    ctx.close()
    (out / f"rank{rank}.json").write_text(json.dumps([before, module() is not None]))


def test_leaving_the_group_frees_ddp_modules_first(tmp_path):
    """A DDP module outlives its last reference (it sits in reference cycles) and holds the process
    group from C++; freed only as the interpreter exits, gloo's teardown there aborted ranks now and then."""
    mp.spawn(close_rank, args=(free_port(), tmp_path), nprocs=WORLD)
    for rank in range(WORLD):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == [True, False]


# --- whole runs under torchrun ----------------------------------------------------------------------

def torchrun(root: Path, mnist: Path, model: str, run_dir: Path, epochs: int,
             *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
         "-m", "training", "--model", model, "--device", "cpu", "--data-dir", str(mnist), "--limit", "256",
         "--batch-size", "64", "--width", "8", "--latent-dim", "4", "--epochs", str(epochs),
         "--run-dir", str(run_dir), *extra],
        cwd=root, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module", params=["cvae", "cgan"])
def model(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def ddp_run(root, mnist, model, tmp_path_factory):
    """An uninterrupted two-epoch run on two ranks."""
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    result = torchrun(root, mnist, model, run_dir, 2)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


@pytest.fixture(scope="module")
def ddp_resumed(root, mnist, model, tmp_path_factory) -> Path:
    """The same run stopped after epoch 1 and resumed, on two ranks, to epoch 2."""
    run_dir = tmp_path_factory.mktemp("ddp_resumed") / "run"
    for epochs, extra in ((1, ()), (2, ("--resume",))):
        result = torchrun(root, mnist, model, run_dir, epochs, *extra)
        assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_ddp_run_writes_one_checkpoint_for_two_cpu_ranks(ddp_run):
    run_dir, _ = ddp_run
    state = checkpoint.load(run_dir / "checkpoint.pt")
    assert state["epoch"] == 2 and state["meta"]["device"] == "2 x cpu"
    assert (run_dir / "generator_epoch_2.pt").is_file() and (run_dir / "grid_epoch_2.png").is_file()


def test_ddp_only_rank_0_logs(ddp_run):
    run_dir, result = ddp_run
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert result.stderr.count("steps/epoch on 2 x cpu") == 1


def test_ddp_checkpoint_holds_each_ranks_rng(ddp_run):
    run_dir, _ = ddp_run
    rng = checkpoint.load(run_dir / "checkpoint.pt")["rng"]
    assert len(rng) == 2
    assert not torch.equal(rng[0]["torch"], rng[1]["torch"])  # ranks are seeded apart


def test_ddp_resume_reaches_the_uninterrupted_run(ddp_run, ddp_resumed):
    assert_same_run(ddp_resumed, ddp_run[0], atol=1e-6)


def test_global_batch_that_does_not_split_over_the_ranks_is_refused(root, mnist, tmp_path):
    result = torchrun(root, mnist, "cvae", tmp_path / "run", 1, "--batch-size", "63")
    assert result.returncode != 0
    assert "error: --batch-size 63 is the global batch: it must split evenly over the 2 processes" in result.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
